extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .null: return "nil"
        case .integer(let value): return "(integer) \(value)"
        case .bulk(let bytes):
            if let text = String(validating: bytes, as: UTF8.self) { return "\"\(text)\"" }
            return "<\(bytes.count) bytes>"
        case .status(let text): return text
        case .error(let error): return "(error) \(error)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
