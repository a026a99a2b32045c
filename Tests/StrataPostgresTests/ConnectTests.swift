import Foundation
import StrataPostgres
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Connecting", .timeLimit(.minutes(1)))
struct ConnectTests {
    @Test func connectsByURL() async throws {
        let connection = try await TestDatabase.connect()
        #expect(connection.backendPID > 0)
        #expect(connection.serverVersion >= 100000)
        #expect(!connection.isClosed)
        let pid = try await connection.query("select pg_backend_pid()").first!.decode(Int32.self, at: 0)
        #expect(pid == connection.backendPID)
        await connection.close()
        #expect(connection.isClosed)
    }

    @Test func connectsByConninfo() async throws {
        let c = try TestDatabase.components()
        let conninfo = "host=\(c.host) port=\(c.port) user=\(c.user) dbname='\(c.database)' application_name=strata-test"
        let connection = try await PostgresConnection.connect(conninfo)
        let rows = try await connection.query("select current_database(), current_setting('application_name')")
        #expect(try rows[0].decode(String.self, at: 0) == c.database)
        #expect(try rows[0].decode(String.self, at: 1) == "strata-test")
        await connection.close()
    }

    @Test func rejectsBadURLWithClearMessage() async throws {
        let (result, elapsed) = await measure {
            await catching { try await PostgresConnection.connect("postgresql://alice:s3cret@127.0.0.1:notaport/db") }
        }
        let error = try #require(result.failure as? PostgresError)
        #expect(error.code == .invalidConnectionString)
        #expect(error.description.contains("invalid connection URL"))
        #expect(error.description.contains("notaport"))
        #expect(!error.description.contains("s3cret"), "the password must not be echoed: \(error)")
        #expect(elapsed < .seconds(20))

        let other = try #require(await catching { try await PostgresConnection.connect("http://example.com/db") }.failure as? PostgresError)
        #expect(other.code == .invalidConnectionString)
        #expect(other.description.contains("invalid connection string"))

        let badValue = try #require(await catching { try await PostgresConnection.connect("postgresql://u@127.0.0.1/db?sslmode=sometimes") }.failure as? PostgresError)
        #expect(badValue.code == .invalidConnectionString)
        #expect(badValue.description.contains("sslmode"), "\(badValue)")

        let conninfo = try #require(await catching { try await PostgresConnection.connect("host=x password='p w' bogus=1") }.failure as? PostgresError)
        #expect(conninfo.code == .invalidConnectionString)
        #expect(conninfo.description.contains("bogus"))
        #expect(!conninfo.description.contains("p w"))
    }

    @Test func unreachablePortFailsFastWithTarget() async throws {
        let c = try TestDatabase.components()
        let (result, elapsed) = await measure {
            await catching { try await PostgresConnection.connect("postgresql://\(c.user)@127.0.0.1:1/\(c.database)") }
        }
        let error = try #require(result.failure as? PostgresError)
        #expect(error.code == .connectionFailed)
        #expect(error.description.contains("could not connect to PostgreSQL (host=127.0.0.1 port=1"))
        #expect(error.description.contains("refused"), "libpq's reason should be in the message: \(error)")
        #expect(error.hint != nil)
        #expect(elapsed < .seconds(20))
    }

    @Test func silentServerTimesOut() async throws {
        // A socket that accepts TCP connections (kernel backlog) but never answers.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let port = UInt16(bigEndian: address.sin_port)

        let (result, elapsed) = await measure {
            await catching { try await PostgresConnection.connect("postgresql://postgres@127.0.0.1:\(port)/x", connectTimeout: .milliseconds(300)) }
        }
        let error = try #require(result.failure as? PostgresError)
        #expect(error.code == .timeout)
        #expect(error.description.contains("port=\(port)"))
        #expect(elapsed < .seconds(20), "took \(elapsed)")
    }

    @Test func closeIsIdempotentAndLaterCallsFail() async throws {
        let connection = try await TestDatabase.connect()
        let collector = NotificationCollector(connection)
        await connection.close()
        await connection.close()
        #expect(connection.isClosed)
        let error = try #require(await catching { try await connection.query("select 1") }.failure as? PostgresError)
        #expect(error.code == .connectionClosed)
        let end = try await collector.waitForEnd()
        guard case .finished = end else {
            Issue.record("notifications should finish normally after close(), got \(String(describing: end))")
            return
        }
    }

    @Test func cancelledConnectThrowsCancellation() async throws {
        let url = try TestDatabase.url()
        let task = Task { try await PostgresConnection.connect(url) }
        task.cancel()
        let result = await task.result
        if case .failure(let error) = result {
            #expect(error is CancellationError)
        }
        // (If it connected before noticing, the connection is dropped and closed by deinit.)
    }
}

/// Runs `body` and captures its outcome.
func catching<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
