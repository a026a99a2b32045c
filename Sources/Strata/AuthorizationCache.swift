import Logging
import Metrics
import StrataInvalidation
import StrataL2
import StrataMem
import Synchronization

/// Everything an ``AuthorizationCache`` needs besides its layers.
public struct AuthorizationCacheConfiguration: Sendable {
    /// The decisions cache (`authz:access:...`); its name is the metrics' `cache` dimension.
    /// Its policies are used for the kinds ``CacheKind/teamAccess`` (decisions on teams),
    /// ``CacheKind/userPermissions`` (decisions on projects) and
    /// ``CacheKind/generationAccess`` (generation rows and explicit grants on generations).
    public var tiered: TieredCacheConfiguration
    /// The generation-row cache (`authz:generation:{id}`); same policies.
    public var generations: TieredCacheConfiguration
    /// The application's query for a generation's row: `$1` = id, one row
    /// `(creator, project)` or none. The role needs `SELECT` on `authz.generations`
    /// (the L3 functions do not expose the row).
    public var generationQuery = "select user_id, project_id from authz.generations where id = $1"
    /// The same for many: `$1` = `bigint[]`, rows `(id, creator, project)`.
    public var generationsQuery = "select id, user_id, project_id from authz.generations where id = any($1)"
    public var logger = Logger(label: "strata.authz")

    /// Defaults, with the policies of `policies` (default: the built-in table and the
    /// `STRATA_CACHE_*` environment variables, see ``CachePolicies/fromEnvironment(_:)``).
    public init(policies: CachePolicies = .defaults) {
        tiered = TieredCacheConfiguration(name: "authz")
        tiered.policies = policies
        generations = TieredCacheConfiguration(name: "authz_generations")
        generations.policies = policies
        generations.l1MaximumCount = 50_000
    }
}

/// Authorization answers of the reference domain (`authz.*`, docs/l3.md) through the
/// tiered cache, with L3 = `strata.allowed_actions` / `strata.check_access`. Fails closed:
/// any error, timeout, corrupt value or doubt about freshness ends in a deny or a fresh
/// answer from PostgreSQL, never in a cached allow that may have been revoked.
///
/// ```swift
/// let authorization = try AuthorizationCache(
///     configuration: AuthorizationCacheConfiguration(policies: try CachePolicies.fromEnvironment()),
///     l2: l2, l3: try L3ConnectionPool(configuration: L3PoolConfiguration(url: postgresURL)),
///     invalidationSource: subscriber)
/// if await authorization.canAccess(user: 42, action: .write, resource: .project(19)) { ... }
/// let rights = try await authorization.allowedActions(user: 42, resource: .team(7))
/// let answers = await authorization.check(many: [AccessCheck(user: 42, action: .read, resource: .generation(9001))])
/// ```
///
/// Keys (docs/l3.md, "Keys and marks"; the capture trigger invalidates them):
/// - `authz:access:{user}:team:{id}`, `authz:access:{user}:project:{id}`: the user's
///   rights (one byte) on a team or project — one entry answers every action.
/// - `authz:generation:{id}`: a generation's creator and project. A generation decision
///   is its creator's (all actions), or the project decision plus explicit grants on the
///   generation, cached as `authz:access:{user}:generation:{id}` (only the grant part).
public final class AuthorizationCache: Sendable {
    /// Decisions and generation grant parts.
    public let decisions: TieredCache<AccessRights>
    /// Generation rows.
    public let generations: TieredCache<GenerationFact>
    let l3: _AuthorizationL3
    let teamPolicy: CachePolicy
    let projectPolicy: CachePolicy
    let generationPolicy: CachePolicy
    let logger: Logger
    let errors: Counter
    let _uncached = Atomic<Int>(0)

