import CStrataCRC32C
import StrataCore
@testable import StrataL2
import Testing

@Suite("L2 internals: checksum, key plans")
struct L2InternalsTests {
    /// Bit-at-a-time CRC32C, the definition the table-driven one must match.
    func referenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = ~0
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func crc32cMatchesTheDefinition() {
        #expect(~_CRC32C.update(~0, Array("123456789".utf8)[...]) == 0xE306_9283)   // the standard check value
        var generator = SplitMix64(seed: 3)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(~_CRC32C.update(~0, bytes[...]) == referenceCRC32C(bytes), "length \(length)")
            // Fed in two pieces at an odd split, as the envelope does (key, then header and payload).
            let split = length / 3
            let twoPieces = _CRC32C.update(_CRC32C.update(~0, bytes[..<split]), bytes[split...])
            #expect(~twoPieces == referenceCRC32C(bytes))
            // Both implementations, whichever one `update` picked on this CPU.
            let tables = bytes.withUnsafeBytes { ~_CRC32C.updateWithTables(~0, $0) }
            #expect(tables == referenceCRC32C(bytes), "tables, length \(length)")
            if _CRC32C.hardware {
                let instruction = bytes.withUnsafeBytes { raw in
                    raw.baseAddress.map { ~strata_crc32c_hardware_update(~0, $0, raw.count) } ?? 0
                }
                #expect(length == 0 || instruction == referenceCRC32C(bytes), "instruction, length \(length)")
            }
        }
    }

    /// The one-pass plan builder gives exactly what LogicalKey and L2KeyLayout give, and
    /// leaves every key it does not recognize to them (same errors).
    @Test func fastKeyPlansMatchTheContract() {
        let layout = L2KeyLayout(namespace: "ns:")
        let keys = ["a", "authz:user:42", "a:b:c", "x-y_z.w%20:q@r+s=t,u/v~w", "ünïcode:1", "a b", "a::b", ":a", "a:", "*", "a:*",
                    "a:[x]", "", "%H0123", String(repeating: "s:", count: 254) + "x", String(repeating: "s:", count: 255) + "x"]
        for key in keys {
            let fast = Result { () throws(L2Error) in try _KeyPlan.build(key, layout: layout) }
            let slow = Result { () throws(L2Error) in try _KeyPlan.slowBuild(key, layout: layout) }
            switch (fast, slow) {
            case (.success(let fast), .success(let slow)):
                #expect(fast.valueKey == slow.valueKey && fast.leaseKey == slow.leaseKey && fast.generationKeys == slow.generationKeys, "\(key)")
                #expect(fast.valueKey == layout.valueKey(key))
                #expect(fast.generationKeys == LogicalKey.coveringPrefixes(of: key).map(layout.generationKey))
                #expect(fast.valueArgument.bytes == Array(fast.valueKey.utf8) && fast.leaseArgument.bytes == Array(fast.leaseKey.utf8))
                #expect(fast.generationArguments.map(\.bytes) == fast.generationKeys.map { Array($0.utf8) })
                #expect(fast.generationCount == fast.generationKeys.count)
                checkWire(fast)
            case (.failure(let fast), .failure(let slow)):
                #expect(fast == slow, "\(key)")
            default:
                Issue.record("fast and slow plans disagree for '\(key.prefix(40))': \(fast) vs \(slow)")
            }
        }
    }

    /// A plan's preformatted wire: `SET` and the value key as RESP arguments, then its
    /// slots; and its key checksum state.
    func checkWire(_ plan: _KeyPlan, sourceLocation: SourceLocation = #_sourceLocation) {
        func argument(_ bytes: [UInt8]) -> [UInt8] { Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10] }
        let set = argument(Array("SET".utf8))
        #expect(set.count == _KeyPlan.valueWireStart, sourceLocation: sourceLocation)
        #expect(Array(plan.wire[..<plan.slotsWireStart]) == set + argument(plan.valueArgument.bytes), sourceLocation: sourceLocation)
        #expect(plan.slotCount == plan.slots.count, sourceLocation: sourceLocation)
        #expect((0..<plan.slotCount).map { plan.slot($0, in: plan.wire) } == plan.slots, sourceLocation: sourceLocation)
        let data: [UInt8] = [1, 2, 3, 250]
        #expect(data.withUnsafeBytes { _Envelope.checksum(keyChecksum: plan.keyChecksum, $0) }
                == _Envelope.checksum(redisKey: plan.valueArgument.bytes, data[...]), sourceLocation: sourceLocation)
    }

    @Test func memoizedPlansCarryTheirSlotsInTheWire() throws {
        let layout = L2KeyLayout(namespace: "ns:")
        let memo = _KeyMemo()
        for key in ["a", "a:b", "a:b:c", "x:y:z:w", "a:b:d"] {
            let plan = try memo.plan(key, layout: layout)
            #expect(plan.slots.count == plan.generationCount && plan.epoch == 0)
            checkWire(plan)
        }
        // Shared prefixes share slots.
        let abc = try memo.plan("a:b:c", layout: layout), abd = try memo.plan("a:b:d", layout: layout)
        #expect(abc.slots == abd.slots)
    }

    @Test func memoIsBoundedAndKeepsGenerations() throws {
        let memo = _KeyMemo()
        let layout = L2KeyLayout()
        let plan = try memo.plan("authz:user:1", layout: layout)
        #expect(memo.knownGenerations(plan) == [0, 0, 0])
        memo.remember(plan, [3, 4, 5])
        #expect(memo.knownGenerations(try memo.plan("authz:user:1", layout: layout)) == [3, 4, 5])
        #expect(memo.knownGenerations(try memo.plan("authz:team:2", layout: layout)) == [3, 4, 0])   // shares '*' and 'authz:*'
        memo.remember(generationKey: layout.generationKey("authz:*"), 9)
        #expect(memo.knownGenerations(plan) == [3, 9, 5])
        // Past the limit the memo starts over; a plan of the old epoch still reads and records by name.
        for index in 0..._KeyMemo.limit { _ = try memo.plan("bulk:\(index)", layout: layout) }
        #expect(memo.knownGenerations(plan) == [0, 0, 0])
        memo.remember(plan, [7, 7, 7])
        #expect(memo.knownGenerations(try memo.plan("authz:user:1", layout: layout)) == [7, 7, 7])
    }
}
