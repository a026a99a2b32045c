import StrataCore
import StrataMem

/// The Redis subscriber's protocol logic, as pure functions from events to actions (no
/// I/O, no clock: instants are passed in). See docs/invalidation.md for the rules and why
/// they are sufficient.
struct _ChannelMachine: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        /// Not subscribed.
        case disconnected
        /// Subscribed at `subscribedAt` (every message published after it is delivered);
        /// waiting for the first valid message to prove the stream. `dropped`: every target
        /// was already dropped at that instant (after a malformed message).
        case awaitingProof(subscribedAt: L1Instant, dropped: Bool)
        /// Every message of the current epoch since the last recovery was applied.
        case live
    }

    /// Why a message broke the sequence.
    enum Interruption: Sendable, Equatable {
        case gap(expected: UInt64, received: UInt64)
        case outOfOrder(last: UInt64, received: UInt64)
        case newEpoch(previous: String, current: String)
        case malformed
    }

    private(set) var phase: Phase = .disconnected
    /// The epoch and seq of the last message applied, for continuity.
    private(set) var epoch: String?
    private(set) var seq: UInt64 = 0
    /// The last proven-fresh point: receipt of the last in-sequence message, or recovery.
    private(set) var lastFresh: L1Instant
    private(set) var healthy = false

    init(start: L1Instant) { lastFresh = start }

    /// The subscription was confirmed at `instant`.
    mutating func subscribed(at instant: L1Instant) -> [_TargetAction] {
        phase = .awaitingProof(subscribedAt: instant, dropped: false)
        return []
    }

    /// A valid message arrived at `instant`.
    mutating func received(_ message: InvalidationMessage, at instant: L1Instant) -> (actions: [_TargetAction], interruption: Interruption?) {
        let apply = _TargetAction.apply(keys: message.keys, prefixes: message.prefixes)
        let continues = epoch == message.epoch && message.seq == seq &+ 1
        defer {
            epoch = message.epoch
            seq = message.seq
        }
        switch phase {
        case .disconnected:
            // Not subscribed: nothing can arrive. Ignore rather than trust it.
            return ([], nil)

        case .awaitingProof(let subscribedAt, let dropped):
            phase = .live
            lastFresh = instant
            healthy = true
            if continues || dropped {
                // Continuity: the previous message of this epoch was the last one applied, so
                // none was missed while the subscription was down. Or everything before the
                // subscription was dropped already.
                return ([apply, .markHealthy], nil)
            }
            // Whatever was published before the subscription may be lost; everything after
            // it is delivered, and this message proves the publisher alive.
            return ([.dropAll(writtenBefore: subscribedAt), apply, .markHealthy], nil)

        case .live:
            if continues {
                lastFresh = instant
                return ([apply], nil)
            }
            let interruption: Interruption
            if let previous = epoch, previous != message.epoch {
                interruption = .newEpoch(previous: previous, current: message.epoch)
            } else if message.seq > seq {
                interruption = .gap(expected: seq &+ 1, received: message.seq)
            } else {
                interruption = .outOfOrder(last: seq, received: message.seq)
            }
            // Every missed message was published before this one arrived: its changes were
            // committed before `instant`, so anything written or loaded after it is fresh.
            let since = lastFresh
            lastFresh = instant
            return ([.markUnhealthy(since: since), .dropAll(writtenBefore: instant), apply, .markHealthy], interruption)
        }
    }

    /// A message arrived at `instant` that is not a valid invalidation message: it may
    /// have been one, so drop everything now and wait for the next valid message.
    mutating func malformed(at instant: L1Instant) -> [_TargetAction] {
        guard phase != .disconnected else { return [] }
        epoch = nil
        healthy = false
        phase = .awaitingProof(subscribedAt: instant, dropped: true)
        return [.markUnhealthy(since: lastFresh), .dropAll(writtenBefore: instant)]
    }

    /// The subscription ended (connection lost, heartbeat timeout, or stop).
    mutating func disconnected() -> [_TargetAction] {
        phase = .disconnected
        healthy = false
        return [.markUnhealthy(since: lastFresh)]
    }
}
