import Logging
import StrataL2

extension TieredCache {
    /// The values of several keys: L1 first, then one L2 round trip (`MGET`) for the rest,
    /// then one call of `loader` for what is still missing. Keys the loader does not
    /// return are absent (cached for the policy's ``CachePolicy/negativeTTL``, if any).
    ///
    /// Loads are single-flight with `get`/`find` of the same keys, fenced against
    /// invalidations as theirs are, and written back to L2 under each key's lease (the
    /// L2 misses take their leases concurrently before the loader runs).
    ///
    /// ```swift
    /// let decisions = try await cache.getMany(keys, policy: policy) { missing in
    ///     try await database.decisions(for: missing)          // one query for all of them
    /// }
    /// ```
    ///
    /// - Returns: the values found, by key.
    /// - Throws: the loader's error (fail-safe policies serve stale values for the keys
    ///   that have one and throw only if some key has none).
    public func getMany(
        _ keys: [CacheKey], policy: CachePolicy, tags: [String] = [],
        loader: @escaping @Sendable ([CacheKey]) async throws -> [CacheKey: Value]
    ) async throws -> [CacheKey: Value] {
        var result: [CacheKey: Value] = [:]
        var seen = Set<CacheKey>()
        let unique = keys.filter { seen.insert($0).inserted }
        let layers = _layers(policy)
        if layers.bypass {
            _counters.count(.failClosedBypass, unique.count)
            return try await _loadMany(unique, policy, loader)
        }
        var pending: [CacheKey] = []
        for key in unique {
            if layers.l1TTL != nil, case .some(let stored) = _l1Lookup(key.text) {
                if let value = stored { result[key] = value }
                continue
            }
            pending.append(key)
        }
        guard !pending.isEmpty else { return result }
        var waits: [(CacheKey, _Flight<Value>)] = []
        var leads: [(CacheKey, _Flight<Value>)] = []
        let now = _l1.now().nanoseconds
        for key in pending {
            let join = _flights.join(key.text, tags: tags, now: now) { () -> Value?? in
                guard layers.l1TTL != nil else { return nil }
                return _l1.entry(key.text).map { $0.value }
            }
            switch join {
            case .cached(let value): if let value { result[key] = value }
            case .wait(let flight): waits.append((key, flight))
            case .lead(let flight): leads.append((key, flight))
            }
        }
        if !waits.isEmpty { _counters.count(.joined, waits.count) }
        if !leads.isEmpty {
            for (key, value) in try await _leadMany(leads, policy, layers, tags, loader) {
                if let value { result[key] = value }
            }
        }
        for (key, flight) in waits {
            if let value = try await flight.wait() { result[key] = value }
        }
        return result
    }

