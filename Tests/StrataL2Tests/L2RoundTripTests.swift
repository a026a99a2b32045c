import Foundation
import StrataCore
import StrataL2
import StrataRedis
import Testing

@Suite("L2 round trips, TTL, batches, errors")
struct L2RoundTripTests {
    static let profile = Profile(id: 42, name: "Ada", roles: ["admin", "dev"], score: 9.5, active: true)
    static let big = (0..<500).map { "role-\($0)-" + String(repeating: "x", count: 20) }

    func roundTrip(_ cache: L2Cache, _ redis: RedisConnection, expectCompressed: Bool? = nil) async throws {
        let key = "app:profile:42"
        #expect(try await cache.set(key, value: Self.profile, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get(key, as: Profile.self).value == Self.profile)
        #expect(try await cache.set("app:n:1", value: 7, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("app:n:1", as: Int.self).value == 7)
        #expect(try await cache.set("app:s:1", value: "héllo", ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("app:s:1", as: String.self).value == "héllo")
        #expect(try await cache.set("app:d:1", value: Decision.deny, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("app:d:1", as: Decision.self).value == .deny)
        #expect(try await cache.set("app:o:1", value: Optional<Int>.none, ttl: .seconds(60)) == .stored)
        let optional = try await cache.get("app:o:1", as: Optional<Int>.self)
        #expect(optional.isHit)
        #expect(try await cache.set("app:big:1", value: Self.big, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("app:big:1", as: [String].self).value == Self.big)
        let raw = try #require(try await redis.raw(cache.layout.valueKey("app:big:1")))
        #expect(raw[0] == 0xC5 && raw[1] == 1)
        if let expectCompressed { #expect((raw[2] & 0x01 != 0) == expectCompressed) }
        #expect(try await cache.get("app:absent:1", as: Int.self).isMiss)
    }

    @Test func roundTripDefaultCodecCompressed() async throws {
        let cache = try makeCache("rt")
        #expect(cache.configuration.codec.id == L2BinaryCodec().id)
        let redis = try await connectRedis()
        try await roundTrip(cache, redis, expectCompressed: true)
        #expect(try await redis.raw(cache.layout.valueKey("app:profile:42"))?[3] == 3)   // codec id
        await cache.close(); await redis.close()
    }

    /// Entries keep the id of the codec that wrote them: after a change of codec, entries of
    /// the previous built-in codec still decode (until their TTL), in both directions.
    @Test func entriesOfTheOtherBuiltInCodecsStillDecode() async throws {
        let namespace = uniqueNamespace("codecs")
        let binary = try makeCache("codecs", namespace: namespace)
        let json = try makeCache("codecs", namespace: namespace) { $0.codec = L2JSONCodec() }
        let plist = try makeCache("codecs", namespace: namespace) { $0.codec = L2PropertyListCodec() }
        let redis = try await connectRedis()
        try await json.set("app:profile:1", value: Self.profile, ttl: .seconds(60))
        try await plist.set("app:profile:2", value: Self.profile, ttl: .seconds(60))
        try await binary.set("app:profile:3", value: Self.profile, ttl: .seconds(60))
        #expect(try await redis.raw(binary.layout.valueKey("app:profile:1"))?[3] == 2)
        for cache in [binary, json, plist] {
            let lookups = try await cache.getMany(["app:profile:1", "app:profile:2", "app:profile:3"], as: Profile.self)
            #expect(lookups.map(\.value) == [Self.profile, Self.profile, Self.profile])
            #expect(cache.statistics.rejected == 0)
        }
        await binary.close(); await json.close(); await plist.close(); await redis.close()
    }

    @Test func roundTripPropertyListCodec() async throws {
        let cache = try makeCache("rtp") { $0.codec = L2PropertyListCodec() }
        let redis = try await connectRedis()
        try await roundTrip(cache, redis, expectCompressed: true)
        #expect(try await redis.raw(cache.layout.valueKey("app:profile:42"))?[3] == 1)
        await cache.close(); await redis.close()
    }

    @Test func roundTripJSONUncompressed() async throws {
        let cache = try makeCache("rtj") { $0.codec = L2JSONCodec(); $0.compressionThreshold = .max }
        let redis = try await connectRedis()
        try await roundTrip(cache, redis, expectCompressed: false)
        let raw = try #require(try await redis.raw(cache.layout.valueKey("app:profile:42")))
        #expect(raw[3] == 2)   // codec id
        #expect(String(decoding: raw, as: UTF8.self).contains("\"name\":\"Ada\""))
        await cache.close(); await redis.close()
    }

    @Test func roundTripHMAC() async throws {
        let cache = try makeCache("rth") { $0.protection = .authenticated(current: try secret(1, 0xAB)) }
        let redis = try await connectRedis()
        try await roundTrip(cache, redis, expectCompressed: true)
        let raw = try #require(try await redis.raw(cache.layout.valueKey("app:profile:42")))
        #expect(raw[2] & 0x02 != 0 && raw[4] == 1)
        await cache.close(); await redis.close()
    }

    @Test func roundTripAESGCM() async throws {
        let cache = try makeCache("rta") { $0.protection = .encrypted(current: try secret(3, 0xCD)) }
        let redis = try await connectRedis()
        try await roundTrip(cache, redis, expectCompressed: true)
        let raw = try #require(try await redis.raw(cache.layout.valueKey("app:profile:42")))
        #expect(raw[2] & 0x04 != 0 && raw[4] == 3)
        #expect(!String(decoding: raw, as: UTF8.self).contains("Ada"))
        await cache.close(); await redis.close()
    }

    @Test func keyRotation() async throws {
        let namespace = uniqueNamespace("rot")
        let key1 = try secret(1, 0x11), key2 = try secret(2, 0x22)
        let old = try makeCache("rot", namespace: namespace) { $0.protection = .authenticated(current: key1) }
        let rotated = try makeCache("rot", namespace: namespace) { $0.protection = .authenticated(current: key2, previous: [key1]) }
        let newOnly = try makeCache("rot", namespace: namespace) { $0.protection = .authenticated(current: key2) }
        let redis = try await connectRedis()
        try await old.set("app:user:1", value: Self.profile, ttl: .seconds(60))
        #expect(try await rotated.get("app:user:1", as: Profile.self).value == Self.profile)   // old key verifies
        try await rotated.set("app:user:2", value: Self.profile, ttl: .seconds(60))
        #expect(try await redis.raw(rotated.layout.valueKey("app:user:2"))?[4] == 2)        // new key writes
        #expect(try await newOnly.get("app:user:2", as: Profile.self).value == Self.profile)
        #expect(try await newOnly.get("app:user:1", as: Profile.self).isMiss)                // key 1 retired
        #expect(try await !redis.exists(old.layout.valueKey("app:user:1")))
        #expect(newOnly.statistics.rejected == 1)
        for cache in [old, rotated, newOnly] { await cache.close() }
        await redis.close()
    }

    @Test func ttlIsApplied() async throws {
        let cache = try makeCache("ttl")
        let redis = try await connectRedis()
        try await cache.set("app:ttl:1", value: 1, ttl: .milliseconds(4_500))
        let pttl = try #require(try await redis.send(["PTTL", RedisArgument(cache.layout.valueKey("app:ttl:1"))]).int)
        #expect(pttl > 3_000 && pttl <= 4_500)
        let loaded = try await cache.load("app:ttl:2", as: Int.self, ttl: .seconds(30)) { 5 }
        #expect(loaded.source == .loaded(write: .stored))
        let pttl2 = try #require(try await redis.send(["PTTL", RedisArgument(cache.layout.valueKey("app:ttl:2"))]).int)
        #expect(pttl2 > 28_000 && pttl2 <= 30_000)
        #expect(try await !redis.exists(cache.layout.leaseKey("app:ttl:2")))
        await cache.close(); await redis.close()
    }

    @Test func prefixGenerationBumpIsAMiss() async throws {
        let cache = try makeCache("gen")
        let redis = try await connectRedis()
        try await cache.set("authz:team:7:project:1", value: Decision.allow, ttl: .seconds(60))
        try await cache.set("authz:team:8:project:1", value: Decision.allow, ttl: .seconds(60))
        #expect(try await cache.get("authz:team:7:project:1", as: Decision.self).isHit)
        // Exactly what the worker does for a prefix.
        try await redis.send(["INCR", RedisArgument(cache.layout.generationKey("authz:team:7:*"))])
        #expect(try await cache.get("authz:team:7:project:1", as: Decision.self).isMiss)
        #expect(try await cache.get("authz:team:8:project:1", as: Decision.self).isHit)
        #expect(cache.statistics.staleMisses == 1)
        // A new write is stamped with the new generation.
        #expect(try await cache.set("authz:team:7:project:1", value: Decision.deny, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("authz:team:7:project:1", as: Decision.self).value == .deny)
        try await cache.invalidate(prefix: "*")
        #expect(try await cache.get("authz:team:8:project:1", as: Decision.self).isMiss)
        // A second cache instance that never saw the bump still writes with current generations.
        let other = try makeCache("gen", namespace: cache.configuration.namespace)
        try await redis.send(["INCR", RedisArgument(cache.layout.generationKey("authz:*"))])
        #expect(try await other.set("authz:team:8:project:1", value: Decision.deny, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("authz:team:8:project:1", as: Decision.self).value == .deny)
        try await cache.invalidate(key: "authz:team:8:project:1")
        #expect(try await cache.get("authz:team:8:project:1", as: Decision.self).isMiss)
        await cache.close(); await other.close(); await redis.close()
    }

    @Test func getManyAndSetMany() async throws {
        let cache = try makeCache("many")
        let entries = (0..<50).map { (key: "app:item:\($0)", value: Profile(id: $0, name: "n\($0)", roles: [], score: nil, active: $0 % 2 == 0)) }
        let outcomes = try await cache.setMany(entries, ttl: .seconds(60))
        #expect(outcomes.allSatisfy { $0 == .stored })
        let keys = entries.map(\.key) + ["app:item:absent", "other:item:1"]
        let lookups = try await cache.getMany(keys, as: Profile.self)
        #expect(lookups.count == keys.count)
        for (index, entry) in entries.enumerated() { #expect(lookups[index].value == entry.value) }
        #expect(lookups[50].isMiss && lookups[51].isMiss)
        try await cache.invalidate(prefix: "app:*")
        #expect(try await cache.getMany(keys, as: Profile.self).allSatisfy(\.isMiss))
        #expect(try await cache.getMany([], as: Profile.self).isEmpty)
        await cache.close()
    }

    @Test func getManyOverManyDistinctPrefixes() async throws {
        // 40 tenants: 41 distinct generation keys in one batch (past the linear search, so
        // the batch's generation index switches to hashing part-way).
        let cache = try makeCache("prefixes")
        let entries = (0..<40).flatMap { tenant in (0..<2).map { (key: "t\(tenant):item:\($0)", value: tenant * 10 + $0) } }
        #expect(try await cache.setMany(entries, ttl: .seconds(60)).allSatisfy { $0 == .stored })
        let keys = entries.map(\.key)
        #expect(try await cache.getMany(keys, as: Int.self).map(\.value) == entries.map { Optional($0.value) })
        // Invalidating one tenant early and one late in the batch misses exactly their keys.
        try await cache.invalidate(prefix: "t3:*")
        try await cache.invalidate(prefix: "t37:item:*")
        let lookups = try await cache.getMany(keys, as: Int.self)
        for (index, key) in keys.enumerated() {
            let invalidated = key.hasPrefix("t3:") || key.hasPrefix("t37:")
            #expect(lookups[index].isMiss == invalidated, "\(key)")
            if !invalidated { #expect(lookups[index].value == entries[index].value, "\(key)") }
        }
        await cache.close()
    }

    @Test func malformedKeysAndOversizedValues() async throws {
        let cache = try makeCache("err") { $0.maximumValueSize = 4096; $0.compressionThreshold = .max }
        let redis = try await connectRedis()
        for bad in ["", "a::b", "a:b c", "a:*", "a:b*c", "a:[x]"] {
            let error = await #expect(throws: L2Error.self) { try await cache.set(bad, value: 1, ttl: .seconds(1)) }
            #expect(error?.code == .invalidKey)
            await #expect(throws: L2Error.self) { try await cache.get(bad, as: Int.self) }
        }
        await #expect(throws: L2Error.self) { try await cache.invalidate(prefix: "a:b") }
        let huge = String(repeating: "z", count: 10_000)
        let error = await #expect(throws: L2Error.self) { try await cache.set("app:huge:1", value: huge, ttl: .seconds(1)) }
        #expect(error?.code == .valueTooLarge)
        #expect(error?.message.contains("maximumValueSize") == true)
        #expect(try await !redis.exists(cache.layout.valueKey("app:huge:1")))
        #expect(throws: L2Error.self) { try L2SecretKey(id: 0, bytes: Array(repeating: 1, count: 32)) }
        #expect(throws: L2Error.self) { try makeCache("x") { $0.protection = .encrypted(current: try secret(1, 1, count: 20)) } }
        #expect(throws: L2Error.self) { try makeCache("x") { $0.protection = .authenticated(current: try secret(1, 1), previous: [try secret(1, 2)]) } }
        await cache.close(); await redis.close()
    }

    @Test func synchronousPath() async throws {
        let cache = try makeCache("sync")
        let connection = try await connectRedis()
        let result: (L2WriteOutcome, Profile?, Bool) = try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    let stored = try cache.setSync("app:sync:1", value: Self.profile, ttl: .seconds(60), on: connection)
                    let hit = try cache.getSync("app:sync:1", as: Profile.self, on: connection).value
                    let miss = try cache.getSync("app:sync:2", as: Profile.self, on: connection).isMiss
                    continuation.resume(returning: (stored, hit, miss))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
        #expect(result.0 == .stored && result.1 == Self.profile && result.2)
        #expect(try await cache.get("app:sync:1", as: Profile.self).value == Self.profile)
        await cache.close(); await connection.close()
    }
}
