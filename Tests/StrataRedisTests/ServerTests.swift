import Foundation
import StrataRedis
import Testing

/// Tests that change server-wide state run against a redis-server of their own.
@Suite("RedisConnection against a private server")
struct ServerTests {
    @Test func unixSocket() async throws {
        try await TestRedisServer.with { server in
            let connection = try await RedisConnection.connect(server.unixConfiguration)
            #expect(try await connection.send("SET", "k", "over unix") == .status("OK"))
            #expect(try await connection.send("GET", "k").string == "over unix")
            let info = try await connection.send("CLIENT", "INFO").string ?? ""
            #expect(info.contains("laddr=\(server.socketPath)") || info.contains("addr=/"), "\(info)")
            await connection.close()

            var viaURL = try RedisConfiguration(url: "unix://\(server.socketPath)?db=2")
            viaURL.commandTimeout = .seconds(2)
            let db2 = try await RedisConnection.connect(viaURL)
            #expect(try await db2.send("GET", "k") == .null)
            await db2.close()
        }
    }

    @Test func authWithRequirepass() async throws {
        try await TestRedisServer.with { server in
            let admin = try await RedisConnection.connect(server.tcpConfiguration)
            try await admin.send("CONFIG", "SET", "requirepass", "s3cret pass")
            // (The admin connection authenticated as default before; it stays authenticated.)
            do {
                // No password: commands are refused with NOAUTH.
                let anonymous = try await RedisConnection.connect(server.tcpConfiguration)
                let noAuth = await expectRedisError { try await anonymous.send("GET", "k") }
                #expect(noAuth?.prefix == "NOAUTH")
                await anonymous.close()

                // Right password, TCP and unix socket.
                var configuration = server.tcpConfiguration
                configuration.password = "s3cret pass"
                let authed = try await RedisConnection.connect(configuration)
                #expect(try await authed.send("PING") == .status("PONG"))
                await authed.close()
                let viaURL = try await RedisConnection.connect(RedisConfiguration(url: "redis://:s3cret%20pass@127.0.0.1:\(server.port)"))
                #expect(try await viaURL.send("PING") == .status("PONG"))
                await viaURL.close()
                var unix = server.unixConfiguration
                unix.password = "s3cret pass"
                let authedUnix = try await RedisConnection.connect(unix)
                #expect(try await authedUnix.send("PING") == .status("PONG"))
                await authedUnix.close()

                // Wrong password: connect fails with the server's prefix.
                configuration.password = "wrong"
                let wrong = await expectRedisError { _ = try await RedisConnection.connect(configuration) }
                #expect(wrong?.code == .server)
                #expect(wrong?.prefix == "WRONGPASS")
            } catch {
                try await admin.send("CONFIG", "SET", "requirepass", "")
                throw error
            }
            try await admin.send("CONFIG", "SET", "requirepass", "")
            await admin.close()
        }
    }

    @Test func authWithACLUser() async throws {
        try await TestRedisServer.with { server in
            let admin = try await RedisConnection.connect(server.tcpConfiguration)
            let user = "strata-test-\(UUID().uuidString.prefix(8))"
            try await admin.send("ACL", "SETUSER", RedisArgument(user), "on", ">user-pass", "~app:*", "&*", "+@all")
            do {
                var configuration = server.tcpConfiguration
                configuration.username = user
                configuration.password = "user-pass"
                let connection = try await RedisConnection.connect(configuration)
                #expect(try await connection.send("ACL", "WHOAMI").string == user)
                #expect(try await connection.send("SET", "app:1", "ok") == .status("OK"))
                let denied = await expectRedisError { try await connection.send("SET", "other:1", "no") }
                #expect(denied?.prefix == "NOPERM")
                await connection.close()

                let viaURL = try await RedisConnection.connect(RedisConfiguration(url: "redis://\(user):user-pass@127.0.0.1:\(server.port)"))
                #expect(try await viaURL.send("ACL", "WHOAMI").string == user)
                await viaURL.close()

                configuration.password = "wrong"
                let wrong = await expectRedisError { _ = try await RedisConnection.connect(configuration) }
                #expect(wrong?.code == .server)
                #expect(wrong?.prefix == "WRONGPASS")
            } catch {
                _ = try? await admin.send("ACL", "DELUSER", RedisArgument(user))
                throw error
            }
            #expect(try await admin.send("ACL", "DELUSER", RedisArgument(user)) == .integer(1))
            await admin.close()
        }
    }

    @Test func serverKilledMidConnection() async throws {
        try await TestRedisServer.with { server in
            let connection = try await RedisConnection.connect(server.tcpConfiguration)
            #expect(try await connection.send("PING") == .status("PONG"))
            server.kill()
            let clock = ContinuousClock()
            let started = clock.now
            let error = await expectRedisError { try await connection.send("PING") }
            #expect(clock.now - started < .seconds(20))
            #expect(error?.code == .connectionClosed, "\(String(describing: error))")
            #expect(connection.isClosed)
            let again = await expectRedisError { _ = try await connection.pipeline([["PING"], ["PING"]]) }
            #expect(again?.code == .connectionClosed)
            // Reconnecting to the dead server fails fast.
            let reconnect = await expectRedisError { _ = try await RedisConnection.connect(server.tcpConfiguration) }
            #expect(reconnect?.code == .connectionFailed)
            await connection.close()
        }
    }

    @Test func debugSleepTimesOut() async throws {
        try await TestRedisServer.with(arguments: ["--enable-debug-command", "yes"]) { server in
            var configuration = server.tcpConfiguration
            configuration.commandTimeout = .milliseconds(200)
            let connection = try await RedisConnection.connect(configuration)
            let clock = ContinuousClock()
            let started = clock.now
            let error = await expectRedisError { try await connection.send("DEBUG", "SLEEP", 2) }
            #expect(clock.now - started < .seconds(20))
            #expect(error?.code == .timeout)
            #expect(connection.isClosed)
            await connection.close()
        }
    }

    @Test func busyScriptErrorKeepsPrefix() async throws {
        try await TestRedisServer.with(arguments: ["--busy-reply-threshold", "100"]) { server in
            var configuration = server.tcpConfiguration
            configuration.commandTimeout = nil
            let runner = try await RedisConnection.connect(configuration)
            let other = try await RedisConnection.connect(server.tcpConfiguration)
            let script = Task { try await runner.send("EVAL", "local i = 0 while true do i = i + 1 end", 0) }
            var busy: RedisError?
            for _ in 0..<100 {
                do {
                    _ = try await other.send("PING")
                    try await Task.sleep(for: .milliseconds(20))
                } catch let error as RedisError {
                    busy = error
                    break
                }
            }
            #expect(busy?.prefix == "BUSY", "\(String(describing: busy))")
            #expect(try await other.send("SCRIPT", "KILL") == .status("OK"))
            let killed = await expectRedisError { _ = try await script.value }
            #expect(killed?.code == .server)
            #expect(!runner.isClosed, "a killed script is a server error, the connection stays open")
            #expect(try await runner.send("PING") == .status("PONG"))
            await runner.close()
            await other.close()
        }
    }
}
