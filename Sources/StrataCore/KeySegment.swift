/// Escaping of values that become segments of logical keys.
///
/// Identical to the capture extension's `strata.escape_segment(text)`: every byte of
/// `% : * ? [ ] \ { }`, space, bytes below 0x20 and 0x7F become `%XX` (uppercase hex);
/// an escaped value longer than ``maximumLength`` bytes becomes `%H` followed by the
/// first 32 hex digits of the SHA-256 of the raw value. No value can therefore add a key
/// segment or a glob metacharacter, and hashed values cannot collide with escaped ones.
///
/// ```swift
/// let key = "authz:user:" + KeySegment.escape(userName)   // "authz:user:a%3Ab"
/// ```
public enum KeySegment {
    /// Escaped values longer than this many bytes are hashed.
    public static let maximumLength = 128

    /// The escaped form of `value`, ready to stand as one segment of a key.
    public static func escape(_ value: String) -> String {
        var out: [UInt8] = []
        let raw = Array(value.utf8)
        out.reserveCapacity(raw.count)
        for byte in raw {
            if needsEscape(byte) {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0F))
            } else {
                out.append(byte)
            }
        }
        if out.count > maximumLength {
            return "%H" + String(SHA256Digest.hex(raw).prefix(32))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The escaped form of an integer (integers never need escaping).
    public static func escape<I: BinaryInteger>(_ value: I) -> String { String(value) }

    @inline(__always) static func needsEscape(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x00...0x20, 0x7F: return true
        case UInt8(ascii: "%"), UInt8(ascii: ":"), UInt8(ascii: "*"), UInt8(ascii: "?"),
             UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\\"), UInt8(ascii: "{"), UInt8(ascii: "}"):
            return true
        default: return false
        }
    }

    @inline(__always) private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }
}
