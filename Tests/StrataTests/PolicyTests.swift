import Strata
import StrataCore
import Testing

@Suite struct PolicyTests {
    @Test func defaultsMatchThePolicyTable() throws {
        let policies = CachePolicies.defaults
        let expected: [(CacheKind, Duration, Duration, Bool)] = [
            (.generationAccess, .seconds(180), .seconds(600), true),
            (.userPermissions, .seconds(300), .seconds(900), true),
            (.teamAccess, .seconds(600), .seconds(1800), true),
            (.projectVisibility, .seconds(900), .seconds(3600), true),
            (.mediaAccessTokens, .seconds(60), .seconds(300), true),
            (.rateLimitStatus, .seconds(30), .seconds(120), false),
            (.userSessions, .seconds(300), .seconds(600), true),
            (.systemConfiguration, .seconds(900), .seconds(3600), false),
        ]
        for (kind, l1, l2, failClosed) in expected {
            let policy = try policies.policy(for: kind)
            #expect(policy.l1TTL == l1, "\(kind)")
            #expect(policy.l2TTL == l2, "\(kind)")
            #expect(policy.failClosed == failClosed, "\(kind)")
            #expect((policy.failSafe != nil) == !failClosed, "\(kind): fail-safe exactly for the fail-open kinds")
        }
        #expect(policies.kinds.count == CacheKind.builtIn.count)
        try policies.validate()
    }

    @Test func environmentOverridesPolicies() throws {
        let policies = try CachePolicies.fromEnvironment([
            "STRATA_CACHE_TEAM_ACCESS_L1_TTL": "2m",
            "STRATA_CACHE_TEAM_ACCESS_L2_TTL": "off",
            "STRATA_CACHE_USER_SESSIONS_NEGATIVE_TTL": "1.5s",
            "STRATA_CACHE_SYSTEM_CONFIGURATION_MAX_STALE": "6h",
            "STRATA_CACHE_SYSTEM_CONFIGURATION_SOFT_TIMEOUT": "250ms",
            "STRATA_CACHE_RATE_LIMIT_STATUS_LOAD_TIMEOUT": "100ms",
            "UNRELATED": "x",
        ])
        #expect(policies[.teamAccess]?.l1TTL == .seconds(120))
        #expect(policies[.teamAccess]?.l2TTL == nil)
        #expect(policies[.userSessions]?.negativeTTL == .milliseconds(1500))
        #expect(policies[.systemConfiguration]?.failSafe == CachePolicy.FailSafe(maximumStaleness: .seconds(6 * 3600), softTimeout: .milliseconds(250)))
        #expect(policies[.rateLimitStatus]?.loadTimeout == .milliseconds(100))
        // Untouched kinds keep their defaults.
        #expect(policies[.userPermissions] == CachePolicies.defaults[.userPermissions])
    }

    @Test func environmentErrorsSayWhatIsWrong() {
        func message(_ environment: [String: String]) -> String {
            do {
                _ = try CachePolicies.fromEnvironment(environment)
                return "no error"
            } catch {
                #expect(error.code == .invalidConfiguration)
                return error.message
            }
        }
        let malformed = message(["STRATA_CACHE_TEAM_ACCESS_L1_TTL": "10 minutes"])
        #expect(malformed.contains("STRATA_CACHE_TEAM_ACCESS_L1_TTL") && malformed.contains("not a duration") && malformed.contains("30s"))
        let unknown = message(["STRATA_CACHE_TEAM_ACESS_L1_TTL": "1m"])
        #expect(unknown.contains("unknown cache setting STRATA_CACHE_TEAM_ACESS_L1_TTL") && unknown.contains("STRATA_CACHE_TEAM_ACCESS_"))
        let stale = message(["STRATA_CACHE_USER_PERMISSIONS_MAX_STALE": "1h"])
        #expect(stale.contains("fail-closed"))
        let soft = message(["STRATA_CACHE_MEDIA_ACCESS_TOKENS_SOFT_TIMEOUT": "10ms"])
        #expect(soft.contains("MAX_STALE"))
        let zero = message(["STRATA_CACHE_TEAM_ACCESS_L1_TTL": "0s"])
        #expect(zero.contains("must be positive"))
    }

    @Test func failSafeIsRefusedForFailClosedKinds() {
        var policy = CachePolicy(kind: "grant", l1TTL: .seconds(1), l2TTL: .seconds(2), failClosed: true)
        policy.failSafe = .init(maximumStaleness: .seconds(60))
        #expect(throws: TieredCacheError.self) { try policy.validate() }
    }

    @Test func keysAreEscapedSegmentBySegment() throws {
        let key = CacheKey("session", "a:b*c", 42)
        #expect(key.text == "session:a%3Ab%2Ac:42")
        #expect(LogicalKey.validate(key.text) == nil)
        #expect(key.prefix.text == "session:a%3Ab%2Ac:42:*")
        #expect(key.appending("x").text == "session:a%3Ab%2Ac:42:x")
        #expect(CacheKey("authz", "team", 7).prefix.covers(CacheKey("authz", "team", 7, "members")))
        #expect(!CacheKey("authz", "team", 7).prefix.covers(CacheKey("authz", "team", 70)))
        #expect(throws: TieredCacheError.self) { try CacheKey(validating: "authz:team:*") }
        #expect(throws: TieredCacheError.self) { try CachePrefix(validating: "authz:team:7") }
        #expect(try CacheKey(validating: "authz:team:7").text == "authz:team:7")
        #expect(AuthorizationKeys.access(user: 42, resource: .project(19)).text == "authz:access:42:project:19")
        #expect(AuthorizationKeys.decisions(of: 42).covers(AuthorizationKeys.access(user: 42, resource: .team(1))))
        #expect(AuthorizationKeys.generation(9).text == "authz:generation:9")
    }

    @Test func histogramPercentilesAreWithinABucket() {
        var histogram = LatencyHistogram()
        for value in 1...1000 { histogram.record(nanoseconds: Int64(value) * 1000) }
        for (q, exact) in [(0.5, 500_000.0), (0.95, 950_000.0), (0.99, 990_000.0)] {
            let estimate = Double(histogram.percentile(q)!)
            #expect(estimate >= exact && estimate <= exact * 1.125, "p\(q): \(estimate) vs \(exact)")
        }
        var other = LatencyHistogram()
        other.record(nanoseconds: 5)
        histogram.merge(other)
        #expect(histogram.count == 1001)
        #expect(histogram.percentile(0.0001) == 5)
        #expect(LatencyHistogram().percentile(0.5) == nil)
    }

    @Test func accessRightsEncodeAsOneNumber() throws {
        let rights = AccessRights([.read, .write])
        #expect(rights.allows(.read) && rights.allows(.write) && !rights.allows(.admin))
        #expect(rights.actions == [.read, .write])
        #expect(AccessRights.all.actions == AccessAction.allCases)
        let json = try JSONEncoder().encode(rights)
        #expect(String(decoding: json, as: UTF8.self) == "5")
        #expect(try JSONDecoder().decode(AccessRights.self, from: json) == rights)
    }
}

import Foundation
