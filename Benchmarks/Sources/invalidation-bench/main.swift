// Invalidation latency and worker throughput, against the running dev servers and a
// strata-worker started by this program.
//
//   swift run -c release --package-path Benchmarks invalidation-bench [--rate 500] [--seconds 10] [--drain 100000]
//       [--load-clients 0]
//
// Latency: commits at a fixed rate update one watched row each; for each commit, the
// time from COMMIT returning to the L1 message naming its key arriving on the channel
// (the worker publishes in the same pipeline right after the UNLINK, so the key is gone
// by then). With --load-clients N, N more connections update other rows of the same table
// as fast as they can meanwhile (latency while the worker drains a busy outbox). Throughput: the worker is stopped, N single-key changes are committed, the
// worker is started and timed until its cursor passes them all.
import Foundation
import StrataCore
import StrataPostgres
import StrataRedis
import Synchronization

struct Options {
    var rate = 500
    var seconds = 10
    var drain = 100_000
    var loadClients = 0
    var pgURL = ProcessInfo.processInfo.environment["STRATA_PG_URL"] ?? "postgresql://postgres@127.0.0.1:55432/strata"
    var redisURL = ProcessInfo.processInfo.environment["STRATA_REDIS_URL"] ?? "redis://127.0.0.1:56379"
    var worker = ProcessInfo.processInfo.environment["STRATA_WORKER_BIN"] ?? "../.build/release/strata-worker"

    init() {
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let arg = args.next() {
            switch arg {
            case "--rate": rate = Int(args.next() ?? "") ?? rate
            case "--seconds": seconds = Int(args.next() ?? "") ?? seconds
            case "--drain": drain = Int(args.next() ?? "") ?? drain
            case "--worker": worker = args.next() ?? worker
            case "--load-clients": loadClients = Int(args.next() ?? "") ?? loadClients
            default: fatalError("unknown argument \(arg)")
            }
        }
    }
}

func startWorker(_ options: Options, consumer: String, namespace: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: options.worker)
    process.arguments = ["--postgres-url", options.pgURL, "--redis-url", options.redisURL,
                         "--consumer", consumer, "--namespace", namespace, "--log-level", "warning"]
    try process.run()
    return process
}

/// Connections updating random rows above id 100,000 of the latency table, each in a
/// blocking session on its connection's own thread (not on the cooperative pool, where they
/// would delay the timed commits and the subscriber's tasks), until `stop`.
struct Load {
    let connections: [PostgresConnection]
    let sessions: [Task<Int, any Error>]
    /// Shared with the sessions, which stop once it is set.
    let flag: Stop
    let started = ContinuousClock.now

    final class Stop: Sendable { let done = Atomic<Bool>(false) }

    static func start(_ options: Options) async throws -> Load {
        var connections: [PostgresConnection] = []
        for _ in 0..<options.loadClients { connections.append(try await PostgresConnection.connect(options.pgURL)) }
        let stop = Stop()
        let sessions = connections.map { connection in
            Task {
                try await connection.withBlockingSession { session in
                    var commits = 0
                    while !stop.done.load(ordering: .relaxed) && !session.isInterrupted {
                        _ = try session.preparedQuery("update public.bench_latency set v = v + 1 where id = $1", Int64.random(in: 100_001...200_000))
                        commits += 1
                    }
                    return commits
                }
            }
        }
        return Load(connections: connections, sessions: sessions, flag: stop)
    }

    /// Stops the writers; their commits per second.
    func stop() async throws -> Double {
        flag.done.store(true, ordering: .relaxed)
        var commits = 0
        for session in sessions { commits += try await session.value }
        let seconds = (ContinuousClock.now - started).seconds
        for connection in connections { await connection.close() }
        return Double(commits) / seconds
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((p / 100) * Double(sorted.count)))]
}

func fmt(_ value: Double) -> String { String(format: "%.2f", value) }

