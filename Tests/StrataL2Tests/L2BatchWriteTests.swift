import Foundation
import StrataL2
import StrataRedis
import Testing

/// `setMany` builds its pipeline in one buffer, envelopes in place; these pin what it
/// stores against what `set` stores, and the batch's generation rules.
@Suite("L2 batch writes")
struct L2BatchWriteTests {
    static func entries(_ count: Int, prefix: String = "app:item") -> [(key: String, value: Profile)] {
        (0..<count).map { (key: "\(prefix):\($0)", value: Profile(id: $0, name: String(repeating: "n", count: $0 * 7), roles: ["r\($0)"],
                                                                   score: $0 % 2 == 0 ? nil : Double($0), active: $0 % 3 == 0)) }
    }

    /// Every protection, and values below and above the compression threshold.
    @Test(arguments: ["none", "hmac", "aes"])
    func batchesStoreWhatSingleSetsStore(protection: String) async throws {
        let namespace = uniqueNamespace("bw" + protection)
        func configure(_ configuration: inout L2Configuration) throws {
            configuration.compressionThreshold = 256
            switch protection {
            case "hmac": configuration.protection = .authenticated(current: try secret(1, 0x31))
            case "aes": configuration.protection = .encrypted(current: try secret(2, 0x32))
            default: break
            }
        }
        let batch = try makeCache("bw", namespace: namespace, configure)
        let single = try makeCache("bw", namespace: namespace + "s:", configure)
        let redis = try await connectRedis()
        let entries = Self.entries(60)   // names up to 413 bytes: some compressed
        #expect(try await batch.setMany(entries, ttl: .seconds(60)).allSatisfy { $0 == .stored })
        for entry in entries { #expect(try await single.set(entry.key, value: entry.value, ttl: .seconds(60)) == .stored) }
        let lookups = try await batch.getMany(entries.map(\.key), as: Profile.self)
        for (index, entry) in entries.enumerated() {
            #expect(lookups[index].value == entry.value, "\(entry.key)")
            let stored = try #require(try await redis.raw(batch.layout.valueKey(entry.key)))
            let alone = try #require(try await redis.raw(single.layout.valueKey(entry.key)))
            // Same header (flags, codec, key id, generations) and size; the time and the
            // checksum, MAC or nonce differ.
            #expect(stored.count == alone.count && stored[0..<6] == alone[0..<6], "\(entry.key)")
            if protection == "none", stored[2] & 0x01 == 0 {
                // Unprotected and uncompressed: the payload is the same bytes.
                let header = 18 + 8 * Int(stored[5])
                #expect(stored[header..<(stored.count - 4)] == alone[header..<(alone.count - 4)])
            }
        }
        await batch.close(); await single.close(); await redis.close()
    }

    @Test func aBatchStampedWithOldGenerationsIsWrittenAgain() async throws {
        let namespace = uniqueNamespace("bwgen")
        let cache = try makeCache("bwgen", namespace: namespace)
        let worker = try makeCache("bwgen", namespace: namespace)
        let entries = Self.entries(20, prefix: "t1:item") + Self.entries(20, prefix: "t2:item")
        #expect(try await cache.setMany(entries, ttl: .seconds(60)).allSatisfy { $0 == .stored })
        // Another instance invalidates: `cache` still knows the old generations, stamps its
        // next batch with them, sees the new ones in the same pipeline and writes again.
        try await worker.invalidate(prefix: "t2:*")
        try await worker.invalidate(prefix: "*")
        #expect(try await worker.getMany(entries.map(\.key), as: Profile.self).allSatisfy(\.isMiss))
        let before = cache.statistics
        #expect(try await cache.setMany(entries, ttl: .seconds(60)).allSatisfy { $0 == .stored })
        let lookups = try await worker.getMany(entries.map(\.key), as: Profile.self)
        for (index, entry) in entries.enumerated() { #expect(lookups[index].value == entry.value, "\(entry.key)") }
        #expect(cache.statistics.writes - before.writes == entries.count)
        // Now the generations are known: one pipeline, nothing refused.
        #expect(try await cache.setMany(entries, ttl: .seconds(60)).allSatisfy { $0 == .stored })
        await cache.close(); await worker.close()
    }

    @Test func batchesOnTheBlockingPath() async throws {
        let cache = try makeCache("bwsync")
        let connection = try await connectRedis()
        let entries = Self.entries(40)
        #expect(try cache.setManySync(entries, ttl: .seconds(60), on: connection).allSatisfy { $0 == .stored })
        let lookups = try cache.getManySync(entries.map(\.key) + ["app:item:absent"], as: Profile.self, on: connection)
        for (index, entry) in entries.enumerated() { #expect(lookups[index].value == entry.value) }
        #expect(lookups[40].isMiss)
        // Blobs and scalars go through the same buffer.
        let blobs = (0..<16).map { (key: "app:blob:\($0)", value: (0..<(100 + $0)).map { UInt8(truncatingIfNeeded: $0) }) }
        #expect(try cache.setManySync(blobs, ttl: .seconds(60), on: connection).allSatisfy { $0 == .stored })
        #expect(try cache.getManySync(blobs.map(\.key), as: [UInt8].self, on: connection).map(\.value) == blobs.map { Optional($0.value) })
        await cache.close(); await connection.close()
    }

    /// Redis refuses some of a batch's `SET`s (here an ACL user that may not write those
    /// keys): each refused entry is skipped with Redis's own error, the others are stored,
    /// on both paths.
    @Test func setsRedisRefusesAreSkippedWithItsError() async throws {
        let namespace = uniqueNamespace("bwacl")
        let user = "strata-bwacl-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let admin = try await connectRedis()
        _ = try await admin.send("ACL", "SETUSER", RedisArgument(user), "on", ">acl-pass", RedisArgument("~\(namespace)g:*"),
                                 RedisArgument("~\(namespace)l:*"), RedisArgument("~\(namespace)v:ok:*"), "+@all")
        defer { Task { _ = try? await admin.send("ACL", "DELUSER", RedisArgument(user)); await admin.close() } }
        let cache = try makeCache("bwacl", namespace: namespace) { configuration in
            configuration.redis.username = user
            configuration.redis.password = "acl-pass"
        }
        let entries = Self.entries(4, prefix: "ok:item") + Self.entries(2, prefix: "no:item")
        var configuration = cache.configuration.redis
        configuration.commandTimeout = .seconds(5)
        let connection = try await RedisConnection.connect(configuration)
        for outcomes in [try await cache.setMany(entries, ttl: .seconds(60)), try cache.setManySync(entries, ttl: .seconds(60), on: connection)] {
            #expect(outcomes[0..<4].allSatisfy { $0 == .stored })
            for outcome in outcomes[4...] {
                guard case .skipped(.redisFailure(let message)) = outcome else {
                    Issue.record("expected the refused SET to be skipped, got \(outcome)")
                    continue
                }
                #expect(message.contains("NOPERM"), "\(message)")
            }
        }
        #expect(try await cache.getMany(entries[0..<4].map(\.key), as: Profile.self).map(\.value) == entries[0..<4].map { Optional($0.value) })
        for entry in entries[4...] { #expect(try await !admin.exists(cache.layout.valueKey(entry.key))) }
        await cache.close(); await connection.close()
    }

    @Test func anOversizedValueFailsTheBatchBeforeAnythingIsWritten() async throws {
        let cache = try makeCache("bwbig") { $0.maximumValueSize = 300; $0.compressionThreshold = .max }
        let redis = try await connectRedis()
        var entries = Self.entries(5)
        entries.append((key: "app:item:big", value: Profile(id: 9, name: String(repeating: "z", count: 400), roles: [], score: nil, active: true)))
        let error = await #expect(throws: L2Error.self) { try await cache.setMany(entries, ttl: .seconds(60)) }
        #expect(error?.code == .valueTooLarge)
        for entry in entries { #expect(try await !redis.exists(cache.layout.valueKey(entry.key))) }
        await cache.close(); await redis.close()
    }
}
