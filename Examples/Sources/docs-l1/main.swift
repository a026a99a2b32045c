// Snippets of docs/l1.md (scripts/test-examples.sh checks that the document shows them
// verbatim), built with stand-ins for what they take from their surroundings; built, never run.
let outageStartedAt = L1SystemClock().now()

import StrataMem

var config = L1Configuration<String, Bool>(maximumCount: 100_000, defaultTTL: .seconds(300))
config.name = "authz"                 // the `cache` dimension of the strata_l1_* metrics
config.ttlJitter = 0.1                // shorten each TTL by up to 10%, at random
config.negativeTTL = .seconds(5)      // cache loader errors for 5 s (off by default)
config.refreshAhead = .seconds(30)    // reload in the background when < 30 s are left
let cache = L1Cache(config)

// Sync API
cache.set("authz:team:7:project:19", true, ttl: .seconds(60), tags: ["team:7"])
let hit: Bool? = cache.get("authz:team:7:project:19")

// Async loading: single flight per key, stale-set safe
let allowed = try await cache.get("authz:team:7:project:20", tags: ["team:7"]) { key in
    try await checkAccessInPostgres(key)
}

// Invalidation
cache.invalidate(key: "authz:team:7:project:19")
cache.invalidate(prefix: "authz:team:7:")      // text without the trailing `*`; "" = all
cache.invalidate(tag: "team:7")
cache.invalidate(tag: "allow", writtenBefore: outageStartedAt)   // fail closed after an outage
cache.invalidateAll()

// Introspection
let info = cache.entry("authz:team:7:project:20")   // value, writtenAt, expiresAt, tags, weight
let stats = cache.statistics                         // hits, misses, loads, evictions by cause, ...
_ = (hit, allowed, info, stats)

func checkAccessInPostgres(_ key: String) async throws -> Bool { false }
