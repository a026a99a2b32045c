import Synchronization

/// One load in flight: its waiters and, once known, its result.
final class _Flight<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value?, any Error>?
        var waiters: [CheckedContinuation<Value?, any Error>] = []
    }

    private let state = Mutex(State())

    /// Waits for the result (returns at once when it is known).
    func wait() async throws -> Value? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value?, any Error>) in
            let ready = state.withLock { state -> Result<Value?, any Error>? in
                if let result = state.result { return result }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Publishes the result to every waiter; only the first call counts.
    @discardableResult
    func resolve(_ result: Result<Value?, any Error>) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, any Error>]? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(with: result) }
        return true
    }
}

/// The loads in flight of a tiered cache, keyed by logical key: single flight across the
/// tiers, and the stale-set fence.
///
/// Every invalidation that reaches the cache (from the invalidation source, or the
/// cache's own `invalidate` and `set`) first marks the flights it touches as **fenced**
/// here, then removes the L1 entries. A leader stores its result in L1 only inside
/// ``finish(_:_:store:)``, under this table's lock and only if its flight is not fenced;
/// so a value loaded before an invalidation never enters L1 after it. Lock order: this
/// table, then the L1 cache's segment locks.
final class _FlightTable<Value: Sendable>: Sendable {
    struct Record {
        let flight: _Flight<Value>
        var fenced = false
        let tags: [String]
        /// On the L1 clock.
        let startedAt: Int64
    }

    enum Join {
        /// A value is cached after all (found while holding the lock).
        case cached(Value?)
        /// Another caller is loading the key.
        case wait(_Flight<Value>)
        /// The caller loads the key and must call ``finish(_:_:store:)``.
        case lead(_Flight<Value>)
    }

    private let records = Mutex<[String: Record]>([:])

    /// Joins the flight of `key` or starts one. `cached` runs under the lock (a value
    /// stored by a leader that finished since the caller's L1 miss).
    func join(_ key: String, tags: [String], now: Int64, cached: () -> Value??) -> Join {
        records.withLock { records in
            if let record = records[key] { return .wait(record.flight) }
            if case .some(let value) = cached() { return .cached(value) }
            let flight = _Flight<Value>()
            records[key] = Record(flight: flight, tags: tags, startedAt: now)
            return .lead(flight)
        }
    }

    /// Ends `flight`: `store(fenced)` runs under the lock, before the record is removed.
    func finish(_ key: String, _ flight: _Flight<Value>, store: (_ fenced: Bool) -> Void) {
        records.withLock { records in
            var fenced = true
            if let record = records[key], record.flight === flight {
                fenced = record.fenced
                records[key] = nil
            }
            store(fenced)
        }
    }

    func fence(keys: some Sequence<String>) {
        records.withLock { records in
            guard !records.isEmpty else { return }
            for key in keys where records[key] != nil { records[key]!.fenced = true }
        }
    }

    /// Fences the flights of keys starting with `prefix` (text without the `*`; empty = all).
    func fence(prefix: String) {
        records.withLock { records in
            for key in records.keys where key.hasPrefix(prefix) { records[key]!.fenced = true }
        }
    }

    func fence(tag: String) {
        records.withLock { records in
            for (key, record) in records where record.tags.contains(tag) { records[key]!.fenced = true }
        }
    }

    /// Fences every flight (started before `instant`, if given).
    func fenceAll(startedBefore instant: Int64? = nil) {
        records.withLock { records in
            for (key, record) in records where instant.map({ record.startedAt < $0 }) ?? true {
                records[key]!.fenced = true
            }
        }
    }

    var count: Int { records.withLock { $0.count } }
}
