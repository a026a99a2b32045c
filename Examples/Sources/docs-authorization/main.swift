// Snippets of docs/authorization.md (scripts/test-examples.sh checks that the document shows them
// verbatim), built with stand-ins for what they take from their surroundings; built, never run.
import Logging
import ServiceLifecycle

let redisURL = "redis://127.0.0.1:6379", postgresURL = "postgresql://app@127.0.0.1:5432/strata"
let secret = [UInt8](repeating: 7, count: 32)
let hostname = "api-1", logger = Logger(label: "example"), app = AppStandIn()
let l3Pool = try L3ConnectionPool(configuration: L3PoolConfiguration(url: postgresURL))

import Strata
import StrataInvalidation
import StrataL2

var l2Configuration = try L2Configuration(url: redisURL)
l2Configuration.protection = .authenticated(current: try L2SecretKey(id: 1, bytes: secret))  // recommended: see "Forged values"
let subscriber = try RedisInvalidationSubscriber(url: redisURL, namespace: "strata:")
let authorization = try AuthorizationCache(
    configuration: AuthorizationCacheConfiguration(policies: try CachePolicies.fromEnvironment()),
    l2: try L2Cache(configuration: l2Configuration),
    l3: try L3ConnectionPool(configuration: L3PoolConfiguration(url: postgresURL)),
    invalidationSource: subscriber)

if await authorization.canAccess(user: 42, action: .write, resource: .project(19)) { /* allowed */ }
let rights = try await authorization.allowedActions(user: 42, resource: .team(7))   // AccessRights
if rights.allows(.admin) { /* an admin */ }
let answers = await authorization.check(many: [
    AccessCheck(user: 42, action: .read, resource: .generation(9001)),
    AccessCheck(user: 42, action: .delete, resource: .project(19)),
])
_ = answers

func running() async throws {
let reporter = PerformanceReporter(instance: hostname, pool: l3Pool, caches: [authorization])
let group = ServiceGroup(services: [subscriber, reporter, app], gracefulShutdownSignals: [.sigterm], logger: logger)
try await group.run()
}

/// Stands in for the application's server (a swift-service-lifecycle `Service`).
struct AppStandIn: Service {
    func run() async throws { try? await gracefulShutdown() }
}
