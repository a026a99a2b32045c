// Snippets of docs/l2.md (scripts/test-examples.sh checks that the document shows them
// verbatim), built with stand-ins for what they take from their surroundings; built, never run.
import Foundation

let newSecret = [UInt8](repeating: 2, count: 32), oldSecret = [UInt8](repeating: 1, count: 32)
let l3 = L3StandIn()

import StrataL2

var configuration = try L2Configuration(url: "redis://127.0.0.1:6379")
configuration.namespace = "strata:"                       // the worker's --namespace
configuration.protection = .authenticated(                 // or .encrypted(...), or .none
    current: try L2SecretKey(id: 2, bytes: newSecret),     // writes
    previous: [try L2SecretKey(id: 1, bytes: oldSecret)])  // still verifies
configuration.breaker = CircuitBreakerConfiguration(minimumCalls: 20, breakDuration: .seconds(2))
let cache = try L2Cache(configuration: configuration)

// Read-through with stale-set and stampede protection:
let decision = try await cache.load("authz:user:42", as: Decision.self, ttl: .seconds(300)) {
    try await l3.decision(user: 42)
}.value

// Plain operations:
switch try await cache.get("authz:user:42", as: Decision.self) {
case .hit(let value, _): use(value)
case .miss(let miss):     _ = try await cache.set("authz:user:42", value: try await load(), ttl: .seconds(300), after: miss)
case .skipped:            use(try await load())            // Redis down or breaker open: do not write
}
let many = try await cache.getMany(["authz:user:1", "authz:user:2"], as: Decision.self)
try await cache.setMany([("authz:user:1", Decision.allow), ("authz:user:2", Decision.deny)], ttl: .seconds(300))
try await cache.invalidate(key: "authz:user:42")          // UNLINK N v:key N l:key (as the worker)
try await cache.invalidate(prefix: "authz:team:7:*")      // INCR N g:prefix (as the worker)
print(cache.statistics)
await cache.close()
_ = (decision, many)

enum Decision: Codable, Sendable { case allow, deny }
struct L3StandIn { func decision(user: Int64) async throws -> Decision { .deny } }
func load() async throws -> Decision { .deny }
func use(_ decision: Decision) {}

// The fast path (in a namespace of its own: it declares another Decision):
enum FastPath {
struct Decision: L2BinaryCodable {        // still Codable: the synthesized conformance stays
    var allowed: Bool
    var subject: String
    var reason: String?
    var roles: [String]
    var decidedAt: Date

    func encode(to writer: inout L2BinaryWriter) throws {
        writer.encode(allowed, forKey: "allowed")       // CodingKeys order and names
        writer.encode(subject, forKey: "subject")
        writer.encodeIfPresent(reason, forKey: "reason")
        writer.encode(roles, forKey: "roles")
        writer.encode(decidedAt, forKey: "decidedAt")
    }

    init(from reader: L2BinaryReader) throws {
        allowed = try reader.decode(Bool.self, forKey: "allowed")
        subject = try reader.decode(String.self, forKey: "subject")
        reason = try reader.decodeIfPresent(String.self, forKey: "reason")
        roles = try reader.decode([String].self, forKey: "roles")
        decidedAt = try reader.decode(Date.self, forKey: "decidedAt")
    }
}
}
