import Logging
import StrataL2
import StrataMem

extension TieredCache {
    /// The miss path of `get`/`find`: single flight, then L2, then the loader.
    @usableFromInline
    func _find(
        _ key: CacheKey, policy: CachePolicy, tags: [String],
        loader: @escaping @Sendable () async throws -> Value?
    ) async throws -> Value? {
        let layers = _layers(policy)
        if layers.bypass {
            _counters.count(.failClosedBypass)
            return try await _load(key, policy, loader)
        }
        // A kind that keeps nothing in this process (no L1, no fail-safe copy): an L2 hit is
        // stored nowhere, so there is nothing to fence and no flight to join; look L2 up
        // first and join (or lead) a flight only on a miss.
        var prefetched = _L2Prefetch.none
        if layers.l1TTL == nil, policy.failSafe == nil, layers.l2, let l2, policy.l2TTL != nil {
            let start = ContinuousClock.now
            let lookup: L2Lookup<Value?> = try await l2.get(key.text, as: Value?.self)
            _counters.recordL2(nanoseconds: (ContinuousClock.now - start).nanosecondsClamped)
            switch lookup {
            case .hit(let value, _):
                _counters.count(.l2Hit)
                return value
            case .miss:
                prefetched = .miss
            case .skipped(let reason):
                prefetched = .skipped(reason)
            }
        }
        let join = _flights.join(key.text, tags: tags, now: _l1.now().nanoseconds) { () -> Value?? in
            guard layers.l1TTL != nil else { return nil }
            return _l1.entry(key.text).map { $0.value }
        }
        switch join {
        case .cached(let value):
            return value
        case .wait(let flight):
            _counters.count(.joined)
            return try await flight.wait()
        case .lead(let flight):
            return try await _lead(key, policy, layers, tags, flight, loader, prefetched: prefetched)
        }
    }

    /// What a plain L2 lookup before the flight found (`_find`'s path for kinds without L1).
    enum _L2Prefetch {
        /// Not looked up yet.
        case none
        case miss
        case skipped(L2SkipReason)
    }

    /// The leader of a flight: below L1, with the fail-safe soft timeout when it applies.
    func _lead(
        _ key: CacheKey, _ policy: CachePolicy, _ layers: _Layers, _ tags: [String], _ flight: _Flight<Value>,
        _ loader: @escaping @Sendable () async throws -> Value?, prefetched: _L2Prefetch = .none
    ) async throws -> Value? {
        if let soft = policy.failSafe?.softTimeout, case .some(let stale) = _staleValue(key.text) {
            let work = Task { try await self._resolve(key, policy, layers, tags, flight, loader) }
            if case .some(let value) = try await _waitUpTo(soft, for: work) { return value }
            // Slow: serve the stale value; the load goes on and fills the caches when done.
            _counters.count(.staleServed)
            logger.debug("served a stale value after the soft timeout", metadata: ["key": "\(key)", "kind": "\(policy.kind)"])
            flight.resolve(.success(stale))
            return stale
        }
        return try await _resolve(key, policy, layers, tags, flight, loader, prefetched: prefetched)
    }

    /// Loads below L1, stores unless fenced, and publishes the result to the flight.
    func _resolve(
        _ key: CacheKey, _ policy: CachePolicy, _ layers: _Layers, _ tags: [String], _ flight: _Flight<Value>,
        _ loader: @escaping @Sendable () async throws -> Value?, prefetched: _L2Prefetch = .none
    ) async throws -> Value? {
        do {
            let (value, storable) = try await _belowL1(key, policy, layers, loader, prefetched: prefetched)
            _finish(key.text, flight, value: value, storable: storable, policy: policy, layers: layers, tags: tags)
            flight.resolve(.success(value))
            return value
        } catch {
            _flights.finish(key.text, flight) { _ in }
            if policy.failSafe != nil, case .some(let stale) = _staleValue(key.text) {
                _counters.count(.staleServed)
                logger.warning("served a stale value: the loader failed", metadata: [
                    "key": "\(key)", "kind": "\(policy.kind)", "error": "\(error)",
                ])
                flight.resolve(.success(stale))
                return stale
            }
            flight.resolve(.failure(error))
            throw error
        }
    }

    /// Ends a leader's flight: stores in L1 (and the fail-safe store) unless an
    /// invalidation fenced the flight or L2 refused the write-back.
    func _finish(
        _ key: String, _ flight: _Flight<Value>, value: Value?, storable: Bool, policy: CachePolicy, layers: _Layers,
        tags: [String]
    ) {
        _flights.finish(key, flight) { fenced in
            guard storable else { return }
            if fenced {
                _counters.count(.discarded)
                return
            }
            if let ttl = _l1TTL(layers, policy, value) { _l1.set(key, value, ttl: ttl, tags: tags) }
            if let failSafe = policy.failSafe, value != nil || policy.negativeTTL != nil {
                _stale.set(key, value, ttl: failSafe.maximumStaleness, tags: tags)
            }
        }
    }

    func _staleValue(_ key: String) -> Value?? { _stale.entry(key).map { $0.value } }

