import StrataCore
import StrataL2
import StrataRedis
import Testing

@Suite("L2 rejects corrupt, truncated, forged, unknown-version and moved values")
struct L2IntegrityTests {
    enum Mode: String, CaseIterable, Sendable { case checksum, hmac, aesGCM }

    func cache(_ mode: Mode, namespace: String? = nil, key: L2SecretKey? = nil) throws -> L2Cache {
        try makeCache("int", namespace: namespace) { configuration in
            switch mode {
            case .checksum: configuration.protection = .none
            case .hmac: configuration.protection = .authenticated(current: try key ?? secret(1, 0x5A))
            case .aesGCM: configuration.protection = .encrypted(current: try key ?? secret(1, 0x5A))
            }
        }
    }

    /// Writes a valid entry, replaces its bytes with `tamper(bytes)`, expects a miss and the key gone.
    func expectRejected(_ mode: Mode, _ what: String, _ tamper: ([UInt8]) -> [UInt8]) async throws {
        let cache = try cache(mode)
        let redis = try await connectRedis()
        let key = "app:user:1"
        try await cache.set(key, value: Profile(id: 1, name: "Ada", roles: ["a"], score: 1, active: true), ttl: .seconds(60))
        let valueKey = cache.layout.valueKey(key)
        let bytes = try #require(try await redis.raw(valueKey))
        try await redis.put(valueKey, tamper(bytes))
        let lookup = try await cache.get(key, as: Profile.self)
        #expect(lookup.isMiss, "\(mode) \(what): expected a miss")
        #expect(try await !redis.exists(valueKey), "\(mode) \(what): the rejected value should be deleted")
        #expect(cache.statistics.rejected == 1, "\(mode) \(what)")
        // And through the lease path: rejected, deleted, lease granted, loader's value stored.
        try await redis.put(valueKey, tamper(bytes))
        let loaded = try await cache.load(key, as: Profile.self, ttl: .seconds(60)) { Profile(id: 2, name: "B", roles: [], score: nil, active: false) }
        #expect(loaded.value.id == 2 && loaded.source == .loaded(write: .stored), "\(mode) \(what)")
        await cache.close(); await redis.close()
    }

    @Test(arguments: Mode.allCases)
    func flippedPayloadByte(_ mode: Mode) async throws {
        try await expectRejected(mode, "flipped byte") { var b = $0; b[b.count - 20] ^= 0x40; return b }
    }

    @Test(arguments: Mode.allCases)
    func flippedGenerationByte(_ mode: Mode) async throws {
        // Generation 0 → 1 in the envelope while the server says 0: a stale-looking entry
        // is a miss; with every mode it is never served.
        let cache = try cache(mode)
        let redis = try await connectRedis()
        try await cache.set("app:user:1", value: 1, ttl: .seconds(60))
        let valueKey = cache.layout.valueKey("app:user:1")
        var bytes = try #require(try await redis.raw(valueKey))
        bytes[13] ^= 0x01   // last byte of the first generation
        try await redis.put(valueKey, bytes)
        #expect(try await cache.get("app:user:1", as: Int.self).isMiss)
        #expect(try await redis.exists(valueKey))   // stale-looking: a miss, left to its TTL
        // Forging the generation to match a bumped prefix does not revive it either.
        try await redis.send(["INCR", RedisArgument(cache.layout.generationKey("*"))])
        #expect(try await cache.get("app:user:1", as: Int.self).isMiss)
        #expect(try await !redis.exists(valueKey))
        await cache.close(); await redis.close()
    }

    @Test(arguments: Mode.allCases)
    func truncated(_ mode: Mode) async throws {
        try await expectRejected(mode, "truncated by 1") { Array($0.dropLast()) }
        try await expectRejected(mode, "truncated to the header") { Array($0.prefix(10)) }
        try await expectRejected(mode, "empty") { _ in [] }
    }

    @Test(arguments: Mode.allCases)
    func unknownVersionAndGarbage(_ mode: Mode) async throws {
        try await expectRejected(mode, "version 9") { var b = $0; b[1] = 9; return b }
        try await expectRejected(mode, "unknown flag") { var b = $0; b[2] |= 0x80; return b }
        try await expectRejected(mode, "garbage") { _ in Array("not an envelope at all".utf8) }
    }

    @Test(arguments: Mode.allCases)
    func movedToAnotherKey(_ mode: Mode) async throws {
        let cache = try cache(mode)
        let redis = try await connectRedis()
        try await cache.set("app:user:1", value: Decision.allow, ttl: .seconds(60))
        try await cache.set("app:user:2", value: Decision.deny, ttl: .seconds(60))
        let bytes = try #require(try await redis.raw(cache.layout.valueKey("app:user:1")))
        try await redis.put(cache.layout.valueKey("app:user:2"), bytes)   // same prefixes, other key
        #expect(try await cache.get("app:user:2", as: Decision.self).isMiss)
        #expect(try await !redis.exists(cache.layout.valueKey("app:user:2")))
        #expect(try await cache.get("app:user:1", as: Decision.self).value == .allow)
        await cache.close(); await redis.close()
    }

