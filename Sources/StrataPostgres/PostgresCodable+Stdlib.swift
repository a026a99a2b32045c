// Conformances of standard library types to PostgresEncodable and PostgresDecodable.

extension String: PostgresEncodable, PostgresDecodable {
    public func encodePostgresText() throws -> String? { self }
    // `.unspecified`: the server infers the type, so a String can stand for text, varchar,
    // an enum, a uuid, a timestamp, ... The array type is text[].
    public static var postgresArrayDataType: PostgresDataType { .textArray }

    public init(postgresText text: String, type: PostgresDataType) throws { self = text }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public func encodePostgresText() throws -> String? { self ? "true" : "false" }
    public static var postgresDataType: PostgresDataType { .bool }
    public static var postgresArrayDataType: PostgresDataType { .boolArray }

    public init(postgresText text: String, type: PostgresDataType) throws {
        switch text {
        case "t", "true", "TRUE", "on", "yes", "1": self = true
        case "f", "false", "FALSE", "off", "no", "0": self = false
        default: throw _DecodingFailure("\(_preview(text)) is not a boolean")
        }
    }
}

/// Shared text conversion of the fixed-width integers.
protocol _PostgresInteger: FixedWidthInteger, PostgresEncodable, PostgresDecodable {}

extension _PostgresInteger {
    public func encodePostgresText() throws -> String? { String(self) }

    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = Self(text) else {
            if let wide = Int64(text) {
                throw _DecodingFailure("\(wide) is out of range for \(Self.self)")
            }
            throw _DecodingFailure("\(_preview(text)) is not an integer")
        }
        self = value
    }
}

extension Int: _PostgresInteger {
    public static var postgresDataType: PostgresDataType { .int8 }
    public static var postgresArrayDataType: PostgresDataType { .int8Array }
}

extension Int64: _PostgresInteger {
    public static var postgresDataType: PostgresDataType { .int8 }
    public static var postgresArrayDataType: PostgresDataType { .int8Array }
}

extension Int32: _PostgresInteger {
    public static var postgresDataType: PostgresDataType { .int4 }
    public static var postgresArrayDataType: PostgresDataType { .int4Array }
}

extension Int16: _PostgresInteger {
    public static var postgresDataType: PostgresDataType { .int2 }
    public static var postgresArrayDataType: PostgresDataType { .int2Array }
}

/// A single byte, sent as `int2`. Mainly here so that `[UInt8]` can be `bytea`.
extension UInt8: _PostgresInteger {
    public static var postgresDataType: PostgresDataType { .int2 }
    public static var postgresArrayDataType: PostgresDataType { .bytea }
}

/// Shared text conversion of the floating-point types.
protocol _PostgresFloat: BinaryFloatingPoint, LosslessStringConvertible, PostgresEncodable, PostgresDecodable {}

extension _PostgresFloat {
    public func encodePostgresText() throws -> String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return description  // shortest representation that round-trips
    }

    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = Self(text) else {
            throw _DecodingFailure("\(_preview(text)) is not a number")
        }
        self = value
    }
}

extension Double: _PostgresFloat {
    public static var postgresDataType: PostgresDataType { .float8 }
    public static var postgresArrayDataType: PostgresDataType { .float8Array }
}

extension Float: _PostgresFloat {
    public static var postgresDataType: PostgresDataType { .float4 }
    public static var postgresArrayDataType: PostgresDataType { .float4Array }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public func encodePostgresText() throws -> String? {
        switch self {
        case .none: nil
        case .some(let value): try value.encodePostgresText()
        }
    }
    public static var postgresDataType: PostgresDataType { Wrapped.postgresDataType }
    public static var postgresArrayDataType: PostgresDataType { Wrapped.postgresArrayDataType }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = .some(try Wrapped(postgresText: text, type: type))
    }
    public static var postgresNull: Wrapped?? { .some(.none) }
}

/// Arrays are one-dimensional PostgreSQL arrays (`text[]`, `int8[]`, ...), except
/// `[UInt8]`, which is `bytea`.
extension Array: PostgresEncodable where Element: PostgresEncodable {
    public func encodePostgresText() throws -> String? {
        // Check the element type, not `self as? [UInt8]`: an empty array of any type casts.
        if Element.self == UInt8.self, let bytes = self as? [UInt8] { return _Bytea.encode(bytes) }
        var elements: [String?] = []
        elements.reserveCapacity(count)
        for element in self { elements.append(try element.encodePostgresText()) }
        return _ArrayLiteral.encode(elements)
    }
    public static var postgresDataType: PostgresDataType { Element.postgresArrayDataType }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        if Element.self == UInt8.self, type == .bytea || (type != .int2Array && text.hasPrefix("\\x")) {
            self = try _Bytea.decode(text) as! [Element]
            return
        }
        if text == "{}" {  // the empty array, common enough to skip the parser
            self = []
            return
        }
        let raw = try _ArrayLiteral.parse(text)
        if Element.self == String.self {
            // text[] (outbox keys and the like): the elements are the strings, no per-element
            // conversion through the generic initializer
            var strings: [String] = []
            strings.reserveCapacity(raw.count)
            for (index, item) in raw.enumerated() {
                guard let item else {
                    throw _DecodingFailure("element \(index + 1) is NULL, which String cannot hold (decode as [String?])")
                }
                strings.append(item)
            }
            self = unsafeBitCast(strings, to: [Element].self)
            return
        }
        let elementType = type._arrayElementType ?? .unspecified
        var result: [Element] = []
        result.reserveCapacity(raw.count)
        for (index, item) in raw.enumerated() {
            if let item {
                do {
                    result.append(try Element(postgresText: item, type: elementType))
                } catch {
                    throw _DecodingFailure("element \(index + 1): \(error)")
                }
            } else if let null = Element.postgresNull {
                result.append(null)
            } else {
                throw _DecodingFailure(
                    "element \(index + 1) is NULL, which \(Element.self) cannot hold (decode as [\(Element.self)?])")
            }
        }
        self = result
    }
}
