import Foundation
@testable import StrataL2
import Testing

// MARK: Test types

/// What an authorization cache stores per question.
struct AuthorizationDecision: Codable, Sendable, Hashable {
    var allowed: Bool
    var subject: String
    var action: String
    var resource: String
    var reason: String?
    var roles: [String]
    var policyVersion: Int
    var decidedAt: Date

    static let sample = AuthorizationDecision(
        allowed: true, subject: "user:42", action: "read", resource: "project:19", reason: nil,
        roles: ["member", "reviewer"], policyVersion: 7, decidedAt: Date(timeIntervalSinceReferenceDate: 770_000_000.25))
}

enum Color: String, Codable, Hashable, CaseIterable { case red, green, blue }

enum Shipment: Codable, Hashable {
    case physical(weight: Float, fragile: Bool)
    case digital(url: URL)
    case bundle([Int])
    case gift
}

struct Extremes: Codable, Hashable {
    var i8 = Int8.min, i16 = Int16.min, i32 = Int32.min, i64 = Int64.min, int = Int.max
    var u8 = UInt8.max, u16 = UInt16.max, u32 = UInt32.max, u64 = UInt64.max, uint = UInt.max
    var small = 63, negative = -64, border = 64, borderNegative = -65
    var float: Float = -1.5e-7, double = Double.pi, infinity = Double.infinity, zero = -0.0
}

struct Empty: Codable, Hashable {}

/// A larger value: nested structs, enums with payloads, optionals, dictionaries of three
/// kinds, Data, bytes, UUIDs, dates, sets, Decimal, long and non-ASCII strings.
struct Catalog: Codable, Hashable {
    struct Item: Codable, Hashable {
        var id: UUID
        var name: String
        var price: Double
        var tags: Set<String>
        var stock: Int?
        var shipment: Shipment
        var color: Color
    }

    var owner: UUID
    var title: String
    var items: [Item]
    var index: [String: Int]
    var names: [Int: String]
    var colors: [Color: Int]
    var thumbnail: Data
    var checksum: [UInt8]
    var created: Date
    var matrix: [[Int8]]
    var extremes: Extremes
    var maybe: Int??
    var nothing: String?
    var empty: Empty
    var price: Decimal
    var homepage: URL
    var flags: [Bool]
    var ratios: [Double]

    static func sample(items count: Int = 20) -> Catalog {
        var generator = SplitMix64(seed: 7)
        let items = (0..<count).map { index in
            Item(id: UUID(uuid: generator.uuid()), name: "item \(index) — “ünïcode” ✓", price: Double(index) * 1.25,
                 tags: ["t\(index % 3)", "all"], stock: index % 4 == 0 ? nil : index * 10,
                 shipment: [Shipment.physical(weight: 2.5, fragile: index % 2 == 0), .digital(url: URL(string: "https://example.com/\(index)")!),
                            .bundle([index, -index, 1 << 40]), .gift][index % 4],
                 color: Color.allCases[index % 3])
        }
        return Catalog(
            owner: UUID(uuid: generator.uuid()), title: String(repeating: "long title ", count: 20), items: items,
            index: Dictionary(uniqueKeysWithValues: (0..<40).map { ("key-\($0)", $0 * $0) }),
            names: [1: "one", -2: "minus two", 300: "three hundred"], colors: [.red: 1, .blue: 3],
            thumbnail: Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37) }), checksum: Array(repeating: 0xAB, count: 20),
            created: Date(timeIntervalSince1970: 1_700_000_000.125), matrix: [[1, -1], [], [Int8.min, Int8.max]],
            extremes: Extremes(), maybe: .some(3), nothing: nil, empty: Empty(), price: Decimal(string: "12345.6789")!,
            homepage: URL(string: "https://example.com/a?b=c")!, flags: [true, false, true], ratios: [0.5, -2, 1e300])
    }
}

/// A class hierarchy coded through super encoders/decoders.
class Animal: Codable {
    var name: String
    init(name: String) { self.name = name }
}

final class Dog: Animal, @unchecked Sendable {
    var good: Bool
    private enum CodingKeys: String, CodingKey { case good }

    init(name: String, good: Bool) {
        self.good = good
        super.init(name: name)
    }

    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        good = try container.decode(Bool.self, forKey: .good)
        try super.init(from: container.superDecoder())
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(good, forKey: .good)
        try super.encode(to: container.superEncoder())
    }
}

