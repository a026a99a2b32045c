import StrataPostgres
import Testing

@Suite("Prepared statements", .timeLimit(.minutes(1)))
struct PreparedTests {
    /// The names of this session's server-side prepared statements.
    private func statements(_ connection: PostgresConnection) async throws -> [String] {
        try await connection.query("select name from pg_prepared_statements order by name").map { try $0.decode(String.self, at: 0) }
    }

    @Test func preparedOnceThenOnlyExecuted() async throws {
        try await withConnection { connection in
            let sql = "select $1::int + 1, $2::text"
            for n in 0..<5 {
                let rows = try await connection.preparedQuery(sql, n, "v\(n)")
                #expect(try rows[0].decode(Int.self, at: 0) == n + 1)
                #expect(try rows[0].decode(String.self, at: 1) == "v\(n)")
            }
            #expect(try await statements(connection) == ["strata_1"])
            // Other SQL is another statement; NULL parameters bind as usual.
            let rows = try await connection.preparedQuery("select $1::text is null", nil as String?)
            #expect(try rows[0].decode(Bool.self, at: 0))
            #expect(try await statements(connection) == ["strata_1", "strata_2"])
        }
    }

    @Test func writesReportTheirCommandAndAffectedRows() async throws {
        try await withConnection { connection in
            try await connection.execute("create temp table p(id int primary key, v int)")
            for id in 1...3 { try await connection.preparedQuery("insert into p values ($1, 0)", id) }
            let updated = try await connection.preparedQuery("update p set v = v + 1 where id <= $1", 2)
            #expect(updated.affectedRows == 2)
            #expect(try await connection.query("select sum(v) from p")[0].decode(Int.self, at: 0) == 2)
        }
    }

    @Test func aStatementThatDoesNotParseFailsAndTheNextOneWorks() async throws {
        try await withConnection { connection in
            let error = try #require(await catching { try await connection.preparedQuery("selec $1::int", 1) }.failure as? PostgresError)
            #expect(error.sqlState == "42601")
            #expect(try await statements(connection).isEmpty)
            // Failing again the same way (nothing was cached for it).
            let again = try #require(await catching { try await connection.preparedQuery("selec $1::int", 1) }.failure as? PostgresError)
            #expect(again.sqlState == "42601")
            #expect(try await connection.preparedQuery("select $1::int", 7)[0].decode(Int.self, at: 0) == 7)
        }
    }

    @Test func anExecutionErrorKeepsTheStatement() async throws {
        try await withConnection { connection in
            let sql = "select 10 / $1::int"
            #expect(try await connection.preparedQuery(sql, 2)[0].decode(Int.self, at: 0) == 5)
            let error = try #require(await catching { try await connection.preparedQuery(sql, 0) }.failure as? PostgresError)
            #expect(error.sqlState == "22012")
            #expect(try await connection.preparedQuery(sql, 5)[0].decode(Int.self, at: 0) == 2)
            #expect(try await statements(connection).count == 1)
        }
    }

    @Test func deallocatedStatementsArePreparedAgain() async throws {
        try await withConnection { connection in
            let sql = "select $1::int * 2"
            #expect(try await connection.preparedQuery(sql, 2)[0].decode(Int.self, at: 0) == 4)
            try await connection.execute("deallocate all")
            #expect(try await statements(connection).isEmpty)
            #expect(try await connection.preparedQuery(sql, 3)[0].decode(Int.self, at: 0) == 6)
            #expect(try await statements(connection).count == 1)
            try await connection.execute("discard all")
            #expect(try await connection.preparedQuery(sql, 4)[0].decode(Int.self, at: 0) == 8)
        }
    }

    @Test func insideATransactionBlockAStaleStatementFailsOnceThenIsPreparedAgain() async throws {
        try await withConnection { connection in
            let sql = "select $1::int + 100"
            #expect(try await connection.preparedQuery(sql, 1)[0].decode(Int.self, at: 0) == 101)
            try await connection.execute("begin")
            try await connection.execute("deallocate all")
            // The failed Bind aborted the block: running it again there could only fail with 25P02.
            let error = try #require(await catching { try await connection.preparedQuery(sql, 2) }.failure as? PostgresError)
            #expect(error.sqlState == "26000")
            try await connection.execute("rollback")
            #expect(try await connection.preparedQuery(sql, 3)[0].decode(Int.self, at: 0) == 103)
        }
    }

    @Test func aSchemaChangeThatAltersTheResultIsPreparedAgain() async throws {
        try await withConnection { connection in
            try await connection.execute("create temp table s(a int)")
            try await connection.execute("insert into s values (1)")
            let sql = "select * from s where a >= $1"
            #expect(try await connection.preparedQuery(sql, 0)[0].count == 1)
            try await connection.execute("alter table s add column b text default 'x'")
            let rows = try await connection.preparedQuery(sql, 0)
            #expect(rows[0].count == 2)
            #expect(try rows[0].decode(String.self, at: 1) == "x")
        }
    }

    @Test func statementsBelongToTheirConnection() async throws {
        try await withConnection { first in
            try await withConnection { second in
                let sql = "select pg_backend_pid() + $1::int"
                let a = try await first.preparedQuery(sql, 0)[0].decode(Int.self, at: 0)
                let b = try await second.preparedQuery(sql, 0)[0].decode(Int.self, at: 0)
                #expect(a != b)
                #expect(try await statements(first) == ["strata_1"])
                #expect(try await statements(second) == ["strata_1"])
            }
        }
    }
}
