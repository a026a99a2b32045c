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
    /// The configured codec is ``L2BinaryCodec`` (its payloads are decoded in place).
    let codecIsBinary: Bool
    let counters: _Counters
    let hooks: L2Hooks
    let logger: Logger
    private let breaker: Mutex<CircuitBreaker>
    private let origin = ContinuousClock.now
    /// Plans of recent keys and the generations last seen, so a lookup builds nothing and a
    /// plain `set` usually needs one round trip.
    let memo = _KeyMemo()

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
        self.codecIsBinary = configuration.codec is L2BinaryCodec
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
    @_specialize(where T == [UInt8])   // blobs: a caller in another module would run the generic code
    public func getMany<T: Decodable & Sendable>(_ keys: [String], as type: T.Type = T.self) async throws(L2Error) -> [L2Lookup<T>] {
        guard !keys.isEmpty else { return [] }
        let batch = try readBatch(keys)
        switch await guardedRaw(batch.commands) {
        case .failure(let reason):
            return batch.plans.map { _ in .skipped(reason) }
        case .success(let replies):
            var rejected: [(_KeyPlan, [UInt8])] = []
            let results: [L2Lookup<T>] = interpret(batch, replies, rejected: &rejected)
            if !rejected.isEmpty { await deleteRejected(rejected) }
            return results
        }
    }

    // MARK: Writes

    /// Stores `value` under `key` for `ttl`, stamped with the covering prefixes' current
    /// generations (docs/l2.md, "Writes and generations"). Replacing the value voids any
    /// lease taken over the old one, so an in-flight loader cannot overwrite this newer
    /// value.
    ///
    /// - Throws: ``L2Error`` `.invalidKey`, `.encodingFailed`, `.valueTooLarge`
    ///   (nothing is written).
    @discardableResult
    public func set<T: Encodable & Sendable>(_ key: String, value: T, ttl: Duration) async throws(L2Error) -> L2WriteOutcome {
        let plan = try plan(key)
        let payload = try encodePayload(value, key: key)
        var generations = knownGenerations(plan)
        for attempt in 0... {
            switch await guarded(try singleWriteCommands(plan, payload: payload, generations: generations, ttl: ttl)) {
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
    @_specialize(where T == [UInt8])   // blobs: a caller in another module would run the generic code
    public func setMany<T: Encodable & Sendable>(_ entries: [(key: String, value: T)], ttl: Duration) async throws(L2Error) -> [L2WriteOutcome] {
        guard !entries.isEmpty else { return [] }
        var batch = try writeBatch(entries)
        while !batch.isDone {
            let commands = try writeCommands(&batch, ttl: ttl)
            switch await guardedRaw(commands) {
            case .failure(let reason): fail(&batch, reason)
            case .success(let replies): apply(&batch, replies)
            }
        }
        return batch.outcomes
    }

    // MARK: Invalidation

    /// Invalidates one key exactly as the worker does: `UNLINK N v:key N l:key`.
    /// Unlike lookups this throws Redis failures (and ignores the breaker): an
    /// invalidation must not be skipped silently.
    public func invalidate(key: String) async throws {
        let plan = try plan(key)
        _ = try await pool.send(["UNLINK", plan.valueArgument, plan.leaseArgument])
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
        if let value = reply.int { memo.remember(generationKey: generationKey, value) }
    }

    // MARK: Internals

    func plan(_ key: String) throws(L2Error) -> _KeyPlan {
        try memo.plan(key, layout: layout)
    }

    func readCommands(_ plan: _KeyPlan) -> [[RedisArgument]] { plan.readCommands }

    static let get = RedisArgument("GET")
    static let mget = RedisArgument("MGET")

    func fencedSetCommand(_ plan: _KeyPlan, envelope: [UInt8], ttl: Duration, generations: [Int64]) -> [RedisArgument] {
        _Scripts.fencedSet.command(
            keys: [plan.valueArgument] + plan.generationArguments,
            arguments: [RedisArgument(envelope), RedisArgument(Self.milliseconds(ttl))] + generations.map { RedisArgument($0) })
    }

    func writeBackCommand(_ plan: _KeyPlan, token: String, envelope: [UInt8], ttl: Duration, generations: [Int64]) -> [RedisArgument] {
        _Scripts.writeBack.command(
            keys: [plan.valueArgument, plan.leaseArgument] + plan.generationArguments,
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

    func makeEnvelope(_ payload: [UInt8], generations: [Int64], plan: _KeyPlan,
                      now: Int64 = _Envelope.nowMilliseconds()) throws(L2Error) -> [UInt8] {
        let envelope = _Envelope.encode(
            payload: payload, codec: codec.id, generations: generations, writtenAtMilliseconds: now,
            redisKey: plan.valueArgument.bytes, protector: protector, compressionThreshold: configuration.compressionThreshold)
        guard envelope.count <= configuration.maximumValueSize else { throw valueTooLarge(plan, envelope.count) }
        return envelope
    }

    func valueTooLarge(_ plan: _KeyPlan, _ size: Int) -> L2Error {
        L2Error(code: .valueTooLarge, message: "the value of '\(plan.key)' takes \(size) bytes after compression, "
            + "more than maximumValueSize (\(configuration.maximumValueSize)); nothing was written")
    }

    /// Decides hit / miss for one value reply against the current generations.
    func interpret<T: Decodable & Sendable>(_ reply: RESPValue, current: [Int64?], plan: _KeyPlan) -> L2Lookup<T> {
        var rejected = false
        return interpret(reply, current: current, plan: plan, rejected: &rejected)
    }

    /// As above; `rejected` tells whether the value was rejected (and should be deleted).
    func interpret<T: Decodable & Sendable>(_ reply: RESPValue, current: [Int64?], plan: _KeyPlan, rejected: inout Bool) -> L2Lookup<T> {
        var seen: [(_KeyPlan, [Int64])] = []
        let lookup: L2Lookup<T> = interpret(reply, current: current, plan: plan, rejected: &rejected, seen: &seen)
        memo.remember(seen)
        return lookup
    }

    /// As above; the generations read are appended to `seen` for the caller to record.
    func interpret<T: Decodable & Sendable>(_ reply: RESPValue, current: [Int64?], plan: _KeyPlan, rejected: inout Bool,
                                            seen: inout [(_KeyPlan, [Int64])]) -> L2Lookup<T> {
        var complete = true
        let generations = current.map { generation -> Int64 in
            if let generation { return generation }
            complete = false
            return -1
        }
        return interpret(reply, generations: generations, complete: complete, plan: plan, rejected: &rejected, seen: &seen)
    }

    /// As above, with the current generations as read (-1 where unreadable) and whether all
    /// were readable (`complete`); a batch passes a reader to reuse for its payloads.
    func interpret<T: Decodable & Sendable>(_ reply: RESPValue, generations: [Int64], complete: Bool, plan: _KeyPlan, rejected: inout Bool,
                                            seen: inout [(_KeyPlan, [Int64])], reader: _ReaderReuse? = nil) -> L2Lookup<T> {
        var tally = _LookupTally()
        let lookup: L2Lookup<T> = lookup(verify(reply, generations: generations, complete: complete, plan: plan), generations: generations,
                                         plan: plan, rejected: &rejected, seen: &seen, tally: &tally, reader: reader)
        counters.count(tally)
        return lookup
    }

    /// The lookup a verified reply makes: its value decoded (a hit), or a miss; counted in
    /// `tally` (for the caller to add to the counters, once per batch).
    func lookup<T: Decodable & Sendable>(_ verified: _Verified, generations: [Int64], plan: _KeyPlan, rejected: inout Bool,
                                         seen: inout [(_KeyPlan, [Int64])], tally: inout _LookupTally, reader: _ReaderReuse? = nil) -> L2Lookup<T> {
        func miss() -> L2Lookup<T> {
            tally.misses += 1
            return .miss(L2Miss(key: plan.key, generations: generations, lease: nil, leaseHeldElsewhere: false))
        }
        switch verified {
        case .payload(let payload, let range, let codecID, let writtenAt):
            let value: T
            do {
                value = try decodeValue(T.self, payload: payload, range: range, codec: codecID, reader: reader)
            } catch {
                return reject(.undecodable)
            }
            tally.hits += 1
            seen.append((plan, generations))
            // The stamped generations equal the current ones (checked in verify).
            return .hit(value, L2EntryInfo(writtenAtMilliseconds: writtenAt, generations: generations))
        case .absent:
            seen.append((plan, generations))
            return miss()
        case .stale:
            tally.staleMisses += 1
            seen.append((plan, generations))
            return miss()
        case .rejected(let reason):
            return reject(reason)
        }

        func reject(_ reason: _Envelope.Rejection) -> L2Lookup<T> {
            rejected = true
            counters.rejected(reason)
            logger.warning("rejected an L2 entry", metadata: ["key": "\(plan.valueKey)", "reason": "\(reason.rawValue)"])
            return miss()
        }
    }

    /// A value reply checked against the current generations and opened: everything up to
    /// the codec's decode, in code that does not depend on the value's type.
    enum _Verified {
        /// Authentic, current, with a codec that can read it: the payload is `bytes[range]`.
        case payload([UInt8], Range<Int>, codec: UInt8, writtenAtMilliseconds: Int64)
        case absent
        case stale
        case rejected(_Envelope.Rejection)
    }

    /// `generations` are the current ones (-1 where unreadable); `complete`: all were readable.
    func verify(_ reply: RESPValue, generations current: [Int64], complete: Bool, plan: _KeyPlan) -> _Verified {
        switch reply {
        case .null: return .absent
        case .bulk(let bytes): return verify(bytes, entry: bytes.indices, generations: current, complete: complete, plan: plan)
        default: return .rejected(.wrongType)
        }
    }

    /// As above for the value `bytes[entry]` (a string reply).
    func verify(_ bytes: [UInt8], entry: Range<Int>, generations current: [Int64], complete: Bool, plan: _KeyPlan) -> _Verified {
        do throws(_Envelope.Rejection) {
            guard entry.count <= configuration.maximumValueSize else { throw .truncated }
            let header = try _Envelope.parseHeader(bytes, in: entry)
            if header.generationCount == current.count {
                // An unreadable generation never matches.
                guard complete else { return .stale }
                for index in 0..<current.count where current[index] != header.generation(index, in: bytes) {
                    return .stale
                }
            }
            // Unprotected entries need only the key's checksum state, not the key.
            let unprotected = if case .none = protector.mode { true } else { false }
            let (payload, range) = try _Envelope.openPayloadInPlace(bytes, entry: entry, header: header, redisKey: unprotected ? [] : plan.valueArgument.bytes,
                                                                   keyChecksum: plan.keyChecksum, protector: protector, maximumSize: configuration.maximumValueSize)
            // Authentic, but stamped for a different number of prefixes: not ours to trust.
            guard header.generationCount == current.count else { throw .forged }
            guard Self.decoder(for: header.codec, configured: codec) != nil else { throw .codecMismatch }
            return .payload(payload, range, codec: header.codec, writtenAtMilliseconds: header.writtenAtMilliseconds)
        } catch {
            return .rejected(error)
        }
    }

    /// Decodes a verified payload with the codec it was stamped with.
    func decodeValue<T: Decodable>(_ type: T.Type, payload: [UInt8], range: Range<Int>, codec id: UInt8, reader: _ReaderReuse? = nil) throws -> T {
        if id == 3 && (codecIsBinary || codec.id != 3) {
            // In place, no copy.
            if let reader { return try reader.decode(T.self, from: payload, range: range) }
            return try L2BinaryCodec().decode(T.self, from: payload, range: range)
        }
        guard let decoder = Self.decoder(for: id, configured: codec) else { throw _Envelope.Rejection.codecMismatch }
        return try decoder.decode(T.self, from: range == payload.indices ? payload : Array(payload[range]))
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
            if bytes.isEmpty { return ["UNLINK", plan.valueArgument] }
            return _Scripts.deleteIfEqual.command(keys: [plan.valueArgument], arguments: [RedisArgument(bytes)])
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
        case .bulk(let bytes): return parseGeneration(bytes[...])
        default: return nil
        }
    }

    /// As above, for element `reply` of raw replies.
    static func parseGeneration(_ replies: RedisRawReplies, _ reply: RedisRawReplies.Reply, bytes: [UInt8]) -> Int64? {
        switch replies.kind(of: reply) {
        case .null: return 0
        case .integer: return replies.integer(of: reply)
        case .bulk: return parseGeneration(bytes[replies.range(of: reply)!])
        default: return nil
        }
    }

    /// The decimal text of a generation; nil when it is not one.
    static func parseGeneration(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var value: Int64 = 0
        var negative = false
        var index = bytes.startIndex
        if bytes[index] == UInt8(ascii: "-"), bytes.count > 1 {
            negative = true
            index += 1
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + Int64(byte - 48)
            index += 1
        }
        return negative ? -value : value
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    // MARK: Batches

    /// A batch lookup: its plans, its two commands, and where each plan's generations are
    /// in the second reply.
    struct _ReadBatch {
        let plans: [_KeyPlan]
        /// `MGET` of the values, `MGET` of the union of their generation keys.
        let commands: RedisCommandBuffer
        /// Each plan's generations' positions in the second reply, plan after plan
        /// (`plans[i].generationKeys.count` entries each).
        let generationPositions: [Int]
    }

    func readBatch(_ keys: [String]) throws(L2Error) -> _ReadBatch {
        let plans = try memo.plans(keys, layout: layout)
        var commands = RedisCommandBuffer(capacity: keys.count * 48 + 256)
        commands.beginCommand(argumentCount: keys.count + 1)
        commands.appendArgument(Self.mget.bytes)
        var union = _GenerationUnion()
        for plan in plans {
            commands.appendFormattedArguments(UnsafeRawBufferPointer(rebasing: plan.wire[_KeyPlan.valueWireStart..<plan.slotsWireStart]), count: 1)
            union.add(plan)
        }
        commands.append(union.mget)
        return _ReadBatch(plans: plans, commands: commands, generationPositions: union.positions)
    }

    /// The lookups of a batch from its replies (as received: each value is checked and
    /// decoded where it lies in the reply buffer); rejected values are appended to `rejected`.
    func interpret<T: Decodable & Sendable>(_ batch: _ReadBatch, _ replies: RedisRawReplies, rejected: inout [(_KeyPlan, [UInt8])]) -> [L2Lookup<T>] {
        guard replies.count == 2, replies.elementCount(of: replies[0]) == batch.plans.count,
              let generationCount = replies.elementCount(of: replies[1]) else {
            counters.count(.redisFailure)
            return batch.plans.map { _ in .skipped(.redisFailure("unexpected MGET reply")) }
        }
        let bytes = replies.bytes
        let valueReplies = replies[0], generationReplies = replies[1]
        // Unreadable generations are Int64.min here (never a parsed value: at most 19 characters).
        var allGenerations: [Int64] = []
        allGenerations.reserveCapacity(generationCount)
        for index in 0..<generationCount {
            allGenerations.append(Self.parseGeneration(replies, replies.element(index, of: generationReplies), bytes: bytes) ?? .min)
        }
        var results: [L2Lookup<T>] = []
        results.reserveCapacity(batch.plans.count)
        var seen: [(_KeyPlan, [Int64])] = []
        seen.reserveCapacity(batch.plans.count)
        let reader = _ReaderReuse()
        var tally = _LookupTally()
        var offset = 0
        // Keys of a batch mostly share their prefixes: an entry whose generations equal the
        // previous entry's shares its array instead of allocating one.
        var scratch: [Int64] = []
        var previous: [Int64]? = nil
        for (index, plan) in batch.plans.enumerated() {
            let count = plan.generationCount
            scratch.removeAll(keepingCapacity: true)
            var complete = true
            for position in batch.generationPositions[offset..<offset + count] {
                let generation = position < allGenerations.count ? allGenerations[position] : .min
                if generation == .min { complete = false }
                scratch.append(generation == .min ? -1 : generation)
            }
            offset += count
            let generations: [Int64]
            if let previous, previous == scratch {
                generations = previous
            } else {
                generations = Array(scratch)
                previous = generations
            }
            let element = replies.element(index, of: valueReplies)
            let kind = replies.kind(of: element)
            let verified: _Verified
            switch kind {
            case .null: verified = .absent
            case .bulk: verified = verify(bytes, entry: replies.range(of: element)!, generations: generations, complete: complete, plan: plan)
            default: verified = .rejected(.wrongType)
            }
            var isRejected = false
            let lookup: L2Lookup<T> = lookup(verified, generations: generations, plan: plan, rejected: &isRejected, seen: &seen,
                                             tally: &tally, reader: reader)
            if isRejected {
                // A string is deleted only if unchanged; anything else (WRONGTYPE) unconditionally.
                switch kind {
                case .bulk: rejected.append((plan, Array(bytes[replies.range(of: element)!])))
                case .error: rejected.append((plan, []))
                default: break
                }
            }
            results.append(lookup)
        }
        memo.remember(seen)
        counters.count(tally)
        return results
    }

    /// A batch write in progress (docs/l2.md, "Writes and generations"): one pipeline of
    /// a `SET … PX` per entry stamped with the generations this instance knows and an
    /// `MGET` of their generation keys read after the `SET`s. An entry whose stamped
    /// generations equal the ones read is stored; the others were written stale-stamped (a
    /// reader treats them as misses) and are written again with the generations read, up
    /// to 3 attempts in all.
    ///
    /// Payloads and generations are kept one after another in one array each (no array per
    /// entry); the commands are formatted as they are built, each envelope in place.
    struct _WriteBatch {
        var plans: [_KeyPlan] = []
        /// Entry `i`'s payload is `payloads[payloadStarts[i]..<payloadStarts[i + 1]]`.
        var payloads: [UInt8] = []
        var payloadStarts: [Int] = []
        /// The generations to stamp: entry `i`'s are
        /// `generations[generationStarts[i]..<generationStarts[i + 1]]`; after an attempt,
        /// the ones read.
        var generations: [Int64] = []
        var generationStarts: [Int] = []
        /// What became of each entry; entries still pending hold `.refusedGenerationChanged`
        /// (what they come to if no attempt is left).
        var outcomes: [L2WriteOutcome] = []
        var pending: [Int] = []
        var attempt = 0
        /// Where each pending entry's generations are in the last `MGET` reply, entry
        /// after entry (`plans[i].generationKeys.count` each).
        var positions: [Int] = []

        var isDone: Bool { pending.isEmpty }

        func payload(_ index: Int) -> ArraySlice<UInt8> { payloads[payloadStarts[index]..<payloadStarts[index + 1]] }

        func generations(_ index: Int) -> ArraySlice<Int64> { generations[generationStarts[index]..<generationStarts[index + 1]] }
    }

    func writeBatch<T: Encodable>(_ entries: [(key: String, value: T)]) throws(L2Error) -> _WriteBatch {
        var batch = _WriteBatch()
        var keys: [String] = []
        keys.reserveCapacity(entries.count)
        for index in entries.indices { keys.append(entries[index].key) }
        batch.generationStarts.reserveCapacity(entries.count + 1)
        batch.generations.reserveCapacity(entries.count * 4)
        batch.plans = try memo.plans(keys, layout: layout, generations: &batch.generations, starts: &batch.generationStarts)
        batch.generationStarts.append(batch.generations.count)
        batch.payloadStarts.reserveCapacity(entries.count + 1)
        if codecIsBinary {
            // One writer and one buffer for the whole batch; the values are read in place
            // (through the buffer, not copied out of the array's tuples one by one).
            let writer = _BinaryWriter()
            batch.payloads.reserveCapacity(entries.count * 128)
            let failure: (Int, any Error)? = entries.withUnsafeBufferPointer { entries in
                for index in entries.indices {
                    batch.payloadStarts.append(batch.payloads.count)
                    do {
                        try writer.append(entries[index].value, to: &batch.payloads)
                    } catch {
                        return (index, error)
                    }
                }
                return nil
            }
            if let (index, error) = failure {
                throw L2Error(code: .encodingFailed, message: "cannot encode the value of '\(keys[index])' with codec \(codec.id): \(error)")
            }
        } else {
            for index in entries.indices {
                batch.payloadStarts.append(batch.payloads.count)
                batch.payloads.append(contentsOf: try encodePayload(entries[index].value, key: keys[index]))
            }
        }
        batch.payloadStarts.append(batch.payloads.count)
        batch.outcomes = Array(repeating: .refusedGenerationChanged, count: entries.count)
        batch.pending = Array(batch.plans.indices)
        return batch
    }

    static let set = RedisArgument("SET")
    static let px = RedisArgument("PX")

    func writeCommands(_ batch: inout _WriteBatch, ttl: Duration) throws(L2Error) -> RedisCommandBuffer {
        var commands = RedisCommandBuffer(capacity: batch.payloads.count + batch.pending.count * 160 + 256)
        // `PX ttl`, the same for every entry: formatted once.
        let expiryArguments = RedisCommandBuffer.formatArgument(Self.px.bytes)
            + RedisCommandBuffer.formatArgument(Array(String(Self.milliseconds(ttl)).utf8))
        let now = _Envelope.nowMilliseconds()
        var union = _GenerationUnion()
        // Array.withUnsafe… rethrow untyped errors: the error comes out as a value.
        let failure: L2Error? = batch.payloads.withUnsafeBytes { payloads in
            batch.generations.withUnsafeBufferPointer { generations in
                expiryArguments.withUnsafeBytes { expiryArguments in
                    for index in batch.pending {
                        let plan = batch.plans[index]
                        commands.beginCommand(argumentCount: 5)
                        // `SET` and the value key.
                        commands.appendFormattedArguments(UnsafeRawBufferPointer(rebasing: plan.wire[..<plan.slotsWireStart]), count: 2)
                        do throws(L2Error) {
                            try appendEnvelope(plan, payload: UnsafeRawBufferPointer(rebasing: payloads[batch.payloadStarts[index]..<batch.payloadStarts[index + 1]]),
                                               generations: UnsafeBufferPointer(rebasing: generations[batch.generationStarts[index]..<batch.generationStarts[index + 1]]),
                                               now: now, to: &commands)
                        } catch {
                            return error
                        }
                        commands.appendFormattedArguments(expiryArguments, count: 2)
                        union.add(plan)
                    }
                    return nil
                }
            }
        }
        if let failure { throw failure }
        batch.positions = union.positions
        commands.append(union.mget)
        return commands
    }

    /// Appends an entry's envelope as one argument: written in place when it is neither
    /// compressed nor encrypted, else built by ``makeEnvelope``.
    func appendEnvelope(_ plan: _KeyPlan, payload: UnsafeRawBufferPointer, generations: UnsafeBufferPointer<Int64>, now: Int64,
                        to commands: inout RedisCommandBuffer) throws(L2Error) {
        guard let length = _Envelope.inPlaceLength(payloadCount: payload.count, generationCount: generations.count, protector: protector,
                                                   compressionThreshold: configuration.compressionThreshold) else {
            commands.appendArgument(try makeEnvelope(Array(payload), generations: Array(generations), plan: plan, now: now))
            return
        }
        guard length <= configuration.maximumValueSize else { throw valueTooLarge(plan, length) }
        let codec = codec.id
        let protector = protector
        if case .none = protector.mode {
            let keyChecksum = plan.keyChecksum
            commands.appendArgument(length: length) { out in
                _Envelope.write(payload: payload, codec: codec, generations: generations, writtenAtMilliseconds: now,
                                keyChecksum: keyChecksum, to: out)
            }
            return
        }
        let redisKey = plan.valueArgument.bytes
        commands.appendArgument(length: length) { out in
            _Envelope.append(payload: payload, codec: codec, generations: generations, writtenAtMilliseconds: now,
                             redisKey: redisKey, protector: protector, to: &out)
        }
    }

    /// One entry's write attempt, as ``writeCommands(_:ttl:)`` builds it for a batch of one:
    /// `SET value envelope PX ttl`, `MGET` of the generations.
    func singleWriteCommands(_ plan: _KeyPlan, payload: [UInt8], generations: [Int64], ttl: Duration) throws(L2Error) -> [[RedisArgument]] {
        let envelope = try makeEnvelope(payload, generations: generations, plan: plan)
        return [[Self.set, plan.valueArgument, RedisArgument(envelope), Self.px, RedisArgument(Self.milliseconds(ttl))],
                plan.readCommands[1]]
    }

    enum _SingleWrite {
        case done(L2WriteOutcome)
        /// The generations changed since the envelope was stamped: write again with these.
        case retry([Int64])
    }

    /// What the replies to ``singleWriteCommands(_:payload:generations:ttl:)`` mean; the
    /// same rules as ``apply(_:_:)`` for a batch of one (at most 3 attempts).
    func singleWriteResult(_ plan: _KeyPlan, _ replies: [RESPValue], generations: [Int64], attempt: Int) -> _SingleWrite {
        guard replies.count == 2, let generationReplies = replies[1].array else {
            counters.count(.redisFailure)
            return .done(.skipped(.redisFailure("unexpected reply to a write pipeline: \(replies.last.map { "\($0)" } ?? "none")")))
        }
        if case .error(let error) = replies[0] {
            counters.count(.redisFailure)
            return .done(.skipped(.redisFailure("\(error)")))
        }
        let count = plan.generationArguments.count
        var fresh: [Int64] = []
        fresh.reserveCapacity(count)
        for index in 0..<count {
            fresh.append(index < generationReplies.count ? Self.parseGeneration(generationReplies[index]) ?? -1 : -1)
        }
        memo.remember(plan, fresh)
        if fresh == generations {
            counters.count(.write)
            return .done(.stored)
        }
        if attempt < 2 { return .retry(fresh) }
        counters.count(.writeRefused)
        return .done(.refusedGenerationChanged)
    }

    func fail(_ batch: inout _WriteBatch, _ reason: L2SkipReason) {
        for index in batch.pending { batch.outcomes[index] = .skipped(reason) }
        batch.pending = []
    }

    /// Reads the replies to ``writeCommands(_:ttl:)`` where they lie (one per `SET`, then
    /// the `MGET`): an entry whose stamped generations equal the ones read is
    /// stored, the others are retried (``_WriteBatch``) or refused.
    func apply(_ batch: inout _WriteBatch, _ replies: RedisRawReplies) {
        let count = batch.pending.count
        guard replies.count == count + 1, let generationCount = replies.elementCount(of: replies[count]) else {
            counters.count(.redisFailure)
            let last = replies.count > 0 ? "\(replies.value(of: replies[replies.count - 1]))" : "none"
            fail(&batch, .redisFailure("unexpected reply to a write pipeline: \(last)"))
            return
        }
        let generationsReply = replies[count]
        let bytes = replies.bytes
        var next: [Int] = []
        // Entries whose generations read differ from the stamped ones (which came from the
        // memo): only these tell the memo something new.
        var changed: [Int] = []
        var stored = 0, refused = 0
        // The generations read, on the stack (a batch shares few prefixes).
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: generationCount) { current in
            for element in 0..<generationCount {
                current[element] = Self.parseGeneration(replies, replies.element(element, of: generationsReply), bytes: bytes) ?? -1
            }
            var offset = 0
            for (position, index) in batch.pending.enumerated() {
                let start = batch.generationStarts[index]
                let count = batch.generationStarts[index + 1] - start
                defer { offset += count }
                let reply = replies[position]
                // (The kind first: a status reply is not turned into a value.)
                if replies.kind(of: reply) == .error, case .error(let error) = replies.value(of: reply) {
                    counters.count(.redisFailure)
                    batch.outcomes[index] = .skipped(.redisFailure("\(error)"))
                    continue
                }
                // Compare the generations read with the stamped ones, keeping the ones read.
                var unchanged = true
                for slot in 0..<count {
                    let reply = batch.positions[offset + slot]
                    let fresh = reply < generationCount ? current[reply] : -1
                    if fresh != batch.generations[start + slot] {
                        unchanged = false
                        batch.generations[start + slot] = fresh
                    }
                }
                if unchanged {
                    stored += 1
                    batch.outcomes[index] = .stored
                    continue
                }
                changed.append(index)
                if batch.attempt < 2 {
                    next.append(index)
                } else {
                    refused += 1
                    batch.outcomes[index] = .refusedGenerationChanged
                }
            }
        }
        if stored > 0 { counters.count(.write, stored) }
        if refused > 0 { counters.count(.writeRefused, refused) }
        memo.remember(batch.plans, at: changed, generations: batch.generations, starts: batch.generationStarts)
        batch.pending = next
        batch.attempt += 1
    }

    // MARK: Generation cache

    func knownGenerations(_ plan: _KeyPlan) -> [Int64] { memo.knownGenerations(plan) }

    func remember(_ plan: _KeyPlan, _ generations: [Int64]) { memo.remember(plan, generations) }

    // MARK: Breaker and execution

    func elapsed() -> Duration { ContinuousClock.now - origin }

    /// Runs `commands` as one pipeline through the breaker.
    func guarded(_ commands: [[RedisArgument]]) async -> _Replies {
        await throughBreaker { try await execute(commands) }
    }

    /// Runs formatted commands (no scripts among them) as one pipeline through the breaker.
    func guarded(_ commands: RedisCommandBuffer) async -> _Replies {
        await throughBreaker { try await pool.pipeline(commands) }
    }

    /// Formatted commands as one pipeline through the breaker, the replies as received.
    func guardedRaw(_ commands: RedisCommandBuffer) async -> _RawReplies {
        await throughBreaker { try await pool.rawPipeline(commands) }
    }

    /// Runs `call` (one pipeline) unless the breaker is open, and records how it went.
    func throughBreaker<Replies>(_ call: () async throws -> Replies) async -> _Outcome<Replies> {
        guard permit() else { return .failure(.circuitOpen) }
        do {
            let replies = try await call()
            record(success: true)
            return .success(replies)
        } catch {
            return .failure(failureReason(error))
        }
    }

    /// ``throughBreaker(_:)`` for a blocking call.
    func throughBreakerSync<Replies>(_ call: () throws -> Replies) -> _Outcome<Replies> {
        guard permit() else { return .failure(.circuitOpen) }
        do {
            let replies = try call()
            record(success: true)
            return .success(replies)
        } catch {
            return .failure(failureReason(error))
        }
    }

    /// Records a failed pipeline (a cancelled one is no failure of Redis) and says why.
    func failureReason(_ error: any Error) -> L2SkipReason {
        if error is CancellationError {
            record(success: true)
            return .redisFailure("cancelled")
        }
        record(success: false)
        counters.count(.redisFailure)
        if let error = error as? RedisError, error.code == .poolTimeout { counters.count(.poolTimeout) }
        logger.debug("L2 Redis call failed", metadata: ["error": "\(error)"])
        return .redisFailure("\(error)")
    }

    /// A pipeline's replies, or why it was skipped.
    enum _Outcome<Replies> {
        case success(Replies)
        case failure(L2SkipReason)
    }

    typealias _Replies = _Outcome<[RESPValue]>
    typealias _RawReplies = _Outcome<RedisRawReplies>

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

/// The distinct generation keys of several plans, for one `MGET`, and where each plan's
/// generations are in its reply. Deduplicated by memo slot (plans of one epoch); a batch
/// shares few prefixes, so a linear search over the distinct ones does until there are
/// many, then a hash table.
struct _GenerationUnion {
    /// `MGET` and the distinct generation keys.
    private(set) var mget: [RedisArgument] = [L2Cache.mget]
    /// For each added plan in turn, its generations' positions in the `MGET` reply.
    private(set) var positions: [Int] = []
    /// Memo identity (epoch, slot) of each key in `mget` after the command; -1: none.
    private var identities: [Int] = []
    private var index: [Int: Int] = [:]
    private static let linearLimit = 32

    mutating func add(_ plan: _KeyPlan) {
        // By index, with the slots from the plan's wire (which the batch reads anyway): a
        // known key's generation arguments (on the heap) are not touched at all.
        let epoch = plan.epoch, wire = plan.wire, slotCount = plan.slotCount
        for slotIndex in 0..<plan.generationCount {
            add(plan, slotIndex, identity: slotIndex < slotCount ? epoch << 32 | plan.slot(slotIndex, in: wire) : -1)
        }
    }

    private mutating func add(_ plan: _KeyPlan, _ slotIndex: Int, identity: Int) {
        if identity >= 0 {
            if identities.count > Self.linearLimit && index.isEmpty {
                for (position, known) in identities.enumerated() where known >= 0 && index[known] == nil {
                    index[known] = position
                }
            }
            if let known = index.isEmpty ? identities.firstIndex(of: identity) : index[identity] {
                positions.append(known)
                return
            }
            if !index.isEmpty { index[identity] = identities.count }
        }
        positions.append(identities.count)
        identities.append(identity)
        mget.append(plan.generationArguments[slotIndex])
    }
}
