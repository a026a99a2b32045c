import Foundation
import Logging
import StrataPostgres
import StrataWorker
import StrataTestSupport
import Testing

/// The refresh scheduler against a real PostgreSQL of its own (`ScratchServers`), run
/// in-process. Serialized: each test starts its own servers, and refresh timings matter.
@Suite(.serialized) struct RefreshSchedulerTests {
    /// A burst of 10,000 membership changes within a few seconds: the two affected views are
    /// refreshed a few times only, spaced by their min interval, never two at once per view
    /// (two schedulers compete, and the invalidation worker signals them).
    @Test func aBurstOfChangesCausesFewRefreshesNeverTwoAtOnce() async throws {
        let servers = try ScratchServers(name: "refresh-burst")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        defer { Task { await pg.close() } }
        // 1,000 users and 10 teams: 10,000 possible memberships.
        try await pg.execute("""
            insert into authz.users (id, name, email) select g, 'u' || g, 'u' || g || '@example.test' from generate_series(1, 1000) g;
            insert into authz.teams (id, name) select g, 't' || g from generate_series(1, 10) g;
            """)

        let statistics = WorkerStatistics()
        var config = WorkerConfiguration(postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        config.refreshTick = .milliseconds(200)
        config.performanceSampleInterval = .seconds(1)
        config.instance = "refresh-test"
        config.consumer = "refresh-test"
        let first = RefreshScheduler(configuration: config, statistics: statistics, logger: Self.logger("refresh-1"))
        let second = RefreshScheduler(configuration: config, logger: Self.logger("refresh-2"))
        let worker = InvalidationWorker(configuration: config, logger: Self.logger("worker", level: .notice),
                                        scheduler: first, statistics: statistics)
        let tasks = [Task { try await first.run() }, Task { try await second.run() }, Task { try await worker.run() }]
        defer { tasks.forEach { $0.cancel() } }

        // Never refreshed since the migrations: periodic refreshes first, then all clean.
        try await eventually(timeout: .seconds(30), "the initial refreshes") {
            try await Self.reasons(pg).values.allSatisfy { $0 == "clean" }
        }
        // A min interval of 2 s (default 5 s) so that a burst of a few seconds spans several.
        let minInterval = 2.0
        try await pg.execute("""
            update strata.views set min_interval = '\(minInterval) seconds'
             where name in ('mv_user_authorization_context', 'mv_team_collaboration_patterns')
            """)
        let burstStart = try await Self.now(pg)
        let clock = ContinuousClock()
        let began = clock.now
        for chunk in 0..<50 {
            // 200 memberships per transaction: users 20k+1 ... 20k+20, all 10 teams.
            try await pg.execute("""
                insert into authz.team_members (team_id, user_id, role)
                select t, u, 'viewer' from generate_series(\(chunk * 20 + 1), \(chunk * 20 + 20)) u, generate_series(1, 10) t
                """)
            try await Task.sleep(for: .milliseconds(40))
        }
        let burst = clock.now - began
        let changed = try await pg.query("select count(*)::bigint from authz.team_members")
        #expect(try changed.first?.decode(Int64.self, at: 0) == 10_000)
        #expect(burst < .seconds(10), "the burst took \(burst)")

        // Every mark is cleared by a refresh eventually (min interval 5 s).
        try await eventually(timeout: .seconds(30), "the dirty marks of the burst cleared") {
            let rows = try await pg.query("select count(*)::bigint from strata.dirty_marks where mark like 'uac:%' or mark like 'tcp:%'")
            return try rows.first?.decode(Int64.self, at: 0) == 0
        }
        try await Task.sleep(for: .seconds(1))

        // 50 transactions (and 50 signals from the worker) within a few seconds: one refresh
        // per min interval at most, plus the one that clears the tail. 3 when the burst takes
        // less than 4 s; a slow machine stretches the burst, and the bound with it.
        let burstSeconds = Seconds.of(burst)
        let bound = max(3, Int((burstSeconds / minInterval).rounded(.up)) + 1)
        for view in ["mv_user_authorization_context", "mv_team_collaboration_patterns"] {
            let history = try await Self.history(pg, view, since: burstStart)
            let ok = history.filter { $0.outcome == "ok" }
            print("\(view): \(ok.count) refreshes for the burst: \(history)")
            #expect(ok.count >= 1 && ok.count <= bound, "\(view): \(ok.count) refreshes for 10,000 changes in \(burst)")
            #expect(ok.reduce(0) { $0 + ($1.marksCleared ?? 0) } > 0, "\(view): the refreshes cleared the burst's marks")
            for (previous, next) in zip(history, history.dropFirst()) {
                #expect(next.startedAt >= previous.endedAt, "\(view): two refreshes overlapped: \(previous) and \(next)")
                // The min interval spaces refreshes of a dirty view (max staleness is 1 min).
                #expect(next.startedAt.timeIntervalSince(previous.endedAt) >= minInterval - 0.05,
                        "\(view): refreshes \(previous) and \(next) closer than the min interval")
            }
        }
        // Neither scheduler ever ran two refreshes of one view at once (the records are
        // sequential per scheduler by construction; across schedulers the lock decides).
        let skipped = (first.recentRefreshes + second.recentRefreshes).filter { $0.outcome == "skipped" }.count
        let attempts = first.recentRefreshes.count + second.recentRefreshes.count
        #expect(attempts >= 4, "the schedulers refreshed: \(first.recentRefreshes) \(second.recentRefreshes)")
        print("burst of 10,000 changes in \(burst): \(attempts) refresh attempts by two schedulers, \(skipped) skipped (lock held by the other)")

        // The worker's own performance samples: the outbox rows it drained.
        try await eventually(timeout: .seconds(10), "a worker performance sample with the burst's rows") {
            let rows = try await pg.query(
                "select coalesce(sum(requests), 0)::bigint from strata.cache_performance_realtime where instance = 'refresh-test' and layer = 'worker'")
            return try (rows.first?.decode(Int64.self, at: 0) ?? 0) >= 50
        }
        for task in tasks { task.cancel(); _ = await task.result }
    }

