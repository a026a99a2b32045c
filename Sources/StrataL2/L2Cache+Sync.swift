import StrataRedis

extension L2Cache {
    /// Blocking lookup on `connection` from the caller's own thread (`pipelineSync`: no
    /// thread hop, one round trip). For dedicated threads and benchmarks; never call it
    /// from a Swift concurrency task. Uses the same breaker, codec and verification as
    /// ``get(_:as:)``; a rejected value is deleted on the same connection.
    public func getSync<T: Decodable & Sendable>(_ key: String, as type: T.Type = T.self, on connection: RedisConnection) throws(L2Error) -> L2Lookup<T> {
        let plan = try plan(key)
        guard permit() else { return .skipped(.circuitOpen) }
        let replies: [RESPValue]
        do {
            replies = try connection.pipelineSync(readCommands(plan))
            record(success: true)
        } catch {
            record(success: false)
            counters.count(.redisFailure)
            return .skipped(.redisFailure("\(error)"))
        }
        let current = Self.generations(from: replies[1], count: plan.generationKeys.count)
        var rejected = false
        let lookup: L2Lookup<T> = interpret(replies[0], current: current, plan: plan, rejected: &rejected)
        if rejected, let bytes = rejectedBytes(replies[0]) {
            let command: [RedisArgument] = bytes.isEmpty
                ? ["UNLINK", RedisArgument(plan.valueKey)]
                : _Scripts.deleteIfEqual.command(keys: [RedisArgument(plan.valueKey)], arguments: [RedisArgument(bytes)])
            if case .error(let error)? = try? connection.pipelineSync([command]).first, error.prefix == "NOSCRIPT" {
                _ = try? connection.pipelineSync([Self.evalFallback(command)])
            }
        }
        return lookup
    }

    /// Blocking ``set(_:value:ttl:)`` on `connection`; see ``getSync(_:as:on:)``.
    @discardableResult
    public func setSync<T: Encodable & Sendable>(_ key: String, value: T, ttl: Duration, on connection: RedisConnection) throws(L2Error) -> L2WriteOutcome {
        let plan = try plan(key)
        let payload = try encodePayload(value, key: key)
        var generations = knownGenerations(plan)
        for _ in 0..<3 {
            let envelope = try makeEnvelope(payload, generations: generations, plan: plan)
            let command = fencedSetCommand(plan, envelope: envelope, ttl: ttl, generations: generations)
            guard permit() else { return .skipped(.circuitOpen) }
            var reply: RESPValue
            do {
                reply = try connection.pipelineSync([command])[0]
                if case .error(let error) = reply, error.prefix == "NOSCRIPT" {
                    reply = try connection.pipelineSync([Self.evalFallback(command)])[0]
                }
                record(success: true)
            } catch {
                record(success: false)
                counters.count(.redisFailure)
                return .skipped(.redisFailure("\(error)"))
            }
            guard let current = reply.array else { return writeOutcome(reply) }
            generations = current.map { Self.parseGeneration($0) ?? -1 }
            remember(plan, generations)
        }
        counters.count(.writeRefused)
        return .refusedGenerationChanged
    }
}
