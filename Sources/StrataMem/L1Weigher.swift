/// A value that knows how many bytes of heap memory it owns beyond its inline size
/// (`MemoryLayout<Self>.size`). The default weigher of a weight-bounded ``L1Cache`` uses it.
///
/// `String`, `Substring`, `[UInt8]` and arrays of other bitwise-copyable elements,
/// `Array` of `String`, and `Optional` of any of these conform; fixed-size types weigh
/// only their inline size and need not conform.
public protocol L1Weighable {
    /// Bytes of heap memory owned by this value (0 for inline values).
    var l1HeapBytes: Int { get }
}

/// The bytes `malloc` really hands out for a request of `n` bytes (glibc: 8 bytes of
/// header, 16-byte granularity, 32-byte minimum).
@inlinable
func _mallocSize(_ n: Int) -> Int {
    max(32, (n + 8 + 15) & ~15)
}

extension String: L1Weighable {
    /// 0 for small strings (up to 15 UTF-8 bytes live inline), otherwise the native
    /// storage object: a 32-byte header, the UTF-8 bytes and a terminating NUL.
    @inlinable
    public var l1HeapBytes: Int {
        let n = utf8.count
        return n <= 15 ? 0 : _mallocSize(32 + n + 1)
    }
}

extension Substring: L1Weighable {
    @inlinable
    public var l1HeapBytes: Int { base.l1HeapBytes }
}

extension Array: L1Weighable {
    /// The array buffer (a 32-byte header and the capacity's elements) plus, for
    /// elements that are themselves ``L1Weighable``, what each element owns.
    @inlinable
    public var l1HeapBytes: Int {
        if capacity == 0 { return 0 }
        var total = _mallocSize(32 + capacity * MemoryLayout<Element>.stride)
        if Element.self is any L1Weighable.Type {
            for element in self { total += (element as! any L1Weighable).l1HeapBytes }
        }
        return total
    }
}

extension Optional: L1Weighable {
    @inlinable
    public var l1HeapBytes: Int {
        switch self {
        case .none: 0
        case .some(let wrapped): (wrapped as? any L1Weighable)?.l1HeapBytes ?? 0
        }
    }
}

/// The default weigher: an estimate, in bytes, of the memory one entry really uses.
///
/// weight = the cache's per-entry overhead (its node and hash-table slot, see
/// ``L1Cache/perEntryOverheadBytes``) + `MemoryLayout<Key>.size` and
/// `MemoryLayout<Value>.size` (both already inside the node, so counted once) + the heap
/// bytes the key and value own when they are ``L1Weighable`` (strings longer than 15
/// bytes, arrays) + for prefix-indexed keys an estimate of the index's share.
public enum L1DefaultWeigher {
    @inlinable
    public static func heapBytes<T>(of value: T) -> Int {
        if let weighable = value as? any L1Weighable { return weighable.l1HeapBytes }
        return 0
    }
}
