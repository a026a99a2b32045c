import Foundation
import StrataL2

/// An authorization decision as the authorization cache stores it (the small value).
struct AuthorizationDecision: Codable, Sendable, Equatable {
    var allowed: Bool
    var subject: String
    var action: String
    var resource: String
    var reason: String?
    var roles: [String]
    var policyVersion: Int
    var decidedAt: Date

    static let sample = AuthorizationDecision(
        allowed: true, subject: "user:42", action: "read", resource: "project:19", reason: nil,
        roles: ["member", "reviewer"], policyVersion: 7, decidedAt: Date(timeIntervalSinceReferenceDate: 770_000_000.25))
}

/// A larger value: nested structs and enums, optionals, a dictionary, UUIDs, dates, bytes.
struct Catalog: Codable, Sendable, Equatable {
    enum Shipment: Codable, Sendable, Equatable {
        case physical(weight: Double, fragile: Bool)
        case digital(url: String)
        case gift
    }

    struct Item: Codable, Sendable, Equatable {
        var id: UUID
        var name: String
        var price: Double
        var tags: [String]
        var stock: Int?
        var shipment: Shipment
        var updated: Date
    }

    var owner: UUID
    var title: String
    var items: [Item]
    var index: [String: Int]
    var thumbnail: Data
    var created: Date

    static let sample: Catalog = {
        let shipments: [Shipment] = [.physical(weight: 2.5, fragile: true), .digital(url: "https://example.com/item"), .gift]
        var items: [Item] = []
        for index in 0..<20 {
            let id = UUID(uuidString: String(format: "6F1C0000-0000-4000-8000-%012d", index))!
            let stock: Int? = index % 4 == 0 ? nil : index * 10
            let updated = Date(timeIntervalSince1970: 1_700_000_000 + Double(index))
            items.append(Item(id: id, name: "item number \(index)", price: Double(index) * 1.25, tags: ["t\(index % 3)", "all"],
                              stock: stock, shipment: shipments[index % 3], updated: updated))
        }
        var index: [String: Int] = [:]
        for key in 0..<20 { index["key-\(key)"] = key * key }
        let thumbnail = Data((0..<256).map { UInt8($0) })
        return Catalog(owner: UUID(uuidString: "6F1C0000-0000-4000-8000-000000000042")!, title: "A catalog", items: items,
                       index: index, thumbnail: thumbnail, created: Date(timeIntervalSince1970: 1_700_000_000.125))
    }()
}

/// The L2 benchmark's value: a payload of about 100 bytes with the binary codec.
struct BenchValue: Codable, Sendable, Equatable {
    var allowed: Bool
    var subject: String
    var resource: String
    var roles: [String]
    var version: Int
    var note: String

    static let sample = BenchValue(allowed: true, subject: "user:42", resource: "project:19",
                                   roles: ["member", "reviewer", "owner"], version: 7,
                                   note: String(repeating: "n", count: 38))
}

/// ``BenchValue`` with the binary codec's fast path (`--value fast`): the same fields and
/// the same payload bytes, written and read by hand instead of through `Codable`.
struct FastBenchValue: L2BinaryCodable, Sendable, Equatable {
    var allowed: Bool
    var subject: String
    var resource: String
    var roles: [String]
    var version: Int
    var note: String

    init(_ value: BenchValue) {
        (allowed, subject, resource, roles, version, note) = (value.allowed, value.subject, value.resource, value.roles, value.version, value.note)
    }

    func encode(to writer: inout L2BinaryWriter) throws {
        writer.encode(allowed, forKey: "allowed")
        writer.encode(subject, forKey: "subject")
        writer.encode(resource, forKey: "resource")
        writer.encode(roles, forKey: "roles")
        writer.encode(version, forKey: "version")
        writer.encode(note, forKey: "note")
    }

    init(from reader: L2BinaryReader) throws {
        allowed = try reader.decode(Bool.self, forKey: "allowed")
        subject = try reader.decode(String.self, forKey: "subject")
        resource = try reader.decode(String.self, forKey: "resource")
        roles = try reader.decode([String].self, forKey: "roles")
        version = try reader.decode(Int.self, forKey: "version")
        note = try reader.decode(String.self, forKey: "note")
    }
}
