#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The policy of every kind of value a ``TieredCache`` holds, with the project's
/// defaults, configurable from code and from environment variables.
///
/// | kind | L1 TTL | L2 TTL | fail-closed | fail-safe (max stale / soft timeout) |
/// |---|---|---|---|---|
/// | `generation_access` | 3 min | 10 min | yes | – |
/// | `user_permissions` | 5 min | 15 min | yes | – |
/// | `team_access` | 10 min | 30 min | yes | – |
/// | `project_visibility` | 15 min | 1 h | yes | – |
/// | `media_access_tokens` | 1 min | 5 min | yes | – |
/// | `rate_limit_status` | 30 s | 2 min | no | 2 min / 50 ms |
/// | `user_sessions` | 5 min | 10 min | yes | – |
/// | `system_configuration` | 15 min | 1 h | no | 24 h / 200 ms |
///
/// Every kind: no negative caching, load timeout 5 s.
///
/// ```swift
/// var policies = try CachePolicies.fromEnvironment()          // defaults + STRATA_CACHE_* variables
/// policies[.teamAccess]?.l1TTL = .seconds(120)
/// policies.register(CachePolicy(kind: "invoice_totals", l1TTL: .seconds(30), l2TTL: .seconds(300)))
/// ```
///
/// Environment variables, per kind (`<KIND>` = the kind's name upper-cased, e.g.
/// `TEAM_ACCESS`): `STRATA_CACHE_<KIND>_L1_TTL`, `_L2_TTL`, `_NEGATIVE_TTL`,
/// `_LOAD_TIMEOUT`, `_MAX_STALE`, `_SOFT_TIMEOUT`. Values are durations (`250ms`, `30s`,
/// `10m`, `1h`, `1d`, decimals allowed) or `off`. An unknown `STRATA_CACHE_*` variable or a
/// malformed value is an error, not ignored.
public struct CachePolicies: Sendable {
    private var table: [CacheKind: CachePolicy]

    /// The built-in kinds with their default policies.
    public static var defaults: CachePolicies {
        let softRate = CachePolicy.FailSafe(maximumStaleness: .minutes(2), softTimeout: .milliseconds(50))
        let softConfig = CachePolicy.FailSafe(maximumStaleness: .hours(24), softTimeout: .milliseconds(200))
        let policies: [CachePolicy] = [
            CachePolicy(kind: .generationAccess, l1TTL: .minutes(3), l2TTL: .minutes(10), failClosed: true),
            CachePolicy(kind: .userPermissions, l1TTL: .minutes(5), l2TTL: .minutes(15), failClosed: true),
            CachePolicy(kind: .teamAccess, l1TTL: .minutes(10), l2TTL: .minutes(30), failClosed: true),
            CachePolicy(kind: .projectVisibility, l1TTL: .minutes(15), l2TTL: .hours(1), failClosed: true),
            CachePolicy(kind: .mediaAccessTokens, l1TTL: .minutes(1), l2TTL: .minutes(5), failClosed: true),
            CachePolicy(kind: .rateLimitStatus, l1TTL: .seconds(30), l2TTL: .minutes(2), failSafe: softRate),
            CachePolicy(kind: .userSessions, l1TTL: .minutes(5), l2TTL: .minutes(10), failClosed: true),
            CachePolicy(kind: .systemConfiguration, l1TTL: .minutes(15), l2TTL: .hours(1), failSafe: softConfig),
        ]
        return CachePolicies(policies)
    }

    /// A table of exactly these policies.
    public init(_ policies: [CachePolicy]) {
        table = [:]
        for policy in policies { table[policy.kind] = policy }
    }

    /// The defaults, then the `STRATA_CACHE_*` variables of `environment`.
    public static func fromEnvironment(_ environment: [String: String] = CachePolicies.processEnvironment()) throws(TieredCacheError) -> CachePolicies {
        var policies = CachePolicies.defaults
        try policies.apply(environment: environment)
        return policies
    }

    /// The policy of `kind`, if it has one.
    public subscript(kind: CacheKind) -> CachePolicy? {
        get { table[kind] }
        set {
            if var policy = newValue {
                policy.kind = kind
                table[kind] = policy
            } else {
                table[kind] = nil
            }
        }
    }

    /// The policy of `kind`; throws ``TieredCacheError`` `.invalidConfiguration` naming
    /// the known kinds when it has none.
    public func policy(for kind: CacheKind) throws(TieredCacheError) -> CachePolicy {
        guard let policy = table[kind] else {
            throw TieredCacheError(code: .invalidConfiguration,
                                   message: "no policy for kind '\(kind)'; known kinds: \(kinds.map(\.name).joined(separator: ", ")); register one with CachePolicies.register(_:)")
        }
        return policy
    }