    /// A view untouched for its periodic interval is refreshed with reason `periodic`.
    @Test func untouchedViewsAreRefreshedPeriodically() async throws {
        let servers = try ScratchServers(name: "refresh-periodic")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        defer { Task { await pg.close() } }
        try await pg.execute("update strata.views set periodic_interval = '1 second' where name = 'mv_generation_performance_stats'")

        var config = WorkerConfiguration(postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        config.refreshTick = .milliseconds(200)
        let scheduler = RefreshScheduler(configuration: config, logger: Self.logger("refresh"))
        let task = Task { try await scheduler.run() }
        defer { task.cancel() }
        let start = try await Self.now(pg)

        try await eventually(timeout: .seconds(15), "three periodic refreshes") {
            scheduler.recentRefreshes.filter { $0.view == "mv_generation_performance_stats" && $0.reason == "periodic" && $0.outcome == "ok" }.count >= 3
        }
        let history = try await Self.history(pg, "mv_generation_performance_stats", since: start)
        #expect(history.count >= 3 && history.allSatisfy { $0.outcome == "ok" })
        for (previous, next) in zip(history, history.dropFirst()) {
            #expect(next.startedAt.timeIntervalSince(previous.endedAt) >= 0.95, "periodic refreshes closer than 1 s: \(previous) \(next)")
        }
        // The other views (15 minutes) were refreshed once, at start (never refreshed before).
        for view in ["mv_user_authorization_context", "mv_team_collaboration_patterns"] {
            #expect(try await Self.history(pg, view, since: start).count == 1)
        }
        task.cancel(); _ = await task.result
    }

    /// A refresh that fails is recorded as failed, retried with backoff, and succeeds once fixed.
    @Test func aFailingRefreshIsRetriedWithBackoff() async throws {
        let servers = try ScratchServers(name: "refresh-failing")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        defer { Task { await pg.close() } }
        try await Self.registerTestView(pg, mode: "ok")
        try await pg.execute("update public.refresh_test_flag set mode = 'fail'")

        var config = WorkerConfiguration(postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        config.refreshTick = .milliseconds(200)
        let scheduler = RefreshScheduler(configuration: config, logger: Self.logger("refresh"))
        let task = Task { try await scheduler.run() }
        defer { task.cancel() }
        let start = try await Self.now(pg)

        // retry_base 1 s, retry_max 2 s: failures at about 0 s, 1 s, 3 s.
        try await eventually(timeout: .seconds(15), "three failed refreshes") {
            try await Self.history(pg, "mv_refresh_test", since: start).filter { $0.outcome == "failed" }.count >= 3
        }
        let failed = try await Self.history(pg, "mv_refresh_test", since: start)
        #expect(failed.allSatisfy { $0.outcome == "failed" && ($0.error ?? "").contains("division by zero") })
        let gaps = zip(failed, failed.dropFirst()).map { $1.startedAt.timeIntervalSince($0.endedAt) }
        #expect(gaps.count >= 2 && gaps[0] >= 0.95 && gaps[1] >= 1.95, "backoff 1 s then 2 s, got \(gaps)")
        let registry = try await pg.query("select failures, last_outcome from strata.views where name = 'mv_refresh_test'")
        #expect(try registry.first?.decode(Int.self, at: 0) ?? 0 >= 3)

        try await pg.execute("update public.refresh_test_flag set mode = 'ok'")
        try await eventually(timeout: .seconds(10), "a successful retry") {
            try await Self.history(pg, "mv_refresh_test", since: start).last?.outcome == "ok"
        }
        let after = try await pg.query("select failures, last_outcome from strata.views where name = 'mv_refresh_test'")
        #expect(try after.first?.decode(Int.self, at: 0) == 0)
        #expect(try after.first?.decode(String.self, at: 1) == "ok")
        #expect(scheduler.recentRefreshes.contains { $0.view == "mv_refresh_test" && $0.reason == "retry" && $0.outcome == "ok" })
        task.cancel(); _ = await task.result
    }

    /// A refresh call that dies (here: statement timeout) is recorded with
    /// `strata.record_refresh_failure` and retried after the backoff.
    @Test func aRefreshThatTimesOutIsRecordedAndRetried() async throws {
        let servers = try ScratchServers(name: "refresh-timeout")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        defer { Task { await pg.close() } }
        try await Self.registerTestView(pg, mode: "ok")
        try await pg.execute("update public.refresh_test_flag set mode = 'slow'")

        var config = WorkerConfiguration(postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        config.refreshTick = .milliseconds(200)
        config.refreshTimeout = .milliseconds(700)
        let scheduler = RefreshScheduler(configuration: config, logger: Self.logger("refresh"))
        let task = Task { try await scheduler.run() }
        defer { task.cancel() }
        let start = try await Self.now(pg)

        try await eventually(timeout: .seconds(15), "a timed-out refresh recorded as failed") {
            try await Self.history(pg, "mv_refresh_test", since: start).contains { $0.outcome == "failed" }
        }
        let failed = try await Self.history(pg, "mv_refresh_test", since: start)
        #expect(failed.first?.error?.contains("statement timeout") == true, "\(failed)")
        #expect(failed.first.map { $0.endedAt.timeIntervalSince($0.startedAt) >= 0.6 } == true, "started_at is the call's start: \(failed)")
        try await pg.execute("update public.refresh_test_flag set mode = 'ok'")
        try await eventually(timeout: .seconds(10), "a successful retry") {
            try await Self.history(pg, "mv_refresh_test", since: start).last?.outcome == "ok"
        }
        task.cancel(); _ = await task.result
    }

    /// A refresh call that dies with its connection is recorded with
    /// `strata.record_refresh_failure` once the scheduler has reconnected, then retried.
    @Test func aRefreshWhoseConnectionDiesIsRecordedAfterReconnecting() async throws {
        let servers = try ScratchServers(name: "refresh-lost")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        defer { Task { await pg.close() } }
        try await Self.registerTestView(pg, mode: "ok")
        try await pg.execute("update public.refresh_test_flag set mode = 'slow', sleep_s = 30")

        var config = WorkerConfiguration(postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        config.refreshTick = .milliseconds(200)
        let scheduler = RefreshScheduler(configuration: config, logger: Self.logger("refresh"))
        let task = Task { try await scheduler.run() }
        defer { task.cancel() }
        let start = try await Self.now(pg)

        try await eventually(timeout: .seconds(15), "the slow refresh running") { try await Self.refreshBackend(pg) != nil }
        let backend = try #require(try await Self.refreshBackend(pg))
        try await pg.query("select pg_terminate_backend($1)", backend)
        try await eventually(timeout: .seconds(15), "the dead call recorded as failed") {
            try await Self.history(pg, "mv_refresh_test", since: start).contains { $0.outcome == "failed" }
        }
        let failed = try await Self.history(pg, "mv_refresh_test", since: start)
        #expect(failed.count == 1 && failed[0].endedAt.timeIntervalSince(failed[0].startedAt) > 0, "\(failed)")
        try await pg.execute("update public.refresh_test_flag set mode = 'ok'")
        try await eventually(timeout: .seconds(10), "a successful retry") {
            try await Self.history(pg, "mv_refresh_test", since: start).last?.outcome == "ok"
        }
        task.cancel(); _ = await task.result
    }

    /// SIGTERM while a long refresh runs: the worker waits the grace (5 s), cancels the
    /// refresh (rolled back, not recorded as a failure, the view stays due) and exits 0.
    @Test func shutdownAbandonsALongRefreshAfterTheGrace() async throws {
        let servers = try ScratchServers(name: "refresh-shutdown")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        defer { Task { await pg.close() } }
        try await Self.registerTestView(pg, mode: "ok")
        try await pg.execute("update public.refresh_test_flag set mode = 'slow', sleep_s = 60")

        let worker = WorkerProcess(name: "refresh-shutdown")
        try worker.start(extraArguments: ["--refresh-tick-ms", "200"], postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        defer { worker.killHard() }
        try await eventually(timeout: .seconds(15), "the slow refresh running") { try await Self.refreshBackend(pg) != nil }
        let clock = ContinuousClock()
        let signalled = clock.now
        worker.signal(SIGTERM)
        let status = await Task.detached { worker.wait() }.value
        let took = clock.now - signalled
        #expect(status == 0, "exit status \(status); log:\n\(worker.log)")
        #expect(took >= .seconds(4) && took < .seconds(15), "stopped after \(took)")
        #expect(worker.log.contains("refresh of strata.mv_refresh_test abandoned on shutdown"), "\(worker.log)")
        try await eventually(timeout: .seconds(5), "the cancelled refresh gone from the server") { try await Self.refreshBackend(pg) == nil }
        let registry = try await pg.query("select failures, last_outcome from strata.views where name = 'mv_refresh_test'")
        #expect(try registry.first?.decode(Int.self, at: 0) == 0)
        #expect(try registry.first?.decode(String?.self, at: 1) == nil)
        #expect(try await Self.reasons(pg)["mv_refresh_test"] == "periodic", "still due")
    }

    // MARK: - Helpers

    /// The scheduler's backend while it refreshes `mv_refresh_test` in slow mode (sleeping), if any.
    static func refreshBackend(_ pg: PostgresConnection) async throws -> Int32? {
        let rows = try await pg.query(
            """
            select pid from pg_stat_activity
             where application_name = 'strata-worker refresh' and state = 'active' and query like '%refresh_view%'
               and wait_event = 'PgSleep'
            """)
        return try rows.first?.decode(Int32.self, at: 0)
    }

    enum Seconds {
        static func of(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
    }

    struct Refresh: CustomStringConvertible {
        var startedAt: Date
        var endedAt: Date
        var outcome: String
        var marksCleared: Int64?
        var error: String?
        var description: String {
            "\(outcome) \(startedAt.timeIntervalSince1970)…\(endedAt.timeIntervalSince1970)\(error.map { " " + $0 } ?? "")"
        }
    }

    static func history(_ pg: PostgresConnection, _ view: String, since: Date) async throws -> [Refresh] {
        let rows = try await pg.query(
            """
            select started_at, ended_at, outcome, marks_cleared, error from strata.view_refreshes
             where view_name = $1 and started_at >= $2 order by started_at, id
            """, view, since)
        return try rows.map {
            Refresh(startedAt: try $0.decode(Date.self, at: 0), endedAt: try $0.decode(Date.self, at: 1),
                    outcome: try $0.decode(String.self, at: 2), marksCleared: try $0.decode(Int64?.self, at: 3),
                    error: try $0.decode(String?.self, at: 4))
        }
    }

    static func reasons(_ pg: PostgresConnection) async throws -> [String: String] {
        let rows = try await pg.query("select view_name, reason from strata.refresh_candidates()")
        var result: [String: String] = [:]
        for row in rows { result[try row.decode(String.self, at: 0)] = try row.decode(String.self, at: 1) }
        return result
    }

    static func now(_ pg: PostgresConnection) async throws -> Date {
        try await pg.query("select clock_timestamp()").first!.decode(Date.self, at: 0)
    }

    /// Registers `strata.mv_refresh_test`, whose refresh fails with a division by zero when
    /// `public.refresh_test_flag.mode` is `fail` and sleeps `sleep_s` (3 s) when it is `slow`.
    /// Backoff 1 s, at most 2 s; periodic interval 1 hour (first refresh: at once).
    static func registerTestView(_ pg: PostgresConnection, mode: String) async throws {
        try await pg.execute("""
            create table public.refresh_test_flag (mode text not null, sleep_s float8 not null default 3);
            insert into public.refresh_test_flag values ('\(mode)');
            create function public.refresh_test_value() returns integer language plpgsql volatile as $$
            declare
                m text := (select mode from public.refresh_test_flag);
                zero integer := 0;
            begin
                if m = 'fail' then return 1 / zero; end if;
                if m = 'slow' then perform pg_sleep((select sleep_s from public.refresh_test_flag)); end if;
                return 1;
            end $$;
            create materialized view strata.mv_refresh_test as
                select g as id, x.v from generate_series(1, 10) g cross join (select public.refresh_test_value() as v) x;
            create unique index on strata.mv_refresh_test (id);
            alter materialized view strata.mv_refresh_test owner to strata_definer;
            grant select on public.refresh_test_flag to strata_definer;
            insert into strata.views (name, relation, mark_prefix, source_tables, retry_base, retry_max, periodic_interval)
            values ('mv_refresh_test', 'strata.mv_refresh_test', 'rtest:', '{public.refresh_test_flag}', '1 second', '2 seconds', '1 hour');
            """)
    }

    static func logger(_ label: String, level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}
