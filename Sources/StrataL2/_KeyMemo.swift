import StrataCore
import StrataRedis
import Synchronization

/// The Redis keys of one logical key, with their command arguments built once. A class:
/// plans are shared through the memo and passed around a lot; copying one is one retain.
/// `@unchecked Sendable`: every property is immutable after `init`, including the bytes of
/// ``wire``, which the plan owns.
final class _KeyPlan: @unchecked Sendable {
    let key: String
    let valueKey: String
    let leaseKey: String
    /// `N g:p` for each covering prefix `p`, in `LogicalKey.coveringPrefixes` order.
    let generationKeys: [String]
    let valueArgument: RedisArgument
    let leaseArgument: RedisArgument
    let generationArguments: [RedisArgument]
    /// The generation keys' slots in the memo's table, valid while `epoch` is the memo's.
    let slots: [Int]
    let epoch: Int
    /// A lookup's commands, built once: `GET value` and `MGET` of the generations.
    let readCommands: [[RedisArgument]]
    /// What a batch sends for this key, formatted as RESP arguments once, in one buffer (a
    /// batch touches one allocation per key): `SET`, the value key (from
    /// ``valueWireStart``), then ``slots`` as little-endian `UInt32`s (from
    /// ``slotsWireStart``, where the value key ends; when the plan has slots). Raw
    /// memory owned by the plan (freed in `deinit`), so that reading it takes no reference
    /// count: a batch reads it for every entry.
    let wire: UnsafeRawBufferPointer
    let slotsWireStart: Int
    /// `generationKeys.count`, without touching that array.
    let generationCount: Int
    /// The CRC32C state (not finalized) after `len(valueKey) ‖ valueKey`: an entry's
    /// checksum (docs/l2.md, "Envelope") continues from it over the header and payload.
    let keyChecksum: UInt32
    static let valueWireStart = 9   // after `$3 CRLF SET CRLF`

    init(key: String, valueKey: String, leaseKey: String, generationKeys: [String], valueArgument: RedisArgument,
         leaseArgument: RedisArgument, generationArguments: [RedisArgument], slots: [Int] = [], epoch: Int = -1) {
        self.key = key
        self.valueKey = valueKey
        self.leaseKey = leaseKey
        self.generationKeys = generationKeys
        self.valueArgument = valueArgument
        self.leaseArgument = leaseArgument
        self.generationArguments = generationArguments
        self.slots = slots
        self.epoch = epoch
        readCommands = [[RedisArgument("GET"), valueArgument], [RedisArgument("MGET")] + generationArguments]
        var wire = RedisCommandBuffer.formatArgument(Array("SET".utf8))
        assert(wire.count == Self.valueWireStart)
        wire += RedisCommandBuffer.formatArgument(valueArgument.bytes)
        slotsWireStart = wire.count
        for slot in slots { withUnsafeBytes(of: UInt32(truncatingIfNeeded: slot).littleEndian) { wire.append(contentsOf: $0) } }
        let owned = UnsafeMutableRawBufferPointer.allocate(byteCount: wire.count, alignment: 8)   // never empty: `SET` first
        wire.withUnsafeBytes { owned.copyMemory(from: $0) }
        self.wire = UnsafeRawBufferPointer(owned)
        generationCount = generationKeys.count
        keyChecksum = _Envelope.keyChecksum(redisKey: valueArgument.bytes)
    }

    deinit { UnsafeMutableRawBufferPointer(mutating: wire).deallocate() }

    /// Slot `index` (`< slots.count`) from the plan's ``wire``, given as `wire`.
    @inline(__always)
    func slot(_ index: Int, in wire: UnsafeRawBufferPointer) -> Int {
        Int(UInt32(littleEndian: wire.loadUnaligned(fromByteOffset: slotsWireStart + 4 * index, as: UInt32.self)))
    }

    /// The number of slots (0 or ``generationCount``), from the wire's length.
    var slotCount: Int { (wire.count - slotsWireStart) / 4 }

    /// The same plan with its memo slots.
    func with(slots: [Int], epoch: Int) -> _KeyPlan {
        _KeyPlan(key: key, valueKey: valueKey, leaseKey: leaseKey, generationKeys: generationKeys, valueArgument: valueArgument,
                 leaseArgument: leaseArgument, generationArguments: generationArguments, slots: slots, epoch: epoch)
    }

