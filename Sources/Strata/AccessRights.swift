/// An action of the reference authorization domain (`authz.action`), in increasing power.
public enum AccessAction: String, CaseIterable, Sendable, Hashable, Codable {
    case read, create, write, delete, share, admin

    /// This action's bit in ``AccessRights``.
    @inlinable
    public var bit: AccessRights {
        switch self {
        case .read: AccessRights(rawValue: 0x01)
        case .create: AccessRights(rawValue: 0x02)
        case .write: AccessRights(rawValue: 0x04)
        case .delete: AccessRights(rawValue: 0x08)
        case .share: AccessRights(rawValue: 0x10)
        case .admin: AccessRights(rawValue: 0x20)
        }
    }
}

/// A resource of the reference authorization domain: a team, a project or a generation.
public enum AccessResource: Hashable, Sendable, CustomStringConvertible {
    case team(Int64)
    case project(Int64)
    case generation(Int64)

    /// `authz.resource_type` as text: `team`, `project`, `generation`.
    public var type: String {
        switch self {
        case .team: "team"
        case .project: "project"
        case .generation: "generation"
        }
    }

    /// The resource's id.
    public var id: Int64 {
        switch self {
        case .team(let id), .project(let id), .generation(let id): id
        }
    }

    public var description: String { "\(type) \(id)" }
}

/// One question: may `user` do `action` on `resource`?
public struct AccessCheck: Hashable, Sendable {
    public var user: Int64
    public var action: AccessAction
    public var resource: AccessResource

    public init(user: Int64, action: AccessAction, resource: AccessResource) {
        self.user = user
        self.action = action
        self.resource = resource
    }
}

/// The set of actions a user may perform on a resource: what is cached per (user,
/// resource), one byte (so one entry answers every action).
///
/// ```swift
/// let rights = try await authorization.allowedActions(user: 42, resource: .project(19))
/// if rights.contains(.write) { ... }
/// ```
public struct AccessRights: OptionSet, Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Every action.
    public static let all = AccessRights(rawValue: 0x3F)

    /// Internal marker (never returned by the public API): the cached part of a
    /// generation decision could not be determined from L3's answer; ask L3 each time.
    static let undetermined = AccessRights(rawValue: 0x80)

    /// The rights of the given actions.
    public init(_ actions: some Sequence<AccessAction>) {
        var raw: UInt8 = 0
        for action in actions { raw |= action.bit.rawValue }
        self.rawValue = raw
    }

    /// The rights named by `authz.action` texts; unknown names grant nothing.
    init(names: some Sequence<String>) {
        self.init(names.compactMap(AccessAction.init(rawValue:)))
    }

    /// Whether `action` is allowed.
    @inlinable
    public func allows(_ action: AccessAction) -> Bool { contains(action.bit) }

    /// The allowed actions, in increasing power.
    public var actions: [AccessAction] { AccessAction.allCases.filter { allows($0) } }

    public var description: String { "[" + actions.map(\.rawValue).joined(separator: ", ") + "]" }

    // One number, whatever the codec.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt8.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A generation's row as the authorization cache needs it: its creator and its project.
public struct GenerationFact: Sendable, Hashable, Codable {
    public var creator: Int64
    public var project: Int64

    public init(creator: Int64, project: Int64) {
        self.creator = creator
        self.project = project
    }
}