    /// - Throws: ``TieredCacheError`` `.invalidConfiguration` (a policy is missing, or an
    ///   authorization kind is not fail-closed).
    public init(
        configuration: AuthorizationCacheConfiguration, l2: L2Cache?, l3: L3ConnectionPool,
        invalidationSource: (any InvalidationSource)?, hooks: TieredCacheHooks = TieredCacheHooks()
    ) throws(TieredCacheError) {
        let policies = configuration.tiered.policies
        teamPolicy = try policies.policy(for: .teamAccess)
        projectPolicy = try policies.policy(for: .userPermissions)
        generationPolicy = try configuration.generations.policies.policy(for: .generationAccess)
        for policy in [teamPolicy, projectPolicy, generationPolicy] where !policy.failClosed {
            throw TieredCacheError(
                code: .invalidConfiguration,
                message: "\(policy.kind) must be fail-closed for the authorization cache (a cached allow must never outlive a revoke)")
        }
        decisions = try TieredCache(configuration: configuration.tiered, l2: l2, invalidationSource: invalidationSource, hooks: hooks)
        generations = try TieredCache(configuration: configuration.generations, l2: l2, invalidationSource: invalidationSource, hooks: hooks)
        self.l3 = _AuthorizationL3(pool: l3, generationFactQuery: configuration.generationQuery,
                                   generationFactsQuery: configuration.generationsQuery)
        logger = configuration.logger
        errors = Counter(label: "strata_authz_errors", dimensions: [("cache", configuration.tiered.name)],
                         factory: configuration.tiered.metricsFactory ?? MetricsSystem.factory)
    }

    // MARK: Questions

    /// May `user` do `action` on `resource`? `false` on any error (logged, counted in
    /// `strata_authz_errors`): fail closed.
    public func canAccess(user: Int64, action: AccessAction, resource: AccessResource) async -> Bool {
        do {
            switch resource {
            case .team, .project:
                return try await decision(user: user, resource: resource).allows(action)
            case .generation(let id):
                return try await generationAllows(user: user, generation: id, action: action)
            }
        } catch {
            failed(error, user: user, resource: resource)
            return false
        }
    }

    /// Everything `user` may do on `resource`.
    ///
    /// - Throws: what prevented a trustworthy answer (L3 errors, timeouts): the caller
    ///   must treat that as a deny.
    public func allowedActions(user: Int64, resource: AccessResource) async throws -> AccessRights {
        switch resource {
        case .team, .project:
            return try await decision(user: user, resource: resource)
        case .generation(let id):
            guard let fact = try await generationFact(id) else { return [] }
            if fact.creator == user { return .all }
            let project = try await decision(user: user, resource: .project(fact.project))
            let grants = try await generationGrants(user: user, generation: id)
            if grants.contains(.undetermined) {
                _uncached.add(1, ordering: .relaxed)
                return try await l3.allowedActions(user: user, resource: resource).rights
            }
            return project.union(grants)
        }
    }

    /// Many questions at once, answers in their order. Team and project decisions missing
    /// from L1 are fetched with one L2 round trip and one L3 statement per kind;
    /// generations likewise (rows, then project decisions, then grant parts). Any error
    /// answers `false` for the questions it concerns.
    public func check(many checks: [AccessCheck]) async -> [Bool] {
        var answers = [Bool](repeating: false, count: checks.count)
        var teamIndices: [Int] = [], projectIndices: [Int] = [], generationIndices: [Int] = []
        for (index, check) in checks.enumerated() {
            switch check.resource {
            case .team: teamIndices.append(index)
            case .project: projectIndices.append(index)
            case .generation: generationIndices.append(index)
            }
        }
        for (indices, policy) in [(teamIndices, teamPolicy), (projectIndices, projectPolicy)] where !indices.isEmpty {
            do {
                let rights = try await decisions(pairs: indices.map { (checks[$0].user, checks[$0].resource) }, policy: policy)
                for index in indices {
                    answers[index] = rights[AuthorizationKeys.access(user: checks[index].user, resource: checks[index].resource)]?
                        .allows(checks[index].action) ?? false
                }
            } catch {
                failed(error, user: checks[indices[0]].user, resource: checks[indices[0]].resource)
            }
        }
        if !generationIndices.isEmpty {
            do {
                try await checkGenerations(checks, generationIndices, into: &answers)
            } catch {
                failed(error, user: checks[generationIndices[0]].user, resource: checks[generationIndices[0]].resource)
                for index in generationIndices { answers[index] = false }
            }
        }
        return answers
    }

