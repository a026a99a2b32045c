extension RedisArgument: ExpressibleByStringLiteral {
    @inlinable
    public init(stringLiteral value: String) { self.init(value) }
}

extension RedisArgument: ExpressibleByIntegerLiteral {
    @inlinable
    public init(integerLiteral value: Int) { self.init(value) }
}

extension RedisArgument: CustomStringConvertible {
    public var description: String {
        String(validating: bytes, as: UTF8.self) ?? "<\(bytes.count) bytes>"
    }
}
