/// `bytea` in text format: hex (`\x0a0b`, the default output) and the older escape format.
enum _Bytea {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        out.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [UInt8] {
        let bytes = Array(text.utf8)
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x") {
            guard bytes.count % 2 == 0 else { throw _DecodingFailure("odd number of hex digits in bytea") }
            var out: [UInt8] = []
            out.reserveCapacity((bytes.count - 2) / 2)
            var i = 2
            while i < bytes.count {
                guard let high = nibble(bytes[i]), let low = nibble(bytes[i + 1]) else {
                    throw _DecodingFailure("invalid hex digit in bytea \(_preview(text))")
                }
                out.append(high << 4 | low)
                i += 2
            }
            return out
        }
        // Escape format: \\ is a backslash, \ooo an octal byte, everything else literal.
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\") {
                if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\\") {
                    out.append(UInt8(ascii: "\\"))
                    i += 2
                    continue
                }
                guard i + 3 < bytes.count else {
                    throw _DecodingFailure("invalid escape in bytea \(_preview(text))")
                }
                var value = 0
                for k in 1...3 {
                    let d = Int(bytes[i + k]) - 48
                    guard (0...7).contains(d) else { throw _DecodingFailure("invalid escape in bytea \(_preview(text))") }
                    value = value * 8 + d
                }
                guard value <= 255 else { throw _DecodingFailure("invalid escape in bytea \(_preview(text))") }
                out.append(UInt8(value))
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
