import Foundation
@testable import StrataL2
import Testing

// MARK: Types with the fast path (fields written in CodingKeys order, as synthesized Codable)

struct FastWidths: L2BinaryCodable, Hashable {
    var i8: Int8, i16: Int16, i32: Int32, i64: Int64, int: Int
    var u8: UInt8, u16: UInt16, u32: UInt32, u64: UInt64, uint: UInt
    var float: Float

    func encode(to writer: inout L2BinaryWriter) throws {
        writer.encode(i8, forKey: "i8")
        writer.encode(i16, forKey: "i16")
        writer.encode(i32, forKey: "i32")
        writer.encode(i64, forKey: "i64")
        writer.encode(int, forKey: "int")
        writer.encode(u8, forKey: "u8")
        writer.encode(u16, forKey: "u16")
        writer.encode(u32, forKey: "u32")
        writer.encode(u64, forKey: "u64")
        writer.encode(uint, forKey: "uint")
        writer.encode(float, forKey: "float")
    }

    init(i8: Int8, i16: Int16, i32: Int32, i64: Int64, int: Int, u8: UInt8, u16: UInt16, u32: UInt32, u64: UInt64, uint: UInt, float: Float) {
        (self.i8, self.i16, self.i32, self.i64, self.int) = (i8, i16, i32, i64, int)
        (self.u8, self.u16, self.u32, self.u64, self.uint, self.float) = (u8, u16, u32, u64, uint, float)
    }

    init(from reader: L2BinaryReader) throws {
        i8 = try reader.decode(Int8.self, forKey: "i8")
        i16 = try reader.decode(Int16.self, forKey: "i16")
        i32 = try reader.decode(Int32.self, forKey: "i32")
        i64 = try reader.decode(Int64.self, forKey: "i64")
        int = try reader.decode(Int.self, forKey: "int")
        u8 = try reader.decode(UInt8.self, forKey: "u8")
        u16 = try reader.decode(UInt16.self, forKey: "u16")
        u32 = try reader.decode(UInt32.self, forKey: "u32")
        u64 = try reader.decode(UInt64.self, forKey: "u64")
        uint = try reader.decode(UInt.self, forKey: "uint")
        float = try reader.decode(Float.self, forKey: "float")
    }
}

struct FastProfile: L2BinaryCodable, Hashable {
    var name: String
    var active: Bool
    var score: Double
    var reason: String?
    var count: Int?
    var tags: [String]
    var created: Date
    var id: UUID
    var avatar: Data?
    var weights: [Double]

    init(name: String, active: Bool, score: Double, reason: String?, count: Int?, tags: [String], created: Date, id: UUID,
         avatar: Data?, weights: [Double]) {
        (self.name, self.active, self.score, self.reason, self.count) = (name, active, score, reason, count)
        (self.tags, self.created, self.id, self.avatar, self.weights) = (tags, created, id, avatar, weights)
    }

    func encode(to writer: inout L2BinaryWriter) throws {
        writer.encode(name, forKey: "name")
        writer.encode(active, forKey: "active")
        writer.encode(score, forKey: "score")
        writer.encodeIfPresent(reason, forKey: "reason")
        writer.encodeIfPresent(count, forKey: "count")
        writer.encode(tags, forKey: "tags")
        writer.encode(created, forKey: "created")
        writer.encode(id, forKey: "id")
        try writer.encodeIfPresent(avatar, forKey: "avatar")
        try writer.encode(weights, forKey: "weights")
    }

    init(from reader: L2BinaryReader) throws {
        name = try reader.decode(String.self, forKey: "name")
        active = try reader.decode(Bool.self, forKey: "active")
        score = try reader.decode(Double.self, forKey: "score")
        reason = try reader.decodeIfPresent(String.self, forKey: "reason")
        count = try reader.decodeIfPresent(Int.self, forKey: "count")
        tags = try reader.decode([String].self, forKey: "tags")
        created = try reader.decode(Date.self, forKey: "created")
        id = try reader.decode(UUID.self, forKey: "id")
        avatar = try reader.decodeIfPresent(Data.self, forKey: "avatar")
        weights = try reader.decode([Double].self, forKey: "weights")
    }
}

struct FastOrder: L2BinaryCodable, Hashable {
    struct Line: L2BinaryCodable, Hashable {
        var sku: String
        var quantity: Int

        init(sku: String, quantity: Int) { (self.sku, self.quantity) = (sku, quantity) }

        func encode(to writer: inout L2BinaryWriter) throws {
            writer.encode(sku, forKey: "sku")
            writer.encode(quantity, forKey: "quantity")
        }

        init(from reader: L2BinaryReader) throws {
            sku = try reader.decode(String.self, forKey: "sku")
            quantity = try reader.decode(Int.self, forKey: "quantity")
        }
    }

    var id: UUID
    var owner: FastProfile
    var lines: [Line]
    var backup: FastProfile?
    var color: Color
    var totals: [String: Int]
    var note: String?

