import StrataPostgres
import Testing

@Suite("LISTEN / NOTIFY", .timeLimit(.minutes(1)))
struct NotificationTests {
    @Test func notificationArrivesWhileIdle() async throws {
        try await withConnection { listener in
            let collector = NotificationCollector(listener)
            try await listener.listen("Strata Idle")
            try await withConnection { sender in
                try await sender.notify("Strata Idle", payload: "it's \"quoted\", back\\slash, ünï 😀")
                try await sender.execute("NOTIFY \"Strata Idle\"")
                try await sender.execute("NOTIFY strata_not_listened, 'ignored'")
                let received = try await collector.wait(for: 2)
                #expect(received.count == 2)
                #expect(received.first == PostgresNotification(
                    channel: "Strata Idle", payload: "it's \"quoted\", back\\slash, ünï 😀", pid: sender.backendPID))
                #expect(received.last?.payload == "")
            }
            // Nothing was queried on the listener: delivery needed no query of its own.
            try await listener.unlisten("Strata Idle")
            try await withConnection { sender in try await sender.notify("Strata Idle", payload: "after unlisten") }
            try await Task.sleep(for: .milliseconds(200))
            #expect(collector.received.count == 2)
        }
    }

    @Test func notificationArrivesAroundARunningQuery() async throws {
        try await withConnection { listener in
            let collector = NotificationCollector(listener)
            try await listener.listen("busy")
            async let slow = listener.query("select pg_sleep(0.5), 7 as n")
            try await Task.sleep(for: .milliseconds(100))
            try await withConnection { sender in
                for i in 0..<5 { try await sender.notify("busy", payload: "\(i)") }
            }
            let row = try await slow[0]
            #expect(try row.decode(Int.self, column: "n") == 7)
            let received = try await collector.wait(for: 5)
            #expect(received.map(\.payload) == ["0", "1", "2", "3", "4"])
            // Queries and notifications interleave on the same connection.
            try await listener.notify("busy", payload: "self")
            #expect(try await collector.wait(for: 6).last?.pid == listener.backendPID)
        }
    }

    @Test func manyNotificationsAreBufferedInOrder() async throws {
        try await withConnection { listener in
            try await listener.listen("burst")
            try await withConnection { sender in
                try await sender.execute("select pg_notify('burst', g::text) from generate_series(1, 2000) g")
            }
            // Nobody iterated yet: they wait in the buffer.
            try await Task.sleep(for: .milliseconds(100))
            let collector = NotificationCollector(listener)
            let received = try await collector.wait(for: 2000)
            #expect(received.map(\.payload) == (1...2000).map(String.init))
        }
    }
}