    /// Validates `key` and builds its Redis keys.
    ///
    /// Keys made only of letters, digits and `-_.%@+=,/~` (every character
    /// `LogicalKey.validate` accepts unescaped, bar non-ASCII) with non-empty segments are
    /// checked and split in one pass over their bytes; anything else goes through
    /// `LogicalKey.validate` and `coveringPrefixes`, which decide and explain.
    static func build(_ key: String, layout: L2KeyLayout) throws(L2Error) -> _KeyPlan {
        var text = key
        let colons: [Int]? = text.withUTF8 { utf8 -> [Int]? in
            guard !utf8.isEmpty, utf8.count < 4096 else { return nil }
            var colons: [Int] = []
            var segmentStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                if byte == UInt8(ascii: ":") {
                    if index == segmentStart { return nil }   // empty segment
                    colons.append(index)
                    segmentStart = index + 1
                } else if !Self.plain(byte) {
                    return nil
                }
            }
            guard segmentStart < utf8.count, colons.count < 255 else { return nil }
            return colons
        }
        guard let colons else { return try slowBuild(key, layout: layout) }
        let namespace = Array(layout.namespace.utf8)
        let keyBytes = Array(key.utf8)
        func redisKey(_ kind: UInt8, _ body: ArraySlice<UInt8>, star: Bool) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(namespace.count + 3 + body.count)
            bytes.append(contentsOf: namespace)
            bytes.append(kind)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: body)
            if star { bytes.append(UInt8(ascii: "*")) }
            return bytes
        }
        let value = redisKey(UInt8(ascii: "v"), keyBytes[...], star: false)
        let lease = redisKey(UInt8(ascii: "l"), keyBytes[...], star: false)
        var generations: [[UInt8]] = [redisKey(UInt8(ascii: "g"), [], star: true)]
        generations.reserveCapacity(colons.count + 1)
        for colon in colons { generations.append(redisKey(UInt8(ascii: "g"), keyBytes[...colon], star: true)) }
        return _KeyPlan(
            key: key, valueKey: String(decoding: value, as: UTF8.self), leaseKey: String(decoding: lease, as: UTF8.self),
            generationKeys: generations.map { String(decoding: $0, as: UTF8.self) },
            valueArgument: RedisArgument(value), leaseArgument: RedisArgument(lease), generationArguments: generations.map { RedisArgument($0) })
    }

    /// Bytes a segment may hold without escaping (a conservative subset of what
    /// `LogicalKey.validate` accepts).
    @inline(__always)
    static func plain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "%"), UInt8(ascii: "@"), UInt8(ascii: "+"),
             UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: "/"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func slowBuild(_ key: String, layout: L2KeyLayout) throws(L2Error) -> _KeyPlan {
        if let reason = LogicalKey.validate(key) { throw L2Error(code: .invalidKey, message: reason) }
        guard !LogicalKey.isPrefix(key) else {
            throw L2Error(code: .invalidKey, message: "'\(key)' is a prefix; values are stored under keys (use invalidate(prefix:) for prefixes)")
        }
        let prefixes = LogicalKey.coveringPrefixes(of: key)
        guard prefixes.count <= 255 else {
            throw L2Error(code: .invalidKey, message: "the key '\(key.prefix(64))…' has more than 255 segments")
        }
        let generationKeys = prefixes.map(layout.generationKey)
        let valueKey = layout.valueKey(key), leaseKey = layout.leaseKey(key)
        return _KeyPlan(key: key, valueKey: valueKey, leaseKey: leaseKey, generationKeys: generationKeys,
                        valueArgument: RedisArgument(valueKey), leaseArgument: RedisArgument(leaseKey),
                        generationArguments: generationKeys.map { RedisArgument($0) })
    }
}

/// Per-cache memo: the plans of recently used keys (so a hot key is validated and its Redis
/// keys built once) and the generation last seen for each generation key (so a plain
/// `set` usually needs no read first). Generation keys get slots in an array, so recording
/// the generations of a lookup costs no hashing. Bounded: past `limit` plans or
/// generation keys everything is dropped and a new epoch starts (plans from an older
/// epoch fall back to lookups by name).
final class _KeyMemo: Sendable {
    static let limit = 10_000

    private struct State {
        var plans: [String: _KeyPlan] = [:]
        var slots: [String: Int] = [:]
        var generations: [Int64] = []
        var epoch = 0
    }

    private let state = Mutex(State())

    func plan(_ key: String, layout: L2KeyLayout) throws(L2Error) -> _KeyPlan {
        if let plan = state.withLock({ $0.plans[key] }) { return plan }
        let built = try _KeyPlan.build(key, layout: layout)
        return state.withLock { state in
            if state.plans.count >= Self.limit || state.slots.count >= Self.limit {
                state = State(epoch: state.epoch + 1)
            }
            let plan = built.with(slots: built.generationKeys.map { Self.slot($0, &state) }, epoch: state.epoch)
            state.plans[key] = plan
            return plan
        }
    }

    /// The plans of `keys` (one lock for those already known, one for the new ones).
    func plans(_ keys: [String], layout: L2KeyLayout) throws(L2Error) -> [_KeyPlan] {
        // Usually all are known: one array, one pass.
        if let known = state.withLock({ state in Self.knownPlans(keys, state) { _ in } }) { return known }
        var plans: [_KeyPlan?] = state.withLock { state in keys.map { state.plans[$0] } }
        var built: [(Int, _KeyPlan)] = []
        for (index, plan) in plans.enumerated() where plan == nil {
            built.append((index, try _KeyPlan.build(keys[index], layout: layout)))
        }
        if !built.isEmpty {
            state.withLock { state in
                for (index, plan) in built {
                    if state.plans.count >= Self.limit || state.slots.count >= Self.limit { state = State(epoch: state.epoch + 1) }
                    let slotted = plan.with(slots: plan.generationKeys.map { Self.slot($0, &state) }, epoch: state.epoch)
                    state.plans[slotted.key] = slotted
                    plans[index] = slotted
                }
            }
        }
        return plans.map { $0! }
    }

