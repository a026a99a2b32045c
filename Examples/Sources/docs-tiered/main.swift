// Snippets of docs/tiered.md (scripts/test-examples.sh checks that the document shows them
// verbatim), built with stand-ins for what they take from their surroundings; built, never run.
import Foundation

let userID: Int64 = 42, email = "someone@example.test"
let keys = [CacheKey("profile", 1), CacheKey("profile", 2)]
let database = Database(), updated = Profile(name: "updated")

import Strata
import StrataInvalidation
import StrataL2

let l2 = try L2Cache(configuration: try L2Configuration(url: "redis://127.0.0.1:6379"))
let subscriber = try RedisInvalidationSubscriber(url: "redis://127.0.0.1:6379", namespace: "strata:")
var configuration = TieredCacheConfiguration(name: "profiles")
configuration.policies = try CachePolicies.fromEnvironment()          // defaults + STRATA_CACHE_*
let profiles = try TieredCache<Profile>(configuration: configuration, l2: l2, invalidationSource: subscriber)

let policy = try profiles.policy(.userSessions)
let profile = try await profiles.get(CacheKey("profile", userID), policy: policy) {
    try await database.profile(userID)                  // runs once per key, whoever asks
}
let maybe = try await profiles.find(CacheKey("profile", "by-email", email), policy: policy) {
    try await database.profile(email: email)            // nil = absent (cached for negativeTTL)
}
let many = try await profiles.getMany(keys, policy: policy) { missing in try await database.profiles(missing) }
try await profiles.set(CacheKey("profile", userID), updated, policy: policy)
try await profiles.invalidate(CacheKey("profile", userID))
try await profiles.invalidate(prefix: CacheKey("profile").prefix)   // profile:*
profiles.invalidate(tag: "tenant:7")                                 // L1 only
try await profiles.invalidateAll()
_ = (profile, maybe, many)

struct Profile: Codable, Sendable { var name: String }

struct Database {
    func profile(_ id: Int64) async throws -> Profile { Profile(name: "user \(id)") }
    func profile(email: String) async throws -> Profile? { nil }
    func profiles(_ keys: [CacheKey]) async throws -> [CacheKey: Profile] { [:] }
}