    @Test(arguments: [Mode.hmac, .aesGCM])
    func forgedWithAnotherKeyOrDowngraded(_ mode: Mode) async throws {
        let namespace = uniqueNamespace("forge")
        let victim = try cache(mode, namespace: namespace, key: try secret(1, 0x01))
        let attackerSameID = try cache(mode, namespace: namespace, key: try secret(1, 0x99))
        let attackerUnprotected = try cache(.checksum, namespace: namespace)
        let redis = try await connectRedis()
        try await attackerSameID.set("authz:user:1", value: Decision.allow, ttl: .seconds(60))
        #expect(try await victim.get("authz:user:1", as: Decision.self).isMiss)
        #expect(try await !redis.exists(victim.layout.valueKey("authz:user:1")))
        try await attackerUnprotected.set("authz:user:1", value: Decision.allow, ttl: .seconds(60))
        #expect(try await victim.get("authz:user:1", as: Decision.self).isMiss)
        #expect(try await !redis.exists(victim.layout.valueKey("authz:user:1")))
        // A protected entry read by an unprotected cache is not trusted either.
        try await victim.set("authz:user:2", value: Decision.deny, ttl: .seconds(60))
        #expect(try await attackerUnprotected.get("authz:user:2", as: Decision.self).isMiss)
        #expect(victim.statistics.rejected == 2)
        for cache in [victim, attackerSameID, attackerUnprotected] { await cache.close() }
        await redis.close()
    }

    /// A batch reads its values where they lie in one reply buffer: tampered, truncated,
    /// moved and empty entries among valid ones are misses and deleted, the valid ones around
    /// them hits (async and blocking API). A key holding a list is a plain miss (`MGET` reads
    /// it as nil) and stays.
    @Test(arguments: Mode.allCases)
    func batchRejectsTamperedEntriesBetweenValidOnes(_ mode: Mode) async throws {
        let cache = try cache(mode)
        let redis = try await connectRedis()
        let connection = try await connectRedis()
        let profiles = (1...7).map { Profile(id: $0, name: "user \($0)", roles: ["r\($0)"], score: Double($0), active: $0 % 2 == 0) }
        let keys = profiles.map { "app:user:\($0.id)" }
        for blocking in [false, true] {
            let before = cache.statistics.rejected
            _ = try await cache.setMany(zip(keys, profiles).map { (key: $0, value: $1) }, ttl: .seconds(60))
            func valueKey(_ index: Int) -> String { cache.layout.valueKey(keys[index]) }
            let first = try #require(try await redis.raw(valueKey(0)))
            var flipped = try #require(try await redis.raw(valueKey(1)))
            flipped[flipped.count - 20] ^= 0x40
            try await redis.put(valueKey(1), flipped)                                        // 2: a flipped byte
            try await redis.put(valueKey(2), Array(try #require(try await redis.raw(valueKey(2))).prefix(10)))   // 3: truncated
            try await redis.send(["DEL", RedisArgument(valueKey(3))])
            try await redis.send(["RPUSH", RedisArgument(valueKey(3)), "x"])                // 4: not a string (nil to MGET)
            try await redis.put(valueKey(4), first)                                         // 5: user 1's entry
            try await redis.put(valueKey(5), [])                                            // 6: empty
            let asked = keys + ["app:user:absent"]
            let lookups = blocking ? try cache.getManySync(asked, as: Profile.self, on: connection)
                                   : try await cache.getMany(asked, as: Profile.self)
            #expect(lookups.map(\.value) == [profiles[0], nil, nil, nil, nil, nil, profiles[6], nil], "\(mode) blocking: \(blocking)")
            #expect(cache.statistics.rejected - before == 4, "\(mode) blocking: \(blocking)")
            for index in [1, 2, 4, 5] { #expect(try await !redis.exists(valueKey(index)), "\(mode) blocking: \(blocking), key \(index + 1)") }
            #expect(try await redis.send(["TYPE", RedisArgument(valueKey(3))]) == .status("list"))
            try await redis.send(["DEL", RedisArgument(valueKey(3))])
            #expect(try await redis.raw(valueKey(0)) == first)
            #expect(try await redis.exists(valueKey(6)))
        }
        await cache.close(); await redis.close(); await connection.close()
    }

    /// A codec of the application's own (id 200): `[UInt8]` payloads as they are.
    struct RawCodec: L2Codec {
        var id: UInt8 { 200 }
        func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
            guard let bytes = value as? [UInt8] else { throw TestFailure("RawCodec encodes [UInt8] only") }
            return bytes
        }
        func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
            guard let value = bytes as? T else { throw TestFailure("RawCodec decodes [UInt8] only") }
            return value
        }
    }

    @Test func wrongTypeAndWrongCodec() async throws {
        let namespace = uniqueNamespace("type")
        let cache = try makeCache("type", namespace: namespace)
        let custom = try makeCache("type", namespace: namespace) { $0.codec = RawCodec() }
        let redis = try await connectRedis()
        try await redis.send(["RPUSH", RedisArgument(cache.layout.valueKey("app:list:1")), "x"])
        #expect(try await cache.get("app:list:1", as: Int.self).isMiss)
        #expect(try await !redis.exists(cache.layout.valueKey("app:list:1")))
        try await custom.set("app:c:1", value: [UInt8]([1, 2]), ttl: .seconds(60))
        #expect(try await custom.get("app:c:1", as: [UInt8].self).value == [1, 2])
        #expect(try await cache.get("app:c:1", as: [UInt8].self).isMiss)         // a codec id it does not know
        #expect(try await !redis.exists(cache.layout.valueKey("app:c:1")))
        try await cache.set("app:c:2", value: "text", ttl: .seconds(60))
        #expect(try await cache.get("app:c:2", as: Profile.self).isMiss)           // undecodable as that type
        #expect(cache.statistics.rejected == 3)
        await cache.close(); await custom.close(); await redis.close()
    }
}
