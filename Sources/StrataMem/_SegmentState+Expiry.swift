/// Expiry on a hierarchical timer wheel (after Caffeine's `TimerWheel`): scheduling and
/// descheduling are O(1); advancing the wheel only visits buckets whose time has come,
/// so cleanup is amortised over writes instead of scanning the cache.
extension _SegmentState {
    @inlinable
    mutating func bucket(for time: Int64) -> Int {
        let duration = time &- wheelNanos
        for level in 0..<4 where duration < _Wheel.spans[level + 1] {
            let ticks = time >> _Wheel.shifts[level]
            return _Wheel.offsets[level] + Int(ticks & Int64(_Wheel.buckets[level] - 1))
        }
        return _Wheel.offsets[4]
    }

    @inlinable
    mutating func schedule(_ i: Int32, now: Int64) {
        if wheel == nil {
            let heads = UnsafeMutablePointer<Int32>.allocate(capacity: _Wheel.total)
            heads.initialize(repeating: -1, count: _Wheel.total)
            wheel = heads
            wheelNanos = now
        }
        let heads = wheel!
        let n = nodes + Int(i)
        let b = bucket(for: n.pointee.expiresAt)
        let head = heads[b]
        n.pointee.tnext = head
        n.pointee.tprev = -1
        if head >= 0 { nodes[Int(head)].tprev = i }
        heads[b] = i
        n.pointee.bucket = UInt16(b)
    }

    @inlinable
    mutating func deschedule(_ i: Int32) {
        guard let heads = wheel else { return }
        let n = nodes + Int(i)
        let p = n.pointee.tprev
        let x = n.pointee.tnext
        if p >= 0 { nodes[Int(p)].tnext = x } else { heads[Int(n.pointee.bucket)] = x }
        if x >= 0 { nodes[Int(x)].tprev = p }
        n.pointee.tprev = -1
        n.pointee.tnext = -1
        n.pointee.bucket = _Wheel.none
    }

    /// Moves the wheel to `now`, removing entries whose deadline has passed.
    @inlinable
    mutating func advance(_ now: Int64) {
        guard wheel != nil else { return }
        let previous = wheelNanos
        if now <= previous { return }
        wheelNanos = now
        for level in 0..<5 {
            let previousTicks = previous >> _Wheel.shifts[level]
            let currentTicks = now >> _Wheel.shifts[level]
            let delta = currentTicks - previousTicks
            if delta <= 0 { break }
            expire(level: level, previousTicks: previousTicks, delta: delta, now: now)
        }
    }

    @inlinable
    mutating func expire(level: Int, previousTicks: Int64, delta: Int64, now: Int64) {
        let heads = wheel!
        let buckets = _Wheel.buckets[level]
        let mask = Int64(buckets - 1)
        let steps = Int(min(delta + 1, Int64(buckets)))
        let start = Int(previousTicks & mask)
        for k in start..<(start + steps) {
            let b = _Wheel.offsets[level] + (k & Int(mask))
            var i = heads[b]
            heads[b] = -1
            while i >= 0 {
                let n = nodes + Int(i)
                let next = n.pointee.tnext
                n.pointee.tprev = -1
                n.pointee.tnext = -1
                n.pointee.bucket = _Wheel.none
                if n.pointee.expiresAt <= now {
                    remove(i, cause: .expiry)
                } else {
                    schedule(i, now: now)
                }
                i = next
            }
        }
    }

    /// Entries currently scheduled on the wheel (for tests).
    func scheduledCount() -> Int {
        guard let heads = wheel else { return 0 }
        var total = 0
        for b in 0..<_Wheel.total {
            var i = heads[b]
            while i >= 0 {
                total += 1
                i = nodes[Int(i)].tnext
            }
        }
        return total
    }
}