    /// ``plans(_:layout:)`` and ``knownGenerations(_:into:starts:)`` together: when every key
    /// is known (the usual case of a batch write), one lock and one pass over the plans.
    func plans(_ keys: [String], layout: L2KeyLayout, generations: inout [Int64], starts: inout [Int]) throws(L2Error) -> [_KeyPlan] {
        let known: [_KeyPlan]? = state.withLock { state in
            Self.knownPlans(keys, state) { Self.appendKnownGenerations($0, state, to: &generations, starts: &starts) }
        }
        if let known { return known }
        generations.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        let plans = try plans(keys, layout: layout)
        knownGenerations(plans, into: &generations, starts: &starts)
        return plans
    }

    /// The plans of `keys` when every one is in the table (so of the current epoch: a new
    /// epoch empties it), each passed to `each` as it is found; nil when one is missing.
    private static func knownPlans(_ keys: [String], _ state: borrowing State, _ each: (_KeyPlan) -> Void) -> [_KeyPlan]? {
        var known: [_KeyPlan] = []
        known.reserveCapacity(keys.count)
        for key in keys {
            guard let plan = state.plans[key] else { return nil }
            each(plan)
            known.append(plan)
        }
        return known
    }

    private static func slot(_ generationKey: String, _ state: inout State) -> Int {
        if let slot = state.slots[generationKey] { return slot }
        let slot = state.generations.count
        state.slots[generationKey] = slot
        state.generations.append(0)   // never seen: a missing generation key reads as 0
        return slot
    }

    /// The generations this instance last saw for the plan's covering prefixes (0 if never).
    func knownGenerations(_ plan: _KeyPlan) -> [Int64] {
        state.withLock { state in
            if plan.epoch == state.epoch { return plan.slots.map { state.generations[$0] } }
            return plan.generationKeys.map { key in state.slots[key].map { state.generations[$0] } ?? 0 }
        }
    }

    /// The known generations of several plans under one lock, one after another in
    /// `generations`; `starts` gets where each plan's begin.
    func knownGenerations(_ plans: [_KeyPlan], into generations: inout [Int64], starts: inout [Int]) {
        state.withLock { state in
            for plan in plans { Self.appendKnownGenerations(plan, state, to: &generations, starts: &starts) }
        }
    }

    /// Appends where the plan's generations begin to `starts`, and them to `generations`.
    private static func appendKnownGenerations(_ plan: _KeyPlan, _ state: borrowing State, to generations: inout [Int64], starts: inout [Int]) {
        starts.append(generations.count)
        if plan.epoch == state.epoch {
            let wire = plan.wire
            for index in 0..<plan.generationCount { generations.append(state.generations[plan.slot(index, in: wire)]) }
        } else {
            for key in plan.generationKeys { generations.append(state.slots[key].map { state.generations[$0] } ?? 0) }
        }
    }

    /// Records the generations of the plans at `indices` under one lock: plan `i`'s are
    /// `generations[starts[i]..<starts[i + 1]]`.
    func remember(_ plans: [_KeyPlan], at indices: [Int], generations: [Int64], starts: [Int]) {
        guard !indices.isEmpty else { return }
        state.withLock { state in
            for index in indices {
                Self.remember(plans[index], generations[starts[index]..<starts[index + 1]], &state)
            }
        }
    }

    /// Records generations read from Redis (negative = unparsable, ignored).
    func remember(_ plan: _KeyPlan, _ generations: [Int64]) {
        guard generations.count == plan.generationCount else { return }
        state.withLock { state in Self.remember(plan, generations, &state) }
    }

    /// Records the generations of several lookups under one lock.
    func remember(_ seen: [(_KeyPlan, [Int64])]) {
        guard !seen.isEmpty else { return }
        state.withLock { state in
            for (plan, generations) in seen where generations.count == plan.generationCount {
                Self.remember(plan, generations, &state)
            }
        }
    }

    private static func remember<C: Collection<Int64>>(_ plan: _KeyPlan, _ generations: C, _ state: inout State) {
        if plan.epoch == state.epoch {
            let wire = plan.wire
            var index = 0
            for generation in generations {
                if generation >= 0 { state.generations[plan.slot(index, in: wire)] = generation }
                index += 1
            }
            return
        }
        if state.slots.count + generations.count > Self.limit { state = State(epoch: state.epoch + 1) }
        for (key, generation) in zip(plan.generationKeys, generations) where generation >= 0 {
            state.generations[Self.slot(key, &state)] = generation
        }
    }

    /// Records one generation (after this instance's own `INCR`).
    func remember(generationKey: String, _ generation: Int64) {
        state.withLock { state in
            if state.slots.count >= Self.limit { state = State(epoch: state.epoch + 1) }
            state.generations[Self.slot(generationKey, &state)] = generation
        }
    }
}
