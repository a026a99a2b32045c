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
    /// The lease holds the token and what the value was when it was taken: the SHA-1 of its
    /// bytes, or nothing when there was none. A write-back stores only over that same
    /// value, so a `set` that replaced it meanwhile voids the lease without touching it.
    /// KEYS: value, lease, generation keys…; ARGV: token, lease TTL ms, force.
    /// Returns {value or false, 1 granted / 0 held elsewhere / -1 not tried, {generations…}}.
    static let leaseRead = _Script("""
    local v = redis.call('GET', KEYS[1])
    local g = redis.call('MGET', unpack(KEYS, 3))
    if v and ARGV[3] ~= '1' then return {v, -1, g} end
    local granted = redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. (v and redis.sha1hex(v) or ''), 'NX', 'PX', ARGV[2])
    if granted then return {false, 1, g} end
    return {false, 0, g}
    """)

    /// Write-back after a load: stores the value only if the lease is still ours, the value
    /// is the one the lease was taken over (no `set` replaced it) and no covering
    /// generation changed since; always releases our lease.
    /// KEYS: value, lease, generation keys…; ARGV: token, envelope, TTL ms, expected generations…
    /// Returns 1 stored, 0 lease lost (exact invalidation, expiry, or a newer value set),
    /// -1 a generation changed.
    static let writeBack = _Script("""
    local lease = redis.call('GET', KEYS[2])
    local mine = ARGV[1] .. ' '
    if not lease or string.sub(lease, 1, #mine) ~= mine then return 0 end
    local v = redis.call('GET', KEYS[1])
    if string.sub(lease, #mine + 1) ~= (v and redis.sha1hex(v) or '') then
      redis.call('DEL', KEYS[2])
      return 0
    end
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

    /// A fenced set (`set(after:)` of a miss without a lease): stores the value only if the
    /// covering generations equal the ones the envelope was written with. Replacing the
    /// value voids any lease taken over the old one (see ``leaseRead``).
    /// KEYS: value, generation keys…; ARGV: envelope, TTL ms, expected generations…
    /// Returns 1 stored, or the current generations (array) when they differ.
    static let fencedSet = _Script("""
    local g = redis.call('MGET', unpack(KEYS, 2))
    local same = true
    for i = 1, #g do
      g[i] = g[i] or '0'
      if g[i] ~= ARGV[i + 2] then same = false end
    end
    if not same then return g end
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
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
    local lease = redis.call('GET', KEYS[1])
    local mine = ARGV[1] .. ' '
    if lease and string.sub(lease, 1, #mine) == mine then return redis.call('DEL', KEYS[1]) end
    return 0
    """)
}
