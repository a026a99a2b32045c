extension L1Cache {
    @usableFromInline
    enum _LoadStep {
        case hit(Value, refresh: _Flight<Value>?)
        case failed(any Error)
        case wait(_Flight<Value>)
        case lead(_Flight<Value>)
    }

    /// The value for `key`, loading it with `loader` on a miss.
    ///
    /// - The loader runs once per key however many callers wait (single flight); its
    ///   value or error reaches every waiter.
    /// - If an invalidation touching `key` (by key, prefix, tag or all) or a `set` of `key`
    ///   happens while the load runs, the loaded value is returned but **not stored**, so a
    ///   stale value never enters the cache.
    /// - Errors are not cached unless `negativeTTL` is configured.
    /// - With `refreshAhead`, a hit less than that long before expiry starts a background
    ///   reload and serves the current value.
    ///
    /// Cancellation: the loader runs in the first caller's task; if that task is
    /// cancelled and the loader throws `CancellationError`, every waiter gets it.
    public func get(
        _ key: Key, ttl: Duration? = nil, tags: [String] = [],
        loader: @escaping @Sendable (Key) async throws -> Value
    ) async throws -> Value {
        let hash = Self._hash(key)
        let h32 = UInt32(truncatingIfNeeded: hash)
        let now = _nowNanos()
        let refreshAhead = _refreshAhead
        let prefixKey = _prefixKey?(key)
        let tags = Self._uniqueTags(tags)
        // A hit that needs no refresh takes only a read lock, as `get(_:)` does.
        if case .hit(let value) = _read(key, hash, countMiss: false, refreshAhead: refreshAhead) { return value }
        let step = _exclusive(hash: hash) { state -> _LoadStep in
            if let value = state.get(key, h32) {
                guard let refreshAhead, state.flights[key] == nil else { return .hit(value, refresh: nil) }
                let expiresAt = state.nodes[Int(state.find(key, h32))].expiresAt
                guard expiresAt != .max, expiresAt &- now <= refreshAhead else { return .hit(value, refresh: nil) }
                let flight = _Flight<Value>()
                state.flights[key] = _FlightRecord(flight: flight, tags: tags, prefixKey: prefixKey, startedAt: now)
                return .hit(value, refresh: flight)
            }
            if !state.negatives.isEmpty, let error = state.cachedError(key, now: now) { return .failed(error) }
            if let record = state.flights[key] { return .wait(record.flight) }
            let flight = _Flight<Value>()
            state.flights[key] = _FlightRecord(flight: flight, tags: tags, prefixKey: prefixKey, startedAt: now)
            return .lead(flight)
        }
        switch step {
        case .hit(let value, let refresh):
            if let refresh {
                Task { _ = try? await self._load(key, hash: hash, flight: refresh, ttl: ttl, tags: tags, loader: loader) }
            }
            return value
        case .failed(let error):
            throw error
        case .wait(let flight):
            return try await flight.wait()
        case .lead(let flight):
            return try await _load(key, hash: hash, flight: flight, ttl: ttl, tags: tags, loader: loader)
        }
    }

    /// Runs the loader as the flight's leader, stores the result unless fenced, and
    /// publishes it to the waiters.
    func _load(
        _ key: Key, hash: UInt64, flight: _Flight<Value>, ttl: Duration?, tags: [String],
        loader: @Sendable (Key) async throws -> Value
    ) async throws -> Value {
        let result: Result<Value, any Error>
        do {
            result = .success(try await loader(key))
        } catch {
            result = .failure(error)
        }
        let now = _nowNanos()
        let prefixKey = _prefixKey?(key)
        var weight = 0
        var expiresAt = Int64.max
        if case .success(let value) = result {
            weight = _weight(key, value, prefixKey: prefixKey)
            expiresAt = _expiry(ttl, now: now)
        }
        let negativeTTL = _negativeTTL
        _exclusive(hash: hash) { state in
            var fenced = true
            if let record = state.flights[key], record.flight === flight {
                fenced = record.fenced
                state.flights[key] = nil
            }
            switch result {
            case .success(let value):
                state.loadSuccesses &+= 1
                if fenced {
                    state.loadsDiscarded &+= 1
                } else {
                    state.set(
                        key, value, UInt32(truncatingIfNeeded: hash), weight: weight, expiresAt: expiresAt,
                        now: now, tags: tags, prefixKey: prefixKey)
                }
            case .failure(let error):
                state.loadFailures &+= 1
                if let negativeTTL, !fenced {
                    let negative = _Negative(
                        error: error, expiresAt: now &+ negativeTTL, tags: tags, prefixKey: prefixKey)
                    state.storeError(key, negative, now: now)
                }
            }
        }
        flight.finish(result)
        return try result.get()
    }

    /// Number of loads in flight (including refresh-ahead reloads).
    public var loadsInFlight: Int {
        var total = 0
        for s in 0..<_stripeCount { total += _exclusive(_segment(at: s)) { $0.flights.count } }
        return total
    }
}
