import StrataPostgres
import Testing

@Suite("Server errors", .timeLimit(.minutes(1)))
struct ErrorTests {
    @Test func uniqueViolationCarriesSQLStateDetailAndConstraint() async throws {
        try await withConnection { connection in
            try await connection.execute("create temp table u(id int primary key)")
            try await connection.query("insert into u values ($1)", 1)
            let error = try #require(await catching { try await connection.query("insert into u values ($1)", 1) }.failure as? PostgresError)
            #expect(error.code == .server)
            #expect(error.sqlState == "23505")
            #expect(error.message == "duplicate key value violates unique constraint \"u_pkey\"")
            #expect(error.detail == "Key (id)=(1) already exists.")
            #expect(error.constraintName == "u_pkey")
            #expect(error.tableName == "u")
            #expect(error.severity == "ERROR")
            #expect(error.description.hasPrefix("PostgreSQL error 23505: duplicate key value"))
            #expect(error.description.contains("detail: Key (id)=(1) already exists."))
            // The connection is still usable.
            #expect(try await connection.query("select count(*) from u")[0].decode(Int.self, at: 0) == 1)
        }
    }

    @Test func raisedExceptionCarriesHintAndDetail() async throws {
        try await withConnection { connection in
            let error = try #require(await catching {
                try await connection.execute("DO $$ begin raise exception 'x' using hint = 'h', detail = 'd'; end $$")
            }.failure as? PostgresError)
            #expect(error.sqlState == "P0001")
            #expect(error.message == "x")
            #expect(error.detail == "d")
            #expect(error.hint == "h")
            #expect(error.description == "PostgreSQL error P0001: x (detail: d; hint: h)")
        }
    }

    @Test func undefinedTableHasPositionAndOneLineDescription() async throws {
        try await withConnection { connection in
            let error = try #require(await catching { try await connection.query("select * from no_such_table") }.failure as? PostgresError)
            #expect(error.sqlState == "42P01")
            #expect(error.position == 15)
            #expect(error.description == "PostgreSQL error 42P01: relation \"no_such_table\" does not exist")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func firstErrorOfAMultiStatementExecuteWins() async throws {
        try await withConnection { connection in
            let error = try #require(await catching {
                try await connection.execute("select 1; select 1/0; select 2")
            }.failure as? PostgresError)
            #expect(error.sqlState == "22012")
            try await connection.execute("create temp table m(a int); insert into m values (1), (2); update m set a = a + 1")
            let rows = try await connection.query("select sum(a) from m")
            #expect(try rows[0].decode(Int.self, at: 0) == 5)
        }
    }

    @Test func copyIsRejectedAndTheConnectionStaysUsable() async throws {
        try await withConnection { connection in
            let error = try #require(await catching { try await connection.execute("copy (select generate_series(1, 1000)) to stdout") }.failure as? PostgresError)
            #expect(error.code == .unsupported)
            let copyIn = try #require(await catching {
                try await connection.execute("create temp table c(a int); copy c from stdin")
            }.failure as? PostgresError)
            #expect(copyIn.code == .unsupported)
            #expect(try await connection.query("select 42")[0].decode(Int.self, at: 0) == 42)
        }
    }
}
