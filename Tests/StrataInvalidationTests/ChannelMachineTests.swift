import StrataCore
import StrataMem
import Testing
@testable import StrataInvalidation


private func at(_ n: Int64) -> L1Instant { L1Instant(nanoseconds: n) }

/// The Redis subscriber's protocol logic, without a server: events in, actions out.
@Suite struct ChannelMachineTests {
    static func message(_ seq: UInt64, epoch: String = "e1", keys: [String] = [], prefixes: [String] = []) -> InvalidationMessage {
        InvalidationMessage(epoch: epoch, seq: seq, through: 0, keys: keys, prefixes: prefixes)
    }

    /// Subscribed at 10, first message at 20, live.
    static func live() -> _ChannelMachine {
        var machine = _ChannelMachine(start: at(0))
        _ = machine.subscribed(at: at(10))
        _ = machine.received(message(1), at: at(20))
        return machine
    }

    @Test func firstMessageDropsWhatCameBeforeTheSubscriptionAndTurnsHealthy() {
        var machine = _ChannelMachine(start: at(0))
        #expect(machine.subscribed(at: at(10)).isEmpty)
        #expect(!machine.healthy)
        let (actions, interruption) = machine.received(Self.message(7, keys: ["a:1"]), at: at(20))
        #expect(interruption == nil)
        #expect(actions == [.dropAll(writtenBefore: at(10)), .apply(keys: ["a:1"], prefixes: []), .markHealthy])
        #expect(machine.healthy)
        #expect(machine.lastFresh == at(20))
    }

    @Test func consecutiveMessagesAreAppliedAndMoveTheFreshPoint() {
        var machine = Self.live()
        let (actions, interruption) = machine.received(Self.message(2, keys: ["a:1"], prefixes: ["b:*"]), at: at(30))
        #expect(interruption == nil)
        #expect(actions == [.apply(keys: ["a:1"], prefixes: ["b:*"])])
        #expect(machine.lastFresh == at(30))
    }

    @Test func aSequenceJumpDropsEverythingWrittenBeforeItsArrival() {
        var machine = Self.live()
        let (actions, interruption) = machine.received(Self.message(4, keys: ["a:1"]), at: at(50))
        #expect(interruption == .gap(expected: 2, received: 4))
        #expect(actions == [
            .markUnhealthy(since: at(20)), .dropAll(writtenBefore: at(50)),
            .apply(keys: ["a:1"], prefixes: []), .markHealthy,
        ])
        // The sequence goes on from the new message.
        #expect(machine.received(Self.message(5), at: at(60)).interruption == nil)
    }

    @Test func aNewEpochIsAGapEvenWhenItStartsAtOne() {
        var machine = Self.live()
        let (actions, interruption) = machine.received(Self.message(1, epoch: "e2"), at: at(50))
        #expect(interruption == .newEpoch(previous: "e1", current: "e2"))
        #expect(actions.contains(.dropAll(writtenBefore: at(50))))
    }

    @Test func aRepeatedOrOlderSeqIsAnInterruptionToo() {
        var machine = Self.live()
        _ = machine.received(Self.message(2), at: at(30))
        let (actions, interruption) = machine.received(Self.message(2), at: at(40))
        #expect(interruption == .outOfOrder(last: 2, received: 2))
        #expect(actions.contains(.dropAll(writtenBefore: at(40))))
    }

    @Test func aMalformedMessageDropsAtOnceAndWaitsForTheNextValidOne() {
        var machine = Self.live()
        #expect(machine.malformed(at: at(40)) == [.markUnhealthy(since: at(20)), .dropAll(writtenBefore: at(40))])
        #expect(!machine.healthy)
        // The next valid message proves the stream again; no second drop is needed.
        let (actions, interruption) = machine.received(Self.message(3, keys: ["k"]), at: at(50))
        #expect(interruption == nil)
        #expect(actions == [.apply(keys: ["k"], prefixes: []), .markHealthy])
    }

    @Test func reconnectingWithTheSequenceIntactDropsNothing() {
        var machine = Self.live()
        #expect(machine.disconnected() == [.markUnhealthy(since: at(20))])
        _ = machine.subscribed(at: at(100))
        // Message 2 of the same epoch: nothing was published while the subscription was down.
        let (actions, _) = machine.received(Self.message(2), at: at(110))
        #expect(actions == [.apply(keys: [], prefixes: []), .markHealthy])
    }

    @Test func reconnectingAfterMissedMessagesDropsWhatWasWrittenBeforeTheResubscription() {
        var machine = Self.live()
        _ = machine.disconnected()
        _ = machine.subscribed(at: at(100))
        let (actions, _) = machine.received(Self.message(9), at: at(110))
        #expect(actions == [.dropAll(writtenBefore: at(100)), .apply(keys: [], prefixes: []), .markHealthy])
    }

    @Test func nothingIsTrustedWhileDisconnected() {
        var machine = Self.live()
        _ = machine.disconnected()
        #expect(machine.received(Self.message(2), at: at(30)).actions.isEmpty)
        #expect(machine.malformed(at: at(30)).isEmpty)
    }
}
