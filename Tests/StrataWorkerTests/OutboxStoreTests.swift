import StrataPostgres
import StrataWorker
import Testing

/// `OutboxStore.read()` against the real outbox (the Redis-less subscriber and the
/// worker's fallback read with it).
@Suite(.serialized) struct OutboxStoreTests {
    @Test func gapRangesAreLookedUpWithoutReadingTheOutboxBelowTheCursor() async throws {
        let pg = try await connectPostgres()
        defer { Task { await pg.close() } }
        let tag = "osr" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        func invalidate(_ key: String) async throws -> Int64 {
            try await pg.query("select strata.invalidate(array[$1])", key).first!.decode(Int64.self, at: 0)
        }
        // An outbox between two prunes: many rows below the cursor on few live pages.
        let early = try await invalidate("\(tag):early")
        try await pg.execute("select count(strata.invalidate(array['\(tag):bulk:' || i])) from generate_series(1, 20000) i")
        try await pg.execute("delete from strata.change_log where keys[1] like '\(tag):bulk:%' and seq % 50 <> 0")
        try await pg.execute("analyze strata.change_log")
        let late = try await invalidate("\(tag):late")

        let store = OutboxStore(connection: pg, consumer: "unused")
        try await pg.execute("begin")
        // the plan a long-lived connection ends up with (a session-wide generic plan)
        try await pg.execute("set local plan_cache_mode = force_generic_plan")
        func fetched() async throws -> Int64 {
            try await pg.query(
                "select seq_tup_read + idx_tup_fetch from pg_stat_xact_user_tables where relid = 'strata.change_log'::regclass"
            ).first!.decode(Int64.self, at: 0)
        }
        let before = try await fetched()
        let reads = 8
        // Other tests running at the same time write to the same outbox: rows after `late`
        // are theirs, read and fetched once each; below the cursor only the gap's row counts.
        var newer = 0
        for _ in 0..<reads {
            let read = try await store.read(after: late, gaps: [early...early], limit: 10)
            #expect(read.rows.filter { $0.seq <= late }.map(\.seq) == [early])
            #expect(read.rows.first?.keys == ["\(tag):early"])
            newer += read.rows.count { $0.seq > late }
        }
        let after = try await fetched()
        try await pg.execute("commit")
        try await pg.execute("delete from strata.change_log where keys[1] like '\(tag):%'")
        #expect(after - before <= Int64(reads * 2 + newer), "tuples fetched by \(reads) reads of one gap (and \(newer) newer rows): \(after - before)")
    }
}
