import Logging
import Strata
import StrataCore
import StrataInvalidation
import StrataL2
import StrataPostgres
import Synchronization

/// Authorization checks of simulated users against the seeded schema (sql/seed.sql): a
/// zipf-distributed user, a zipf-distributed resource of that user's working set (their
/// teams, their teams' projects, their own projects, two generations of each of those
/// projects, and two projects of strangers, mostly denied), an action (read 60%, write 25%,
/// delete, share, admin 5% each). Measures, after a warm-up, the latency of each
/// `canAccess` and the hit ratio of the cache lookups.
func runAuthzBench(_ options: Options) async throws -> [String] {
    var lines: [String] = []
    func say(_ line: String) {
        print(line)
        lines.append(line)
    }
    let db = try await PostgresConnection.connect(options.pgURL)
    let sizes = try await db.query("""
        select (select count(*) from authz.users), (select count(*) from authz.teams), (select count(*) from authz.team_members),
               (select count(*) from authz.projects), (select count(*) from authz.generations), (select count(*) from authz.grants)
        """)[0]
    let sizeText = try (0..<6).map { String(try sizes.decode(Int64.self, at: $0)) }
    let userCount = Int(try sizes.decode(Int64.self, at: 0))
    guard userCount >= options.users else {
        throw BenchError("the database has \(userCount) users, fewer than --users \(options.users); seed it larger")
    }
    say("### Authorization (`tiered-bench authz`)")
    say("")
    say("schema: \(sizeText[0]) users, \(sizeText[1]) teams, \(sizeText[2]) memberships, \(sizeText[3]) projects, \(sizeText[4]) generations, \(sizeText[5]) grants")

    // Working sets.
    let simulated = Int64(options.users)
    var resources: [Int64: [AccessResource]] = [:]
    var teamsOf: [Int64: [Int64]] = [:]
    for row in try await db.query("select user_id, team_id from authz.team_members where user_id <= $1", simulated) {
        teamsOf[try row.decode(Int64.self, at: 0), default: []].append(try row.decode(Int64.self, at: 1))
    }
    var projectsOfTeam: [Int64: [Int64]] = [:]
    for row in try await db.query("select id, owner_team_id from authz.projects where owner_team_id is not null") {
        projectsOfTeam[try row.decode(Int64.self, at: 1), default: []].append(try row.decode(Int64.self, at: 0))
    }
    var projectsOfUser: [Int64: [Int64]] = [:]
    for row in try await db.query("select id, owner_user_id from authz.projects where owner_user_id <= $1", simulated) {
        projectsOfUser[try row.decode(Int64.self, at: 1), default: []].append(try row.decode(Int64.self, at: 0))
    }
    var generationsOf: [Int64: [Int64]] = [:]
    for row in try await db.query("""
        select p.id, coalesce((select array_agg(g.id) from (select id from authz.generations where project_id = p.id
                                                            order by created_at desc limit 2) g), '{}')
          from authz.projects p
        """) {
        generationsOf[try row.decode(Int64.self, at: 0)] = try row.decode([Int64].self, at: 1)
    }
    let projectCount = Int64(try sizes.decode(Int64.self, at: 3))
    var generator = SplitMix64(seed: 42)
    for user in 1...simulated {
        var list: [AccessResource] = []
        var projects = projectsOfUser[user] ?? []
        for team in teamsOf[user] ?? [] {
            list.append(.team(team))
            projects += projectsOfTeam[team] ?? []
        }
        for project in projects {
            list.append(.project(project))
            for generation in generationsOf[project] ?? [] { list.append(.generation(generation)) }
        }
        for _ in 0..<2 { list.append(.project(1 + Int64(generator.next() % UInt64(projectCount)))) }
        list.shuffle(using: &generator)
        resources[user] = list
    }
    let distinctPairs = resources.values.reduce(0) { $0 + $1.count }
    let userOrder = (1...simulated).shuffled(using: &generator)
    say("simulated users: \(options.users) (zipf s = \(options.zipf) over users and over each user's resources); distinct (user, resource) pairs: \(distinctPairs)")

    // The cache, as a service would run it: L2 in Redis, L3 pool, PostgreSQL invalidation subscriber.
    var l2Configuration = try L2Configuration(url: options.redisURL)
    l2Configuration.namespace = "tauthz\(UInt32.random(in: 0...UInt32.max)):"
    l2Configuration.logger.logLevel = .error
    let l2 = try L2Cache(configuration: l2Configuration)
    var poolConfiguration = L3PoolConfiguration(url: options.pgURL)
    poolConfiguration.maximumConnections = 4
    poolConfiguration.logger.logLevel = .error
    let pool = try L3ConnectionPool(configuration: poolConfiguration)
    var subscriberLogger = Logger(label: "bench.subscriber")
    subscriberLogger.logLevel = .error
    let subscriber = try PostgresInvalidationSubscriber(url: options.pgURL, logger: subscriberLogger)
    let subscription = Task { try await subscriber.run() }
    var configuration = AuthorizationCacheConfiguration(policies: try CachePolicies.fromEnvironment())
    configuration.tiered.logger.logLevel = .error
    configuration.generations.logger.logLevel = .error
    let authorization = try AuthorizationCache(configuration: configuration, l2: l2, l3: pool, invalidationSource: subscriber)
    let healthyBy = ContinuousClock.now + .seconds(30)
    while !subscriber.health.isHealthy {
        guard ContinuousClock.now < healthyBy else { throw BenchError("the invalidation subscriber did not turn healthy in 30 s") }
        try await Task.sleep(for: .milliseconds(20))
    }

    let userZipf = Zipf(n: options.users, s: options.zipf)
    let resourceZipf = Zipf(n: 64, s: options.zipf)
    let actions: [AccessAction] = Array(repeating: .read, count: 12) + Array(repeating: .write, count: 5) + [.delete, .share, .admin]
    let workload = resources
    let order = userOrder

    /// Runs `count` checks on `concurrency` callers; per-check latency histogram and allows.
    func phase(_ count: Int, seed: UInt64) async throws -> (LatencyHistogram, Int, Double) {
        let perCaller = count / options.concurrency
        let start = nowNanos()
        let results = try await withThrowingTaskGroup(of: (LatencyHistogram, Int).self) { group in
            for caller in 0..<options.concurrency {
                group.addTask {
                    var generator = SplitMix64(seed: seed &+ UInt64(caller) &* 7919)
                    var histogram = LatencyHistogram()
                    var allowed = 0
                    for _ in 0..<perCaller {
                        let user = order[userZipf.sample(&generator)]
                        let list = workload[user]!
                        let resource = list[resourceZipf.sample(&generator) % list.count]
                        let action = actions[Int(generator.next() % UInt64(actions.count))]
                        let t0 = nowNanos()
                        let yes = await authorization.canAccess(user: user, action: action, resource: resource)
                        histogram.record(nanoseconds: nowNanos() - t0)
                        if yes { allowed += 1 }
                    }
                    return (histogram, allowed)
                }
            }
            var merged = LatencyHistogram()
            var allowed = 0
            for try await (histogram, count) in group {
                merged.merge(histogram)
                allowed += count
            }
            return (merged, allowed)
        }
        return (results.0, results.1, Double(nowNanos() - start) / 1e9)
    }

    struct Counts { var l1Hits = 0, l1Misses = 0, l2Hits = 0, loads = 0, uncached = 0 }
    func counts() -> Counts {
        let d = authorization.decisions.statistics, g = authorization.generations.statistics
        return Counts(l1Hits: d.l1Hits + g.l1Hits, l1Misses: d.l1Misses + g.l1Misses, l2Hits: d.l2Hits + g.l2Hits,
                      loads: d.loads + g.loads, uncached: authorization.uncachedL3Calls)
    }

    say("load average before: \(loadAverage())")
    let (_, _, warmSeconds) = try await phase(options.warmup, seed: 1)
    let before = counts()
    let (histogram, allowed, seconds) = try await phase(options.checks, seed: 2)
    let after = counts()
    let l1Hits = after.l1Hits - before.l1Hits, l1Misses = after.l1Misses - before.l1Misses
    let l2Hits = after.l2Hits - before.l2Hits, loads = after.loads - before.loads, uncached = after.uncached - before.uncached
    let lookups = l1Hits + l1Misses
    let hitRatio = Double(l1Hits + l2Hits) / Double(lookups + uncached)
    func us(_ q: Double) -> String { fmt(Double(histogram.percentile(q) ?? 0) / 1000, 1) }
    say("load average after: \(loadAverage())")
    say("")
    say("| figure | value |")
    say("|---|---|")
    say("| checks measured (after \(options.warmup) warm-up checks in \(fmt(warmSeconds, 1)) s) | \(histogram.count) on \(options.concurrency) callers in \(fmt(seconds, 1)) s (\(Int(Double(histogram.count) / seconds)) checks/s) |")
    say("| allowed | \(fmt(100 * Double(allowed) / Double(histogram.count), 1)) % |")
    say("| cache lookups | \(lookups) (\(fmt(Double(lookups) / Double(histogram.count), 2)) per check) |")
    say("| hit ratio (L1 + L2 hits / lookups and uncached L3 calls) | **\(fmt(100 * hitRatio, 2)) %** (L1 \(l1Hits), L2 \(l2Hits), L3 loads \(loads), uncached L3 \(uncached)) |")
    say("| latency per check p50 / p95 / p99 | \(us(0.5)) / **\(us(0.95))** / \(us(0.99)) µs |")
    say("| mean | \(fmt(Double(histogram.sum) / Double(histogram.count) / 1000, 1)) µs |")
    say("")
    say("Targets: p95 ≤ 1 ms at ≥ 97 % hits — p95 \(Double(histogram.percentile(0.95) ?? .max) <= 1_000_000 ? "met" : "NOT met"), hit ratio \(hitRatio >= 0.97 ? "met" : "NOT met").")
    say("")

    // One performance sample through strata.record_performance, read back.
    let instance = "tiered-bench-\(UInt32.random(in: 0...UInt32.max))"
    let reporter = PerformanceReporter(instance: instance, pool: pool, caches: [authorization])
    let unwritten = await reporter.report()
    say("performance sample written to strata.cache_performance_realtime (instance \(instance)) since the start\(unwritten.isEmpty ? "" : "; NOT written: \(unwritten.keys.sorted())"):")
    say("")
    say("| layer | requests | hits | misses | hit ratio | p50 µs | p95 µs | p99 µs | errors | memory |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for row in try await db.query("""
        select layer, requests, hits, misses, coalesce(round(hit_ratio::numeric, 4)::text, '–'),
               coalesce(round(latency_p50_us::numeric, 1)::text, '–'), coalesce(round(latency_p95_us::numeric, 1)::text, '–'),
               coalesce(round(latency_p99_us::numeric, 1)::text, '–'), errors, coalesce(memory_bytes::text, '–')
          from strata.cache_performance_realtime where instance = $1 order by layer
        """, instance) {
        let cells = try (0..<10).map { index -> String in
            if [1, 2, 3, 8].contains(index) { return String(try row.decode(Int64.self, at: index)) }
            return try row.decode(String.self, at: index)
        }
        say("| " + cells.joined(separator: " | ") + " |")
    }
    say("")
    subscription.cancel()
    _ = try? await subscription.value
    await pool.close()
    await l2.close()
    await db.close()
    return lines
}
