import StrataRedis
import Testing

@Suite("RedisConfiguration(url:)")
struct ConfigurationTests {
    @Test func plainRedisURL() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1:56460")
        #expect(configuration.endpoint == .tcp(host: "127.0.0.1", port: 56460))
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
        #expect(configuration.database == 0)
        #expect(configuration.connectTimeout == .seconds(5))
        #expect(configuration.commandTimeout == .seconds(5))
    }

    @Test func userPasswordAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://worker:p%40ss%3Aword@cache.internal:6380/7")
        #expect(configuration.host == "cache.internal")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "worker")
        #expect(configuration.password == "p@ss:word")
        #expect(configuration.database == 7)
    }

    @Test func passwordOnlyForms() throws {
        let colon = try RedisConfiguration(url: "redis://:secret@localhost")
        #expect(colon.username == nil)
        #expect(colon.password == "secret")
        #expect(colon.port == 6379)
        let bare = try RedisConfiguration(url: "redis://secret@localhost/2")
        #expect(bare.username == nil)
        #expect(bare.password == "secret")
        #expect(bare.database == 2)
    }

    @Test func ipv6AndHostPort() throws {
        let v6 = try RedisConfiguration(url: "redis://[::1]:7000")
        #expect(v6.endpoint == .tcp(host: "::1", port: 7000))
        let hostPort = try RedisConfiguration(url: "10.1.2.3:7001")
        #expect(hostPort.endpoint == .tcp(host: "10.1.2.3", port: 7001))
        let hostOnly = try RedisConfiguration(url: "redis-host")
        #expect(hostOnly.endpoint == .tcp(host: "redis-host", port: 6379))
    }

    @Test func unixSocketURL() throws {
        let configuration = try RedisConfiguration(url: "unix:///run/redis/redis.sock?db=3&password=pw&username=app")
        #expect(configuration.unixSocketPath == "/run/redis/redis.sock")
        #expect(configuration.database == 3)
        #expect(configuration.password == "pw")
        #expect(configuration.username == "app")
    }

    @Test func queryParametersOnRedisURL() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1:6379?db=5&password=x")
        #expect(configuration.database == 5)
        #expect(configuration.password == "x")
    }

    @Test func tlsIsRejectedClearly() {
        do {
            _ = try RedisConfiguration(url: "rediss://user:topsecret@host:6380")
            Issue.record("rediss:// must be rejected")
        } catch let error as RedisError {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("TLS"))
            #expect(!error.message.contains("topsecret"), "the password must not leak into the message")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: [
        "http://host", "redis://host:0", "redis://host:99999", "redis://host:port", "redis://host/abc",
        "redis://", "unix://relative.sock", "redis://host?frobnicate=1", "redis://user@host?username=u&password=",
        "redis://[::1", "redis://host/-1", "redis://u:@host",
    ])
    func invalidURLs(url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
    }

    @Test func usernameWithoutPasswordIsInvalid() {
        let configuration = RedisConfiguration(host: "h", username: "u")
        #expect(throws: RedisError.self) { try configuration.validate() }
    }

    @Test func descriptionHidesPassword() throws {
        let configuration = try RedisConfiguration(url: "redis://u:hunter2@h:1/1")
        #expect(!configuration.description.contains("hunter2"))
        #expect(configuration.description.contains("h:1"))
    }
}

@Suite("RESPValue and RedisError")
struct ValueTests {
    @Test func errorPrefixIsSplitOff() {
        let error = RedisError(serverReply: "WRONGTYPE Operation against a key holding the wrong kind of value")
        #expect(error.code == .server)
        #expect(error.prefix == "WRONGTYPE")
        #expect(error.message == "Operation against a key holding the wrong kind of value")
        #expect(error.description == "WRONGTYPE Operation against a key holding the wrong kind of value")
        let noPrefix = RedisError(serverReply: "something went wrong")
        #expect(noPrefix.prefix == nil)
        #expect(noPrefix.message == "something went wrong")
        #expect(RedisError(serverReply: "NOAUTH").prefix == "NOAUTH")
    }

    @Test func conveniences() {
        #expect(RESPValue.bulk(Array("42".utf8)).int == 42)
        #expect(RESPValue.bulk(Array("héllo".utf8)).string == "héllo")
        #expect(RESPValue.bulk([0xC3, 0x28]).string == nil)
        #expect(RESPValue.bulk([0xC3, 0x28]).bytes == [0xC3, 0x28])
        #expect(RESPValue.status("OK").string == "OK")
        #expect(RESPValue.integer(7).int == 7)
        #expect(RESPValue.null.isNull)
        #expect(RESPValue.null.string == nil)
        #expect(RESPValue.array([.integer(1)]).array == [.integer(1)])
        #expect(RESPValue.integer(1).array == nil)
    }

    @Test func argumentsFromLiterals() {
        let arguments: [RedisArgument] = ["SET", "k", 42, RedisArgument([0, 255]), RedisArgument(Int64(-1)), RedisArgument(1.5)]
        #expect(arguments.map(\.bytes) == [Array("SET".utf8), Array("k".utf8), Array("42".utf8), [0, 255], Array("-1".utf8), Array("1.5".utf8)])
    }
}