    /// L2 with its lease protocol, then the loader. `storable` is false when L2 refused the
    /// write-back: the key was invalidated after the miss, so the value goes to the caller
    /// but into no layer.
    func _belowL1(
        _ key: CacheKey, _ policy: CachePolicy, _ layers: _Layers,
        _ loader: @escaping @Sendable () async throws -> Value?, prefetched: _L2Prefetch = .none
    ) async throws -> (value: Value?, storable: Bool) {
        guard layers.l2, let l2, let l2TTL = policy.l2TTL else {
            let value = try await _load(key, policy, loader)
            if let hook = hooks.afterLoad { await hook(key.text) }
            return (value, true)
        }
        // A plain lookup first (GET + MGET of the generations, pipelined: no script), so a
        // hit costs one round trip; only a miss takes the lease (a second round trip,
        // which also catches a value written meanwhile).
        var lookup: L2Lookup<Value?>
        switch prefetched {
        case .none:
            let start = ContinuousClock.now
            lookup = try await l2.get(key.text, as: Value?.self)
            _counters.recordL2(nanoseconds: (ContinuousClock.now - start).nanosecondsClamped)
            if case .miss = lookup {
                _counters.count(.l2Miss)
                lookup = try await l2.get(key.text, as: Value?.self, lease: true)
            }
        case .miss:
            _counters.count(.l2Miss)
            lookup = try await l2.get(key.text, as: Value?.self, lease: true)
        case .skipped(let reason):
            lookup = .skipped(reason)
        }
        switch lookup {
        case .hit(let value, _):
            _counters.count(.l2Hit)
            return (value, true)
        case .skipped:
            _counters.count(.l2Skipped)
            let value = try await _load(key, policy, loader)
            if let hook = hooks.afterLoad { await hook(key.text) }
            return (value, true)
        case .miss(let miss):
            guard miss.lease != nil else {
                // Another instance holds the lease: wait briefly for its value, then load
                // without writing L2.
                if case .some(let value) = try await _awaitOtherLoader(key.text, l2) { return (value, true) }
                let value = try await _load(key, policy, loader)
                if let hook = hooks.afterLoad { await hook(key.text) }
                return (value, true)
            }
            let value: Value?
            do {
                value = try await _load(key, policy, loader)
            } catch {
                await _releaseLease(key.text, l2)
                throw error
            }
            if let hook = hooks.afterLoad { await hook(key.text) }
            let storable = await _writeBack(key.text, value, policy: policy, l2TTL: l2TTL, after: miss, l2)
            return (value, storable)
        }
    }

    /// Writes a loaded value back under the miss's lease; false when L2 refused it because
    /// the key was invalidated since the miss.
    func _writeBack(_ key: String, _ value: Value?, policy: CachePolicy, l2TTL: Duration, after miss: L2Miss, _ l2: L2Cache) async -> Bool {
        let ttl: Duration?
        if case .none = value { ttl = policy.negativeTTL } else { ttl = l2TTL }
        guard let ttl else {
            await _releaseLease(key, l2)
            return true
        }
        do {
            switch try await l2.set(key, value: value, ttl: ttl, after: miss) {
            case .stored, .skipped:
                return true
            case .refusedLeaseLost, .refusedGenerationChanged:
                _counters.count(.l2WriteRefused)
                return false
            }
        } catch {
            logger.warning("value not stored in L2", metadata: ["key": "\(key)", "error": "\(error)"])
            await _releaseLease(key, l2)
            return true
        }
    }

    /// Polls L2 while another instance loads the key (the L2 configuration's lease wait
    /// budget and interval). `.some` with its value if it appears.
    func _awaitOtherLoader(_ key: String, _ l2: L2Cache) async throws -> Value?? {
        let clock = ContinuousClock()
        let deadline = clock.now + l2.configuration.leaseWaitBudget
        while clock.now < deadline {
            try await Task.sleep(for: l2.configuration.leaseWaitInterval)
            switch try await l2.get(key, as: Value?.self) {
            case .hit(let value, _):
                _counters.count(.l2Hit)
                return .some(value)
            case .skipped:
                return nil
            case .miss:
                continue
            }
        }
        return nil
    }

    /// Gives up a lease after a failed or uncached load, so other instances need not wait
    /// for it to expire (`UNLINK` of the lease and of the value, which is absent anyway).
    func _releaseLease(_ key: String, _ l2: L2Cache) async {
        do {
            try await l2.invalidate(key: key)
        } catch {
            logger.debug("could not release an L2 lease", metadata: ["key": "\(key)", "error": "\(error)"])
        }
    }

    /// Runs the loader with the policy's hard timeout, counting it as an L3 request.
    func _load(_ key: CacheKey, _ policy: CachePolicy, _ loader: @escaping @Sendable () async throws -> Value?) async throws -> Value? {
        _counters.count(.load)
        let start = ContinuousClock.now
        do {
            let value: Value?
            if let timeout = policy.loadTimeout {
                value = try await _withTimeout(timeout, loader)
            } else {
                value = try await loader()
            }
            _counters.recordL3(nanoseconds: (ContinuousClock.now - start).nanosecondsClamped)
            return value
        } catch is _TimedOut {
            _counters.count(.loadTimeout)
            throw TieredCacheError(
                code: .loaderTimedOut,
                message: "the loader of '\(key)' (\(policy.kind)) did not answer within \(DurationText.format(policy.loadTimeout ?? .zero)); raise the kind's loadTimeout (STRATA_CACHE_\(policy.kind.name.uppercased())_LOAD_TIMEOUT) or check the database")
        } catch {
            _counters.count(.loadFailure)
            throw error
        }
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to `Int64`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product &+ attoseconds / 1_000_000_000
    }
}
