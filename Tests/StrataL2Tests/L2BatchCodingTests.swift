import Foundation
@testable import StrataL2
import Testing

/// The batch paths of the codec and the envelope: one writer appending many payloads to one
/// buffer, one reader decoding many payloads, envelopes written in place. Each must give
/// exactly what the one-value paths give.
@Suite("L2 batch coding: reused writer and reader, envelopes in place")
struct L2BatchCodingTests {
    let codec = L2BinaryCodec()

    /// Values of many types and shapes, drawn at random (deterministically).
    static func randomValues(_ count: Int, seed: UInt64) -> [any Codable & Sendable] {
        var generator = SplitMix64(seed: seed)
        func string() -> String {
            let alphabet = Array("abcxyz019 _:-ü✓𝄞")
            return String((0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        func int() -> Int {
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: Int.random(in: -64...63, using: &generator)
            case 1: Int.random(in: -100_000...100_000, using: &generator)
            case 2: Int.random(in: Int.min...Int.max, using: &generator)
            default: [Int.min, Int.max, 0, -65, 64][Int.random(in: 0..<5, using: &generator)]
            }
        }
        var values: [any Codable & Sendable] = []
        for _ in 0..<count {
            switch Int.random(in: 0..<12, using: &generator) {
            case 0: values.append(int())
            case 1: values.append(string())
            case 2: values.append((0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            case 3:
                values.append(AuthorizationDecision(
                    allowed: Bool.random(using: &generator), subject: string(), action: string(), resource: string(),
                    reason: Bool.random(using: &generator) ? nil : string(), roles: (0..<Int.random(in: 0...5, using: &generator)).map { _ in string() },
                    policyVersion: int(), decidedAt: Date(timeIntervalSinceReferenceDate: Double(int() % 1_000_000_000) / 4)))
            case 4: values.append(Catalog.sample(items: Int.random(in: 0...20, using: &generator)))
            case 5: values.append(Profile(id: int(), name: string(), roles: [string(), string()], score: Bool.random(using: &generator) ? nil : 1.5,
                                          active: Bool.random(using: &generator)))
            case 6: values.append((0..<Int.random(in: 0...30, using: &generator)).map { _ in string() })
            case 7: values.append(Dictionary(uniqueKeysWithValues: (0..<Int.random(in: 0...20, using: &generator)).map { ("k\($0)", int()) }))
            case 8: values.append(Interleaved(numbers: (0..<Int.random(in: 0...20, using: &generator)).map { _ in int() }, label: string(),
                                              inner: ["a": int(), "b": int()]))
            case 9: values.append(Extremes())
            case 10: values.append([Shipment.gift, .bundle([int()]), .physical(weight: 1.5, fragile: true), .digital(url: URL(string: "https://e.x/\(int())")!)])
            default: values.append(Optional<String>.none)
            }
        }
        return values
    }

    @Test func oneWriterForManyPayloadsWritesWhatEncodeWrites() throws {
        let values = Self.randomValues(400, seed: 11)
        let writer = _BinaryWriter()
        var buffer: [UInt8] = [0xEE, 0xEE]   // bytes before the payloads stay as they are
        var starts: [Int] = []
        for value in values {
            starts.append(buffer.count)
            try writer.append(value, to: &buffer)
        }
        starts.append(buffer.count)
        #expect(buffer.prefix(2) == [0xEE, 0xEE])
        for (index, value) in values.enumerated() {
            let alone = try codec.encode(value)
            #expect(Array(buffer[starts[index]..<starts[index + 1]]) == alone, "value \(index): \(type(of: value))")
        }
    }

    @Test func aFailedAppendLeavesTheBufferAsItWas() throws {
        let writer = _BinaryWriter()
        var buffer: [UInt8] = []
        try writer.append(AuthorizationDecision.sample, to: &buffer)
        let before = buffer
        #expect(throws: EncodingError.self) { try writer.append(DoubleWrite(), to: &buffer) }
        #expect(buffer == before)
        try writer.append(AuthorizationDecision.sample, to: &buffer)
        #expect(Array(buffer[before.count...]) == before)
    }

    @Test func oneReaderForManyPayloadsReadsWhatDecodeReads() throws {
        var generator = SplitMix64(seed: 5)
        let reuse = _ReaderReuse()
        for index in 0..<300 {
            // A payload inside other bytes, as in an envelope.
            let value = Catalog.sample(items: index % 7)
            let decision = AuthorizationDecision(allowed: index % 2 == 0, subject: "user:\(index)", action: "read", resource: "p:\(index)",
                                                 reason: index % 3 == 0 ? nil : "r\(index)", roles: ["a", "b"], policyVersion: index,
                                                 decidedAt: Date(timeIntervalSinceReferenceDate: Double(index)))
            func embedded(_ payload: [UInt8]) -> ([UInt8], Range<Int>) {
                let prefix = (0..<Int.random(in: 0...20, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                return (prefix + payload + [1, 2, 3], prefix.count..<(prefix.count + payload.count))
            }
            let (catalogBytes, catalogRange) = embedded(try codec.encode(value))
            #expect(try reuse.decode(Catalog.self, from: catalogBytes, range: catalogRange) == value)
            let (decisionBytes, decisionRange) = embedded(try codec.encode(decision))
            #expect(try reuse.decode(AuthorizationDecision.self, from: decisionBytes, range: decisionRange) == decision)
            // Errors from a reused reader are the one-off reader's.
            let corrupt = Array(try codec.encode(decision).dropLast())
            let reused = #expect(throws: DecodingError.self) { try reuse.decode(AuthorizationDecision.self, from: corrupt, range: corrupt.indices) }
            let fresh = #expect(throws: DecodingError.self) { try codec.decode(AuthorizationDecision.self, from: corrupt) }
            #expect(String(describing: reused) == String(describing: fresh))
        }
    }

    /// A value that keeps its decoder (not something to do, but legal): the reader it holds
    /// is not reused for the next payload.
    struct Keeper: Decodable {
        let decoder: any Decoder
        init(from decoder: any Decoder) throws { self.decoder = decoder }
    }

    @Test func aReaderAValueKeptIsNotReused() throws {
        let reuse = _ReaderReuse()
        let first = try codec.encode(["name": "first"])
        let keeper = try reuse.decode(Keeper.self, from: first, range: first.indices)
        let second = try codec.encode(["name": "second"])
        #expect(try reuse.decode([String: String].self, from: second, range: second.indices) == ["name": "second"])
        #expect(try [String: String](from: keeper.decoder) == ["name": "first"])
    }

    @Test func keysAreFoundByTheirBytes() throws {
        // Keys of every length class, references to them from nested objects, and a lookup
        // order different from the write order.
        struct Wide: Codable, Equatable {
            var a: Int, bb: Int, a_much_longer_key_than_sixteen_bytes: String, ü: Bool, nested: [[String: Int]]
        }
        let value = Wide(a: 1, bb: 2, a_much_longer_key_than_sixteen_bytes: "x", ü: true,
                         nested: [["a": 1, "bb": 2], ["a_much_longer_key_than_sixteen_bytes": 3, "ü": 4]])
        #expect(try codec.decode(Wide.self, from: codec.encode(value)) == value)
        struct Reordered: Decodable, Equatable {
            var ü: Bool, a: Int, bb: Int
            enum CodingKeys: String, CodingKey { case ü, bb, a }
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                ü = try container.decode(Bool.self, forKey: .ü)
                bb = try container.decode(Int.self, forKey: .bb)
                a = try container.decode(Int.self, forKey: .a)
                #expect(Set(container.allKeys.map(\.stringValue)) == ["ü", "bb", "a"])
                #expect(container.contains(.a))
            }
        }
        let reordered = try codec.decode(Reordered.self, from: codec.encode(value))
        #expect(reordered.a == 1 && reordered.bb == 2 && reordered.ü)
    }

    @Test func envelopesWrittenInPlaceEqualEncodedOnes() throws {
        var generator = SplitMix64(seed: 9)
        let protectors = [try _Protector(.none), try _Protector(.authenticated(current: try secret(4, 0x44)))]
        for protector in protectors {
            for round in 0..<200 {
                let payload = (0..<Int.random(in: 0...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let generations = (0..<Int.random(in: 0...6, using: &generator)).map { _ in Int64.random(in: -1...Int64.max, using: &generator) }
                let key = Array("ns:v:a:b:\(round)".utf8)
                let now = Int64.random(in: 0...Int64.max, using: &generator)
                let threshold = 1024
                let encoded = _Envelope.encode(payload: payload, codec: 3, generations: generations, writtenAtMilliseconds: now,
                                               redisKey: key, protector: protector, compressionThreshold: threshold)
                let length = try #require(_Envelope.inPlaceLength(payloadCount: payload.count, generationCount: generations.count,
                                                                  protector: protector, compressionThreshold: threshold))
                var out: [UInt8] = [9, 9, 9]
                payload.withUnsafeBytes { payload in
                    generations.withUnsafeBufferPointer { generations in
                        _Envelope.append(payload: payload, codec: 3, generations: generations, writtenAtMilliseconds: now,
                                         redisKey: key, protector: protector, to: &out)
                    }
                }
                #expect(out.count == 3 + length)
                #expect(Array(out[3...]) == encoded, "round \(round)")
                if case .none = protector.mode {
                    // The unprotected entry written into raw memory, its checksum continued
                    // from the key's checksum state (as a batch does with the key plan's).
                    var raw = [UInt8](repeating: 0xEE, count: length)
                    payload.withUnsafeBytes { payload in
                        generations.withUnsafeBufferPointer { generations in
                            raw.withUnsafeMutableBytes { out in
                                _Envelope.write(payload: payload, codec: 3, generations: generations, writtenAtMilliseconds: now,
                                                keyChecksum: _Envelope.keyChecksum(redisKey: key), to: out)
                            }
                        }
                    }
                    #expect(raw == encoded, "round \(round), written in place")
                }
            }
        }
        // Compressed or encrypted entries are not written in place.
        #expect(_Envelope.inPlaceLength(payloadCount: 2000, generationCount: 3, protector: protectors[0], compressionThreshold: 1024) == nil)
        let encrypted = try _Protector(.encrypted(current: try secret(5, 0x55)))
        #expect(_Envelope.inPlaceLength(payloadCount: 10, generationCount: 3, protector: encrypted, compressionThreshold: 1024) == nil)
    }
}
