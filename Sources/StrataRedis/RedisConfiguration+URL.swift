extension RedisConfiguration {
    /// Parses a Redis URL.
    ///
    /// Accepted forms:
    /// - `redis://[user[:password]@]host[:port][/db]`; as in `redis-cli -u`, userinfo
    ///   without a colon is a password (`redis://secret@host`), `redis://:secret@host`
    ///   too. IPv6 hosts in brackets: `redis://[::1]:6379`. User and password may be
    ///   percent-encoded.
    /// - `unix:///path/to.sock[?db=N&password=...&username=...]`
    /// - `host:port` or `host` (port 6379).
    ///
    /// Query parameters `db`, `password`, `username` (or `user`) work on all forms.
    /// An empty password means none.
    /// `rediss://` is rejected: this client has no TLS.
    ///
    /// ```swift
    /// let configuration = try RedisConfiguration(url: "redis://:secret@10.0.0.5:6380/1")
    /// ```
    ///
    /// - Throws: ``RedisError`` with code ``RedisError/Code-swift.struct/invalidConfiguration``.
    public init(url: String) throws {
        func invalid(_ message: String) -> RedisError {
            RedisError(code: .invalidConfiguration, message: "invalid Redis URL \"\(Self.redacted(url))\": \(message)")
        }
        var rest = Substring(url.trimmingASCIIWhitespace())
        var scheme = "redis"
        if let range = rest.firstRange(of: "://") {
            scheme = rest[..<range.lowerBound].lowercased()
            rest = rest[range.upperBound...]
        }
        // Query.
        var query: [(String, String)] = []
        if let questionMark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: questionMark)...].split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = Self.percentDecoded(parts[0]), let value = Self.percentDecoded(parts.count > 1 ? parts[1] : "") else {
                    throw invalid("bad percent-encoding in query parameter \(parts[0])")
                }
                query.append((name, value))
            }
            rest = rest[..<questionMark]
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        switch scheme {
        case "rediss":
            throw invalid("rediss:// (TLS) is not supported: the hiredis 0.14 client has no TLS. Use redis:// on a trusted network, or run a local TLS proxy (stunnel, a sidecar) and point redis:// at it")
        case "redis":
            var authority = rest
            var path: Substring = ""
            if let slash = rest.firstIndex(of: "/") {
                authority = rest[..<slash]
                path = rest[rest.index(after: slash)...]
            }
            var username: String?
            var password: String?
            if let at = authority.lastIndex(of: "@") {
                let userinfo = authority[..<at]
                authority = authority[authority.index(after: at)...]
                if let colon = userinfo.firstIndex(of: ":") {
                    guard let user = Self.percentDecoded(userinfo[..<colon]),
                          let pass = Self.percentDecoded(userinfo[userinfo.index(after: colon)...])
                    else { throw invalid("bad percent-encoding in user or password") }
                    username = user.isEmpty ? nil : user
                    password = pass.isEmpty ? nil : pass
                } else {
                    guard let pass = Self.percentDecoded(userinfo) else { throw invalid("bad percent-encoding in password") }
                    password = pass.isEmpty ? nil : pass
                }
            }
            var host: Substring
            var portText: Substring?
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
                host = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw invalid("expected ':' after the IPv6 address") }
                    portText = after.dropFirst()
                }
            } else if let colon = authority.lastIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            if host.isEmpty { throw invalid("the host is missing") }
            var port = 6379
            if let portText {
                guard let value = Int(portText), (1...65535).contains(value) else {
                    throw invalid("port \"\(portText)\" is not a number in 1...65535")
                }
                port = value
            }
            var database = 0
            if !path.isEmpty {
                guard let value = Int(path), value >= 0 else { throw invalid("database \"\(path)\" is not a non-negative number") }
                database = value
            }
            self.init(host: String(host), port: port, username: username, password: password, database: database)
        case "unix":
            guard rest.hasPrefix("/") else { throw invalid("a unix socket URL needs an absolute path: unix:///path/to/redis.sock") }
            self.init(unixSocketPath: String(rest))
        default:
            throw invalid("unsupported scheme \"\(scheme)\"; use redis:// or unix://")
        }

        for (name, value) in query {
            switch name.lowercased() {
            case "db", "database":
                guard let value = Int(value), value >= 0 else { throw invalid("db=\(value) is not a non-negative number") }
                self.database = value
            case "password":
                self.password = value.isEmpty ? nil : value
            case "username", "user":
                self.username = value.isEmpty ? nil : value
            default:
                throw invalid("unknown query parameter \"\(name)\"; known: db, password, username")
            }
        }
        do {
            try validate()
        } catch {
            throw invalid(error.message)
        }
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The URL with the password replaced by `***`, for error messages.
    static func redacted(_ url: String) -> String {
        var text = Substring(url)
        var result = ""
        if let range = text.firstRange(of: "://") {
            result = String(text[..<range.upperBound])
            text = text[range.upperBound...]
        }
        let authorityEnd = text.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? text.endIndex
        if let at = text[..<authorityEnd].lastIndex(of: "@") {
            let userinfo = text[..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                result += userinfo[..<colon] + ":***"
            } else {
                result += "***"
            }
            text = text[at...]
        }
        result += text
        if let range = result.firstRange(of: "password=") {
            let valueEnd = result[range.upperBound...].firstIndex(of: "&") ?? result.endIndex
            result.replaceSubrange(range.upperBound..<valueEnd, with: "***")
        }
        return result
    }
}

extension String {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        var text = Substring(self)
        while let first = text.first, isSpace(first) { text.removeFirst() }
        while let last = text.last, isSpace(last) { text.removeLast() }
        return text
    }
}
