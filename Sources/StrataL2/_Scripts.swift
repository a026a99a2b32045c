import Crypto
import StrataRedis

/// A Lua script sent with EVALSHA (falling back to EVAL on NOSCRIPT).
struct _Script: Sendable {
    let source: String
    let sha: String

    init(_ source: String) {
        self.source = source
        self.sha = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
        }.joined()
    }

    func command(keys: [RedisArgument], arguments: [RedisArgument]) -> [RedisArgument] {
        var command: [RedisArgument] = ["EVALSHA", RedisArgument(sha), RedisArgument(keys.count)]
        command.reserveCapacity(3 + keys.count + arguments.count)
        command.append(contentsOf: keys)
        command.append(contentsOf: arguments)
        return command
    }

    /// The same command as EVAL with the full source (after NOSCRIPT).
    func fallback(_ command: [RedisArgument]) -> [RedisArgument] {
        var copy = command
        copy[0] = "EVAL"
        copy[1] = RedisArgument(source)
        return copy
    }
}

enum _Scripts {
    /// The miss path of `load`: the value and the current generations; when the value is
    /// absent (or ARGV[3] = "1": the caller found it invalid) also tries to take the lease.
    /// KEYS: value, lease, generation keys…; ARGV: token, lease TTL ms, force.
    /// Returns {value or false, 1 granted / 0 held elsewhere / -1 not tried, {generations…}}.
    static let leaseRead = _Script("""
    local v = redis.call('GET', KEYS[1])
    local g = redis.call('MGET', unpack(KEYS, 3))
    if v and ARGV[3] ~= '1' then return {v, -1, g} end
    local granted = redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])
    if granted then return {false, 1, g} end
    return {false, 0, g}
    """)

    /// Write-back after a load: stores the value only if the lease is still ours and no
    /// covering generation changed since it was taken; always releases our lease.
    /// KEYS: value, lease, generation keys…; ARGV: token, envelope, TTL ms, expected generations…
    /// Returns 1 stored, 0 lease lost (exact invalidation or expiry), -1 a generation changed.
    static let writeBack = _Script("""
    if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
    local g = redis.call('MGET', unpack(KEYS, 3))
    for i = 1, #g do
      if (g[i] or '0') ~= ARGV[i + 3] then
        redis.call('DEL', KEYS[2])
        return -1
      end
    end
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    redis.call('DEL', KEYS[2])
    return 1
    """)

    /// A plain or fenced set: stores the value only if the covering generations equal the
    /// ones the envelope was written with, and removes any lease (an in-flight loader must
    /// not overwrite this newer value). KEYS: value, lease, generation keys…;
    /// ARGV: envelope, TTL ms, expected generations…
    /// Returns 1 stored, or the current generations (array) when they differ.
    static let fencedSet = _Script("""
    local g = redis.call('MGET', unpack(KEYS, 3))
    local same = true
    for i = 1, #g do
      g[i] = g[i] or '0'
      if g[i] ~= ARGV[i + 2] then same = false end
    end
    if not same then return g end
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    redis.call('DEL', KEYS[2])
    return 1
    """)

    /// Deletes a value only if it still holds the bytes found corrupt.
    /// KEYS: value; ARGV: the corrupt bytes. Returns 1 deleted, 0 changed meanwhile.
    static let deleteIfEqual = _Script("""
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('UNLINK', KEYS[1]) end
    return 0
    """)
}

extension _Scripts {
    /// Releases our lease (a loader failed). KEYS: lease; ARGV: token.
    static let releaseLease = _Script("""
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0
    """)
}
