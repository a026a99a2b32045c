import CLibPQ

/// Validation and description of a URL or conninfo string, without connecting.
enum _ConnectionString {
    /// Parses with libpq (`PQconninfoParse`) and returns the options that were set.
    static func parse(_ string: String) throws(PostgresError) -> [String: String] {
        let isURL = string.hasPrefix("postgresql://") || string.hasPrefix("postgres://")
        let kind = isURL ? "connection URL" : "connection string"
        if string.utf8.contains(0) {
            throw PostgresError(code: .invalidConnectionString, message: "invalid \(kind): it contains a NUL byte")
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(string, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            var hint = "use postgresql://user:password@host:port/database?option=value or \"host=... port=... dbname=... user=...\""
            if !isURL, string.contains("://") {
                hint = "only postgresql:// and postgres:// URLs are understood; " + hint
            }
            throw PostgresError(
                code: .invalidConnectionString,
                message: "invalid \(kind) '\(redact(string))': \(_oneLine(reason))",
                hint: hint)
        }
        defer { PQconninfoFree(options) }
        var result: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                result[String(cString: keyword)] = String(cString: value)
            }
            option += 1
        }
        // libpq checks values only when connecting; catch the common mistake here.
        if let ports = result["port"] {
            for port in ports.split(separator: ",", omittingEmptySubsequences: false) where !port.isEmpty {
                guard let number = Int(port), (1...65535).contains(number) else {
                    throw PostgresError(
                        code: .invalidConnectionString,
                        message: "invalid \(kind) '\(redact(string))': invalid port \"\(port)\"",
                        hint: "the port must be a number from 1 to 65535")
                }
            }
        }
        return result
    }

    /// Whether an error libpq reports before any network activity is about an option's value
    /// (`invalid sslmode value: "x"`, `invalid integer value "x" for connection option "port"`).
    static func isOptionError(_ message: String) -> Bool {
        message.hasPrefix("invalid ") || message.hasPrefix("unrecognized ")
    }

    /// `host=... port=... dbname=... user=...` for error messages (never the password).
    static func target(_ options: [String: String]) -> String {
        var parts: [String] = []
        if let hostaddr = options["hostaddr"] { parts.append("hostaddr=\(hostaddr)") }
        parts.append("host=\(options["host"] ?? "(PGHOST or the default Unix socket)")")
        parts.append("port=\(options["port"] ?? "(PGPORT or 5432)")")
        if let dbname = options["dbname"] { parts.append("dbname=\(dbname)") }
        if let user = options["user"] { parts.append("user=\(user)") }
        return parts.joined(separator: " ")
    }

    /// Hides passwords in a URL (`user:***@`, `password=***`) or conninfo string.
    static func redact(_ string: String) -> String {
        var text = string
        if let scheme = text.range(of: "://") {
            let rest = text[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@"),
                let colon = rest[..<at].firstIndex(of: ":")
            {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        // password=... in a conninfo string or a URL query.
        var output = ""
        var remainder = Substring(text)
        while let range = remainder.range(of: "password=") {
            output += remainder[..<range.upperBound]
            output += "***"
            var after = remainder[range.upperBound...]
            if after.first == "'" {
                after = after.dropFirst()
                while let c = after.first {
                    after = after.dropFirst()
                    if c == "\\" { after = after.dropFirst(); continue }
                    if c == "'" { break }
                }
            } else {
                after = after.drop(while: { $0 != " " && $0 != "&" })
            }
            remainder = after
        }
        output += remainder
        return output
    }
}