    init(id: UUID, owner: FastProfile, lines: [Line], backup: FastProfile?, color: Color, totals: [String: Int], note: String?) {
        (self.id, self.owner, self.lines, self.backup) = (id, owner, lines, backup)
        (self.color, self.totals, self.note) = (color, totals, note)
    }

    func encode(to writer: inout L2BinaryWriter) throws {
        writer.encode(id, forKey: "id")
        try writer.encode(owner, forKey: "owner")
        try writer.encode(lines, forKey: "lines")
        try writer.encodeIfPresent(backup, forKey: "backup")
        try writer.encode(color, forKey: "color")          // an enum: through Codable
        try writer.encode(totals, forKey: "totals")        // a dictionary: through Codable
        writer.encodeIfPresent(note, forKey: "note")
    }

    init(from reader: L2BinaryReader) throws {
        id = try reader.decode(UUID.self, forKey: "id")
        owner = try reader.decode(FastProfile.self, forKey: "owner")
        lines = try reader.decode([Line].self, forKey: "lines")
        backup = try reader.decodeIfPresent(FastProfile.self, forKey: "backup")
        color = try reader.decode(Color.self, forKey: "color")
        totals = try reader.decode([String: Int].self, forKey: "totals")
        note = try reader.decodeIfPresent(String.self, forKey: "note")
    }
}

// MARK: Tests

@Suite("L2BinaryCodable: the fast path writes and reads the Codable path's bytes")
struct L2BinaryCodableTests {
    let codec = L2BinaryCodec()

    /// The bytes of `value` through Codable: as the element of an array the codec goes
    /// through `Codable` (the fast path is taken for the payload's root value only), so
    /// they are the array's bytes after its one-byte header.
    func codableBytes<T: Codable>(_ value: T) throws -> [UInt8] {
        let array = try codec.encode([value])
        #expect(array.first == 0xA1)
        return Array(array.dropFirst())
    }

