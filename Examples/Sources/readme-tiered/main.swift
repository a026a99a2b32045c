// A README snippet (scripts/test-examples.sh checks that the README shows it verbatim),
// built with stand-ins for what it takes from its surroundings; built, never run.
import Foundation

let userID: Int64 = 42
let keys = [CacheKey("profile", 1), CacheKey("profile", 2)]
let database = Database()

// README.md:
import Strata
import StrataInvalidation
import StrataL2

let l2 = try L2Cache(configuration: try L2Configuration(url: "redis://127.0.0.1:6379"))
let subscriber = try RedisInvalidationSubscriber(url: "redis://127.0.0.1:6379", namespace: "strata:")
var configuration = TieredCacheConfiguration(name: "profiles")
configuration.policies = try CachePolicies.fromEnvironment()      // defaults + STRATA_CACHE_* variables
let profiles = try TieredCache<Profile>(configuration: configuration, l2: l2, invalidationSource: subscriber)

let profile = try await profiles.get(CacheKey("profile", userID), kind: .userSessions) {
    try await database.profile(userID)
}
let batch = try await profiles.getMany(keys, policy: try profiles.policy(.userSessions)) { missing in
    try await database.profiles(missing)
}
try await profiles.invalidate(CacheKey("profile", userID))          // L2 (as the worker does), then L1

_ = (profile, batch)

struct Profile: Codable, Sendable { var name: String }

struct Database {
    func profile(_ id: Int64) async throws -> Profile { Profile(name: "user \(id)") }
    func profiles(_ keys: [CacheKey]) async throws -> [CacheKey: Profile] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, Profile(name: $0.text)) })
    }
}
