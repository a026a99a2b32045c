import Strata
import StrataCore
import StrataInvalidation
import StrataL2
import StrataPostgres
import StrataRedis
import Testing

/// The authorization cache against the real L3 functions, and fail-closed behaviour.
@Suite struct AuthorizationTests {
    @Test func answersMatchL3() async throws {
        let db = try await connectPostgres()
        let fixture = try await AuthorizationFixture.create(on: db)
        let (authorization, pool) = try makeAuthorization("match", namespace: uniqueNamespace("match"), source: ScriptedInvalidationSource())
        let users = [fixture.owner, fixture.editor, fixture.viewer, fixture.outsider, fixture.creator, fixture.grantee, 0]
        let resources: [AccessResource] = [.team(fixture.team), .project(fixture.project), .generation(fixture.generation),
                                           .project(fixture.project + 999_999), .generation(fixture.generation + 999_999)]
        var checks: [AccessCheck] = []
        var expected: [Bool] = []
        for user in users {
            for resource in resources {
                for action in AccessAction.allCases {
                    checks.append(AccessCheck(user: user, action: action, resource: resource))
                    expected.append(try await db.query("select strata.check_access($1, $2, $3, $4)", user, resource.type,
                                                       resource.id, action.rawValue)[0].decode(Bool.self, at: 0))
                }
                let rights = try await db.query("select actions from strata.allowed_actions($1, $2, $3)", user, resource.type, resource.id)[0]
                    .decode([String].self, at: 0)
                #expect(try await authorization.allowedActions(user: user, resource: resource).actions.map(\.rawValue) == rights,
                        "user \(user) on \(resource)")
            }
        }
        #expect(expected.contains(true) && expected.contains(false))
        for round in 0..<2 {   // cold, then from the caches
            for (check, answer) in zip(checks, expected) {
                #expect(await authorization.canAccess(user: check.user, action: check.action, resource: check.resource) == answer,
                        "round \(round): \(check)")
            }
        }
        // The same through check(many:), on a cold instance (batch loads) and a warm one.
        let (cold, coldPool) = try makeAuthorization("match2", namespace: uniqueNamespace("match2"), source: ScriptedInvalidationSource())
        #expect(await cold.check(many: checks) == expected)
        #expect(await cold.check(many: checks) == expected)
        #expect(await authorization.check(many: checks) == expected)
        #expect(authorization.decisions.statistics.l1Hits > 0)
        try await fixture.remove(on: db)
        await pool.close()
        await coldPool.close()
    }

    @Test func failsClosedWhenL3IsUnreachable() async throws {
        let port = try ProjectScriptsPort.closed()
        let (authorization, pool) = try makeAuthorization("nol3", namespace: uniqueNamespace("nol3"), source: ScriptedInvalidationSource(),
                                                          postgresURL: "postgresql://postgres@127.0.0.1:\(port)/strata")
        #expect(await authorization.canAccess(user: 1, action: .read, resource: .project(2)) == false)
        #expect(await authorization.check(many: [AccessCheck(user: 1, action: .read, resource: .generation(3)),
                                                 AccessCheck(user: 1, action: .read, resource: .team(3))]) == [false, false])
        await #expect(throws: (any Error).self) { try await authorization.allowedActions(user: 1, resource: .team(2)) }
        await pool.close()
    }

    /// A forged "allow" planted in Redis is rejected; the answer comes from L3.
    @Test func forgedAllowInRedisIsNotServed() async throws {
        let db = try await connectPostgres()
        let fixture = try await AuthorizationFixture.create(on: db)
        let namespace = uniqueNamespace("forgedallow")
        let protection = L2Protection.authenticated(current: try L2SecretKey(id: 1, bytes: Array(repeating: 3, count: 32)))
        let forger = try makeL2(namespace: namespace) {
            $0.protection = .authenticated(current: try L2SecretKey(id: 1, bytes: Array(repeating: 4, count: 32)))
        }
        let key = AuthorizationKeys.access(user: fixture.outsider, resource: .project(fixture.project))
        _ = try await forger.set(key.text, value: Optional(AccessRights.all), ttl: .seconds(600))
        let (authorization, pool) = try makeAuthorization("forged", namespace: namespace, source: ScriptedInvalidationSource(),
                                                          protection: protection)
        #expect(await authorization.canAccess(user: fixture.outsider, action: .read, resource: .project(fixture.project)) == false)
        #expect(authorization.decisions.l2?.statistics.rejected == 1)

        // Corrupted bytes of a genuine allow: rejected too, and L3 answers (here: allow).
        let redis = try await connectRedis()
        let editorKey = AuthorizationKeys.access(user: fixture.editor, resource: .project(fixture.project))
        #expect(await authorization.canAccess(user: fixture.editor, action: .write, resource: .project(fixture.project)))
        var bytes = try #require(try await redis.raw(namespace + "v:" + editorKey.text))
        bytes[bytes.count - 1] ^= 0xFF
        try await redis.put(namespace + "v:" + editorKey.text, bytes)
        let (second, secondPool) = try makeAuthorization("forged2", namespace: namespace, source: ScriptedInvalidationSource(),
                                                         protection: protection)
        #expect(await second.canAccess(user: fixture.editor, action: .write, resource: .project(fixture.project)))
        #expect(second.decisions.l2?.statistics.rejected == 1)
        #expect(second.decisions.statistics.loads == 1)
        try await fixture.remove(on: db)
        await pool.close()
        await secondPool.close()
    }

    /// While the invalidation channel is unhealthy a cached allow is not served: a revoke
    /// the cache never heard about is answered by L3.
    @Test func unhealthyChannelNeverServesACachedAllow() async throws {
        let db = try await connectPostgres()
        let fixture = try await AuthorizationFixture.create(on: db)
        let source = ScriptedInvalidationSource()
        let (authorization, pool) = try makeAuthorization("outage", namespace: uniqueNamespace("outage"), source: source)
        let project = AccessResource.project(fixture.project)
        #expect(await authorization.canAccess(user: fixture.editor, action: .write, resource: project))
        #expect(authorization.decisions.l1Contains(AuthorizationKeys.access(user: fixture.editor, resource: project)))

        source.goUnhealthy()
        try await db.query("delete from authz.team_members where team_id = $1 and user_id = $2", fixture.team, fixture.editor)
        #expect(await authorization.canAccess(user: fixture.editor, action: .write, resource: project) == false,
                "the cached allow (L1 and L2) is not served while the channel is unhealthy")
        try await fixture.remove(on: db)
        await pool.close()
    }
}