@main
struct InvalidationBench {
    static func main() async throws {
        let options = Options()
        let pg = try await PostgresConnection.connect(options.pgURL)
        try await pg.execute("""
            drop table if exists public.bench_latency;
            create table public.bench_latency (id bigint primary key, v bigint not null default 0);
            insert into public.bench_latency select g from generate_series(1, 2 * 100000) g;
            select strata.watch('public.bench_latency', array['lat:item:{id}']);
            """)
        let namespace = "bench\(UInt16.random(in: 0...UInt16.max)):"
        let consumer = "bench-\(namespace.dropLast())"
        let layout = L2KeyLayout(namespace: namespace)
        try await pg.execute("delete from strata.consumer_offsets where consumer like 'bench-%'")

        // --- latency -------------------------------------------------------------------
        let worker = try startWorker(options, consumer: consumer, namespace: namespace)
        defer { if worker.isRunning { worker.terminate(); worker.waitUntilExit() } }
        let subscriber = try await RedisSubscriber.subscribe(try RedisConfiguration(url: options.redisURL), channels: [layout.channel])
        let arrivals = Mutex<[String: ContinuousClock.Instant]>([:])
        let clock = ContinuousClock()
        let listener = Task {
            for try await message in subscriber.messages {
                let now = clock.now
                guard let decoded = try? InvalidationMessage.decode(message.payload) else { continue }
                arrivals.withLock { for key in decoded.keys where $0[key] == nil { $0[key] = now } }
            }
        }
        try await Task.sleep(for: .seconds(1))
        // A new consumer starts at the slowest existing consumer or the oldest outbox row, so
        // the worker may first replay older rows (e.g. an earlier run's keys): wait until it
        // has caught up with the sequence's head, then forget what arrived so far.
        let caughtUp = clock.now + .seconds(120)
        while clock.now < caughtUp {
            let rows = try await pg.query(
                """
                select coalesce((select last_seq from strata.consumer_offsets where consumer = $1), -1)
                       >= coalesce(pg_sequence_last_value('strata.change_log_seq'), 0)
                """, consumer)
            if try rows.first?.decode(Bool.self, at: 0) == true { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(200))
        arrivals.withLock { $0.removeAll() }
        let total = options.rate * options.seconds
        // Background writers on ids above 100,000: the timed commits use ids up to 100,000,
        // so no background commit names a timed key first.
        let load = options.loadClients > 0 ? try await Load.start(options) : nil
        var commits: [(String, ContinuousClock.Instant)] = []
        commits.reserveCapacity(total)
        let interval = Duration.seconds(1) / options.rate
        let start = clock.now
        for i in 0..<total {
            let due = start + interval * i
            if clock.now < due { try await Task.sleep(until: due, clock: clock) }
            let id = i % 100_000 + 1
            _ = try await pg.query("update public.bench_latency set v = v + 1 where id = $1", id)
            commits.append(("lat:item:\(id)", clock.now))
        }
        let achieved = Double(total) / (clock.now - start).seconds
        var loadRate: Double?
        if let load { loadRate = try await load.stop() }
        try await Task.sleep(for: .seconds(1))
        listener.cancel()
        await subscriber.close()
        let seen = arrivals.withLock { $0 }
        var latencies: [Double] = []
        var missing = 0
        for (key, committed) in commits {
            guard let arrived = seen[key] else { missing += 1; continue }
            latencies.append(max(0, (arrived - committed).seconds * 1000))
        }
        latencies.sort()
        print("invalidation latency, commit returned -> L1 message received (key already unlinked)")
        print("  commits: \(total) at \(fmt(achieved))/s (target \(options.rate)/s), messages missing: \(missing)")
        if let loadRate {
            print("  meanwhile \(options.loadClients) background writers: \(fmt(loadRate)) commits/s on other rows of the table")
        }
        print("  p50 \(fmt(percentile(latencies, 50))) ms  p95 \(fmt(percentile(latencies, 95))) ms  p99 \(fmt(percentile(latencies, 99))) ms  max \(fmt(latencies.last ?? .nan)) ms")

        // --- throughput ----------------------------------------------------------------
        worker.terminate(); worker.waitUntilExit()
        let drainConsumer = consumer + "-drain"
        let top0 = try await pg.query("select coalesce(max(seq), 0) from strata.change_log")
        let startSeq = try top0.first!.decode(Int64.self, at: 0)
        try await pg.execute("insert into strata.consumer_offsets(consumer, last_seq) values ('\(drainConsumer)', \(startSeq))")
        // One outbox row per key, written by the trigger in separate transactions of 1,000 rows.
        let chunk = 500
        var written = 0
        while written < options.drain {
            try await pg.execute("""
                update public.bench_latency set v = v + 1 where id between \(written % 100_000 + 1) and \(written % 100_000 + chunk)
                """)
            written += chunk
        }
        let top1 = try await pg.query("select coalesce(max(seq), 0), count(*) from strata.change_log where seq > \(startSeq)")
        let endSeq = try top1.first!.decode(Int64.self, at: 0)
        let rows = try top1.first!.decode(Int64.self, at: 1)
        let drainStart = clock.now
        let drainer = try startWorker(options, consumer: drainConsumer, namespace: namespace)
        defer { if drainer.isRunning { drainer.terminate(); drainer.waitUntilExit() } }
        while true {
            let cursor = try await pg.query("select last_seq from strata.consumer_offsets where consumer = $1", drainConsumer)
            if try cursor.first?.decode(Int64.self, at: 0) ?? 0 >= endSeq { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let drainSeconds = (clock.now - drainStart).seconds
        drainer.terminate(); drainer.waitUntilExit()
        print("worker throughput: \(rows) outbox rows / \(written) keys drained in \(fmt(drainSeconds)) s (incl. start-up) = \(Int(Double(written) / drainSeconds)) keys/s")
        try await pg.execute("select strata.unwatch('public.bench_latency'); drop table public.bench_latency; delete from strata.consumer_offsets where consumer like 'bench-%'")
        await pg.close()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
