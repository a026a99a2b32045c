import Logging
import Metrics
import StrataCore
import StrataRedis
import Synchronization

/// Test and integration hooks of an ``L2Cache``.
public struct L2Hooks: Sendable {
    /// Runs in ``L2Cache/load(_:as:ttl:contended:loader:)`` after the loader returned and
    /// before the write-back script: a test can invalidate the key here (as the worker
    /// would) to force the stale-set race deterministically.
    public var beforeWriteBack: (@Sendable (_ key: String) async -> Void)?

    public init(beforeWriteBack: (@Sendable (_ key: String) async -> Void)? = nil) {
        self.beforeWriteBack = beforeWriteBack
    }
}

/// L2: values in Redis, following the key layout contract with `strata-worker`
/// (docs/l2-key-layout.md), in a versioned, checksummed or authenticated/encrypted
/// envelope (docs/l2.md).
///
/// ```swift
/// let cache = try L2Cache(configuration: try L2Configuration(url: "redis://127.0.0.1:6379"))
/// let decision = try await cache.load("authz:user:42", as: Decision.self, ttl: .seconds(300)) {
///     try await database.decision(user: 42)          // runs on one instance; the others wait
/// }.value
/// switch await cache.get("authz:user:42", as: Decision.self) { ... }
/// try await cache.invalidate(prefix: "authz:team:7:*")
/// await cache.close()
/// ```
///
/// A hit costs one round trip (`GET` + `MGET` of the covering prefixes' generations,
/// pipelined). Redis failures never throw from lookups and writes: they come back as
/// `.skipped` and feed the circuit breaker; while it is open, calls skip Redis at once.
public final class L2Cache: Sendable {
    public let configuration: L2Configuration
    /// The Redis key layout of ``L2Configuration/namespace``.
    public let layout: L2KeyLayout
    let pool: RedisConnectionPool
    let protector: _Protector
    let codec: any L2Codec
    let counters: _Counters
    let hooks: L2Hooks
    let logger: Logger
    private let breaker: Mutex<CircuitBreaker>
    private let origin = ContinuousClock.now
    /// Generation key → last generation seen, so a plain `set` usually needs one round trip.
    private let generationCache = Mutex<[String: Int64]>([:])
    private static let generationCacheLimit = 10_000

