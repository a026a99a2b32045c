import Foundation
import Hummingbird
import Logging
import Strata
import StrataInvalidation
import StrataL2

@main
struct API {
    static func main() async throws {
        let logger = Logger(label: "api")
        let environment = ProcessInfo.processInfo.environment
        let redisURL = environment["REDIS_URL"] ?? "redis://127.0.0.1:6379"
        let postgresURL = environment["DATABASE_URL"] ?? "postgresql://api@127.0.0.1:5432/strata"

        var l2Configuration = try L2Configuration(url: redisURL)
        l2Configuration.protection = .authenticated(current: try L2SecretKey(id: 1, bytes: loadSecret()))
        let subscriber = try RedisInvalidationSubscriber(url: redisURL, namespace: "strata:")
        let l3 = try L3ConnectionPool(configuration: L3PoolConfiguration(url: postgresURL))
        let authorization = try AuthorizationCache(
            configuration: AuthorizationCacheConfiguration(policies: try CachePolicies.fromEnvironment()),
            l2: try L2Cache(configuration: l2Configuration), l3: l3, invalidationSource: subscriber)

        let router = Router()
        router.get("/projects/{id}") { request, context -> String in
            let project = try context.parameters.require("id", as: Int64.self)
            let user = try authenticatedUser(request)
            guard await authorization.canAccess(user: user, action: .read, resource: .project(project)) else {
                throw HTTPError(.forbidden)
            }
            return "project \(project)"
        }
        router.delete("/generations/{id}") { request, context -> HTTPResponse.Status in
            let generation = try context.parameters.require("id", as: Int64.self)
            let user = try authenticatedUser(request)
            guard await authorization.canAccess(user: user, action: .delete, resource: .generation(generation)) else {
                throw HTTPError(.forbidden)
            }
            try await deleteGeneration(generation, in: postgresURL)   // the capture trigger invalidates what depended on it
            return .noContent
        }

        let app = Application(
            router: router,
            configuration: .init(address: .hostname(environment["HOST"] ?? "0.0.0.0", port: Int(environment["PORT"] ?? "") ?? 8080)),
            services: [subscriber, PerformanceReporter(instance: "api-1", pool: l3, caches: [authorization])],
            logger: logger)
        try await app.runService()
    }
}

// The application's own parts (the example's: Examples/Sources/authz-api/YourApplication.swift):
//   func loadSecret() throws -> [UInt8]                          // the L2 key, from your vault
//   func authenticatedUser(_ request: Request) throws -> Int64   // your session or token check;
//                                                                // 0 for anonymous (public access only)
//   func deleteGeneration(_ id: Int64, in postgresURL: String) async throws
