import Foundation

/// ISO timestamps as PostgreSQL prints them with `DateStyle = ISO` (which the
/// connection ensures): `2024-05-01 12:30:00.123456+02`, `... BC`, `infinity`.
enum _Timestamp {
    /// Seconds from 1970-01-01 to 2001-01-01 (Foundation's reference date).
    private static let unixToReference: Int64 = 978_307_200

    static func parse(_ text: String) -> Date? {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        let b = Array(text.utf8)
        var i = 0
        func digits(_ maxCount: Int = .max) -> (value: Int64, count: Int)? {
            var value: Int64 = 0
            var count = 0
            while i < b.count, count < maxCount, b[i] >= 48, b[i] <= 57 {
                value = value * 10 + Int64(b[i] - 48)
                count += 1
                i += 1
                if count > 12 { return nil }
            }
            return count == 0 ? nil : (value, count)
        }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = digits(), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            (1...12).contains(month.value), (1...31).contains(day.value)
        else { return nil }
        var hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0
        var fraction = 0.0
        var offset: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "T"), i + 1 < b.count, b[i + 1] != UInt8(ascii: "B") {
            i += 1
            guard let h = digits(2), expect(":"), let m = digits(2), expect(":"), let s = digits(2) else { return nil }
            hour = h.value
            minute = m.value
            second = s.value
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                let start = i
                while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
                guard i > start, let f = Double("0." + String(decoding: b[start..<i], as: UTF8.self)) else { return nil }
                fraction = f
            }
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = digits(2) else { return nil }
                var seconds = oh.value * 3600
                if expect(":") {
                    guard let om = digits(2) else { return nil }
                    seconds += om.value * 60
                    if expect(":") {
                        guard let os = digits(2) else { return nil }
                        seconds += os.value
                    }
                }
                offset = sign * seconds
            }
        }
        var astronomicalYear = year.value
        if i < b.count {
            guard String(decoding: b[i...], as: UTF8.self) == " BC" else { return nil }
            astronomicalYear = 1 - year.value
            i = b.count
        }
        let days = daysFromCivil(astronomicalYear, month.value, day.value)
        let unixSeconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSinceReferenceDate: Double(unixSeconds - unixToReference) + fraction)
    }

    static func format(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let interval = date.timeIntervalSinceReferenceDate
        guard interval.isFinite else { return interval < 0 ? "-infinity" : "infinity" }
        let micros = Int64((interval * 1_000_000).rounded()) + unixToReference * 1_000_000
        let (seconds, micro) = floorDivMod(micros, 1_000_000)
        let (days, secondOfDay) = floorDivMod(seconds, 86_400)
        let (y, m, d) = civilFromDays(days)
        let bc = y <= 0
        var out = pad(bc ? 1 - y : y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
        out += " " + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if micro != 0 { out += "." + pad(micro, 6) }
        out += "+00"
        if bc { out += " BC" }
        return out
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 {
            q -= 1
            r += b
        }
        return (q, r)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
