import StrataCore

/// What a set of outbox rows asks the caches to drop, deduplicated.
public struct OutboxBatch: Sendable, Equatable {
    private static let colon = UInt8(ascii: ":")
    public var seqs: [Int64] = []
    public var keys: [String] = []
    public var prefixes: [String] = []
    public var marks: [String] = []

    public init() {}

    public var isEmpty: Bool { seqs.isEmpty }
    /// The outbox seq of the last row in the batch.
    public var through: Int64 { seqs.max() ?? 0 }

    /// Adds one outbox row. Keys covered by a prefix of the batch are dropped, and when
    /// `*` is present nothing else is kept.
    public mutating func add(seq: Int64, keys: [String], prefixes: [String], marks: [String]) {
        seqs.append(seq)
        self.keys.append(contentsOf: keys)
        self.prefixes.append(contentsOf: prefixes)
        self.marks.append(contentsOf: marks)
    }

    /// Sorts, removes duplicates and keys already covered by a prefix of the batch.
    public mutating func normalize() {
        var seenPrefixes = Set<String>()
        prefixes = prefixes.filter { seenPrefixes.insert($0).inserted }.sorted()
        if seenPrefixes.contains(LogicalKey.everything) {
            prefixes = [LogicalKey.everything]
            keys = []
        } else {
            // A key `a:b:c` is covered by `a:*` or `a:b:*`: look its segment prefixes up
            // (without the `*`) as substrings of the key, without building strings, and only
            // at colons where a stem of that length exists (most keys need no lookup).
            var stems = Set<Substring>()
            var stemLengths: [Bool] = []    // stemLengths[n]: a stem of n UTF-8 bytes
            for prefix in seenPrefixes {
                let stem = prefix.dropLast()
                stems.insert(stem)
                let length = stem.utf8.count
                if length >= stemLengths.count { stemLengths += repeatElement(false, count: length + 1 - stemLengths.count) }
                stemLengths[length] = true
            }
            var seenKeys = Set<String>()
            keys = keys.filter { key in
                guard seenKeys.insert(key).inserted else { return false }
                guard !stems.isEmpty else { return true }
                let utf8 = key.utf8
                var length = 0
                for index in utf8.indices {
                    length += 1
                    guard length < stemLengths.count else { break }
                    if utf8[index] == Self.colon, stemLengths[length], stems.contains(key[..<utf8.index(after: index)]) {
                        return false
                    }
                }
                return true
            }
        }
        var seenMarks = Set<String>()
        marks = marks.filter { seenMarks.insert($0).inserted }
    }

    /// The batch as invalidation messages of at most `maximumEntries` keys and prefixes
    /// each; `nextSeq` gives each message its number.
    public func messages(epoch: String, maximumEntries: Int, nextSeq: () -> UInt64) -> [InvalidationMessage] {
        var result: [InvalidationMessage] = []
        var pendingKeys = keys[...]
        var pendingPrefixes = prefixes[...]
        repeat {
            let prefixCount = min(pendingPrefixes.count, maximumEntries)
            let chunkPrefixes = Array(pendingPrefixes.prefix(prefixCount))
            pendingPrefixes = pendingPrefixes.dropFirst(prefixCount)
            let keyCount = min(pendingKeys.count, maximumEntries - prefixCount)
            let chunkKeys = Array(pendingKeys.prefix(keyCount))
            pendingKeys = pendingKeys.dropFirst(keyCount)
            result.append(InvalidationMessage(epoch: epoch, seq: nextSeq(), through: through,
                                              keys: chunkKeys, prefixes: chunkPrefixes))
        } while !pendingKeys.isEmpty || !pendingPrefixes.isEmpty
        return result
    }
}
