/// A radix tree over the UTF-8 bytes of keys' ``PrefixInvalidatable/invalidationKey``,
/// mapping each key to its entry's node index in the segment.
///
/// Finding everything under a prefix walks the prefix (its length) and then only the
/// subtree below it, whose size is proportional to the number of keys it holds, so the
/// cost of a prefix invalidation is proportional to what it removes, not to the cache.
@usableFromInline
struct _PrefixIndex {
    @usableFromInline
    struct _TNode {
        var label: [UInt8]
        var children: [Int32]
        var entry: Int32
        var parent: Int32
    }

    var nodes: [_TNode] = [_TNode(label: [], children: [], entry: -1, parent: -1)]
    var free: [Int32] = []

    @usableFromInline
    init() {}

    /// Number of tree nodes in use (for tests).
    var liveNodes: Int { nodes.count - free.count }

    private mutating func allocate(_ node: _TNode) -> Int32 {
        if let index = free.popLast() {
            nodes[Int(index)] = node
            return index
        }
        nodes.append(node)
        return Int32(nodes.count - 1)
    }

    private func child(of node: Int32, startingWith byte: UInt8) -> Int32? {
        for c in nodes[Int(node)].children where nodes[Int(c)].label.first == byte { return c }
        return nil
    }

    /// Adds `key` for `entry`; returns the tree node that now holds the entry.
    @usableFromInline
    mutating func insert(_ key: String, entry: Int32) -> Int32 {
        let bytes = Array(key.utf8)
        var current: Int32 = 0
        var position = 0
        while true {
            if position == bytes.count {
                nodes[Int(current)].entry = entry
                return current
            }
            guard let c = child(of: current, startingWith: bytes[position]) else {
                let leaf = allocate(_TNode(label: Array(bytes[position...]), children: [], entry: entry, parent: current))
                nodes[Int(current)].children.append(leaf)
                return leaf
            }
            let label = nodes[Int(c)].label
            var common = 0
            while common < label.count, position + common < bytes.count, label[common] == bytes[position + common] {
                common += 1
            }
            if common == label.count {
                current = c
                position += common
                continue
            }
            // Split `c`: a new middle node takes the common part.
            let middle = allocate(_TNode(label: Array(label[..<common]), children: [c], entry: -1, parent: current))
            nodes[Int(c)].label = Array(label[common...])
            nodes[Int(c)].parent = middle
            if let slot = nodes[Int(current)].children.firstIndex(of: c) {
                nodes[Int(current)].children[slot] = middle
            }
            current = middle
            position += common
        }
    }

    /// Removes the entry held by tree node `node`, pruning and merging what is left.
    @usableFromInline
    mutating func remove(node: Int32) {
        nodes[Int(node)].entry = -1
        var current = node
        while current != 0 {
            let n = nodes[Int(current)]
            if n.entry >= 0 { return }
            if n.children.isEmpty {
                let parent = n.parent
                if let slot = nodes[Int(parent)].children.firstIndex(of: current) {
                    nodes[Int(parent)].children.remove(at: slot)
                }
                release(current)
                current = parent
                continue
            }
            if n.children.count == 1 {
                // Fold this entry-less node into its only child (the child keeps its index,
                // which entries may point at).
                let only = n.children[0]
                let parent = n.parent
                nodes[Int(only)].label = n.label + nodes[Int(only)].label
                nodes[Int(only)].parent = parent
                if let slot = nodes[Int(parent)].children.firstIndex(of: current) {
                    nodes[Int(parent)].children[slot] = only
                }
                release(current)
            }
            return
        }
    }

    private mutating func release(_ node: Int32) {
        nodes[Int(node)] = _TNode(label: [], children: [], entry: -1, parent: -1)
        free.append(node)
    }

    /// Entries whose key starts with `prefix`.
    @usableFromInline
    func entries(withPrefix prefix: String) -> [Int32] {
        let bytes = Array(prefix.utf8)
        var current: Int32 = 0
        var position = 0
        while position < bytes.count {
            guard let c = child(of: current, startingWith: bytes[position]) else { return [] }
            let label = nodes[Int(c)].label
            let remaining = bytes.count - position
            if remaining <= label.count {
                if label[..<remaining].elementsEqual(bytes[position...]) {
                    current = c
                    position = bytes.count
                    break
                }
                return []
            }
            if !bytes[position..<(position + label.count)].elementsEqual(label) { return [] }
            current = c
            position += label.count
        }
        var result: [Int32] = []
        var stack: [Int32] = [current]
        while let n = stack.popLast() {
            let node = nodes[Int(n)]
            if node.entry >= 0 { result.append(node.entry) }
            stack.append(contentsOf: node.children)
        }
        return result
    }

    @usableFromInline
    mutating func removeAll() {
        self = _PrefixIndex()
    }
}
