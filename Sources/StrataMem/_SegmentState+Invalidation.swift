/// Tags, prefix, key and full invalidation; in-flight load fencing; negative entries.
extension _SegmentState {
    // MARK: Tags

    @inlinable
    mutating func addTags(_ i: Int32, _ tags: [String]) {
        flagBytes[Int(i)] |= _Flags.tagged
        tagsOf[i] = tags
        for tag in tags { tagIndex[tag, default: []].insert(i) }
    }

    @inlinable
    mutating func removeTags(_ i: Int32) {
        flagBytes[Int(i)] &= ~_Flags.tagged
        guard let tags = tagsOf.removeValue(forKey: i) else { return }
        for tag in tags {
            if var set = tagIndex.removeValue(forKey: tag) {
                set.remove(i)
                if !set.isEmpty { tagIndex[tag] = set }
            }
        }
    }

    // MARK: Invalidation

    /// Removes `key`'s entry, fences its in-flight load and drops its cached error.
    @inlinable
    mutating func invalidate(_ key: Key, _ h: UInt32) -> Bool {
        if !flights.isEmpty, flights[key] != nil { flights[key]!.fenced = true }
        if !negatives.isEmpty { negatives[key] = nil }
        let i = find(key, h)
        if i < 0 { return false }
        remove(i, cause: .invalidation)
        return true
    }

    /// Removes entries tagged `tag` (written before `cutoff`, when given). Returns how many.
    @inlinable
    mutating func invalidate(tag: String, writtenBefore cutoff: Int64?) -> Int {
        for (key, record) in flights where record.tags.contains(tag) {
            if let cutoff, record.startedAt >= cutoff { continue }
            flights[key]!.fenced = true
        }
        if !negatives.isEmpty {
            for (key, negative) in negatives where negative.tags.contains(tag) { negatives[key] = nil }
        }
        guard let members = tagIndex[tag] else { return 0 }
        var removed = 0
        for i in members {
            if let cutoff, nodes[Int(i)].writtenAt >= cutoff { continue }
            remove(i, cause: .invalidation)
            removed += 1
        }
        return removed
    }

    /// Removes entries whose prefix key starts with `prefix`. Returns how many.
    @inlinable
    mutating func invalidate(prefix: String) -> Int {
        for (key, record) in flights where record.prefixKey?.hasPrefix(prefix) ?? false {
            flights[key]!.fenced = true
        }
        if !negatives.isEmpty {
            for (key, negative) in negatives where negative.prefixKey?.hasPrefix(prefix) ?? false { negatives[key] = nil }
        }
        guard let index = prefixes else { return 0 }
        let matches = index.entries(withPrefix: prefix)
        for i in matches { remove(i, cause: .invalidation) }
        return matches.count
    }

    /// Removes every entry. Returns how many.
    @inlinable
    mutating func invalidateAll() -> Int {
        for key in flights.keys { flights[key]!.fenced = true }
        negatives.removeAll()
        let removed = count
        for s in 0...slotMask where Self.meta(slots + s) != 0 {
            (slots + s).deinitialize(count: 1)
            Self.setMeta(slots + s, 0)
        }
        used = 0
        freeList.removeAll(keepingCapacity: false)
        for q in 0..<4 { lists[q] = _List() }
        if let heads = wheel { heads.update(repeating: -1, count: _Wheel.total) }
        tagsOf.removeAll()
        tagIndex.removeAll()
        prefixes?.removeAll()
        count = 0
        totalWeight = 0
        evictedByInvalidation &+= removed
        return removed
    }

    // MARK: Negative entries

    @inlinable
    mutating func cachedError(_ key: Key, now: Int64) -> (any Error)? {
        guard let negative = negatives[key] else { return nil }
        if negative.expiresAt > now { return negative.error }
        negatives[key] = nil
        return nil
    }

    @inlinable
    mutating func storeError(_ key: Key, _ negative: _Negative, now: Int64) {
        if negatives.count >= negativeLimit {
            for (k, n) in negatives where n.expiresAt <= now { negatives[k] = nil }
            if negatives.count >= negativeLimit, let victim = negatives.keys.first { negatives[victim] = nil }
        }
        negatives[key] = negative
    }
}
