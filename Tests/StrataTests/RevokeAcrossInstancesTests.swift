import Foundation
import Logging
import Strata
import StrataCore
import StrataInvalidation
import StrataPostgres
import StrataTestSupport
import Testing

/// The product's promise end to end: two application instances cache an allow; the
/// permission is revoked in PostgreSQL; the capture trigger, the real `strata-worker` and
/// each instance's `RedisInvalidationSubscriber` make both answer "no" — within seconds,
/// where the cache TTLs are minutes, so the invalidation (not the TTL) did it.
@Suite(.serialized) struct RevokeAcrossInstancesTests {
    @Test func revokeReachesEveryInstance() async throws {
        let db = try await connectPostgres()
        let fixture = try await AuthorizationFixture.create(on: db)
        let worker = WorkerProcess(name: "revoke")
        try worker.start(extraArguments: ["--no-refresh"])
        defer { worker.stop() }
        var subscribers: [RedisInvalidationSubscriber] = []
        var runs: [Task<Void, any Error>] = []
        var instances: [AuthorizationCache] = []
        var pools: [L3ConnectionPool] = []
        for name in ["a", "b"] {
            var logger = Logger(label: "test.subscriber")
            logger.logLevel = .critical
            let subscriber = try RedisInvalidationSubscriber(url: TestEnvironment.redisURL, namespace: worker.namespace,
                                                             heartbeatTimeout: .seconds(1), logger: logger)
            let (authorization, pool) = try makeAuthorization(name, namespace: worker.namespace, source: subscriber)
            subscribers.append(subscriber)
            runs.append(Task { try await subscriber.run() })
            instances.append(authorization)
            pools.append(pool)
        }
        defer { for run in runs { run.cancel() } }
        try await eventually("both subscribers see the worker's heartbeats") { subscribers.allSatisfy(\.health.isHealthy) }

        let project = AccessResource.project(fixture.project)
        let generation = AccessResource.generation(fixture.generation)
        let key = AuthorizationKeys.access(user: fixture.editor, resource: project)
        for (index, authorization) in instances.enumerated() {
            #expect(await authorization.canAccess(user: fixture.editor, action: .write, resource: project))
            #expect(await authorization.canAccess(user: fixture.grantee, action: .read, resource: generation))
            // Other tests' fixtures (any project insert invalidates authz:access:*) may evict it
            // meanwhile; ask until the allow sits in L1.
            try await eventually("instance \(index) holds the allow in L1") {
                _ = await authorization.canAccess(user: fixture.editor, action: .write, resource: project)
                return authorization.decisions.l1Contains(key)
            }
        }

        // Revoke the membership and the explicit grant in one transaction.
        try await db.execute("begin")
        try await db.query("delete from authz.team_members where team_id = $1 and user_id = $2", fixture.team, fixture.editor)
        try await db.query("delete from authz.grants where user_id = $1 and generation_id = $2", fixture.grantee, fixture.generation)
        try await db.execute("commit")
        let revoked = ContinuousClock.now

        for (index, authorization) in instances.enumerated() {
            try await eventually(timeout: .seconds(20), "instance \(index) denies after the revoke") {
                let write = await authorization.canAccess(user: fixture.editor, action: .write, resource: project)
                let read = await authorization.canAccess(user: fixture.grantee, action: .read, resource: generation)
                return !write && !read
            }
        }
        let window = ContinuousClock.now - revoked
        #expect(window < .seconds(60), "far inside the 5-minute L1 TTL: the invalidation did it, not the TTL")
        // Once denied, never allowed again (no stale value written back afterwards).
        for _ in 0..<20 {
            for authorization in instances {
                #expect(await authorization.canAccess(user: fixture.editor, action: .write, resource: project) == false)
                #expect(await authorization.canAccess(user: fixture.grantee, action: .read, resource: generation) == false)
            }
        }
        // Nothing is left of the editor's rights on the (team-visible) project.
        for authorization in instances {
            #expect(try await authorization.allowedActions(user: fixture.editor, resource: project) == [])
        }
        try await fixture.remove(on: db)
        for pool in pools { await pool.close() }
    }
}
