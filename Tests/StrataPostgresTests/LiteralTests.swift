import Foundation
@testable import StrataPostgres
import Testing

/// Pure unit tests: no server needed.
@Suite("Text formats")
struct LiteralTests {
    @Test(arguments: [
        [String?](),
        ["a"],
        ["a,b", "{x}", "q\"uote", "back\\slash", "", "NULL", " spaced ", "ünï😀", nil, "x y"],
        [nil, nil],
    ])
    func arrayLiteralRoundTrips(_ elements: [String?]) throws {
        #expect(try _ArrayLiteral.parse(_ArrayLiteral.encode(elements)) == elements)
    }

    @Test func arrayLiteralParsesServerOutput() throws {
        #expect(try _ArrayLiteral.parse(#"{a,"b c",NULL,"x\"y","",null}"#) == ["a", "b c", nil, "x\"y", "", nil])
        #expect(try _ArrayLiteral.parse("[0:1]={1,2}") == ["1", "2"])
        #expect(try _ArrayLiteral.parse("{}") == [])
        #expect(try _ArrayLiteral.parse(#"{\NULL}"#) == ["NULL"])
        // unquoted: whitespace around is dropped unless escaped; NULL in any case is NULL
        #expect(try _ArrayLiteral.parse(#"{ a b , NuLl ,b\ , c\,d ,"q\\x" , ünï }"#) == ["a b", nil, "b ", "c,d", "q\\x", "ünï"])
        #expect(throws: (any Error).self) { try _ArrayLiteral.parse("{a,,b}") }
        #expect(throws: (any Error).self) { try _ArrayLiteral.parse(#"{"a"x}"#) }
        #expect(throws: (any Error).self) { try _ArrayLiteral.parse("{{1,2},{3,4}}") }
        #expect(throws: (any Error).self) { try _ArrayLiteral.parse("{a") }
        #expect(throws: (any Error).self) { try _ArrayLiteral.parse("a}") }
        #expect(_ArrayLiteral.encode(["a", nil]) == #"{"a",NULL}"#)
    }

    @Test func timestampsParseAndFormat() throws {
        let date = Date(timeIntervalSince1970: 1_714_566_600.25)
        #expect(_Timestamp.format(date) == "2024-05-01 12:30:00.25".replacingOccurrences(of: ".25", with: ".250000") + "+00")
        #expect(_Timestamp.parse("2024-05-01 18:00:00.25+05:30") == date)
        #expect(_Timestamp.parse("2024-05-01T12:30:00.25Z") == nil)
        #expect(_Timestamp.parse("2024-05-01 12:30:00.25-01") == Date(timeIntervalSince1970: 1_714_570_200.25))
        #expect(_Timestamp.parse("1970-01-01 00:00:00+00") == Date(timeIntervalSince1970: 0))
        #expect(_Timestamp.parse("1969-12-31 23:59:59.5+00") == Date(timeIntervalSince1970: -0.5))
        #expect(_Timestamp.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31 23:59:59.500000+00")
        #expect(_Timestamp.parse("0001-01-01 00:00:00+00 BC") != nil)
        let bc = try #require(_Timestamp.parse("0044-03-15 12:00:00+00 BC"))
        #expect(_Timestamp.format(bc) == "0044-03-15 12:00:00+00 BC")
        #expect(_Timestamp.parse("12345-01-01 00:00:00+00").map(_Timestamp.format) == "12345-01-01 00:00:00+00")
        #expect(_Timestamp.parse("not a date") == nil)
        #expect(_Timestamp.parse("2024-13-01") == nil)
    }

    @Test func byteaFormats() throws {
        #expect(_Bytea.encode([0, 1, 0xab, 0xff]) == "\\x0001abff")
        #expect(try _Bytea.decode("\\x0001ABff") == [0, 1, 0xab, 0xff])
        #expect(try _Bytea.decode("a\\\\b\\001") == [97, 92, 98, 1])
        #expect(throws: (any Error).self) { try _Bytea.decode("\\x0") }
    }

    @Test func connectionStringsAreRedacted() {
        #expect(_ConnectionString.redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db")
        #expect(_ConnectionString.redact("postgresql://u@h/db?password=secret&x=1") == "postgresql://u@h/db?password=***&x=1")
        #expect(_ConnectionString.redact("host=h password='se cret' user=u") == "host=h password=*** user=u")
        #expect(_ConnectionString.redact("host=h password=secret") == "host=h password=***")
    }

    @Test func errorDescriptionsAreOneLine() {
        let error = PostgresError(code: .connectionClosed, message: "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.\n")
        #expect(error.description == "PostgreSQL connection closed: server closed the connection unexpectedly; This probably means the server terminated abnormally; before or while processing the request.")
        #expect(PostgresError.Code.timeout.description == "timeout")
    }

    @Test func identifiersAreQuoted() {
        #expect(PostgresConnection.quoteIdentifier(#"a"b"#) == #""a""b""#)
    }
}
