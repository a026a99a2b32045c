import StrataRedis

extension L2Cache {
    /// Blocking lookup on `connection` from the caller's own thread (`pipelineSync`: no
    /// thread hop, one round trip). For dedicated threads and benchmarks; never call it
    /// from a Swift concurrency task. Uses the same breaker, codec and verification as
    /// ``get(_:as:)``; a rejected value is deleted on the same connection.
    public func getSync<T: Decodable & Sendable>(_ key: String, as type: T.Type = T.self, on connection: RedisConnection) throws(L2Error) -> L2Lookup<T> {
        let plan = try plan(key)
        switch guardedSync(readCommands(plan), on: connection) {
        case .failure(let reason):
            return .skipped(reason)
        case .success(let replies):
            let current = Self.generations(from: replies[1], count: plan.generationKeys.count)
            var rejected = false
            let lookup: L2Lookup<T> = interpret(replies[0], current: current, plan: plan, rejected: &rejected)
            if rejected, let bytes = rejectedBytes(replies[0]) { deleteRejectedSync([(plan, bytes)], on: connection) }
            return lookup
        }
    }

    /// Blocking ``getMany(_:as:)`` on `connection`; see ``getSync(_:as:on:)``.
    @_specialize(where T == [UInt8])   // blobs: a caller in another module would run the generic code
    public func getManySync<T: Decodable & Sendable>(_ keys: [String], as type: T.Type = T.self, on connection: RedisConnection) throws(L2Error) -> [L2Lookup<T>] {
        guard !keys.isEmpty else { return [] }
        let batch = try readBatch(keys)
        switch guardedRawSync(batch.commands, on: connection) {
        case .failure(let reason):
            return batch.plans.map { _ in .skipped(reason) }
        case .success(let replies):
            var rejected: [(_KeyPlan, [UInt8])] = []
            let results: [L2Lookup<T>] = interpret(batch, replies, rejected: &rejected)
            if !rejected.isEmpty { deleteRejectedSync(rejected, on: connection) }
            return results
        }
    }

    /// Blocking ``set(_:value:ttl:)`` on `connection`; see ``getSync(_:as:on:)``.
    @discardableResult
    public func setSync<T: Encodable & Sendable>(_ key: String, value: T, ttl: Duration, on connection: RedisConnection) throws(L2Error) -> L2WriteOutcome {
        let plan = try plan(key)
        let payload = try encodePayload(value, key: key)
        var generations = knownGenerations(plan)
        for attempt in 0... {
            switch guardedSync(try singleWriteCommands(plan, payload: payload, generations: generations, ttl: ttl), on: connection) {
            case .failure(let reason):
                return .skipped(reason)
            case .success(let replies):
                switch singleWriteResult(plan, replies, generations: generations, attempt: attempt) {
                case .done(let outcome): return outcome
                case .retry(let fresh): generations = fresh
                }
            }
        }
        fatalError("unreachable")
    }

    /// Blocking ``setMany(_:ttl:)`` on `connection`; see ``getSync(_:as:on:)``.
    @discardableResult
    @_specialize(where T == [UInt8])   // blobs: a caller in another module would run the generic code
    public func setManySync<T: Encodable & Sendable>(_ entries: [(key: String, value: T)], ttl: Duration, on connection: RedisConnection) throws(L2Error) -> [L2WriteOutcome] {
        guard !entries.isEmpty else { return [] }
        var batch = try writeBatch(entries)
        while !batch.isDone {
            let commands = try writeCommands(&batch, ttl: ttl)
            switch guardedRawSync(commands, on: connection) {
            case .failure(let reason): fail(&batch, reason)
            case .success(let replies): apply(&batch, replies)
            }
        }
        return batch.outcomes
    }

    /// One pipeline on `connection` through the breaker, retrying EVALSHA that hit
    /// NOSCRIPT as EVAL.
    func guardedSync(_ commands: [[RedisArgument]], on connection: RedisConnection) -> _Replies {
        throughBreakerSync {
            var replies = try connection.pipelineSync(commands)
            let retry = Self.noScriptIndices(commands, replies)
            if !retry.isEmpty {
                let again = try connection.pipelineSync(retry.map { Self.evalFallback(commands[$0]) })
                for (position, index) in retry.enumerated() { replies[index] = again[position] }
            }
            return replies
        }
    }

    /// Formatted commands (no scripts among them) on `connection` through the breaker.
    func guardedSync(_ commands: RedisCommandBuffer, on connection: RedisConnection) -> _Replies {
        throughBreakerSync { try connection.pipelineSync(commands) }
    }

    /// Formatted commands on `connection` through the breaker, the replies as received.
    func guardedRawSync(_ commands: RedisCommandBuffer, on connection: RedisConnection) -> _RawReplies {
        throughBreakerSync { try connection.rawPipelineSync(commands) }
    }

    func deleteRejectedSync(_ entries: [(_KeyPlan, [UInt8])], on connection: RedisConnection) {
        let commands: [[RedisArgument]] = entries.map { plan, bytes in
            if bytes.isEmpty { return ["UNLINK", plan.valueArgument] }
            return _Scripts.deleteIfEqual.command(keys: [plan.valueArgument], arguments: [RedisArgument(bytes)])
        }
        _ = guardedSync(commands, on: connection)
    }
}
