// Snippets of docs/invalidation.md (scripts/test-examples.sh checks that the document shows them
// verbatim), built with stand-ins for what they take from their surroundings; built, never run.
import Logging

let logger = Logger(label: "example")
let httpServer = HTTPServerStandIn()

import ServiceLifecycle
import StrataInvalidation
import StrataMem

let subscriber = try RedisInvalidationSubscriber(
    url: "redis://127.0.0.1:6379", namespace: "strata:", heartbeatTimeout: .seconds(3), logger: logger)
let cache = L1Cache<String, Bool>(.init(maximumCount: 100_000, defaultTTL: .seconds(300)))
let target = L1CacheInvalidationTarget(cache)
subscriber.addTarget(target)                 // before anything is cached

let group = ServiceGroup(services: [subscriber, httpServer],
                         gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()

/// Stands in for the application's HTTP server (a swift-service-lifecycle `Service`).
struct HTTPServerStandIn: Service {
    func run() async throws { try? await gracefulShutdown() }
}