    // MARK: Decisions

    func policy(for resource: AccessResource) -> CachePolicy {
        switch resource {
        case .team: teamPolicy
        case .project: projectPolicy
        case .generation: generationPolicy
        }
    }

    /// The cached rights of `user` on a team or project.
    func decision(user: Int64, resource: AccessResource) async throws -> AccessRights {
        let l3 = self.l3
        return try await decisions.get(AuthorizationKeys.access(user: user, resource: resource), policy: policy(for: resource)) {
            try await l3.allowedActions(user: user, resource: resource).rights
        }
    }

    /// Rights of many (user, team|project) pairs of one kind, by key.
    func decisions(pairs: [(Int64, AccessResource)], policy: CachePolicy) async throws -> [CacheKey: AccessRights] {
        var byKey: [CacheKey: (user: Int64, resource: AccessResource)] = [:]
        for (user, resource) in pairs { byKey[AuthorizationKeys.access(user: user, resource: resource)] = (user, resource) }
        let l3 = self.l3
        let lookup = byKey
        return try await decisions.getMany(Array(byKey.keys), policy: policy) { missing in
            let asked = missing.map { lookup[$0]! }
            let answers = try await l3.allowedActions(many: asked)
            var result: [CacheKey: AccessRights] = [:]
            for (key, answer) in zip(missing, answers) { result[key] = answer.rights }
            return result
        }
    }

    func generationFact(_ id: Int64) async throws -> GenerationFact? {
        let l3 = self.l3
        return try await generations.find(AuthorizationKeys.generation(id), policy: generationPolicy) {
            try await l3.generationFact(id)
        }
    }

    /// The cached grant part of a generation decision (see `generationGrantPart`).
    func generationGrants(user: Int64, generation: Int64) async throws -> AccessRights {
        let l3 = self.l3
        return try await decisions.get(AuthorizationKeys.access(user: user, resource: .generation(generation)),
                                       policy: generationPolicy) {
            try await l3.allowedActions(user: user, resource: .generation(generation)).generationGrantPart
        }
    }

    func generationAllows(user: Int64, generation: Int64, action: AccessAction) async throws -> Bool {
        guard let fact = try await generationFact(generation) else { return false }
        if fact.creator == user { return true }
        if try await decision(user: user, resource: .project(fact.project)).allows(action) { return true }
        let grants = try await generationGrants(user: user, generation: generation)
        if grants.contains(.undetermined) {
            _uncached.add(1, ordering: .relaxed)
            return try await l3.checkAccess(user: user, resource: .generation(generation), action: action)
        }
        return grants.allows(action)
    }

