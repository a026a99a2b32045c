import Foundation
import Logging
import StrataRedis
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where the integration tests find Redis.
enum TestEnvironment {
    /// The shared test server from `STRATA_TEST_REDIS_URL`; fails the test when unset.
    static func configuration(commandTimeout: Duration? = .seconds(5)) throws -> RedisConfiguration {
        guard let url = ProcessInfo.processInfo.environment["STRATA_TEST_REDIS_URL"], !url.isEmpty else {
            throw TestSetupError("""
                STRATA_TEST_REDIS_URL is not set. Start a server and point the tests at it:
                  STRATA_REDIS_PORT=56460 scripts/redis.sh start
                  STRATA_TEST_REDIS_URL=redis://127.0.0.1:56460 swift test --filter StrataRedisTests
                """)
        }
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeout = commandTimeout
        return configuration
    }

    static func connect(commandTimeout: Duration? = .seconds(5)) async throws -> RedisConnection {
        try await RedisConnection.connect(configuration(commandTimeout: commandTimeout), logger: testLogger)
    }

    static let testLogger = Logger(label: "strata.redis.tests")

    /// A key no other test uses.
    static func uniqueKey(_ name: String = #function) -> String {
        "strata-redis-test:\(name.prefix(while: { $0 != "(" })):\(UUID().uuidString)"
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A redis-server started by a test on a free port and a unix socket, for tests that
/// change server-wide state (requirepass, CLIENT KILL TYPE, DEBUG SLEEP, killing it).
final class TestRedisServer: @unchecked Sendable {
    let port: Int
    let directory: URL
    let process: Process
    var socketPath: String { directory.appendingPathComponent("redis.sock").path }

    var tcpConfiguration: RedisConfiguration { RedisConfiguration(host: "127.0.0.1", port: port) }
    var unixConfiguration: RedisConfiguration { RedisConfiguration(unixSocketPath: socketPath) }

    /// Runs `body` with a fresh server and always kills the server afterwards.
    static func with<T>(
        arguments: [String] = [],
        _ body: (TestRedisServer) async throws -> T
    ) async throws -> T {
        let server = try await TestRedisServer(arguments: arguments)
        do {
            let result = try await body(server)
            server.stop()
            return result
        } catch {
            server.stop()
            throw error
        }
    }

    private init(arguments: [String]) async throws {
        let executable = ProcessInfo.processInfo.environment["STRATA_TEST_REDIS_SERVER"]
            ?? ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else {
            throw TestSetupError("redis-server not found; install Redis 7 or set STRATA_TEST_REDIS_SERVER")
        }
        port = try freeTCPPort()
        directory = URL(fileURLWithPath: "/tmp/strata-redis-test-\(getpid())-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--bind", "127.0.0.1", "--port", String(port),
            "--unixsocket", directory.appendingPathComponent("redis.sock").path, "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", directory.path,
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + arguments
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let connection = try? await RedisConnection.connect(
                RedisConfiguration(host: "127.0.0.1", port: port, connectTimeout: .milliseconds(200))
            ) {
                await connection.close()
                if FileManager.default.fileExists(atPath: socketPath) { break }
            }
            if ContinuousClock.now > deadline || !process.isRunning {
                stop()
                throw TestSetupError("redis-server on port \(port) did not start; see \(directory.path)/redis.log")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Kills the server (SIGKILL: no goodbye to clients) and removes its folder.
    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func stop() {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A TCP port on 127.0.0.1 nobody listens on right now.
func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestSetupError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs `body`, failing with a clear error if it takes longer than `limit`.
func withTimeout<T: Sendable>(
    _ limit: Duration,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestSetupError("timed out after \(limit)")
        }
        return value
    }
}

/// Asserts that `body` throws a `RedisError` and returns it.
func expectRedisError(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> RedisError? {
    do {
        try await body()
        Issue.record("expected a RedisError, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as RedisError {
        return error
    } catch {
        Issue.record("expected a RedisError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
