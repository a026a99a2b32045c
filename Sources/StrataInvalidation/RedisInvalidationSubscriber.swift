import Logging
import Metrics
import ServiceLifecycle
import StrataCore
import StrataMem
import StrataRedis
import StrataWorker
import Synchronization

/// Applies the worker's L1 invalidation messages (docs/l2-key-layout.md) to L1 caches, and
/// tells them when it cannot vouch for them.
///
/// Subscribes to `<namespace>invalidations`, applies every message's keys and prefixes to
/// its targets, and checks that the messages are consecutive. It reports
/// ``InvalidationHealth/unhealthy(since:)`` from the start until the first message proves
/// the stream, and whenever it sees a gap, a new epoch, a malformed message, a lost
/// connection or no heartbeat within ``Configuration/heartbeatTimeout``; it recovers by
/// dropping from every target what it cannot prove fresh
/// (``L1InvalidationTarget/invalidateAll(writtenBefore:)``) before turning healthy.
/// docs/invalidation.md states the rules and why they hold.
///
/// ```swift
/// let cache = L1Cache<String, Bool>(config)
/// let subscriber = try RedisInvalidationSubscriber(url: "redis://127.0.0.1:6379", namespace: "strata:", logger: logger)
/// subscriber.addTarget(L1CacheInvalidationTarget(cache))
/// let group = ServiceGroup(services: [subscriber, app], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public final class RedisInvalidationSubscriber: InvalidationSource, Service, CustomStringConvertible {
    /// How to reach the channel and how long silence may last.
    public struct Configuration: Sendable {
        /// The Redis the worker publishes to.
        public var redis: RedisConfiguration
        /// The application's namespace, as given to the worker with `--namespace`.
        public var namespace: String
        /// Without a message (the worker sends a heartbeat every `--heartbeat`, default 1 s)
        /// for this long, the channel is unhealthy and the subscription is renewed. Keep it
        /// at two heartbeats or more.
        public var heartbeatTimeout: Duration = .seconds(3)
        /// First delay before resubscribing after a failure; doubles up to `reconnectMaximumDelay`.
        public var reconnectInitialDelay: Duration = .milliseconds(100)
        public var reconnectMaximumDelay: Duration = .seconds(5)
        /// The `name` dimension of the metrics.
        public var name: String = "default"
        /// Export counters through swift-metrics.
        public var metricsEnabled = true
        /// The metrics backend; `nil` uses `MetricsSystem.factory`.
        public var metricsFactory: (any MetricsFactory)?

        public init(redis: RedisConfiguration, namespace: String = "strata:") {
            self.redis = redis
            self.namespace = namespace
        }

        /// - Throws: ``InvalidationError`` when the URL cannot be parsed.
        public init(url: String, namespace: String = "strata:") throws {
            do {
                self.init(redis: try RedisConfiguration(url: url), namespace: namespace)
            } catch {
                throw InvalidationError("bad Redis URL '\(url)': \(error) (expected redis://[user:password@]host[:port][/db] or unix:///path/to/socket)")
            }
        }

        /// The channel: `<namespace>invalidations`.
        public var channel: String { L2KeyLayout(namespace: namespace).channel }

        func validate() throws {
            guard heartbeatTimeout > .zero else {
                throw InvalidationError("heartbeatTimeout must be positive (it is \(heartbeatTimeout)); use at least twice the worker's --heartbeat")
            }
            guard reconnectInitialDelay > .zero, reconnectMaximumDelay >= reconnectInitialDelay else {
                throw InvalidationError("reconnect delays must be positive with reconnectMaximumDelay >= reconnectInitialDelay (they are \(reconnectInitialDelay) and \(reconnectMaximumDelay))")
            }
            do {
                try redis.validate()
            } catch {
                throw InvalidationError("bad Redis configuration: \(error)")
            }
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let fanout: _Fanout<_ChannelMachine>
    private let metrics: _InvalidationMetrics?

    /// - Throws: ``InvalidationError`` for an unusable configuration.
    public init(configuration: Configuration, logger: Logger = Logger(label: "strata.invalidation.redis")) throws {
        try configuration.validate()
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "channel"] = "\(configuration.channel)"
        self.logger = logger
        let metrics = configuration.metricsEnabled
            ? _InvalidationMetrics(source: "redis", name: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
            : nil
        self.metrics = metrics
        fanout = _Fanout(machine: _ChannelMachine(start: L1SystemClock().now()), metrics: metrics)
    }

    /// Subscribes to `<namespace>invalidations` on the Redis at `url`.
    public convenience init(url: String, namespace: String = "strata:", heartbeatTimeout: Duration = .seconds(3),
                            logger: Logger = Logger(label: "strata.invalidation.redis")) throws {
        var configuration = try Configuration(url: url, namespace: namespace)
        configuration.heartbeatTimeout = heartbeatTimeout
        try self.init(configuration: configuration, logger: logger)
    }

    public var health: InvalidationHealth { fanout.health }

    public func addTarget(_ target: any L1InvalidationTarget) { fanout.addTarget(target) }

    /// The counters so far.
    public var statistics: InvalidationStatistics { fanout.statistics }

    public var description: String { "RedisInvalidationSubscriber(\(configuration.redis.endpoint), \(configuration.channel))" }

    /// Subscribes, applies messages and resubscribes after failures until the task is
    /// cancelled or a graceful shutdown begins; then reports unhealthy and returns.
    public func run() async throws {
        fanout.withLock { state in
            state.pristine = false
            // Nothing is proven before this run: the fresh point starts here (the health
            // already says unhealthy since the source was created or got its first target).
            state.machine = _ChannelMachine(start: state.now())
        }
        await cancelWhenGracefulShutdown { await self.subscribeLoop() }
        fanout.withLock { state in state.perform(state.machine.disconnected()) }
        logger.info("stopped", metadata: ["statistics": "\(fanout.statistics)"])
    }

    private enum SessionEnd {
        case cancelled
        case lost(any Error)
        case silent
    }

    private func subscribeLoop() async {
        var backoff = Backoff(initial: configuration.reconnectInitialDelay, maximum: configuration.reconnectMaximumDelay)
        var subscriptions = 0
        var failuresInARow = 0
        while !Task.isCancelled {
            let subscriber: RedisSubscriber
            do {
                subscriber = try await RedisSubscriber.subscribe(configuration.redis, channels: [configuration.channel], logger: logger)
            } catch {
                if Task.isCancelled { break }
                failuresInARow += 1
                let delay = backoff.next()
                // One warning per outage, then debug: a Redis that stays down is already reported.
                logger.log(level: failuresInARow == 1 ? .warning : .debug,
                           "cannot subscribe to the invalidation channel: \(error); retrying in \(delay._logText) (L1 stays unhealthy)")
                try? await Task.sleep(for: delay)
                continue
            }
            subscriptions += 1
            if subscriptions > 1 {
                metrics?.reconnects.increment()
                fanout.withLock { $0.statistics.reconnects += 1 }
            }
            fanout.withLock { state in state.perform(state.machine.subscribed(at: state.now())) }
            logger.debug("subscribed")

            let end = await consume(subscriber, onProof: {
                backoff.reset()
                failuresInARow = 0
            })
            await subscriber.close()
            fanout.withLock { state in
                switch end {
                case .lost: state.statistics.connectionLosses += 1
                case .silent: state.statistics.timeouts += 1
                case .cancelled: break
                }
                state.perform(state.machine.disconnected())
            }
            switch end {
            case .cancelled:
                return
            case .lost(let error):
                metrics?.connectionLosses.increment()
                logger.warning("lost the invalidation channel: \(error); L1 is unhealthy until the channel is proven again")
            case .silent:
                metrics?.timeouts.increment()
                logger.warning("no message on the invalidation channel for \(configuration.heartbeatTimeout._logText) (is strata-worker running?); L1 is unhealthy, resubscribing")
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// Reads messages until the subscription ends; a watchdog ends it when no valid
    /// message arrived for the heartbeat timeout.
    private func consume(_ subscriber: RedisSubscriber, onProof: () -> Void) async -> SessionEnd {
        let activity = _Activity()
        let timeout = configuration.heartbeatTimeout
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                if await activity.watch(timeout: timeout) { await subscriber.close() }
            }
            defer { group.cancelAll() }
            var proven = false
            do {
                for try await message in subscriber.messages {
                    if handle(message) {
                        activity.touch(at: activity.clock.now)
                        if !proven {
                            proven = true
                            onProof()
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return .cancelled }
                return .lost(error)
            }
            return activity.didFire ? .silent : .cancelled
        }
    }

    /// Applies one message; returns whether it was a valid invalidation message.
    private func handle(_ message: RedisPubSubMessage) -> Bool {
        let decoded: InvalidationMessage
        do {
            decoded = try InvalidationMessage.decode(message.payload)
        } catch {
            let shown = String(decoding: message.payload.prefix(200), as: UTF8.self)
            logger.error("malformed message on the invalidation channel, dropping L1: \(error); payload (first 200 bytes): \(shown)")
            metrics?.decodeFailures.increment()
            fanout.withLock { state in
                state.statistics.decodeFailures += 1
                state.perform(state.machine.malformed(at: state.now()))
            }
            return false
        }
        metrics?.messages.increment()
        if decoded.isHeartbeat { metrics?.heartbeats.increment() }
        let interruption = fanout.withLock { state in
            state.statistics.messages += 1
            if decoded.isHeartbeat { state.statistics.heartbeats += 1 }
            let (actions, interruption) = state.machine.received(decoded, at: state.now())
            switch interruption {
            case .gap, .outOfOrder: state.statistics.gaps += 1
            case .newEpoch: state.statistics.epochChanges += 1
            case .malformed, nil: break
            }
            state.perform(actions)
            return interruption
        }
        switch interruption {
        case .gap(let expected, let received)?:
            metrics?.gaps.increment()
            logger.warning("invalidation messages missed (expected seq \(expected), received \(received)): dropped L1 entries written before this message")
        case .outOfOrder(let last, let received)?:
            metrics?.gaps.increment()
            logger.warning("invalidation message out of order (seq \(received) after \(last) in the same epoch): dropped L1 entries written before it")
        case .newEpoch(let previous, let current)?:
            metrics?.epochChanges.increment()
            logger.info("new worker epoch \(current) (was \(previous)): dropped L1 entries written before its first message; if this repeats, two workers publish on this channel")
        case .malformed?, nil:
            break
        }
        return true
    }
}