    public init(configuration: L2Configuration, hooks: L2Hooks = L2Hooks()) throws(L2Error) {
        guard configuration.maximumConnections >= 1 else {
            throw L2Error(code: .invalidConfiguration, message: "maximumConnections must be at least 1")
        }
        guard configuration.breaker.slidingWindowSize >= 1, configuration.breaker.halfOpenPermittedCalls >= 1,
              configuration.breaker.minimumCalls >= 1 else {
            throw L2Error(code: .invalidConfiguration, message: "breaker window, minimum calls and half-open calls must be at least 1")
        }
        guard configuration.connectionWaitTimeout > .zero, configuration.commandTimeout > .zero, configuration.connectTimeout > .zero else {
            throw L2Error(code: .invalidConfiguration, message: "connectionWaitTimeout, commandTimeout and connectTimeout must be positive")
        }
        guard configuration.namespace.utf8.count > 0 else {
            throw L2Error(code: .invalidConfiguration, message: "the namespace is empty; use the worker's --namespace (default 'strata:')")
        }
        self.configuration = configuration
        self.layout = L2KeyLayout(namespace: configuration.namespace)
        var redis = configuration.redis
        redis.connectTimeout = configuration.connectTimeout
        redis.commandTimeout = configuration.commandTimeout
        self.pool = RedisConnectionPool(configuration: redis, maximumConnections: configuration.maximumConnections,
                                        connectionWaitTimeout: configuration.connectionWaitTimeout, logger: configuration.logger)
        self.protector = try _Protector(configuration.protection)
        self.codec = configuration.codec
        self.counters = _Counters(name: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.hooks = hooks
        self.logger = configuration.logger
        self.breaker = Mutex(CircuitBreaker(configuration: configuration.breaker))
    }

    /// Closes the connection pool.
    public func close() async { await pool.close() }

    /// A snapshot of the counters.
    public var statistics: L2Statistics { counters.snapshot() }

    /// The breaker's current state.
    public var breakerState: CircuitBreaker.State {
        let now = elapsed()
        return breaker.withLock { $0.state(at: now) }
    }

    // MARK: Lookups

    /// Looks `key` up: one round trip (value and covering generations, pipelined).
    ///
    /// - Throws: ``L2Error`` `.invalidKey` only; Redis failures are `.skipped`.
    public func get<T: Decodable & Sendable>(_ key: String, as type: T.Type = T.self) async throws(L2Error) -> L2Lookup<T> {
        let plan = try plan(key)
        switch await guarded(readCommands(plan)) {
        case .failure(let reason):
            return .skipped(reason)
        case .success(let replies):
            let current = Self.generations(from: replies[1], count: plan.generationKeys.count)
            var rejected = false
            let lookup: L2Lookup<T> = interpret(replies[0], current: current, plan: plan, rejected: &rejected)
            if rejected, let bytes = rejectedBytes(replies[0]) { await deleteRejected([(plan, bytes)]) }
            return lookup
        }
    }

    /// Looks several keys up in one round trip (`MGET` of the values, `MGET` of the union
    /// of their covering generations). Results are in the order of `keys`.
    public func getMany<T: Decodable & Sendable>(_ keys: [String], as type: T.Type = T.self) async throws(L2Error) -> [L2Lookup<T>] {
        guard !keys.isEmpty else { return [] }
        let plans = try keys.map { key throws(L2Error) in try plan(key) }
        var generationIndex: [String: Int] = [:]
        var generationKeys: [RedisArgument] = ["MGET"]
        for plan in plans {
            for key in plan.generationKeys where generationIndex[key] == nil {
                generationIndex[key] = generationKeys.count - 1
                generationKeys.append(RedisArgument(key))
            }
        }
        let values: [RedisArgument] = ["MGET"] + plans.map { RedisArgument($0.valueKey) }
        switch await guarded([values, generationKeys]) {
        case .failure(let reason):
            return plans.map { _ in .skipped(reason) }
        case .success(let replies):
            guard let valueReplies = replies[0].array, valueReplies.count == plans.count,
                  let generationReplies = replies[1].array else {
                return plans.map { _ in .skipped(.redisFailure("unexpected MGET reply")) }
            }
            let allGenerations = generationReplies.map(Self.parseGeneration)
            var results: [L2Lookup<T>] = []
            results.reserveCapacity(plans.count)
            var rejected: [(_KeyPlan, [UInt8])] = []
            for (index, plan) in plans.enumerated() {
                let current = plan.generationKeys.map { allGenerations[generationIndex[$0]!] }
                var isRejected = false
                let lookup: L2Lookup<T> = interpret(valueReplies[index], current: current, plan: plan, rejected: &isRejected)
                if isRejected, let bytes = rejectedBytes(valueReplies[index]) { rejected.append((plan, bytes)) }
                results.append(lookup)
            }
            if !rejected.isEmpty { await deleteRejected(rejected) }
            return results
        }
    }

    // MARK: Writes

    /// Stores `value` under `key` for `ttl`, stamped with the covering prefixes' current
    /// generations (read and compared atomically by the write script), and removes any
    /// lease on the key so an in-flight loader cannot overwrite this newer value.
    ///
    /// - Throws: ``L2Error`` `.invalidKey`, `.encodingFailed`, `.valueTooLarge`
    ///   (nothing is written).
    @discardableResult
    public func set<T: Encodable & Sendable>(_ key: String, value: T, ttl: Duration) async throws(L2Error) -> L2WriteOutcome {
        try await setMany([(key, value)], ttl: ttl)[0]
    }

    /// Stores a value loaded after `miss`, only if nothing invalidated the key since:
    /// with the miss's lease (``get(_:as:lease:)``, or `load`), exact-key and prefix
    /// invalidations are both detected; without one, prefix invalidations only.
    @discardableResult
    public func set<T: Encodable & Sendable>(_ key: String, value: T, ttl: Duration, after miss: L2Miss) async throws(L2Error) -> L2WriteOutcome {
        let plan = try plan(key)
        guard miss.key == key else {
            throw L2Error(code: .invalidKey, message: "the miss is for '\(miss.key)', not '\(key)'")
        }
        let payload = try encodePayload(value, key: key)
        let envelope = try makeEnvelope(payload, generations: miss.generations, plan: plan)
        let command: [RedisArgument]
        if let lease = miss.lease {
            command = writeBackCommand(plan, token: lease.token, envelope: envelope, ttl: ttl, generations: miss.generations)
        } else {
            command = fencedSetCommand(plan, envelope: envelope, ttl: ttl, generations: miss.generations)
        }
        switch await guarded([command]) {
        case .failure(let reason):
            return .skipped(reason)
        case .success(let replies):
            return writeOutcome(replies[0])
        }
    }

    /// Stores several values in one pipeline (a second one for keys whose generations
    /// changed since this instance last saw them). Outcomes are in the order of `entries`.
    @discardableResult
    public func setMany<T: Encodable & Sendable>(_ entries: [(key: String, value: T)], ttl: Duration) async throws(L2Error) -> [L2WriteOutcome] {
        guard !entries.isEmpty else { return [] }
        var plans: [_KeyPlan] = []
        var payloads: [[UInt8]] = []
        var generations: [[Int64]] = []
        for entry in entries {
            let plan = try plan(entry.key)
            plans.append(plan)
            payloads.append(try encodePayload(entry.value, key: entry.key))
            generations.append(knownGenerations(plan))
        }
        var outcomes = [L2WriteOutcome?](repeating: nil, count: entries.count)
        var pending = Array(plans.indices)
        for attempt in 0..<3 {
            var commands: [[RedisArgument]] = []
            for index in pending {
                let envelope = try makeEnvelope(payloads[index], generations: generations[index], plan: plans[index])
                commands.append(fencedSetCommand(plans[index], envelope: envelope, ttl: ttl, generations: generations[index]))
            }
            let replies: [RESPValue]
            switch await guarded(commands) {
            case .failure(let reason):
                for index in pending { outcomes[index] = .skipped(reason) }
                return outcomes.map { $0! }
            case .success(let result):
                replies = result
            }
            var next: [Int] = []
            for (position, index) in pending.enumerated() {
                let reply = replies[position]
                if let current = reply.array {
                    let fresh = current.map { Self.parseGeneration($0) ?? -1 }
                    remember(plans[index], fresh)
                    if attempt < 2 { generations[index] = fresh; next.append(index) } else {
                        outcomes[index] = .refusedGenerationChanged
                        counters.count(.writeRefused)
                    }
                } else {
                    outcomes[index] = writeOutcome(reply)
                }
            }
            pending = next
            if pending.isEmpty { break }
        }
        return outcomes.map { $0 ?? .refusedGenerationChanged }
    }

    // MARK: Invalidation

    /// Invalidates one key exactly as the worker does: `UNLINK N v:key N l:key`.
    /// Unlike lookups this throws Redis failures (and ignores the breaker): an
    /// invalidation must not be skipped silently.
    public func invalidate(key: String) async throws {
        let plan = try plan(key)
        _ = try await pool.send(["UNLINK", RedisArgument(plan.valueKey), RedisArgument(plan.leaseKey)])
    }

    /// Invalidates every key under `prefix` (`authz:team:7:*`, or `*` for everything)
    /// exactly as the worker does: `INCR N g:prefix`.
    public func invalidate(prefix: String) async throws {
        if let reason = LogicalKey.validate(prefix) { throw L2Error(code: .invalidKey, message: reason) }
        guard LogicalKey.isPrefix(prefix) else {
            throw L2Error(code: .invalidKey, message: "'\(prefix)' is not a prefix; prefixes end in ':*' (or are '*')")
        }
        let generationKey = layout.generationKey(prefix)
        let reply = try await pool.send(["INCR", RedisArgument(generationKey)])
        if let value = reply.int { rememberGeneration(generationKey, value) }
    }

    // MARK: Internals

    /// The Redis keys of one logical key.
    struct _KeyPlan: Sendable {
        let key: String
        let valueKey: String
        let leaseKey: String
        let generationKeys: [String]
    }

    func plan(_ key: String) throws(L2Error) -> _KeyPlan {
        if let reason = LogicalKey.validate(key) { throw L2Error(code: .invalidKey, message: reason) }
        guard !LogicalKey.isPrefix(key) else {
            throw L2Error(code: .invalidKey, message: "'\(key)' is a prefix; values are stored under keys (use invalidate(prefix:) for prefixes)")
        }
        let prefixes = LogicalKey.coveringPrefixes(of: key)
        guard prefixes.count <= 255 else {
            throw L2Error(code: .invalidKey, message: "the key '\(key.prefix(64))…' has more than 255 segments")
        }
        return _KeyPlan(key: key, valueKey: layout.valueKey(key), leaseKey: layout.leaseKey(key),
                        generationKeys: prefixes.map(layout.generationKey))
    }

    func readCommands(_ plan: _KeyPlan) -> [[RedisArgument]] {
        var mget: [RedisArgument] = ["MGET"]
        mget.reserveCapacity(1 + plan.generationKeys.count)
        for key in plan.generationKeys { mget.append(RedisArgument(key)) }
        return [["GET", RedisArgument(plan.valueKey)], mget]
    }

    func fencedSetCommand(_ plan: _KeyPlan, envelope: [UInt8], ttl: Duration, generations: [Int64]) -> [RedisArgument] {
        _Scripts.fencedSet.command(
            keys: [RedisArgument(plan.valueKey), RedisArgument(plan.leaseKey)] + plan.generationKeys.map { RedisArgument($0) },
            arguments: [RedisArgument(envelope), RedisArgument(Self.milliseconds(ttl))] + generations.map { RedisArgument($0) })
    }

    func writeBackCommand(_ plan: _KeyPlan, token: String, envelope: [UInt8], ttl: Duration, generations: [Int64]) -> [RedisArgument] {
        _Scripts.writeBack.command(
            keys: [RedisArgument(plan.valueKey), RedisArgument(plan.leaseKey)] + plan.generationKeys.map { RedisArgument($0) },
            arguments: [RedisArgument(token), RedisArgument(envelope), RedisArgument(Self.milliseconds(ttl))]
                + generations.map { RedisArgument($0) })
    }

    func writeOutcome(_ reply: RESPValue) -> L2WriteOutcome {
        switch reply {
        case .integer(1):
            counters.count(.write)
            return .stored
        case .integer(0):
            counters.count(.writeRefused)
            return .refusedLeaseLost
        case .integer(-1), .array:
            counters.count(.writeRefused)
            return .refusedGenerationChanged
        case .error(let error):
            counters.count(.redisFailure)
            return .skipped(.redisFailure("\(error)"))
        default:
            counters.count(.redisFailure)
            return .skipped(.redisFailure("unexpected reply \(reply)"))
        }
    }

    func encodePayload<T: Encodable>(_ value: T, key: String) throws(L2Error) -> [UInt8] {
        do {
            return try codec.encode(value)
        } catch {
            throw L2Error(code: .encodingFailed, message: "cannot encode the value of '\(key)' with codec \(codec.id): \(error)")
        }
    }

    func makeEnvelope(_ payload: [UInt8], generations: [Int64], plan: _KeyPlan) throws(L2Error) -> [UInt8] {
        let envelope = _Envelope.encode(
            payload: payload, codec: codec.id, generations: generations, writtenAtMilliseconds: _Envelope.nowMilliseconds(),
            redisKey: plan.valueKey, protector: protector, compressionThreshold: configuration.compressionThreshold)
        guard envelope.count <= configuration.maximumValueSize else {
            throw L2Error(code: .valueTooLarge, message: "the value of '\(plan.key)' takes \(envelope.count) bytes after compression, "
                + "more than maximumValueSize (\(configuration.maximumValueSize)); nothing was written")
        }
        return envelope
    }

    /// Decides hit / miss for one value reply against the current generations.
    func interpret<T: Decodable & Sendable>(_ reply: RESPValue, current: [Int64?], plan: _KeyPlan) -> L2Lookup<T> {
        var rejected = false
        return interpret(reply, current: current, plan: plan, rejected: &rejected)
    }

    /// As above; `rejected` tells whether the value was rejected (and should be deleted).
    func interpret<T: Decodable & Sendable>(_ reply: RESPValue, current: [Int64?], plan: _KeyPlan, rejected: inout Bool) -> L2Lookup<T> {
        let generations = current.map { $0 ?? -1 }
        func miss() -> L2Lookup<T> {
            counters.count(.miss)
            return .miss(L2Miss(key: plan.key, generations: generations, lease: nil, leaseHeldElsewhere: false))
        }
        switch decode(reply, current: current, plan: plan, as: T.self) {
        case .valid(let value, let info):
            counters.count(.hit)
            remember(plan, generations)
            return .hit(value, info)
        case .absent:
            remember(plan, generations)
            return miss()
        case .stale:
            counters.count(.staleMiss)
            remember(plan, generations)
            return miss()
        case .rejected(let reason):
            rejected = true
            counters.rejected(reason)
            logger.warning("rejected an L2 entry", metadata: ["key": "\(plan.valueKey)", "reason": "\(reason.rawValue)"])
            return miss()
        }
    }

    enum _Decoded<T> {
        case valid(T, L2EntryInfo)
        case absent
        case stale
        case rejected(_Envelope.Rejection)
    }

    func decode<T: Decodable>(_ reply: RESPValue, current: [Int64?], plan: _KeyPlan, as type: T.Type) -> _Decoded<T> {
        let bytes: [UInt8]
        switch reply {
        case .null: return .absent
        case .bulk(let value): bytes = value
        case .error: return .rejected(.wrongType)
        default: return .rejected(.wrongType)
        }
        do throws(_Envelope.Rejection) {
            guard bytes.count <= configuration.maximumValueSize else { throw .truncated }
            let header = try _Envelope.parseHeader(bytes)
            if header.generationCount == current.count {
                for index in 0..<current.count where current[index] != header.generation(index, in: bytes) {
                    return .stale
                }
            }
            let payload = try _Envelope.openPayload(bytes, header: header, redisKey: plan.valueKey, protector: protector,
                                                    maximumSize: configuration.maximumValueSize)
            // Authentic, but stamped for a different number of prefixes: not ours to trust.
            guard header.generationCount == current.count else { throw .forged }
            guard let decoder = Self.decoder(for: header.codec, configured: codec) else { throw .codecMismatch }
            let value: T
            do { value = try decoder.decode(T.self, from: payload) } catch { throw .undecodable }
            let stamped = (0..<header.generationCount).map { header.generation($0, in: bytes) }
            return .valid(value, L2EntryInfo(writtenAtMilliseconds: header.writtenAtMilliseconds, generations: stamped))
        } catch {
            return .rejected(error)
        }
    }

    /// The codec that reads entries stamped with codec `id`: the configured one, or a
    /// built-in one (so changing the codec keeps existing entries readable).
    static func decoder(for id: UInt8, configured: any L2Codec) -> (any L2Codec)? {
        if id == configured.id { return configured }
        switch id {
        case 1: return L2PropertyListCodec()
        case 2: return L2JSONCodec()
        case 3: return L2BinaryCodec()
        default: return nil
        }
    }

    /// The bytes of a reply that `interpret` rejected (to delete it only if unchanged).
    func rejectedBytes(_ reply: RESPValue) -> [UInt8]? {
        switch reply {
        case .bulk(let bytes): return bytes
        case .error: return []   // not a string: delete unconditionally
        default: return nil
        }
    }

    /// Deletes rejected values (only if they still hold the rejected bytes).
    func deleteRejected(_ entries: [(_KeyPlan, [UInt8])]) async {
        let commands: [[RedisArgument]] = entries.compactMap { plan, bytes in
            if bytes.isEmpty { return ["UNLINK", RedisArgument(plan.valueKey)] }
            return _Scripts.deleteIfEqual.command(keys: [RedisArgument(plan.valueKey)], arguments: [RedisArgument(bytes)])
        }
        _ = await guarded(commands)
    }

    static func generations(from reply: RESPValue, count: Int) -> [Int64?] {
        guard let values = reply.array, values.count == count else { return Array(repeating: nil, count: count) }
        return values.map(parseGeneration)
    }

    /// A generation as stored by `INCR`: absent = 0; anything unparsable = nil (never matches).
    static func parseGeneration(_ reply: RESPValue) -> Int64? {
        switch reply {
        case .null: return 0
        case .integer(let value): return value
        case .bulk(let bytes):
            guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
            var value: Int64 = 0
            var negative = false
            for (index, byte) in bytes.enumerated() {
                if index == 0, byte == UInt8(ascii: "-"), bytes.count > 1 { negative = true; continue }
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return negative ? -value : value
        default: return nil
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    // MARK: Generation cache

    func knownGenerations(_ plan: _KeyPlan) -> [Int64] {
        generationCache.withLock { cache in plan.generationKeys.map { cache[$0] ?? 0 } }
    }

    func remember(_ plan: _KeyPlan, _ generations: [Int64]) {
        guard generations.count == plan.generationKeys.count else { return }
        generationCache.withLock { cache in
            if cache.count >= Self.generationCacheLimit { cache.removeAll(keepingCapacity: true) }
            for (key, generation) in zip(plan.generationKeys, generations) where generation >= 0 { cache[key] = generation }
        }
    }

    func rememberGeneration(_ key: String, _ generation: Int64) {
        generationCache.withLock { cache in cache[key] = generation }
    }

    // MARK: Breaker and execution

    func elapsed() -> Duration { ContinuousClock.now - origin }

    /// Runs `commands` as one pipeline through the breaker.
    func guarded(_ commands: [[RedisArgument]]) async -> _Replies {
        guard permit() else { return .failure(.circuitOpen) }
        do {
            let replies = try await execute(commands)
            record(success: true)
            return .success(replies)
        } catch is CancellationError {
            record(success: true)
            return .failure(.redisFailure("cancelled"))
        } catch {
            record(success: false)
            counters.count(.redisFailure)
            if let error = error as? RedisError, error.code == .poolTimeout { counters.count(.poolTimeout) }
            logger.debug("L2 Redis call failed", metadata: ["error": "\(error)"])
            return .failure(.redisFailure("\(error)"))
        }
    }

    enum _Replies {
        case success([RESPValue])
        case failure(L2SkipReason)
    }

    func permit() -> Bool {
        let now = elapsed()
        let permitted = breaker.withLock { $0.acquire(now: now) }
        if !permitted { counters.count(.skippedCircuitOpen) }
        return permitted
    }

    func record(success: Bool) {
        let now = elapsed()
        let opened = breaker.withLock { breaker -> Bool in
            let before = breaker.openings
            breaker.record(success: success, now: now)
            return breaker.openings > before
        }
        if opened {
            counters.count(.breakerOpening)
            logger.warning("L2 circuit breaker opened; Redis calls are skipped for \(configuration.breaker.breakDuration)")
        }
    }

    /// One pipeline (or one command), retrying EVALSHA that hit NOSCRIPT as EVAL.
    func execute(_ commands: [[RedisArgument]]) async throws -> [RESPValue] {
        var replies = try await pool.pipeline(commands)
        let retry = Self.noScriptIndices(commands, replies)
        if !retry.isEmpty {
            let again = try await pool.pipeline(retry.map { Self.evalFallback(commands[$0]) })
            for (position, index) in retry.enumerated() { replies[index] = again[position] }
        }
        return replies
    }

    static func noScriptIndices(_ commands: [[RedisArgument]], _ replies: [RESPValue]) -> [Int] {
        replies.indices.filter { index in
            if case .error(let error) = replies[index], error.prefix == "NOSCRIPT" { return true }
            return false
        }
    }

    static let scriptsBySHA: [[UInt8]: _Script] = {
        var all: [[UInt8]: _Script] = [:]
        for script in [_Scripts.leaseRead, _Scripts.writeBack, _Scripts.fencedSet, _Scripts.deleteIfEqual, _Scripts.releaseLease] {
            all[Array(script.sha.utf8)] = script
        }
        return all
    }()

    static func evalFallback(_ command: [RedisArgument]) -> [RedisArgument] {
        guard command.count >= 2, let script = scriptsBySHA[command[1].bytes] else { return command }
        return script.fallback(command)
    }
}
