import StrataCore
import StrataRedis

/// Applies a batch to Redis: deletes values and leases, bumps prefix generations, and
/// publishes the L1 messages — all in one pipeline, in that order. Blocking: called from
/// the worker's drain loop, which runs on its own thread.
struct RedisInvalidator: Sendable {
    let connection: RedisConnection
    let layouts: [L2KeyLayout]
    /// Keys per UNLINK command.
    static let keysPerCommand = 256

    /// Runs the pipeline; throws on a transport error or any error reply, so that the
    /// caller does not advance its cursor.
    func apply(_ batch: OutboxBatch, messages: [InvalidationMessage]) throws {
        var commands: [[RedisArgument]] = []
        for layout in layouts {
            var start = 0
            while start < batch.keys.count {
                let end = min(start + Self.keysPerCommand, batch.keys.count)
                var command: [RedisArgument] = ["UNLINK"]
                command.reserveCapacity(1 + 2 * (end - start))
                for key in batch.keys[start..<end] {
                    command.append(RedisArgument(layout.valueKey(key)))
                    command.append(RedisArgument(layout.leaseKey(key)))
                }
                commands.append(command)
                start = end
            }
            for prefix in batch.prefixes {
                commands.append(["INCR", RedisArgument(layout.generationKey(prefix))])
            }
            for message in messages {
                commands.append(["PUBLISH", RedisArgument(layout.channel), RedisArgument(message.encoded())])
            }
        }
        try run(commands)
    }

    /// Publishes heartbeats (empty messages) on every namespace's channel.
    func publish(_ message: InvalidationMessage) throws {
        let payload = RedisArgument(message.encoded())
        try run(layouts.map { ["PUBLISH", RedisArgument($0.channel), payload] })
    }

    /// Blocking: the worker's drain loop runs on its PostgreSQL connection's thread
    /// (``InvalidationWorker``), so the round trip is made on that thread.
    private func run(_ commands: [[RedisArgument]]) throws {
        guard !commands.isEmpty else { return }
        let replies = try connection.pipelineSync(commands)
        for reply in replies {
            if case .error(let error) = reply { throw error }
        }
    }
}
