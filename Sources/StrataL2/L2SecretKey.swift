import Crypto

/// A secret key with a one-byte id, for authenticated (HMAC-SHA256) or encrypted
/// (AES-GCM) L2 entries. The id is stored in each entry, so entries written with an
/// older key still verify after a rotation as long as that key is listed in `previous`.
///
/// ```swift
/// let current = try L2SecretKey(id: 2, bytes: secretFromVault)      // 32 bytes
/// let old = try L2SecretKey(id: 1, bytes: previousSecret)
/// configuration.protection = .authenticated(current: current, previous: [old])
/// ```
public struct L2SecretKey: Sendable {
    /// Stored in every entry written with this key; 1...255.
    public let id: UInt8
    let box: _KeyBox

    /// - Parameters:
    ///   - id: 1...255, unique among the configured keys.
    ///   - bytes: the secret; 16, 24 or 32 bytes for AES-GCM, at least 16 for HMAC.
    public init(id: UInt8, bytes: [UInt8]) throws(L2Error) {
        guard id != 0 else { throw L2Error(code: .invalidConfiguration, message: "key id 0 is reserved for unprotected entries; use 1...255") }
        guard bytes.count >= 16 else {
            throw L2Error(code: .invalidConfiguration, message: "key \(id) has \(bytes.count) bytes; use at least 16 (32 recommended)")
        }
        self.id = id
        self.box = _KeyBox(SymmetricKey(data: bytes), count: bytes.count)
    }

    var key: SymmetricKey { box.key }
}

/// `SymmetricKey` is immutable but not declared `Sendable`.
final class _KeyBox: @unchecked Sendable {
    let key: SymmetricKey
    let count: Int
    init(_ key: SymmetricKey, count: Int) {
        self.key = key
        self.count = count
    }
}

/// How L2 entries are protected against whoever can write to Redis.
///
/// - ``none``: a CRC32C over the Redis key and the entry detects corruption and values
///   moved to another key, but anyone who can write to Redis can forge an entry.
/// - ``authenticated(current:previous:)``: HMAC-SHA256 (truncated to 128 bits) over the
///   Redis key, the header (including the generations) and the payload.
/// - ``encrypted(current:previous:)``: AES-GCM; the Redis key and the header are
///   authenticated data, the payload is encrypted.
///
/// Entries are written with `current` and verified with whichever configured key their
/// key id names. An entry with weaker protection than configured is rejected.
public enum L2Protection: Sendable {
    case none
    case authenticated(current: L2SecretKey, previous: [L2SecretKey] = [])
    case encrypted(current: L2SecretKey, previous: [L2SecretKey] = [])
}