    /// Decodes `bytes` through Codable (as an array's element).
    func codableDecode<T: Codable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        let values = try codec.decode([T].self, from: [0xA1] + bytes)
        return values[0]
    }

    /// Fast-path bytes equal Codable bytes; each path reads what the other wrote; the
    /// tree encoder (the fallback for reordered writes) agrees too.
    func check<T: L2BinaryCodable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = try codec.encode(value)
        let slow = try codableBytes(value)
        #expect(fast == slow, sourceLocation: sourceLocation)
        #expect(try _TreeState().encode(value) == slow, sourceLocation: sourceLocation)
        #expect(try codec.decode(T.self, from: slow) == value, sourceLocation: sourceLocation)   // fast reads Codable's
        #expect(try codableDecode(T.self, fast) == value, sourceLocation: sourceLocation)        // Codable reads fast's
        // The batch paths: one writer appending, one reader reused.
        let writer = _BinaryWriter()
        var buffer: [UInt8] = [0xEE]
        try writer.append(value, to: &buffer)
        #expect(Array(buffer.dropFirst()) == slow, sourceLocation: sourceLocation)
        let reuse = _ReaderReuse()
        #expect(try reuse.decode(T.self, from: buffer, range: 1..<buffer.count) == value, sourceLocation: sourceLocation)
    }

    static func string(_ generator: inout SplitMix64, maximum: Int = 40) -> String {
        let alphabet = Array("abcxyz019 _:-ü✓𝄞")
        return String((0..<Int.random(in: 0...maximum, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
    }

    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ generator: inout SplitMix64) -> I {
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: I.random(in: I.min...I.max, using: &generator)
        case 1: I(truncatingIfNeeded: Int.random(in: -70...70, using: &generator))
        case 2: Bool.random(using: &generator) ? I.min : I.max
        default: I(truncatingIfNeeded: Int.random(in: -100_000...100_000, using: &generator))
        }
    }

    static func profile(_ generator: inout SplitMix64) -> FastProfile {
        let tagCount = Int.random(in: 0...20, using: &generator)
        return FastProfile(
            name: string(&generator), active: Bool.random(using: &generator),
            score: Bool.random(using: &generator) ? Double.random(in: -1e9...1e9, using: &generator) : Double(Int.random(in: -5...5, using: &generator)),
            reason: Bool.random(using: &generator) ? string(&generator, maximum: 60) : nil,
            count: Bool.random(using: &generator) ? integer(Int.self, &generator) : nil,
            tags: (0..<tagCount).map { _ in string(&generator, maximum: 8) },
            created: Date(timeIntervalSinceReferenceDate: Double.random(in: -1e9...1e9, using: &generator)),
            id: UUID(), avatar: Bool.random(using: &generator) ? Data((0..<Int.random(in: 0...50, using: &generator)).map { UInt8($0) }) : nil,
            weights: (0..<Int.random(in: 0...3, using: &generator)).map { _ in Double.random(in: 0...1, using: &generator) })
    }

    @Test func integerWidthsAndFloat() throws {
        var generator = SplitMix64(seed: 11)
        for _ in 0..<300 {
            try check(FastWidths(
                i8: Self.integer(Int8.self, &generator), i16: Self.integer(Int16.self, &generator), i32: Self.integer(Int32.self, &generator),
                i64: Self.integer(Int64.self, &generator), int: Self.integer(Int.self, &generator), u8: Self.integer(UInt8.self, &generator),
                u16: Self.integer(UInt16.self, &generator), u32: Self.integer(UInt32.self, &generator), u64: Self.integer(UInt64.self, &generator),
                uint: Self.integer(UInt.self, &generator), float: Float.random(in: -1e6...1e6, using: &generator)))
        }
    }

    @Test func scalarsOptionalsArraysDatesUUIDs() throws {
        var generator = SplitMix64(seed: 12)
        var sawNil = false, sawValue = false
        for _ in 0..<300 {
            let profile = Self.profile(&generator)
            if profile.reason == nil { sawNil = true } else { sawValue = true }
            try check(profile)
        }
        #expect(sawNil && sawValue)
    }

    @Test func nestedArraysOfFastValuesAndCodableFields() throws {
        var generator = SplitMix64(seed: 13)
        for _ in 0..<200 {
            let lineCount = Int.random(in: 0...20, using: &generator)   // past 15: a varint count
            var totals: [String: Int] = [:]
            for _ in 0..<Int.random(in: 0...3, using: &generator) { totals[Self.string(&generator, maximum: 5)] = Int.random(in: -99...99, using: &generator) }
            let order = FastOrder(
                id: UUID(), owner: Self.profile(&generator),
                lines: (0..<lineCount).map { _ in FastOrder.Line(sku: Self.string(&generator, maximum: 6), quantity: Self.integer(Int.self, &generator)) },
                backup: Bool.random(using: &generator) ? Self.profile(&generator) : nil,
                color: Color.allCases.randomElement(using: &generator)!, totals: totals,
                note: Bool.random(using: &generator) ? Self.string(&generator) : nil)
            try check(order)
        }
    }

    @Test func throughTheCache() throws {
        // The L2 entry path: payload bytes equal, decoding either way.
        var generator = SplitMix64(seed: 14)
        let profile = Self.profile(&generator)
        let payload = try codec.encode(profile)
        #expect(payload == (try codableBytes(profile)))
        #expect(try codec.decode(FastProfile.self, from: payload) == profile)
    }

    @Test func truncatedAndCorruptPayloadsThrowCleanly() throws {
        var generator = SplitMix64(seed: 15)
        let order = FastOrder(
            id: UUID(), owner: Self.profile(&generator), lines: [.init(sku: "a", quantity: 300), .init(sku: "b", quantity: -2)],
            backup: Self.profile(&generator), color: .green, totals: ["x": 1], note: "note")
        let bytes = try codec.encode(order)
        // Every truncation.
        for count in 0..<bytes.count {
            #expect(throws: DecodingError.self) { try codec.decode(FastOrder.self, from: Array(bytes.prefix(count))) }
        }
        // Random corruption: an error or a value, never a crash.
        for _ in 0..<2_000 {
            var corrupt = bytes
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                corrupt[Int.random(in: 0..<corrupt.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? codec.decode(FastOrder.self, from: corrupt)
        }
        // Wrong shapes: a scalar where the object is, a missing field, a field of the wrong type.
        #expect(throws: DecodingError.self) { try codec.decode(FastOrder.self, from: try codec.encode(42)) }
        #expect(throws: DecodingError.self) { try codec.decode(FastOrder.Line.self, from: try codec.encode(["sku": "a"])) }
        do {
            _ = try codec.decode(FastOrder.Line.self, from: try codec.encode(["sku": "a", "quantity": "many"]))
            Issue.record("decoded a string as an Int")
        } catch let DecodingError.typeMismatch(_, context) {
            #expect(context.codingPath.map(\.stringValue) == ["quantity"])
        }
    }
}

/// A type whose fast path deliberately differs from its Codable: shows which one the codec took.
struct Marked: L2BinaryCodable, Equatable {
    var value: Int

    init(value: Int) { self.value = value }
    func encode(to writer: inout L2BinaryWriter) throws { writer.encode(value, forKey: "fast") }
    init(from reader: L2BinaryReader) throws { value = try reader.decode(Int.self, forKey: "fast") + 1 }
}

extension L2BinaryCodableTests {
    @Test func theCodecTakesTheFastPathForTheRootValue() throws {
        let bytes = try codec.encode(Marked(value: 5))
        #expect(bytes == [0xB1, 8] + Array("fast".utf8) + [0x45])
        #expect(try codec.decode(Marked.self, from: bytes) == Marked(value: 6))
        let reuse = _ReaderReuse()
        #expect(try reuse.decode(Marked.self, from: bytes, range: 0..<bytes.count) == Marked(value: 6))
        // Inside a Codable value it goes through Codable.
        #expect(try codec.encode([Marked(value: 5)]) == [0xA1, 0xB1, 10] + Array("value".utf8) + [0x45])
    }
}
