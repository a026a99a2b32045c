import StrataRedis

extension L2Cache {
    /// Looks `key` up and, on a miss, tries to take the key's lease in the same round trip
    /// (one Lua script). A granted lease is in ``L2Miss/lease``; pass the miss to
    /// ``set(_:value:ttl:after:)`` to write the loaded value back. The write-back succeeds
    /// only if the lease is still there (no exact invalidation, not expired) and no
    /// covering generation changed.
    public func get<T: Decodable & Sendable>(_ key: String, as type: T.Type = T.self, lease: Bool) async throws(L2Error) -> L2Lookup<T> {
        guard lease else { return try await get(key, as: type) }
        let plan = try plan(key)
        return await leaseLookup(plan, token: Self.makeToken(), as: type)
    }

    /// Returns the value of `key` from Redis, or runs `loader` under the key's lease and
    /// writes its value back unless the key was invalidated meanwhile (stale-set
    /// protection). When another instance holds the lease, waits up to
    /// ``L2Configuration/leaseWaitBudget`` for its value, then asks `contended` (for example
    /// TieredCache serving a value it may serve), then loads without writing.
    /// With Redis unavailable or the breaker open, simply runs `loader`.
    ///
    /// - Throws: what `loader` throws (the lease is released), ``L2Error`` for a
    ///   malformed key or a value that cannot be encoded or is too large.
    public func load<T: Codable & Sendable>(
        _ key: String, as type: T.Type = T.self, ttl: Duration,
        contended: (() async throws -> T?)? = nil,
        loader: () async throws -> T
    ) async throws -> L2Loaded<T> {
        let plan = try plan(key)
        let token = Self.makeToken()
        let lookup = await leaseLookup(plan, token: token, as: type)
        switch lookup {
        case .hit(let value, _):
            return L2Loaded(value: value, source: .hit)
        case .skipped(let reason):
            counters.count(.load)
            return L2Loaded(value: try await loader(), source: .loaded(write: .skipped(reason)))
        case .miss(let miss) where miss.lease != nil:
            counters.count(.load)
            let value: T
            do {
                value = try await loader()
            } catch {
                _ = await guarded([_Scripts.releaseLease.command(keys: [plan.leaseArgument], arguments: [RedisArgument(token)])])
                throw error
            }
            if let hook = hooks.beforeWriteBack { await hook(key) }
            let outcome: L2WriteOutcome
            do {
                outcome = try await set(key, value: value, ttl: ttl, after: miss)
            } catch {
                _ = await guarded([_Scripts.releaseLease.command(keys: [plan.leaseArgument], arguments: [RedisArgument(token)])])
                throw error
            }
            return L2Loaded(value: value, source: .loaded(write: outcome))
        case .miss:
            // Another instance is loading: wait briefly for its value.
            let clock = ContinuousClock()
            let deadline = clock.now + configuration.leaseWaitBudget
            while clock.now < deadline {
                try await Task.sleep(for: configuration.leaseWaitInterval)
                let polled: L2Lookup<T> = try await get(key, as: type)
                if case .hit(let value, _) = polled { return L2Loaded(value: value, source: .filledByOtherLoader) }
                if case .skipped = polled { break }
            }
            if let contended, let value = try await contended() {
                return L2Loaded(value: value, source: .servedWhileContended)
            }
            counters.count(.load)
            return L2Loaded(value: try await loader(), source: .loaded(write: .skipped(.leaseHeldElsewhere)))
        }
    }

    /// The lease script, run again with `force` when the value found was stale or rejected.
    func leaseLookup<T: Decodable & Sendable>(_ plan: _KeyPlan, token: String, as type: T.Type) async -> L2Lookup<T> {
        var force = false
        while true {
            let command = _Scripts.leaseRead.command(
                keys: [plan.valueArgument, plan.leaseArgument] + plan.generationArguments,
                arguments: [RedisArgument(token), RedisArgument(Self.milliseconds(configuration.leaseTTL)), force ? "1" : "0"])
            let reply: RESPValue
            switch await guarded([command]) {
            case .failure(let reason): return .skipped(reason)
            case .success(let replies): reply = replies[0]
            }
            guard let parts = reply.array, parts.count == 3, let status = parts[1].int else {
                counters.count(.redisFailure)
                return .skipped(.redisFailure("unexpected lease script reply: \(reply)"))
            }
            let current = Self.generations(from: parts[2], count: plan.generationKeys.count)
            if status == -1 {
                var rejected = false
                let lookup: L2Lookup<T> = interpret(parts[0], current: current, plan: plan, rejected: &rejected)
                if case .miss = lookup {
                    if rejected, let bytes = rejectedBytes(parts[0]) { await deleteRejected([(plan, bytes)]) }
                    force = true
                    continue
                }
                return lookup
            }
            if !force { counters.count(.miss) }
            let generations = current.map { $0 ?? -1 }
            remember(plan, generations)
            if status == 1 {
                counters.count(.leaseGranted)
                return .miss(L2Miss(key: plan.key, generations: generations, lease: L2Lease(token: token), leaseHeldElsewhere: false))
            }
            counters.count(.leaseContention)
            return .miss(L2Miss(key: plan.key, generations: generations, lease: nil, leaseHeldElsewhere: true))
        }
    }

    static func makeToken() -> String {
        String(UInt64.random(in: .min ... .max), radix: 36) + "." + String(UInt64.random(in: .min ... .max), radix: 36)
    }
}