/// Writes to nested containers and a super encoder after writing to their parent: legal
/// Codable that a streaming encoder cannot place (the codec falls back to a tree).
struct Interleaved: Codable, Hashable {
    var numbers: [Int]
    var label: String
    var inner: [String: Int]
    var parent: Empty

    enum CodingKeys: String, CodingKey { case numbers, label, inner, parent }

    init(numbers: [Int], label: String, inner: [String: Int]) {
        self.numbers = numbers
        self.label = label
        self.inner = inner
        self.parent = Empty()
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var list = container.nestedUnkeyedContainer(forKey: .numbers)
        var nested = container.nestedContainer(keyedBy: AnyKey.self, forKey: .inner)
        let parent = container.superEncoder(forKey: .parent)
        try container.encode(label, forKey: .label)
        for number in numbers { try list.encode(number) }
        for (key, value) in inner.sorted(by: { $0.key < $1.key }) { try nested.encode(value, forKey: AnyKey(key)) }
        try Empty().encode(to: parent)
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// Encodes twice into one single value container (a programming error).
struct DoubleWrite: Encodable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(1)
        try container.encode(2)
    }
}

/// A recursive type, for nesting limits.
indirect enum Tree: Codable, Hashable {
    case leaf(Int)
    case node([Tree])
}

/// Deterministic random numbers (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uuid() -> uuid_t {
        let a = next(), b = next()
        return withUnsafeBytes(of: (a, b)) { $0.loadUnaligned(as: uuid_t.self) }
    }
}

// MARK: Tests

@Suite("L2BinaryCodec: round trips, format, sizes, hostile input")
struct L2BinaryCodecTests {
    let codec = L2BinaryCodec()

