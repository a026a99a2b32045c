import Foundation
import StrataPostgres
import Testing

@Suite("Encoding and decoding against the server", .timeLimit(.minutes(1)))
struct CodingTests {
    struct Profile: Codable, Equatable, Sendable {
        var name: String
        var tags: [String]
        var score: Double?
    }

    @Test func everyTypeRoundTrips() async throws {
        try await withConnection { connection in
            let uuid = UUID()
            let date = Date(timeIntervalSince1970: 1_714_567_890.123456)
            let profile = Profile(name: "Zoë \"Z\" O'Neil", tags: ["a", "b,c"], score: 0.5)
            let text = "it's \"quoted\", back\\slash, {braces}, ünïcödé 😀, tab\tnewline\n"
            let array = ["plain", "a,b", "{x}", "q\"uote", "back\\slash", "", "NULL", " spaced ", "ünï😀", "x y"]
            let bytes: [UInt8] = Array(0...255)
            let rows = try await connection.query(
                """
                select $1::text, $2::int8, $3::int4, $4::int2, $5::float8, $6::bool, $7::uuid,
                       $8::timestamptz, $9::text[], $10::jsonb, $11::bytea, $12::int8, $13::text[], $14::bool
                """,
                text, Int.max, Int32.min, Int16(-7), 3.141592653589793, true, uuid,
                date, array, PostgresJSON(profile), bytes, Int64(-1), [String](), false)
            let row = try #require(rows.first)
            #expect(try row.decode(String.self, at: 0) == text)
            #expect(try row.decode(Int.self, at: 1) == Int.max)
            #expect(try row.decode(Int32.self, at: 2) == Int32.min)
            #expect(try row.decode(Int16.self, at: 3) == -7)
            #expect(try row.decode(Double.self, at: 4) == 3.141592653589793)
            #expect(try row.decode(Bool.self, at: 5) == true)
            #expect(try row.decode(UUID.self, at: 6) == uuid)
            let decodedDate = try row.decode(Date.self, at: 7)
            #expect(abs(decodedDate.timeIntervalSince(date)) < 0.000_001)
            #expect(try row.decode([String].self, at: 8) == array)
            #expect(try row.decode(PostgresJSON<Profile>.self, at: 9).value == profile)
            #expect(try row.decodeJSON(Profile.self, at: 9) == profile)
            #expect(try row.decode([UInt8].self, at: 10) == bytes)
            #expect(try row.decode(Int64.self, at: 11) == -1)
            #expect(try row.decode([String].self, at: 12) == [])
            #expect(try row.decode(Bool.self, at: 13) == false)
            #expect(rows.columns.map(\.dataType) == [
                .text, .int8, .int4, .int2, .float8, .bool, .uuid, .timestamptz, .textArray, .jsonb, .bytea, .int8, .textArray, .bool,
            ])
        }
    }

    @Test func nullsRoundTripAndNonOptionalNullNamesTheColumn() async throws {
        try await withConnection { connection in
            let none: String? = nil
            let noInt: Int? = nil
            let rows = try await connection.query(
                "select $1::text as a, $2::int8 as b, $3::uuid as c, $4::timestamptz as d, $5::text[] as e, $6::jsonb as f",
                none, noInt, nil, Optional<Date>.none, Optional<[String]>.none, Optional<PostgresJSON<Profile>>.none)
            let row = rows[0]
            #expect(try row.decode(String?.self, at: 0) == nil)
            #expect(try row.decode(Int?.self, column: "b") == nil)
            #expect(try row.decode(UUID?.self, at: 2) == nil)
            #expect(try row.decode(Date?.self, at: 3) == nil)
            #expect(try row.decode([String]?.self, at: 4) == nil)
            #expect(try row.decode(PostgresJSON<Profile>?.self, at: 5) == nil)
            #expect(row[0].isNull && row["e"]?.text == nil)

            let error = try #require(throws: PostgresError.self) { try row.decode(String.self, column: "a") }
            #expect(error.code == .decoding)
            #expect(error.message.contains("\"a\""), "should name the column: \(error)")
            #expect(error.message.contains("String?"))

            let present: Int? = 5
            #expect(try await connection.query("select $1::int8", present)[0].decode(Int?.self, at: 0) == 5)
        }
    }

    @Test func arraysWithNullElementsAndServerBuiltArrays() async throws {
        try await withConnection { connection in
            let withNulls: [String?] = ["a", nil, "NULL", "", "x\"y\\z"]
            let row = try await connection.query(
                """
                select $1::text[], array['a b', null, 'c"d', 'e\\f', '{}', ',']::text[],
                       array[1, 2, null]::int4[], '{}'::text[], array[$2::uuid], array_length($1::text[], 1)
                """,
                withNulls, UUID(uuidString: "123e4567-e89b-12d3-a456-426614174000")!)[0]
            #expect(try row.decode([String?].self, at: 0) == withNulls)
            #expect(try row.decode(Int.self, at: 5) == 5)
            #expect(try row.decode([String?].self, at: 1) == ["a b", nil, "c\"d", "e\\f", "{}", ","])
            #expect(try row.decode([Int?].self, at: 2) == [1, 2, nil])
            #expect(try row.decode([String].self, at: 3) == [])
            #expect(try row.decode([UUID].self, at: 4) == [UUID(uuidString: "123e4567-e89b-12d3-a456-426614174000")!])

            let error = try #require(throws: PostgresError.self) { try row.decode([String].self, at: 1) }
            #expect(error.message.contains("element 2 is NULL"))

            // Arrays round-trip through a table column as well.
            try await connection.execute("create temp table arr(id int, tags text[], ids int8[])")
            try await connection.query("insert into arr values (1, $1, $2)", ["x", "y,z"], [Int64(1), 2, 3])
            let back = try await connection.query("select tags, ids from arr where $1 = any(tags)", "y,z")[0]
            #expect(try back.decode([String].self, at: 0) == ["x", "y,z"])
            #expect(try back.decode([Int64].self, at: 1) == [1, 2, 3])
        }
    }

    @Test func datesInAnySessionTimeZone() async throws {
        try await withConnection { connection in
            try await connection.execute("set TimeZone = 'Asia/Kolkata'")
            let row = try await connection.query(
                """
                select '2024-05-01 12:30:00.25+00'::timestamptz, '2024-05-01 12:30:00'::timestamp,
                       '2024-05-01'::date, 'infinity'::timestamptz, '-infinity'::timestamptz,
                       '0044-03-15 12:00:00+00 BC'::timestamptz, '1850-01-01 00:00:00+00'::timestamptz
                """)[0]
            let expected = Date(timeIntervalSince1970: 1_714_566_600.25)
            #expect(row[0].text == "2024-05-01 18:00:00.25+05:30")
            #expect(try row.decode(Date.self, at: 0) == expected)
            #expect(try row.decode(Date.self, at: 1) == Date(timeIntervalSince1970: 1_714_566_600))
            #expect(try row.decode(Date.self, at: 2) == Date(timeIntervalSince1970: 1_714_521_600))
            #expect(try row.decode(Date.self, at: 3) == .distantFuture)
            #expect(try row.decode(Date.self, at: 4) == .distantPast)
            let bc = try row.decode(Date.self, at: 5)
            let lmt = try row.decode(Date.self, at: 6)  // printed with a +05:53:28 LMT offset
            #expect(lmt == Date(timeIntervalSince1970: -3_786_825_600))

            // And back: the server sees the same instants.
            let same = try await connection.query(
                "select $1::timestamptz = '0044-03-15 12:00:00+00 BC', $2::timestamptz = 'infinity', $3::timestamptz = '2024-05-01 12:30:00.25+00'",
                bc, Date.distantFuture, expected)[0]
            #expect(try same.decode(Bool.self, at: 0))
            #expect(try same.decode(Bool.self, at: 1))
            #expect(try same.decode(Bool.self, at: 2))
        }
    }

    @Test func tableRoundTripWithEveryColumnType() async throws {
        try await withConnection { connection in
            try await connection.execute(
                """
                create temp table everything(
                    id int8 primary key, t text, i4 int4, i2 int2, f float8, b bool, u uuid,
                    ts timestamptz, tags text[], doc jsonb, raw bytea, j json)
                """)
            let uuid = UUID()
            let now = Date(timeIntervalSince1970: 1_700_000_000.5)
            let inserted = try await connection.query(
                "insert into everything values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                parameters: [1, "ünï", Int32(4), Int16(2), -0.25, true, uuid, now, ["a", "b"], PostgresJSON(["k": 1]), [UInt8]([0, 1, 2]), PostgresJSON([1, 2])])
            #expect(inserted.affectedRows == 1)
            #expect(inserted.commandTag == "INSERT 0 1")
            try await connection.query(
                "insert into everything values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                parameters: [2, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil])

            let rows = try await connection.query("select * from everything order by id")
            #expect(rows.count == 2)
            #expect(rows.columnNames == ["id", "t", "i4", "i2", "f", "b", "u", "ts", "tags", "doc", "raw", "j"])
            let first = rows[0]
            #expect(try first.decode(String.self, column: "t") == "ünï")
            #expect(try first.decode(Int32.self, column: "i4") == 4)
            #expect(try first.decode(Int16.self, column: "i2") == 2)
            #expect(try first.decode(Double.self, column: "f") == -0.25)
            #expect(try first.decode(Bool.self, column: "b"))
            #expect(try first.decode(UUID.self, column: "u") == uuid)
            #expect(try first.decode(Date.self, column: "ts") == now)
            #expect(try first.decode([String].self, column: "tags") == ["a", "b"])
            #expect(try first.decodeJSON([String: Int].self, column: "doc") == ["k": 1])
            #expect(try first.decode([UInt8].self, column: "raw") == [0, 1, 2])
            #expect(try first.decodeJSON([Int].self, column: "j") == [1, 2])
            let second = rows[1]
            for column in 1..<second.count { #expect(second[column].isNull) }
            #expect(try second.decode(Int?.self, column: "i4") == nil)

            let updated = try await connection.query("update everything set t = 'x'")
            #expect(updated.affectedRows == 2)
        }
    }

    @Test func decodingErrorsAreClear() async throws {
        try await withConnection { connection in
            let row = try await connection.query("select 'abc' as word, 70000 as big")[0]
            let notInt = try #require(throws: PostgresError.self) { try row.decode(Int.self, column: "word") }
            #expect(notInt.code == .decoding)
            #expect(notInt.description.contains("\"word\""))
            #expect(notInt.description.contains("'abc' is not an integer"))
            let tooBig = try #require(throws: PostgresError.self) { try row.decode(Int16.self, at: 1) }
            #expect(tooBig.message.contains("out of range for Int16"))
            let missing = try #require(throws: PostgresError.self) { try row.decode(Int.self, column: "nope") }
            #expect(missing.message.contains("no column named \"nope\""))
            #expect(row[column: "nope"] == nil)
            let outOfRange = try #require(throws: PostgresError.self) { try row.decode(Int.self, at: 9) }
            #expect(outOfRange.code == .decoding)
        }
    }

    @Test func parameterWithNulByteIsRejectedBeforeSending() async throws {
        try await withConnection { connection in
            let error = try #require(await catching { try await connection.query("select $1::text", "a\u{0}b") }.failure as? PostgresError)
            #expect(error.code == .encoding)
            #expect(error.message.contains("$1"))
            #expect(try await connection.query("select 1")[0].decode(Int.self, at: 0) == 1)
        }
    }
}
