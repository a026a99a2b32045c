/// PostgreSQL array literals (`{a,"b c",NULL}`), one-dimensional, text format.
enum _ArrayLiteral {
    private static let openBrace = UInt8(ascii: "{")
    private static let closeBrace = UInt8(ascii: "}")
    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let comma = UInt8(ascii: ",")

    /// Renders elements as an array literal; every non-NULL element is quoted, so any
    /// text (commas, braces, quotes, backslashes, whitespace, the word NULL) survives.
    static func encode(_ elements: [String?]) -> String {
        var out: [UInt8] = [openBrace]
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(comma) }
            guard let element else {
                out.append(contentsOf: "NULL".utf8)
                continue
            }
            out.append(quote)
            for byte in element.utf8 {
                if byte == quote || byte == backslash { out.append(backslash) }
                out.append(byte)
            }
            out.append(quote)
        }
        out.append(closeBrace)
        return String(decoding: out, as: UTF8.self)
    }

    /// An unquoted, unescaped `NULL` in any case (as PostgreSQL reads it: ASCII letters only).
    private static func isNull(_ element: ArraySlice<UInt8>) -> Bool {
        guard element.count == 4 else { return false }
        var index = element.startIndex
        for letter in "null".utf8 {
            guard element[index] | 0x20 == letter else { return false }
            index += 1
        }
        return true
    }

    /// Parses a one-dimensional array literal as PostgreSQL prints it. NULL elements are `nil`.
    static func parse(_ text: String) throws -> [String?] {
        let bytes = Array(text.utf8)
        let end = bytes.count
        var i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        func skipSpace() { while i < end, isSpace(bytes[i]) { i += 1 } }
        func fail(_ why: String) -> _DecodingFailure {
            _DecodingFailure("\(_preview(text)) is not an array literal (\(why))")
        }

        skipSpace()
        // Optional dimension decoration, e.g. "[0:1]={a,b}".
        if i < end, bytes[i] == UInt8(ascii: "[") {
            guard let equals = bytes[i...].firstIndex(of: UInt8(ascii: "=")) else { throw fail("bad dimensions") }
            i = equals + 1
            skipSpace()
        }
        guard i < end, bytes[i] == openBrace else { throw fail("missing '{'") }
        i += 1
        skipSpace()
        var result: [String?] = []
        if i < end, bytes[i] == closeBrace {
            i += 1
        } else {
            while true {
                skipSpace()
                guard i < end else { throw fail("unterminated") }
                if bytes[i] == openBrace {
                    throw _DecodingFailure("multi-dimensional arrays are not supported: \(_preview(text))")
                }
                if bytes[i] == quote {
                    i += 1
                    // Most elements have no escapes: one String straight from the bytes.
                    let start = i
                    while i < end, bytes[i] != quote, bytes[i] != backslash { i += 1 }
                    if i < end, bytes[i] == quote {
                        result.append(String(decoding: bytes[start..<i], as: UTF8.self))
                        i += 1
                    } else {
                        var element = Array(bytes[start..<i])
                        while true {
                            guard i < end else { throw fail("unterminated quoted element") }
                            let b = bytes[i]
                            if b == backslash {
                                guard i + 1 < end else { throw fail("dangling backslash") }
                                element.append(bytes[i + 1])
                                i += 2
                            } else if b == quote {
                                i += 1
                                break
                            } else {
                                element.append(b)
                                i += 1
                            }
                        }
                        result.append(String(decoding: element, as: UTF8.self))
                    }
                } else {
                    let start = i
                    while i < end, bytes[i] != comma, bytes[i] != closeBrace, bytes[i] != backslash { i += 1 }
                    // trailing whitespace is not part of an element (escaped whitespace is)
                    var lastSignificant = i
                    while lastSignificant > start, isSpace(bytes[lastSignificant - 1]) { lastSignificant -= 1 }
                    if i == end || bytes[i] != backslash {
                        if lastSignificant == start { throw fail("empty unquoted element") }
                        let element = bytes[start..<lastSignificant]
                        result.append(isNull(element) ? nil : String(decoding: element, as: UTF8.self))
                    } else {
                        var element = Array(bytes[start..<i])
                        var significant = lastSignificant - start  // length up to the last escaped or non-space byte
                        while i < end, bytes[i] != comma, bytes[i] != closeBrace {
                            if bytes[i] == backslash {
                                guard i + 1 < end else { throw fail("dangling backslash") }
                                element.append(bytes[i + 1])
                                i += 2
                                significant = element.count
                            } else {
                                element.append(bytes[i])
                                if !isSpace(bytes[i]) { significant = element.count }
                                i += 1
                            }
                        }
                        element.removeLast(element.count - significant)
                        // an escaped NULL is the string "NULL", and an escape makes it non-empty
                        result.append(String(decoding: element, as: UTF8.self))
                    }
                }
                skipSpace()
                guard i < end else { throw fail("unterminated") }
                if bytes[i] == comma {
                    i += 1
                    continue
                }
                if bytes[i] == closeBrace {
                    i += 1
                    break
                }
                throw fail("unexpected character after element")
            }
        }
        skipSpace()
        guard i == end else { throw fail("trailing characters") }
        return result
    }
}