    func roundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = try codec.encode(value)
        let decoded = try codec.decode(T.self, from: bytes)
        #expect(decoded == value, sourceLocation: sourceLocation)
        // The tree encoder (the fallback) writes the same bytes as the streaming one.
        #expect(try _TreeState().encode(value) == bytes, "tree and streaming encoders differ", sourceLocation: sourceLocation)
    }

    @Test func scalarsAndTopLevelValues() throws {
        try roundTrip(true)
        try roundTrip(0)
        try roundTrip(-1)
        try roundTrip(Int.min)
        try roundTrip(UInt64.max)
        try roundTrip(Int8(-128))
        try roundTrip(Float(3.25))
        try roundTrip(-0.0 as Double)
        try roundTrip("")
        try roundTrip("héllo ✓ 𝄞")
        try roundTrip(String(repeating: "x", count: 31))
        try roundTrip(String(repeating: "y", count: 32))
        try roundTrip(String(repeating: "z", count: 200))
        try roundTrip(Color.green)
        try roundTrip(Optional<Int>.none)
        try roundTrip(Optional<Int>.some(5))
        try roundTrip(Empty())
        try roundTrip(UUID())
        try roundTrip(Date(timeIntervalSince1970: 12.5))
        try roundTrip(Data())
        try roundTrip(Data([0, 1, 255]))
        try roundTrip([UInt8](repeating: 7, count: 1000))
        try roundTrip(URL(string: "https://example.com/x?y=1#z")!)
        try roundTrip(Decimal(string: "-0.000123")!)
        let nan = try codec.decode(Double.self, from: codec.encode(Double.nan))
        #expect(nan.isNaN)
    }

    @Test func compactScalarEncodings() throws {
        #expect(try codec.encode(5) == [0x45])
        #expect(try codec.encode(-1) == [0xC0])
        #expect(try codec.encode(-64) == [0xFF])
        #expect(try codec.encode(64) == [0x03, 0x80, 0x01])      // zigzag(64) = 128
        #expect(try codec.encode(UInt(300)) == [0x04, 0xAC, 0x02])
        #expect(try codec.encode(true) == [0x02])
        #expect(try codec.encode("ab") == [0x82, 0x61, 0x62])
        #expect(try codec.encode([1, 2]) == [0xA2, 0x41, 0x42])
        #expect(try codec.encode(Optional<String>.none) == [0x00])
        #expect(try codec.encode(Data([9, 8])) == [0x08, 0x02, 9, 8])
        // A struct: object of 2 entries, keys defined inline (length·2), values.
        struct Point: Codable { var x: Int; var y: Int }
        #expect(try codec.encode(Point(x: 1, y: -2)) == [0xB2, 0x02, 0x78, 0x41, 0x02, 0x79, 0xC1])
        // An array of them: the second element refers to keys #0 and #1 (odd varints 1, 3).
        #expect(try codec.encode([Point(x: 1, y: 2), Point(x: 3, y: 4)])
                == [0xA2, 0xB2, 0x02, 0x78, 0x41, 0x02, 0x79, 0x42, 0xB2, 0x01, 0x43, 0x03, 0x44])
    }

    @Test func containersOfEveryShape() throws {
        try roundTrip(AuthorizationDecision.sample)
        try roundTrip(Catalog.sample())
        try roundTrip(Catalog.sample(items: 0))
        try roundTrip(Catalog.sample(items: 300))                       // counts ≥ 128: two-byte varints
        try roundTrip([String: [String: [Int]]]())
        try roundTrip(["a": ["b": [1, 2, 3]], "c": [:]])
        try roundTrip([Int: Int]())
        try roundTrip(Dictionary(uniqueKeysWithValues: (0..<100).map { ($0, -$0) }))
        try roundTrip([[Int]](repeating: Array(0..<20), count: 20))    // nested counts ≥ 16
        try roundTrip([Int?]([1, nil, 3]))
        try roundTrip([Shipment.gift, .bundle([]), .physical(weight: 0, fragile: true)])
        try roundTrip(Set(["x", "y"]))
        try roundTrip(Tree.node([.leaf(1), .node([.leaf(2), .node([])])]))
        try roundTrip([Empty(), Empty()])
        try roundTrip((0..<1000).map { "s\($0)" })
        try roundTrip((0..<1000).map { Int64($0) << 20 })
        try roundTrip([UUID(), UUID()])
        try roundTrip([Date(timeIntervalSince1970: 1), Date(timeIntervalSince1970: 2)])
        try roundTrip([Float(1.5), -2])
        try roundTrip([Int16.min, Int16.max])
    }

    @Test func superEncodersAndClassHierarchies() throws {
        let dog = Dog(name: "Rex", good: true)
        let decoded = try codec.decode(Dog.self, from: codec.encode(dog))
        #expect(decoded.name == "Rex" && decoded.good)
        #expect(try _TreeState().encode(dog) == codec.encode(dog))
    }

    @Test func writesAfterTheParentFallBackToTheTree() throws {
        let value = Interleaved(numbers: Array(0..<20), label: "late", inner: ["b": 2, "a": 1])
        let bytes = try codec.encode(value)
        #expect(try codec.decode(Interleaved.self, from: bytes) == value)
        // The streaming encoder refuses this order; the tree encoder produced the bytes.
        let writer = _BinaryWriter()
        #expect(throws: (any Error).self) { try writer.encodeRoot(value) }
        #expect(writer.needsTree)
        #expect(try _TreeState().encode(value) == bytes)
    }

    @Test func encodingErrorsAreThrown() throws {
        let twice = #expect(throws: EncodingError.self) { try codec.encode(DoubleWrite()) }
        #expect(String(describing: twice).contains("written twice"))
        var deep = Tree.leaf(0)
        for _ in 0..<600 { deep = .node([deep]) }
        let tooDeep = #expect(throws: EncodingError.self) { try codec.encode(deep) }
        #expect(String(describing: tooDeep).contains("nesting deeper than 512"))
    }

    @Test func fieldNamesAreWrittenOncePerPayload() throws {
        let decisions = (0..<100).map { index in
            var decision = AuthorizationDecision.sample
            decision.policyVersion = index
            return decision
        }
        let bytes = try codec.encode(decisions)
        let name = Array("policyVersion".utf8)
        let occurrences = (0...(bytes.count - name.count)).filter { Array(bytes[$0..<($0 + name.count)]) == name }.count
        #expect(occurrences == 1)
        #expect(try codec.decode([AuthorizationDecision].self, from: bytes) == decisions)
    }

    @Test func smallerThanJSON() throws {
        let json = JSONEncoder()
        json.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        for (label, binary, text) in [
            ("decision", try codec.encode(AuthorizationDecision.sample), try json.encode(AuthorizationDecision.sample)),
            ("catalog", try codec.encode(Catalog.sample()), try json.encode(Catalog.sample())),
            ("100 decisions", try codec.encode(Array(repeating: AuthorizationDecision.sample, count: 100)),
             try json.encode(Array(repeating: AuthorizationDecision.sample, count: 100))),
        ] {
            print("L2BinaryCodec size, \(label): binary \(binary.count) bytes, JSON \(text.count) bytes (\(String(format: "%.2f", Double(binary.count) / Double(text.count)))x)")
            #expect(binary.count < text.count, "\(label)")
        }
    }

    @Test func lenientWhereTheModelAllows() throws {
        // Extra keys are ignored; integers decode into any type they fit; bytes and arrays
        // of small integers are interchangeable; UUIDs also decode from their string.
        struct Wide: Codable { var a: Int; var b: String; var c: [Int] }
        struct Narrow: Codable, Equatable { var b: String; var a: Int8 }
        #expect(try codec.decode(Narrow.self, from: codec.encode(Wide(a: 5, b: "x", c: [1]))) == Narrow(b: "x", a: 5))
        #expect(try codec.decode([Int].self, from: codec.encode([UInt8]([1, 2, 250]))) == [1, 2, 250])
        #expect(try codec.decode([UInt8].self, from: codec.encode([1, 2, 3])) == [1, 2, 3])
        #expect(try codec.decode(Data.self, from: codec.encode([4, 5])) == Data([4, 5]))
        let uuid = UUID()
        #expect(try codec.decode(UUID.self, from: codec.encode(uuid.uuidString)) == uuid)
        #expect(try codec.decode(Double.self, from: codec.encode(3)) == 3)
        #expect(try codec.decode(UInt8.self, from: codec.encode(200)) == 200)
    }

    @Test func typeErrorsNameThePathAndWhatWasFound() throws {
        struct Holder: Codable { var inner: Inner }
        struct Inner: Codable { var values: [Int] }
        struct Wrong: Codable { var inner: WrongInner }
        struct WrongInner: Codable { var values: [String] }
        let bytes = try codec.encode(Holder(inner: Inner(values: [1, 2])))
        do {
            _ = try codec.decode(Wrong.self, from: bytes)
            Issue.record("expected a type mismatch")
        } catch DecodingError.typeMismatch(_, let context) {
            #expect(context.codingPath.map(\.stringValue) == ["inner", "values", "Index 0"])
            #expect(context.debugDescription.contains("found an integer"))
        }
        do {
            _ = try codec.decode(Int8.self, from: codec.encode(300))
            Issue.record("expected out of range")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription.contains("300 does not fit in Int8"))
        }
        struct Missing: Codable { var absent: Int }
        #expect(throws: DecodingError.self) { try codec.decode(Missing.self, from: bytes) }
        #expect(throws: DecodingError.self) { try codec.decode(UInt.self, from: codec.encode(-3)) }
        #expect(throws: DecodingError.self) { try codec.decode(Int.self, from: codec.encode(Optional<Int>.none)) }
    }

    /// L2 decodes the payload inside the envelope; offsets in errors are the payload's own.
    @Test func decodesAPayloadInPlace() throws {
        let payload = try codec.encode(AuthorizationDecision.sample)
        let framed: [UInt8] = [0xC5, 0x01, 0xFF] + payload + [0xAA, 0xBB]
        let range = 3..<(3 + payload.count)
        #expect(try codec.decode(AuthorizationDecision.self, from: framed, range: range) == AuthorizationDecision.sample)
        do {
            _ = try codec.decode(AuthorizationDecision.self, from: framed, range: 3..<(3 + payload.count - 1))
            Issue.record("a truncated range decoded")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription.contains("of the \(payload.count - 1)-byte payload"), "\(context.debugDescription)")
        }
        do {
            _ = try codec.decode(Int.self, from: [0x41, 0x82, 0x61, 0x62, 0x41], range: 1..<4)
            Issue.record("a string decoded as Int")
        } catch DecodingError.typeMismatch(_, let context) {
            #expect(context.debugDescription.contains("found a string at byte 0"), "\(context.debugDescription)")
        }
    }

    // MARK: Hostile input

    /// Decodes `bytes` as several types; must throw or succeed, never crash.
    func decodeAnything(_ bytes: [UInt8]) -> Bool {
        var threw = false
        do { _ = try codec.decode(Catalog.self, from: bytes) } catch { threw = true }
        do { _ = try codec.decode(AuthorizationDecision.self, from: bytes) } catch { threw = true }
        do { _ = try codec.decode([String: [Int]].self, from: bytes) } catch { threw = true }
        do { _ = try codec.decode([Tree].self, from: bytes) } catch { threw = true }
        do { _ = try codec.decode(String.self, from: bytes) } catch { threw = true }
        return threw
    }

    @Test func everyTruncationThrowsADataCorruptedError() throws {
        for bytes in [try codec.encode(Catalog.sample(items: 6)), try codec.encode(AuthorizationDecision.sample)] {
            for length in 0..<bytes.count {
                let prefix = Array(bytes.prefix(length))
                do {
                    _ = try codec.decode(Catalog.self, from: prefix)
                    Issue.record("a \(length)-byte prefix decoded")
                } catch DecodingError.dataCorrupted(let context) {
                    #expect(context.debugDescription.contains("L2BinaryCodec"))
                } catch {
                    Issue.record("unexpected error \(error)")
                }
                #expect(decodeAnything(prefix))
            }
        }
    }

    @Test func randomMutationsNeverCrash() throws {
        var generator = SplitMix64(seed: 42)
        let originals = [try codec.encode(Catalog.sample(items: 4)), try codec.encode(AuthorizationDecision.sample),
                         try codec.encode([Tree.node([.leaf(1), .leaf(-1)])])]
        var decodedAsOriginal = 0
        for round in 0..<3_000 {
            var bytes = originals[round % originals.count]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
                default: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
                }
            }
            #expect(decodeAnything(bytes))
            if round % originals.count == 1, (try? codec.decode(AuthorizationDecision.self, from: bytes)) != nil { decodedAsOriginal += 1 }
        }
        print("L2BinaryCodec fuzz: \(decodedAsOriginal) of 1000 mutated decisions still decoded (the rest threw)")
    }

    @Test func randomBytesNeverCrash() throws {
        var generator = SplitMix64(seed: 1)
        for _ in 0..<5_000 {
            let bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(decodeAnything(bytes))
        }
    }

    @Test func hugeLengthsAndCountsAreBoundedByTheRemainingBytes() throws {
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]   // 2^63 − 1
        for (tag, type) in [(UInt8(0x07), "a string"), (0x08, "bytes"), (0x09, "a container"), (0x0A, "a container")] {
            do {
                _ = try codec.decode([String].self, from: [tag] + huge + [0x41])
                Issue.record("accepted \(type) of 2^63 − 1")
            } catch DecodingError.dataCorrupted(let context) {
                #expect(context.debugDescription.contains("truncated or corrupt: \(type)"), "\(context.debugDescription)")
            }
        }
        // A varint longer than 64 bits, a reserved tag, a reference to an undefined key,
        // trailing bytes, invalid UTF-8.
        let cases: [([UInt8], String)] = [
            ([0x04] + Array(repeating: 0xFF, count: 10) + [0x01], "overflows 64 bits"),
            ([0x0C], "unknown tag 0xc"),
            ([0xB1, 0x05, 0x41], "key reference #2"),
            ([0x41, 0x41], "1 unexpected bytes after the value"),
            ([0x82, 0xC3, 0x28], "not valid UTF-8"),
            ([0xB1, 0x04, 0xC3, 0x28, 0x41], "not valid UTF-8"),
            ([], "the payload is empty"),
        ]
        for (bytes, message) in cases {
            do {
                _ = try codec.decode(String.self, from: bytes)
                Issue.record("accepted \(bytes)")
            } catch DecodingError.dataCorrupted(let context) {
                #expect(context.debugDescription.contains(message), "\(context.debugDescription)")
            }
        }
    }

    @Test func deepNestingIsRejectedWithoutRecursingForever() throws {
        let deep = [UInt8](repeating: 0xA1, count: 100_000) + [0x41]
        do {
            _ = try codec.decode(Tree.self, from: deep)
            Issue.record("accepted 100,000 nested arrays")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription.contains("nesting deeper than 512"))
        }
        var ok = Tree.leaf(0)
        for _ in 0..<150 { ok = .node([ok]) }   // 3 containers per level (enum, payload, array)
        try roundTrip(ok)
    }
}
