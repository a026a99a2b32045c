// A README snippet (scripts/test-examples.sh checks that the README shows it verbatim),
// built with stand-ins for what it takes from its surroundings; built, never run.

// README.md:
import StrataMem

var config = L1Configuration<String, Bool>(maximumCount: 100_000, defaultTTL: .seconds(300))
config.name = "authz"
let cache = L1Cache(config)

cache.set("authz:team:7:project:19", true, ttl: .seconds(60), tags: ["team:7"])
let allowed = try await cache.get("authz:team:7:project:20", tags: ["team:7"]) { key in
    try await checkAccessInPostgres(key)      // single flight; an invalidation during the load wins
}
cache.invalidate(prefix: "authz:team:7:")     // also: key:, tag:, tag:writtenBefore:, invalidateAll()

_ = allowed

func checkAccessInPostgres(_ key: String) async throws -> Bool { false }
