extension RESPValue {
    /// A bulk string decoded as UTF-8 (`nil` if it is not valid UTF-8), a status, or the
    /// decimal text of an integer; `nil` for other replies.
    public var string: String? {
        switch self {
        case .bulk(let bytes): return String(validating: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        case .null, .error, .array: return nil
        }
    }

    /// An integer reply, or a bulk string / status holding a decimal integer (what `GET`
    /// returns for a counter); `nil` otherwise.
    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk(let bytes): return Int64(String(decoding: bytes, as: UTF8.self))
        case .status(let text): return Int64(text)
        case .null, .error, .array: return nil
        }
    }

    /// The bytes of a bulk string, or the UTF-8 bytes of a status; `nil` otherwise.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        case .null, .integer, .error, .array: return nil
        }
    }

    /// The elements of an array reply; `nil` otherwise (also for a nil array).
    public var array: [RESPValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// Whether this is a nil bulk string or nil array.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The error of an error reply; `nil` otherwise.
    public var error: RedisError? {
        if case .error(let error) = self { return error }
        return nil
    }
}