    /// Adds or replaces a policy.
    public mutating func register(_ policy: CachePolicy) { table[policy.kind] = policy }

    /// The kinds with a policy, by name.
    public var kinds: [CacheKind] { table.keys.sorted { $0.name < $1.name } }

    /// Every policy, by kind name.
    public var all: [CachePolicy] { kinds.map { table[$0]! } }

    /// Validates every policy (see ``CachePolicy/validate()``).
    public func validate() throws(TieredCacheError) {
        for policy in all { try policy.validate() }
    }

    /// The variable suffixes understood per kind.
    static let settings = ["L1_TTL", "L2_TTL", "NEGATIVE_TTL", "LOAD_TIMEOUT", "MAX_STALE", "SOFT_TIMEOUT"]

    /// Applies the `STRATA_CACHE_*` variables of `environment` to the policies of the
    /// kinds in this table, then validates them.
    public mutating func apply(environment: [String: String]) throws(TieredCacheError) {
        let stems = kinds.map { ($0, $0.environmentStem) }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("STRATA_CACHE_") {
            // The longest matching stem wins (a kind's name may be a prefix of another's).
            guard let (kind, stem) = stems.filter({ name.hasPrefix($0.1) }).max(by: { $0.1.count < $1.1.count }),
                  case let setting = String(name.dropFirst(stem.count)), Self.settings.contains(setting) else {
                let known = kinds.map { $0.environmentStem + "{" + Self.settings.joined(separator: ",") + "}" }
                throw TieredCacheError(
                    code: .invalidConfiguration,
                    message: "unknown cache setting \(name); known: \(known.joined(separator: " "))")
            }
            let duration: Duration?
            do throws(TieredCacheError) {
                duration = try DurationText.parseOrOff(value)
            } catch {
                throw TieredCacheError(code: .invalidConfiguration, message: "\(name): \(error.message)")
            }
            var policy = table[kind]!
            switch setting {
            case "L1_TTL": policy.l1TTL = duration
            case "L2_TTL": policy.l2TTL = duration
            case "NEGATIVE_TTL": policy.negativeTTL = duration
            case "LOAD_TIMEOUT": policy.loadTimeout = duration
            case "MAX_STALE":
                if let duration {
                    if policy.failClosed {
                        throw TieredCacheError(
                            code: .invalidConfiguration,
                            message: "\(name): \(kind) is fail-closed and never serves stale values; remove the variable")
                    }
                    policy.failSafe = CachePolicy.FailSafe(maximumStaleness: duration, softTimeout: policy.failSafe?.softTimeout)
                } else {
                    policy.failSafe = nil
                }
            default: // SOFT_TIMEOUT
                guard var failSafe = policy.failSafe else {
                    if duration == nil { break }
                    throw TieredCacheError(
                        code: .invalidConfiguration,
                        message: "\(name): \(kind) has no fail-safe; set \(stem)MAX_STALE as well (a soft timeout needs a stale value to serve)")
                }
                failSafe.softTimeout = duration
                policy.failSafe = failSafe
            }
            table[kind] = policy
        }
        try validate()
    }

    /// The process's environment (`getenv`-level, no Foundation).
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

/// Durations as text: `250ms`, `30s`, `10m`, `1h`, `1d` (decimals allowed: `1.5s`).
enum DurationText {
    static func parseOrOff(_ text: String) throws(TieredCacheError) -> Duration? {
        let trimmed = text.trimmingSpaces
        if trimmed == "off" || trimmed == "none" { return nil }
        return try parse(trimmed)
    }

    static func parse(_ text: String) throws(TieredCacheError) -> Duration {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (unit, seconds) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            // "ms" also ends in "s": only accept a plain number before the unit.
            guard let value = Double(number), value.isFinite, value >= 0,
                  number.allSatisfy({ $0.isNumber || $0 == "." }) else { continue }
            let nanoseconds = (value * seconds * 1e9).rounded()
            guard nanoseconds < 9.2e18 else { break }
            return .nanoseconds(Int64(nanoseconds))
        }
        throw TieredCacheError(
            code: .invalidConfiguration,
            message: "'\(text)' is not a duration; use a number with a unit (250ms, 30s, 10m, 1h, 1d) or 'off'")
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 {
            if seconds != 0, seconds % 86400 == 0 { return "\(seconds / 86400)d" }
            if seconds != 0, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
            if seconds != 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
            return "\(seconds)s"
        }
        let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return milliseconds == milliseconds.rounded() ? "\(Int64(milliseconds))ms" : "\(milliseconds)ms"
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
