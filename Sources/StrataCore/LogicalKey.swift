/// Logical keys and prefixes as the capture trigger renders them (see docs/l2-key-layout.md).
///
/// A key is `:`-separated segments (`authz:team:7:project:19`); a prefix is a key's
/// leading segments followed by `*` (`authz:team:7:*`), or `*` alone for everything.
public enum LogicalKey {
    /// The prefix that covers everything.
    public static let everything = "*"

    /// Whether `text` is a prefix (ends in `*`).
    @inlinable public static func isPrefix(_ text: String) -> Bool { text.utf8.last == UInt8(ascii: "*") }

    /// The prefixes that cover `key`: `*` and each of its segment prefixes.
    /// `a:b:c` is covered by `*`, `a:*` and `a:b:*`.
    public static func coveringPrefixes(of key: String) -> [String] {
        var result = [everything]
        var current = Substring(key)
        var consumed = key.startIndex
        while let colon = current.firstIndex(of: ":") {
            let end = key.index(after: colon)
            result.append(String(key[key.startIndex..<end]) + "*")
            consumed = end
            current = key[consumed...]
        }
        return result
    }

    /// Whether `prefix` (ending in `*`) covers `key`.
    public static func prefix(_ prefix: String, covers key: String) -> Bool {
        guard isPrefix(prefix) else { return prefix == key }
        return key.hasPrefix(prefix.dropLast())
    }

    /// Builds a key from already escaped segments.
    public static func join(_ segments: [String]) -> String { segments.joined(separator: ":") }

    /// Checks that `text` is a well-formed key or prefix: non-empty segments, no glob
    /// metacharacters or spaces except a final `*`. Returns a reason when it is not.
    public static func validate(_ text: String) -> String? {
        if text == everything { return nil }
        if text.isEmpty { return "the key is empty" }
        var body = Substring(text)
        if isPrefix(text) {
            body = body.dropLast()
            guard body.hasSuffix(":") else { return "a prefix must end in ':*' (as in 'authz:team:*'), got '\(text)'" }
            body = body.dropLast()
        }
        for segment in body.split(separator: ":", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "the key '\(text)' has an empty segment" }
            for byte in segment.utf8 where byte != UInt8(ascii: "%") && KeySegment.needsEscape(byte) {
                return "the key '\(text)' contains '\(Character(Unicode.Scalar(byte)))'; escape values with KeySegment.escape"
            }
        }
        return nil
    }
}