    /// Loads the led keys below L1 and ends their flights.
    func _leadMany(
        _ leads: [(CacheKey, _Flight<Value>)], _ policy: CachePolicy, _ layers: _Layers, _ tags: [String],
        _ loader: @escaping @Sendable ([CacheKey]) async throws -> [CacheKey: Value]
    ) async throws -> [CacheKey: Value?] {
        var outcomes: [CacheKey: (value: Value?, storable: Bool)] = [:]
        var leased: [CacheKey: L2Miss] = [:]
        do {
            var needLoad: [CacheKey] = []
            if layers.l2, let l2, let l2TTL = policy.l2TTL {
                let start = ContinuousClock.now
                let lookups = try await l2.getMany(leads.map(\.0.text), as: Value?.self)
                _counters.recordL2(nanoseconds: (ContinuousClock.now - start).nanosecondsClamped)
                var missed: [CacheKey] = []
                for ((key, _), lookup) in zip(leads, lookups) {
                    switch lookup {
                    case .hit(let value, _):
                        _counters.count(.l2Hit)
                        outcomes[key] = (value, true)
                    case .miss:
                        _counters.count(.l2Miss)
                        missed.append(key)
                    case .skipped:
                        _counters.count(.l2Skipped)
                        needLoad.append(key)
                    }
                }
                // Leases for the misses (one round trip each, concurrently), so that the
                // write-backs are refused if the worker invalidates a key meanwhile.
                let leaseLookups = await withTaskGroup(of: (CacheKey, L2Lookup<Value?>?).self) { group in
                    for key in missed {
                        group.addTask { (key, try? await l2.get(key.text, as: Value?.self, lease: true)) }
                    }
                    var all: [(CacheKey, L2Lookup<Value?>?)] = []
                    for await item in group { all.append(item) }
                    return all
                }
                for (key, lookup) in leaseLookups {
                    switch lookup {
                    case .hit(let value, _)?:
                        outcomes[key] = (value, true)
                    case .miss(let miss)? where miss.lease != nil:
                        leased[key] = miss
                        needLoad.append(key)
                    default:
                        needLoad.append(key)   // held elsewhere or Redis failing: load, write nothing
                    }
                }
                if !needLoad.isEmpty {
                    let loaded = try await _loadMany(needLoad, policy, loader)
                    if let hook = hooks.afterLoad { for key in needLoad { await hook(key.text) } }
                    let writes = needLoad.compactMap { key in leased[key].map { (key, $0, loaded[key]) } }
                    for key in needLoad where leased[key] == nil { outcomes[key] = (loaded[key], true) }
                    let written = await withTaskGroup(of: (CacheKey, Value?, Bool).self) { group in
                        for (key, miss, value) in writes {
                            group.addTask {
                                (key, value, await self._writeBack(key.text, value, policy: policy, l2TTL: l2TTL, after: miss, l2))
                            }
                        }
                        var all: [(CacheKey, Value?, Bool)] = []
                        for await item in group { all.append(item) }
                        return all
                    }
                    leased = [:]
                    for (key, value, storable) in written { outcomes[key] = (value, storable) }
                }
            } else {
                let keys = leads.map(\.0)
                let loaded = try await _loadMany(keys, policy, loader)
                if let hook = hooks.afterLoad { for key in keys { await hook(key.text) } }
                for key in keys { outcomes[key] = (loaded[key], true) }
            }
        } catch {
            if let l2 { for key in leased.keys { await _releaseLease(key.text, l2) } }
            return try _failMany(leads, outcomes, policy, layers, tags, error)
        }
        var result: [CacheKey: Value?] = [:]
        for (key, flight) in leads {
            let outcome = outcomes[key] ?? (nil, false)
            _finish(key.text, flight, value: outcome.value, storable: outcome.storable, policy: policy, layers: layers, tags: tags)
            flight.resolve(.success(outcome.value))
            result[key] = outcome.value
        }
        return result
    }

    /// After a failed batch load: keys answered by L2 keep their values, fail-safe keys
    /// get their stale values, the others fail.
    func _failMany(
        _ leads: [(CacheKey, _Flight<Value>)], _ outcomes: [CacheKey: (value: Value?, storable: Bool)],
        _ policy: CachePolicy, _ layers: _Layers, _ tags: [String], _ error: any Error
    ) throws -> [CacheKey: Value?] {
        var result: [CacheKey: Value?] = [:]
        var failed = false
        for (key, flight) in leads {
            if let outcome = outcomes[key] {
                _finish(key.text, flight, value: outcome.value, storable: outcome.storable, policy: policy, layers: layers, tags: tags)
                flight.resolve(.success(outcome.value))
                result[key] = outcome.value
                continue
            }
            _flights.finish(key.text, flight) { _ in }
            if policy.failSafe != nil, case .some(let stale) = _staleValue(key.text) {
                _counters.count(.staleServed)
                flight.resolve(.success(stale))
                result[key] = stale
            } else {
                flight.resolve(.failure(error))
                failed = true
            }
        }
        if failed { throw error }
        logger.warning("served stale values: the loader failed", metadata: ["kind": "\(policy.kind)", "error": "\(error)"])
        return result
    }

    /// One call of a batch loader with the policy's hard timeout.
    func _loadMany(
        _ keys: [CacheKey], _ policy: CachePolicy, _ loader: @escaping @Sendable ([CacheKey]) async throws -> [CacheKey: Value]
    ) async throws -> [CacheKey: Value] {
        guard !keys.isEmpty else { return [:] }
        _counters.count(.load)
        let start = ContinuousClock.now
        do {
            let loaded: [CacheKey: Value]
            if let timeout = policy.loadTimeout {
                loaded = try await _withTimeout(timeout) { try await loader(keys) }
            } else {
                loaded = try await loader(keys)
            }
            _counters.recordL3(nanoseconds: (ContinuousClock.now - start).nanosecondsClamped)
            return loaded
        } catch is _TimedOut {
            _counters.count(.loadTimeout)
            throw TieredCacheError(
                code: .loaderTimedOut,
                message: "the batch loader of \(keys.count) keys (\(policy.kind)) did not answer within \(DurationText.format(policy.loadTimeout ?? .zero))")
        } catch {
            _counters.count(.loadFailure)
            throw error
        }
    }
}
