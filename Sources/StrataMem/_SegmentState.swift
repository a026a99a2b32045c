/// The state of one lock stripe: entries, their hash index, the eviction policy, the
/// timer wheel, the tag and prefix indexes, in-flight loads and counters.
///
/// Read (`findSlot`, `nodes`, …) under any one of its segment's read locks, mutated only
/// under all of them (see `L1Cache`). Keys, values and deadlines live in the open-addressed
/// table `slots`; policy records live by value in one array (`nodes`) and are linked by
/// `Int32` indices, so neither path touches reference counts of the cache's own structures.
@usableFromInline
struct _SegmentState<Key: Hashable & Sendable, Value: Sendable>: ~Copyable {
    // MARK: What a hit reads, alone in the first cache line (the state is 64-byte aligned),
    // so that writes to the fields below do not evict it from readers' caches.
    @usableFromInline var slots: UnsafeMutablePointer<_Slot<Key, Value>>
    @usableFromInline var slotMask: Int
    @usableFromInline var _pad: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)

    @usableFromInline var nodes: UnsafeMutablePointer<_Node>
    /// Each node's `_Flags` byte, apart from the node: the only policy state a hit changes,
    /// so replaying buffered hits touches one byte per entry in a dense array (100 KB per
    /// 100,000 entries) instead of each entry's node.
    @usableFromInline var flagBytes: _FlagBytes
    @usableFromInline var sketch: UnsafeMutablePointer<UInt64>
    @usableFromInline var hits: Int = 0
    @usableFromInline var hitsInSample: Int = 0
    @usableFromInline var sketchBlockMask: UInt32
    /// 0 adaptive, 1 fixed window, 2 LRU.
    @usableFromInline let mode: UInt8

    // MARK: Storage (nodes, slots and slotMask are with the hot fields above)
    @usableFromInline var nodeCapacity: Int
    /// Nodes `0..<used` have been handed out at least once.
    @usableFromInline var used: Int = 0
    @usableFromInline var freeList: [Int32] = []
    @usableFromInline let queueOffset: Int

    // MARK: Hash index (open addressing, linear probing; slot meta = hash32 << 32 | index + 1)
    @usableFromInline var count: Int = 0

    // MARK: Policy
    /// window, probation, protected (index by `_Queue`).
    @usableFromInline let lists: UnsafeMutablePointer<_List>
    @usableFromInline var totalWeight: Int = 0
    @usableFromInline let maxWeight: Int
    @usableFromInline let maxCount: Int
    @usableFromInline let weighted: Bool
    @usableFromInline var windowMax: Int
    @usableFromInline var baseWindow: Int = 1
    @usableFromInline var protectedMax: Int
    @usableFromInline var missesInSample: Int = 0
    @usableFromInline var previousHitRate: Double = 0
    @usableFromInline var stepSize: Double
    @usableFromInline var adjustment: Int = 0
    @usableFromInline var rng: UInt64

    // MARK: Frequency sketch (Caffeine's blocked count-min sketch of 4-bit counters)
    @usableFromInline var sketchLength: Int
    @usableFromInline var sketchSize: Int = 0
    @usableFromInline var sampleSize: Int

    // MARK: Expiry
    @usableFromInline var wheel: UnsafeMutablePointer<Int32>?
    @usableFromInline var wheelNanos: Int64 = 0

    // MARK: Indexes
    @usableFromInline var tagsOf: [Int32: [String]] = [:]
    @usableFromInline var tagIndex: [String: Set<Int32>] = [:]
    @usableFromInline var prefixes: _PrefixIndex?
    @usableFromInline var flights: [Key: _FlightRecord<Value>] = [:]
    @usableFromInline var negatives: [Key: _Negative] = [:]
    @usableFromInline let negativeLimit: Int

    // MARK: Counters
    @usableFromInline var misses: Int = 0
    @usableFromInline var loadSuccesses: Int = 0
    @usableFromInline var loadFailures: Int = 0
    @usableFromInline var evictedBySize: Int = 0
    @usableFromInline var evictedByExpiry: Int = 0
    @usableFromInline var evictedByInvalidation: Int = 0
    @usableFromInline var loadsDiscarded: Int = 0
    @usableFromInline var writes: Int = 0

    // MARK: Clock (here rather than in the cache so that a hit captures nothing)
    @usableFromInline let clock: any L1Clock
    @usableFromInline let systemClock: Bool

    @usableFromInline
    init(
        maxWeight: Int, maxCount: Int, weighted: Bool, policy: L1Policy, prefixIndexed: Bool, seed: UInt64,
        clock: any L1Clock
    ) {
        self.clock = clock
        self.systemClock = clock is L1SystemClock
        self.maxWeight = max(1, maxWeight)
        self.maxCount = max(1, maxCount)
        self.weighted = weighted
        self.queueOffset = MemoryLayout<_Node>.offset(of: \_Node.queue)!
        nodeCapacity = 16
        nodes = Self.allocateNodes(16)
        flagBytes = _FlagBytes(capacity: 16)
        slotMask = 31
        slots = Self.allocateSlots(32)
        lists = .allocate(capacity: 4)
        lists.initialize(repeating: _List(), count: 4)
        let bound = self.maxWeight
        switch policy._kind {
        case .adaptive:
            mode = 0
            windowMax = bound - Int(0.99 * Double(bound))
        case .fixed(let percent):
            mode = 1
            windowMax = min(bound, Int((Double(bound) * percent / 100).rounded()))
        case .lru:
            mode = 2
            windowMax = bound
        }
        protectedMax = Int(0.8 * Double(bound - windowMax))
        baseWindow = windowMax
        stepSize = -0.0625 * Double(bound)
        rng = seed | 1
        let sketchBasis = weighted && maxCount == .max ? 16 : min(self.maxCount, self.maxWeight)
        sketchLength = 8
        sketchBlockMask = 0
        sampleSize = 10
        sketch = .allocate(capacity: 8)
        sketch.initialize(repeating: 0, count: 8)
        prefixes = prefixIndexed ? _PrefixIndex() : nil
        negativeLimit = max(16, min(self.maxCount, 1 << 20) / 8)
        resizeSketch(for: sketchBasis)
    }

    deinit {
        for s in 0...slotMask where Self.meta(slots + s) != 0 {
            (slots + s).deinitialize(count: 1)
        }
        nodes.deallocate()
        flagBytes.deallocate(capacity: nodeCapacity)
        slots.deallocate()
        lists.deinitialize(count: 4)
        lists.deallocate()
        sketch.deallocate()
        wheel?.deallocate()
    }

    // MARK: - Node storage

    /// Node storage aligned to cache lines, so that a 64-byte node is one line, not two.
    @inlinable
    static func allocateNodes(_ count: Int) -> UnsafeMutablePointer<_Node> {
        UnsafeMutableRawPointer.allocate(
            byteCount: count * MemoryLayout<_Node>.stride,
            alignment: max(64, MemoryLayout<_Node>.alignment)
        ).bindMemory(to: _Node.self, capacity: count)
    }

    /// An empty slot table of `count` slots (a power of two), cache-line aligned, with
    /// every `meta` zero and nothing else initialised.
    @inlinable
    static func allocateSlots(_ count: Int) -> UnsafeMutablePointer<_Slot<Key, Value>> {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: count * MemoryLayout<_Slot<Key, Value>>.stride,
            alignment: max(64, MemoryLayout<_Slot<Key, Value>>.alignment))
        let stride = MemoryLayout<_Slot<Key, Value>>.stride
        for s in 0..<count { raw.storeBytes(of: 0 as UInt64, toByteOffset: s &* stride, as: UInt64.self) }
        return raw.bindMemory(to: _Slot<Key, Value>.self, capacity: count)
    }

    /// A slot's `meta` (offset 0), read without touching its possibly uninitialised rest.
    @inlinable @inline(__always)
    static func meta(_ slot: UnsafeMutablePointer<_Slot<Key, Value>>) -> UInt64 {
        UnsafeRawPointer(slot).load(as: UInt64.self)
    }

    @inlinable @inline(__always)
    static func setMeta(_ slot: UnsafeMutablePointer<_Slot<Key, Value>>, _ meta: UInt64) {
        UnsafeMutableRawPointer(slot).storeBytes(of: meta, as: UInt64.self)
    }

    @inlinable
    func isLive(_ i: Int32) -> Bool {
        UnsafeMutableRawPointer(nodes + Int(i)).load(fromByteOffset: queueOffset, as: UInt8.self) != _Queue.free
    }

    @inlinable
    mutating func allocateNode() -> Int32 {
        if let i = freeList.popLast() { return i }
        if used == nodeCapacity { growNodes() }
        used += 1
        return Int32(used - 1)
    }

    @inlinable
    mutating func growNodes() {
        // Grow by 1.25× (not 2×) so that unused node slots stay near 10% of the storage, which
        // keeps the default weigher's accounting close to what the process really uses;
        // never beyond what the count bound can hold.
        var newCapacity = max(nodeCapacity + 16, nodeCapacity + nodeCapacity / 4)
        if maxCount != .max { newCapacity = min(newCapacity, max(maxCount + 1, nodeCapacity + 1)) }
        precondition(newCapacity < Int(Int32.max), "L1 segment too large")
        let fresh = Self.allocateNodes(newCapacity)
        (fresh).moveInitialize(from: nodes, count: used)  // trivial type: a copy
        nodes.deallocate()
        nodes = fresh
        flagBytes = flagBytes.grown(from: nodeCapacity, to: newCapacity, keeping: used)
        nodeCapacity = newCapacity
    }

    @inlinable
    mutating func releaseNode(_ i: Int32) {
        UnsafeMutableRawPointer(nodes + Int(i)).storeBytes(of: _Queue.free, toByteOffset: queueOffset, as: UInt8.self)
        freeList.append(i)
    }

    // MARK: - Hash index

    /// The position of `key`'s slot, or -1.
    @inlinable
    func findSlot(_ key: Key, _ h: UInt32) -> Int {
        var s = Int(h) & slotMask
        while true {
            let meta = Self.meta(slots + s)
            if meta == 0 { return -1 }
            if UInt32(truncatingIfNeeded: meta >> 32) == h, slots[s].key == key { return s }
            s = (s &+ 1) & slotMask
        }
    }

    /// The node of `key`'s entry, or -1.
    @inlinable
    func find(_ key: Key, _ h: UInt32) -> Int32 {
        let s = findSlot(key, h)
        return s < 0 ? -1 : Int32(truncatingIfNeeded: Self.meta(slots + s)) &- 1
    }

    /// The position of node `i`'s slot (which must exist).
    @inlinable
    func slot(ofNode i: Int32) -> Int {
        let wanted = UInt64(UInt32(i + 1))
        var s = Int(nodes[Int(i)].hash) & slotMask
        while Self.meta(slots + s) & 0xFFFF_FFFF != wanted { s = (s &+ 1) & slotMask }
        return s
    }

    @inlinable
    mutating func insertSlot(_ h: UInt32, _ i: Int32, key: Key, value: Value, expiresAt: Int64) {
        if (count + 1) * 4 > (slotMask + 1) * 3 { growSlots() }
        var s = Int(h) & slotMask
        while Self.meta(slots + s) != 0 { s = (s &+ 1) & slotMask }
        (slots + s).initialize(
            to: _Slot(meta: UInt64(h) << 32 | UInt64(UInt32(i + 1)), expiresAt: expiresAt, key: key, value: value))
    }

    @inlinable
    mutating func growSlots() {
        let oldSize = slotMask + 1
        let newSize = oldSize * 2
        let fresh = Self.allocateSlots(newSize)
        let mask = newSize - 1
        for s in 0..<oldSize {
            let meta = Self.meta(slots + s)
            if meta == 0 { continue }
            var t = Int(UInt32(truncatingIfNeeded: meta >> 32)) & mask
            while Self.meta(fresh + t) != 0 { t = (t &+ 1) & mask }
            (fresh + t).moveInitialize(from: slots + s, count: 1)
        }
        slots.deallocate()
        slots = fresh
        slotMask = mask
    }

    /// Removes node `i`'s slot (destroying its key and value) with backward-shift deletion
    /// (no tombstones).
    @inlinable
    mutating func removeSlot(_ i: Int32) {
        let s = slot(ofNode: i)
        (slots + s).deinitialize(count: 1)
        var hole = s
        var j = s
        while true {
            j = (j &+ 1) & slotMask
            let meta = Self.meta(slots + j)
            if meta == 0 { break }
            let ideal = Int(UInt32(truncatingIfNeeded: meta >> 32)) & slotMask
            // Move slot j into the hole unless its ideal position lies cyclically in (hole, j].
            let inRange = hole <= j ? (ideal > hole && ideal <= j) : (ideal > hole || ideal <= j)
            if !inRange {
                (slots + hole).moveInitialize(from: slots + j, count: 1)
                hole = j
            }
        }
        Self.setMeta(slots + hole, 0)
    }

    // MARK: - Queues

    @inlinable
    func linkLast(_ i: Int32, _ q: UInt8) {
        let n = nodes + Int(i)
        let l = lists + Int(q)
        n.pointee.queue = q
        n.pointee.next = -1
        n.pointee.prev = l.pointee.tail
        if l.pointee.tail >= 0 { nodes[Int(l.pointee.tail)].next = i } else { l.pointee.head = i }
        l.pointee.tail = i
        l.pointee.weight &+= Int(n.pointee.weight)
        l.pointee.count &+= 1
    }

    @inlinable
    func unlink(_ i: Int32) {
        let n = nodes + Int(i)
        let l = lists + Int(n.pointee.queue)
        let p = n.pointee.prev
        let x = n.pointee.next
        if p >= 0 { nodes[Int(p)].next = x } else { l.pointee.head = x }
        if x >= 0 { nodes[Int(x)].prev = p } else { l.pointee.tail = p }
        l.pointee.weight &-= Int(n.pointee.weight)
        l.pointee.count &-= 1
    }

    @inlinable
    func moveToTail(_ i: Int32) {
        let n = nodes + Int(i)
        let l = lists + Int(n.pointee.queue)
        if l.pointee.tail == i { return }
        let p = n.pointee.prev
        let x = n.pointee.next
        if p >= 0 { nodes[Int(p)].next = x } else { l.pointee.head = x }
        nodes[Int(x)].prev = p
        n.pointee.prev = l.pointee.tail
        n.pointee.next = -1
        nodes[Int(l.pointee.tail)].next = i
        l.pointee.tail = i
    }

    @inlinable
    func move(_ i: Int32, to q: UInt8) {
        unlink(i)
        linkLast(i, q)
    }

    @inlinable var window: _List { lists[Int(_Queue.window)] }
    @inlinable var probation: _List { lists[Int(_Queue.probation)] }
    @inlinable var protected: _List { lists[Int(_Queue.protected)] }

    // MARK: - Read path

    @inlinable
    func nowNanos() -> Int64 {
        systemClock ? L1SystemClock().now().nanoseconds : clock.now().nanoseconds
    }

    /// The live value for `key`, recording a hit or a miss.
    @inlinable
    mutating func get(_ key: Key, _ h: UInt32) -> Value? {
        let s = findSlot(key, h)
        if s < 0 {
            misses &+= 1
            return nil
        }
        let slot = slots + s
        let i = Int32(truncatingIfNeeded: slot.pointee.meta) &- 1
        if slot.pointee.expiresAt != Int64.max, nowNanos() >= slot.pointee.expiresAt {
            remove(i, cause: .expiry)
            misses &+= 1
            return nil
        }
        hits &+= 1
        onAccess(i)
        return slot.pointee.value
    }

    /// Policy bookkeeping for a hit, replayed from a read buffer (see `L1Cache._read`) before
    /// any write to the segment, in the order the hits happened. Unlike Caffeine, which
    /// reorders its queues and increments its sketch on every (buffered) read, a hit here
    /// only updates the entry's flags byte (in the dense `flagBytes` array): it sets the
    /// `accessed` bit and counts the hit in four pending bits. Reordering happens lazily
    /// when the node reaches the head of its queue (second chance in the window and
    /// protected queues, promotion from probation); pending hits are added to the sketch
    /// when they reach 15, when the node leaves, and before the sketch ages, and admission
    /// adds them to the sketch's estimate. So the sketch sees the same counts, later. LRU
    /// mode reorders eagerly (it is exact LRU).
    @inlinable
    mutating func onAccess(_ i: Int32) {
        recordAccess(i)
        hitsInSample &+= 1
    }

    /// `onAccess` without counting the hit for the hill climber: the replay of a read buffer,
    /// whose hits are counted in `hitsInSample` when the writer folds the stripe's counters
    /// in (`L1Cache._drain`), before any `climb()`. So a reader's replay writes the entries'
    /// flag bytes and, once per 15 hits of an entry, the sketch and its size — not the
    /// counters that every replay would otherwise pass between the cores.
    @inlinable
    mutating func recordAccess(_ i: Int32) {
        let n = nodes + Int(i)
        if mode == 2 {
            moveToTail(i)
            return
        }
        let flags = flagBytes[Int(i)]
        if _Flags.saturated(flags) {
            // Accessed, pending count full and sketch saturated: counting more changes
            // nothing, so leave the node untouched. A hot entry read from several cores then
            // stays in all their caches instead of bouncing between them.
            return
        }
        if flags >= 0xF0 {
            add(n.pointee.hash, 15, counted: true)
            if frequency(n.pointee.hash) >= 15 {
                flagBytes[Int(i)] = flags | _Flags.accessed | _Flags.sketchFull
            } else {
                flagBytes[Int(i)] = (flags & 0x0B) | _Flags.accessed | _Flags.pendingUnit
            }
        } else {
            flagBytes[Int(i)] = (flags | _Flags.accessed) &+ _Flags.pendingUnit
        }
    }

    /// Adds node `i`'s pending hits to the sketch.
    @inlinable
    mutating func flushPending(_ i: Int32) {
        let n = nodes + Int(i)
        let pending = Int(flagBytes[Int(i)] >> _Flags.pendingShift)
        if pending > 0 {
            flagBytes[Int(i)] &= 0x0B
            add(n.pointee.hash, pending, counted: true)
        }
    }

    /// The admission frequency of resident node `i`: the sketch's estimate plus its pending hits.
    @inlinable
    func frequency(ofNode i: Int32) -> Int {
        let n = nodes + Int(i)
        return min(15, frequency(n.pointee.hash) + Int(flagBytes[Int(i)] >> _Flags.pendingShift))
    }

    /// Moves `i` to another queue, clearing its accessed bit.
    @inlinable
    func transfer(_ i: Int32, to q: UInt8) {
        flagBytes[Int(i)] &= ~_Flags.accessed
        move(i, to: q)
    }

    @inlinable
    mutating func demoteFromProtected() {
        var budget = protected.count + 1
        while protected.weight > protectedMax, budget > 0 {
            let d = protected.head
            if d < 0 { break }
            budget -= 1
            if flagBytes[Int(d)] & _Flags.accessed != 0 {
                flagBytes[Int(d)] &= ~_Flags.accessed
                moveToTail(d)
            } else {
                transfer(d, to: _Queue.probation)
            }
        }
    }

    // MARK: - Write path

    /// Stores `value` for `key`. Returns false if the entry is heavier than the whole segment.
    @inlinable
    @discardableResult
    mutating func set(
        _ key: Key, _ value: Value, _ h: UInt32, weight: Int, expiresAt: Int64, now: Int64,
        tags: [String], prefixKey: String?
    ) -> Bool {
        if wheel != nil { advance(now) }
        if !flights.isEmpty, flights[key] != nil { flights[key]!.fenced = true }
        if !negatives.isEmpty { negatives[key] = nil }
        let w = UInt32(clamping: max(0, weight))
        let existing = find(key, h)
        if Int(w) > maxWeight {
            if existing >= 0 { remove(existing, cause: .replaced) }
            evictedBySize &+= 1
            return false
        }
        if existing >= 0 {
            let n = nodes + Int(existing)
            let slot = slots + slot(ofNode: existing)
            slot.pointee.value = value
            n.pointee.writtenAt = now
            let delta = Int(w) - Int(n.pointee.weight)
            if delta != 0 {
                lists[Int(n.pointee.queue)].weight += delta
                totalWeight += delta
                n.pointee.weight = w
            }
            if n.pointee.expiresAt != expiresAt {
                if n.pointee.bucket != _Wheel.none { deschedule(existing) }
                n.pointee.expiresAt = expiresAt
                slot.pointee.expiresAt = expiresAt
                if expiresAt != Int64.max { schedule(existing, now: now) }
            }
            if flagBytes[Int(existing)] & _Flags.tagged != 0 { removeTags(existing) }
            if !tags.isEmpty { addTags(existing, tags) }
            onAccess(existing)
        } else {
            let i = allocateNode()
            let n = nodes + Int(i)
            n.initialize(to: _Node(hash: h, weight: w, expiresAt: expiresAt, writtenAt: now))
            flagBytes[Int(i)] = 0
            insertSlot(h, i, key: key, value: value, expiresAt: expiresAt)
            count += 1
            totalWeight += Int(w)
            linkLast(i, _Queue.window)
            if !tags.isEmpty { addTags(i, tags) }
            if let prefixKey, prefixes != nil { n.pointee.trie = prefixes!.insert(prefixKey, entry: i) }
            if expiresAt != Int64.max { schedule(i, now: now) }
            if mode != 2 {
                if weighted, count > sketchLength { resizeSketch(for: count * 2) }
                increment(h)
                missesInSample &+= 1
            }
        }
        if totalWeight > maxWeight || count > maxCount || window.weight > windowMax { evictEntries() }
        if mode == 0 { climb() }
        return true
    }

    /// Removes node `i` from every structure and releases it.
    @inlinable
    mutating func remove(_ i: Int32, cause: _Cause) {
        let n = nodes + Int(i)
        if flagBytes[Int(i)] >= _Flags.pendingUnit, mode != 2 { flushPending(i) }
        unlink(i)
        if n.pointee.bucket != _Wheel.none { deschedule(i) }
        removeSlot(i)
        if flagBytes[Int(i)] & _Flags.tagged != 0 { removeTags(i) }
        if n.pointee.trie >= 0 { prefixes?.remove(node: n.pointee.trie) }
        count -= 1
        totalWeight -= Int(n.pointee.weight)
        switch cause {
        case .size: evictedBySize &+= 1
        case .expiry: evictedByExpiry &+= 1
        case .invalidation: evictedByInvalidation &+= 1
        case .replaced: break
        }
        releaseNode(i)
    }

    // MARK: - Eviction (W-TinyLFU, after Caffeine's BoundedLocalCache)

    @inlinable
    var overBound: Bool { totalWeight > maxWeight || count > maxCount }

    @inlinable
    mutating func evictEntries() {
        if mode == 2 {
            while overBound {
                let victim = window.head
                if victim < 0 { break }
                remove(victim, cause: .size)
            }
            return
        }
        let first = evictFromWindow()
        evictFromMain(first)
    }

    /// Moves the window's LRU entries into probation until the window fits; returns the first moved.
    @inlinable
    mutating func evictFromWindow() -> Int32 {
        var first: Int32 = -1
        var budget = window.count * 2 + 1
        while window.weight > windowMax, budget > 0 {
            let node = window.head
            if node < 0 { break }
            budget -= 1
            if flagBytes[Int(node)] & _Flags.accessed != 0 {
                // Second chance: it was read since it last reached the head.
                flagBytes[Int(node)] &= ~_Flags.accessed
                moveToTail(node)
                continue
            }
            transfer(node, to: _Queue.probation)
            if first < 0 { first = node }
        }
        return first
    }

    @inlinable
    mutating func evictFromMain(_ firstCandidate: Int32) {
        var victimQueue = _Queue.probation
        var candidateQueue = _Queue.probation
        var victim = probation.head
        var candidate = firstCandidate
        while overBound {
            if candidate < 0, candidateQueue == _Queue.probation {
                candidate = window.head
                candidateQueue = _Queue.window
            }
            if candidate < 0, victim < 0 {
                if victimQueue == _Queue.probation {
                    victim = protected.head
                    victimQueue = _Queue.protected
                    continue
                } else if victimQueue == _Queue.protected {
                    victim = window.head
                    victimQueue = _Queue.window
                    continue
                }
                break
            }
            if victim < 0 {
                let previous = nodes[Int(candidate)].next
                remove(candidate, cause: .size)
                candidate = previous
                continue
            }
            if candidate < 0 {
                let evict = victim
                victim = nodes[Int(victim)].next
                remove(evict, cause: .size)
                continue
            }
            if candidate == victim {
                victim = nodes[Int(victim)].next
                remove(candidate, cause: .size)
                candidate = -1
                continue
            }
            if victimQueue == _Queue.probation, flagBytes[Int(victim)] & _Flags.accessed != 0 {
                // Read while on probation: promote instead of evicting (lazy `onAccess`).
                let promoted = victim
                victim = nodes[Int(victim)].next
                transfer(promoted, to: _Queue.protected)
                if protected.weight > protectedMax {
                    demoteFromProtected()
                    if victim < 0 { victim = probation.head }
                }
                continue
            }
            if admit(candidate, victim) {
                let evict = victim
                victim = nodes[Int(victim)].next
                remove(evict, cause: .size)
                candidate = nodes[Int(candidate)].next
            } else {
                let evict = candidate
                candidate = nodes[Int(candidate)].next
                remove(evict, cause: .size)
            }
        }
    }

    @inlinable
    mutating func admit(_ candidate: Int32, _ victim: Int32) -> Bool {
        let victimFrequency = frequency(ofNode: victim)
        let candidateFrequency = frequency(ofNode: candidate)
        if candidateFrequency > victimFrequency { return true }
        if candidateFrequency >= 6 {
            // Hash-flooding defence: occasionally admit a warm candidate.
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            return rng & 127 == 0
        }
        return false
    }

    // MARK: - Hill climbing

    @inlinable
    mutating func climb() {
        let requests = hitsInSample + missesInSample
        if requests >= sampleSize { determineAdjustment() }
        if adjustment > 0 {
            increaseWindow()
        } else if adjustment < 0 {
            decreaseWindow()
        }
    }

    /// Caffeine's hill climber with one change: a sample's hit-rate change only steers the
    /// window when it exceeds one standard error of the difference of two samples
    /// (`sqrt(2p(1-p)/n)`). An insignificant change pulls the window back toward its 1%
    /// start instead of letting noise random-walk it, which costs small caches up to two
    /// points on frequency-biased workloads with the plain climber. Significant changes
    /// (recency-biased workloads, a moving hot set) move it as in Caffeine.
    @inlinable
    mutating func determineAdjustment() {
        let requests = hitsInSample + missesInSample
        let hitRate = Double(hitsInSample) / Double(requests)
        let change = hitRate - previousHitRate
        let threshold = (2 * max(hitRate * (1 - hitRate), 0.0025) / Double(requests)).squareRoot()
        let amount: Double
        if change > threshold {
            amount = stepSize
        } else if change < -threshold {
            amount = -stepSize
        } else {
            amount = windowMax > baseWindow ? -abs(stepSize) : 0
        }
        let nextStep =
            abs(change) >= 0.05
            ? 0.0625 * Double(maxWeight) * (amount >= 0 ? 1 : -1)
            : 0.98 * (amount == 0 ? stepSize : amount)
        previousHitRate = hitRate
        adjustment = Int(amount)
        stepSize = nextStep
        hitsInSample = 0
        missesInSample = 0
    }

    @inlinable
    mutating func increaseWindow() {
        if protectedMax == 0 { return }
        var quota = min(adjustment, protectedMax)
        protectedMax -= quota
        windowMax += quota
        demoteFromProtected()
        for _ in 0..<1000 {
            var candidate = probation.head
            if candidate < 0 || Int(nodes[Int(candidate)].weight) > quota { candidate = protected.head }
            if candidate < 0 { break }
            let w = Int(nodes[Int(candidate)].weight)
            if w > quota { break }
            quota -= w
            transfer(candidate, to: _Queue.window)
        }
        protectedMax += quota
        windowMax -= quota
        adjustment = quota
    }

    @inlinable
    mutating func decreaseWindow() {
        if windowMax <= 1 { return }
        var quota = min(-adjustment, max(0, windowMax - 1))
        protectedMax += quota
        windowMax -= quota
        for _ in 0..<1000 {
            let candidate = window.head
            if candidate < 0 { break }
            let w = Int(nodes[Int(candidate)].weight)
            if w > quota { break }
            quota -= w
            transfer(candidate, to: _Queue.probation)
        }
        protectedMax -= quota
        windowMax += quota
        adjustment = -quota
    }

    // MARK: - Frequency sketch

    @inlinable
    mutating func resizeSketch(for entries: Int) {
        var length = 8
        while length < entries, length < 1 << 26 { length <<= 1 }
        if length == sketchLength, sketchBlockMask != 0 || length == 8 {
            sampleSize = 10 * max(entries, 1)
            return
        }
        sketch.deallocate()
        sketch = .allocate(capacity: length)
        sketch.initialize(repeating: 0, count: length)
        sketchLength = length
        sketchBlockMask = UInt32((length >> 3) - 1)
        sampleSize = 10 * max(entries, 1)
        sketchSize = 0
    }

    @inlinable
    static func spread(_ x: UInt32) -> UInt32 {
        var x = x
        x ^= x >> 17
        x &*= 0xed5a_d4bb
        x ^= x >> 11
        x &*= 0xac4c_1b51
        x ^= x >> 15
        return x
    }

    @inlinable
    static func rehash(_ x: UInt32) -> UInt32 {
        var x = x &* 0x3184_8bab
        x ^= x >> 14
        return x
    }

    /// Adds one to the key's four 4-bit counters (saturating at 15); all four live in one
    /// 64-byte block, so an increment touches one cache line.
    @inlinable
    mutating func increment(_ h: UInt32) {
        let blockHash = Self.spread(h)
        let c = Self.rehash(blockHash)
        let block = sketch + (Int(truncatingIfNeeded: blockHash & sketchBlockMask) &<< 3)
        var added = Self.bump(block + Int(truncatingIfNeeded: c & 1), c)
        added = Self.bump(block + (2 | Int(truncatingIfNeeded: (c &>> 8) & 1)), c &>> 8) || added
        added = Self.bump(block + (4 | Int(truncatingIfNeeded: (c &>> 16) & 1)), c &>> 16) || added
        added = Self.bump(block + (6 | Int(truncatingIfNeeded: (c &>> 24) & 1)), c &>> 24) || added
        if added {
            sketchSize &+= 1
            if sketchSize >= sampleSize { resetSketch() }
        }
    }

    @inlinable @inline(__always)
    static func bump(_ word: UnsafeMutablePointer<UInt64>, _ hk: UInt32) -> Bool {
        let offset = UInt64(truncatingIfNeeded: (hk &>> 1) & 15) &<< 2
        let mask: UInt64 = 0xF &<< offset
        let value = word.pointee
        if value & mask == mask { return false }
        word.pointee = value &+ (1 &<< offset)
        return true
    }

    @inlinable @inline(__always)
    static func bump(_ word: UnsafeMutablePointer<UInt64>, _ hk: UInt32, by amount: UInt64) -> Bool {
        let offset = UInt64(truncatingIfNeeded: (hk &>> 1) & 15) &<< 2
        let value = word.pointee
        let current = (value &>> offset) & 0xF
        if current == 15 { return false }
        let next = min(15, current &+ amount)
        word.pointee = (value & ~(0xF &<< offset)) | (next &<< offset)
        return true
    }

    /// Adds `amount` (1...15) to the key's four counters, saturating; if `counted`, counts
    /// `amount` additions toward the next aging (hits count when they are folded in).
    @inlinable
    mutating func add(_ h: UInt32, _ amount: Int, counted: Bool) {
        let blockHash = Self.spread(h)
        let c = Self.rehash(blockHash)
        let block = sketch + (Int(truncatingIfNeeded: blockHash & sketchBlockMask) &<< 3)
        let a = UInt64(amount)
        var added = Self.bump(block + Int(truncatingIfNeeded: c & 1), c, by: a)
        added = Self.bump(block + (2 | Int(truncatingIfNeeded: (c &>> 8) & 1)), c &>> 8, by: a) || added
        added = Self.bump(block + (4 | Int(truncatingIfNeeded: (c &>> 16) & 1)), c &>> 16, by: a) || added
        added = Self.bump(block + (6 | Int(truncatingIfNeeded: (c &>> 24) & 1)), c &>> 24, by: a) || added
        if added, counted {
            sketchSize &+= amount
            if sketchSize >= sampleSize { resetSketch() }
        }
    }

    @inlinable
    func frequency(_ h: UInt32) -> Int {
        let blockHash = Self.spread(h)
        let counterHash = Self.rehash(blockHash)
        let block = Int(blockHash & sketchBlockMask) << 3
        var result = 15
        for k in 0..<4 {
            let hk = counterHash >> UInt32(k << 3)
            let offset = UInt64((hk >> 1) & 15) << 2
            let slot = block + Int(hk & 1) + (k << 1)
            result = min(result, Int((sketch[slot] >> offset) & 0xF))
        }
        return result
    }

    @inlinable
    mutating func resetSketch() {
        // Fold every resident node's pending hits in first, so that they age too.
        sketchSize = Int.min / 2  // no recursive reset while folding
        for i in 0..<used where isLive(Int32(i)) {
            let n = nodes + i
            let pending = Int(flagBytes[Int(i)] >> _Flags.pendingShift)
            if pending > 0 {
                flagBytes[Int(i)] &= 0x0B
                add(n.pointee.hash, pending, counted: false)
            }
        }
        sketchSize = sampleSize
        var odd = 0
        for i in 0..<sketchLength {
            odd += (sketch[i] & 0x1111_1111_1111_1111).nonzeroBitCount
            sketch[i] = (sketch[i] >> 1) & 0x7777_7777_7777_7777
        }
        sketchSize = (sketchSize - (odd >> 2)) >> 1
    }
}

