// A README snippet (scripts/test-examples.sh checks that the README shows it verbatim),
// built with stand-ins for what it takes from its surroundings; built, never run.
import Logging
import StrataL2

let logger = Logger(label: "example")
let config = TieredCacheConfiguration(name: "decisions")
let l2 = try L2Cache(configuration: try L2Configuration(url: "redis://127.0.0.1:6379"))
let httpServer = HTTPServerStandIn()

// README.md:
import ServiceLifecycle
import Strata
import StrataInvalidation

let subscriber = try RedisInvalidationSubscriber(
    url: "redis://127.0.0.1:6379", namespace: "strata:",   // as given to strata-worker --namespace
    heartbeatTimeout: .seconds(3), logger: logger)          // ≥ 2 × the worker's --heartbeat
let cache = try TieredCache<Decision>(configuration: config, l2: l2, invalidationSource: subscriber)
// or, for a plain L1Cache<String, V>: subscriber.addTarget(L1CacheInvalidationTarget(l1))

let group = ServiceGroup(services: [subscriber, httpServer],
                         gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()

_ = cache

// Redis-less mode:
func redisLess() throws {
let subscriber = try PostgresInvalidationSubscriber(url: "postgresql://app@db:5432/strata", logger: logger)
    _ = subscriber
}

struct Decision: Codable, Sendable { var allowed: Bool }

/// Stands in for the application's HTTP server (a swift-service-lifecycle `Service`).
struct HTTPServerStandIn: Service {
    func run() async throws { try? await gracefulShutdown() }
}