    func checkGenerations(_ checks: [AccessCheck], _ indices: [Int], into answers: inout [Bool]) async throws {
        let l3 = self.l3
        var ids: [CacheKey: Int64] = [:]
        for index in indices { ids[AuthorizationKeys.generation(checks[index].resource.id)] = checks[index].resource.id }
        let lookup = ids
        let facts = try await generations.getMany(Array(ids.keys), policy: generationPolicy) { missing in
            let found = try await l3.generationFacts(missing.map { lookup[$0]! })
            var result: [CacheKey: GenerationFact] = [:]
            for key in missing { result[key] = found[lookup[key]!] }
            return result
        }
        // Creators first, then the project decisions of the rest.
        var needProject: [Int] = []
        for index in indices {
            let check = checks[index]
            guard let fact = facts[AuthorizationKeys.generation(check.resource.id)] else { answers[index] = false; continue }
            if fact.creator == check.user { answers[index] = true } else { needProject.append(index) }
        }
        guard !needProject.isEmpty else { return }
        let projectOf = { (index: Int) -> AccessResource in
            .project(facts[AuthorizationKeys.generation(checks[index].resource.id)]!.project)
        }
        let projectRights = try await decisions(pairs: needProject.map { (checks[$0].user, projectOf($0)) }, policy: projectPolicy)
        var needGrants: [Int] = []
        for index in needProject {
            let rights = projectRights[AuthorizationKeys.access(user: checks[index].user, resource: projectOf(index))] ?? []
            if rights.allows(checks[index].action) { answers[index] = true } else { needGrants.append(index) }
        }
        guard !needGrants.isEmpty else { return }
        var grantPairs: [CacheKey: (user: Int64, resource: AccessResource)] = [:]
        for index in needGrants {
            grantPairs[AuthorizationKeys.access(user: checks[index].user, resource: checks[index].resource)] =
                (checks[index].user, checks[index].resource)
        }
        let grantLookup = grantPairs
        let grants = try await decisions.getMany(Array(grantPairs.keys), policy: generationPolicy) { missing in
            let answers = try await l3.allowedActions(many: missing.map { grantLookup[$0]! })
            var result: [CacheKey: AccessRights] = [:]
            for (key, answer) in zip(missing, answers) { result[key] = answer.generationGrantPart }
            return result
        }
        for index in needGrants {
            let check = checks[index]
            let part = grants[AuthorizationKeys.access(user: check.user, resource: check.resource)] ?? []
            if part.contains(.undetermined) {
                _uncached.add(1, ordering: .relaxed)
                answers[index] = try await l3.checkAccess(user: check.user, resource: check.resource, action: check.action)
            } else {
                answers[index] = part.allows(check.action)
            }
        }
    }

    func failed(_ error: any Error, user: Int64, resource: AccessResource) {
        errors.increment()
        logger.warning("authorization check failed; denying", metadata: [
            "user": "\(user)", "resource": "\(resource)", "error": "\(error)",
        ])
    }

    // MARK: Reporting

    /// L3 calls made outside the caches: generation checks whose grant part cannot be
    /// cached (a user with both project rights and explicit grants on the generation).
    public var uncachedL3Calls: Int { _uncached.load(ordering: .relaxed) }

    /// Pushes both caches' metrics (see ``TieredCache/recordMetrics()``).
    public func recordMetrics() {
        decisions.recordMetrics()
        generations.recordMetrics()
    }
}

extension AuthorizationCache: PerformanceSampling {
    /// Both caches' figures, merged per layer.
    public func takePerformanceSample() -> [String: LayerPerformance] {
        var merged = decisions.takePerformanceSample()
        for (layer, figures) in generations.takePerformanceSample() { merged[layer, default: LayerPerformance()].merge(figures) }
        return merged
    }
}

/// The keys of the reference authorization domain (docs/l3.md, "Keys and marks"), typed:
/// no text is assembled at call sites.
public enum AuthorizationKeys {
    /// `authz:access:{user}:{type}:{id}`: `user`'s rights on `resource`.
    public static func access(user: Int64, resource: AccessResource) -> CacheKey {
        CacheKey(_unchecked: "authz:access:\(user):\(resource.type):\(resource.id)")
    }

    /// `authz:access:{user}:*`: every decision of `user` (what membership and grant changes invalidate).
    public static func decisions(of user: Int64) -> CachePrefix {
        CachePrefix(_unchecked: "authz:access:\(user):*")
    }

    /// `authz:generation:{id}`: a generation's row.
    public static func generation(_ id: Int64) -> CacheKey {
        CacheKey(_unchecked: "authz:generation:\(id)")
    }
}
