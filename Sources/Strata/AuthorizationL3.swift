import StrataPostgres

/// The L3 side of the authorization cache: the lookups of migrations 0005/0008
/// (`strata.allowed_actions`, `strata.check_access`) and the application's own query for
/// a generation's row.
struct _AuthorizationL3: Sendable {
    let pool: L3ConnectionPool
    /// `$1` = generation id → one row (creator, project) or none.
    let generationFactQuery: String
    /// `$1` = bigint[] of generation ids → rows (id, creator, project).
    let generationFactsQuery: String

    struct Answer: Sendable {
        var rights: AccessRights
        var reasons: Set<String>
    }

    /// `strata.allowed_actions(user, type, id)`: the actions and the reasons.
    func allowedActions(user: Int64, resource: AccessResource) async throws -> Answer {
        let rows = try await pool.query(
            "select actions, reasons from strata.allowed_actions($1, $2, $3)", user, resource.type, resource.id)
        guard rows.count == 1 else {
            throw TieredCacheError(code: .unexpectedL3Reply,
                                   message: "strata.allowed_actions returned \(rows.count) rows for user \(user) on \(resource); expected 1 (are the migrations applied?)")
        }
        return Answer(rights: AccessRights(names: try rows[0].decode([String].self, at: 0)),
                      reasons: Set(try rows[0].decode([String].self, at: 1)))
    }

    /// `strata.allowed_actions` for many (user, resource) pairs in one statement; answers
    /// in the order of `pairs`.
    func allowedActions(many pairs: [(user: Int64, resource: AccessResource)]) async throws -> [Answer] {
        guard !pairs.isEmpty else { return [] }
        let rows = try await pool.query(
            """
            select q.n, a.actions, a.reasons
              from unnest($1::bigint[], $2::text[], $3::bigint[]) with ordinality as q(u, t, r, n)
             cross join lateral strata.allowed_actions(q.u, q.t, q.r) a
             order by q.n
            """,
            pairs.map(\.user), pairs.map(\.resource.type), pairs.map(\.resource.id))
        guard rows.count == pairs.count else {
            throw TieredCacheError(code: .unexpectedL3Reply,
                                   message: "strata.allowed_actions answered \(rows.count) of \(pairs.count) pairs")
        }
        return try rows.map { row in
            Answer(rights: AccessRights(names: try row.decode([String].self, at: 1)),
                   reasons: Set(try row.decode([String].self, at: 2)))
        }
    }

    /// `strata.check_access(user, type, id, action)`.
    func checkAccess(user: Int64, resource: AccessResource, action: AccessAction) async throws -> Bool {
        let rows = try await pool.query(
            "select strata.check_access($1, $2, $3, $4)", user, resource.type, resource.id, action.rawValue)
        guard rows.count == 1 else {
            throw TieredCacheError(code: .unexpectedL3Reply, message: "strata.check_access returned \(rows.count) rows; expected 1")
        }
        return try rows[0].decode(Bool.self, at: 0)
    }

    func generationFact(_ id: Int64) async throws -> GenerationFact? {
        let rows = try await pool.query(generationFactQuery, id)
        guard let row = rows.first else { return nil }
        return GenerationFact(creator: try row.decode(Int64.self, at: 0), project: try row.decode(Int64.self, at: 1))
    }

    func generationFacts(_ ids: [Int64]) async throws -> [Int64: GenerationFact] {
        guard !ids.isEmpty else { return [:] }
        var facts: [Int64: GenerationFact] = [:]
        for row in try await pool.query(generationFactsQuery, ids) {
            facts[try row.decode(Int64.self, at: 0)] = GenerationFact(
                creator: try row.decode(Int64.self, at: 1), project: try row.decode(Int64.self, at: 2))
        }
        return facts
    }
}

extension _AuthorizationL3.Answer {
    /// What a generation decision may cache of this answer for a user who is not the
    /// generation's creator: the rights from explicit grants on the generation, which
    /// depend only on grants rows (invalidated by `authz:access:{user}:*`). L3 merges
    /// them with the project's rights; they can be told apart only when no project or
    /// owner reason is mixed in, otherwise the part is ``AccessRights/undetermined`` and
    /// every check of this pair asks L3.
    var generationGrantPart: AccessRights {
        if !reasons.contains("grant") && !reasons.contains("owner") { return [] }
        if reasons == ["grant"] { return rights }
        return .undetermined
    }
}
