#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Which L1 hits to time: every ``period``-th hit of each thread. The counter lives in
/// memory of the thread's own (a pthread key), so the hit path writes nothing another
/// thread reads and needs no atomic operation.
@usableFromInline
enum _L1Sampling {
    static let period: UInt64 = 1024

    static let key: pthread_key_t = {
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { pointer in free(pointer) }
        precondition(created == 0, "pthread_key_create failed: \(created)")
        return key
    }()

    /// Counts a hit of this thread; true for every `period`-th one.
    @usableFromInline
    static func due() -> Bool {
        let key = Self.key
        var pointer = pthread_getspecific(key)
        if pointer == nil {
            pointer = calloc(1, MemoryLayout<UInt64>.size)
            pthread_setspecific(key, pointer)
        }
        let counter = pointer!.assumingMemoryBound(to: UInt64.self)
        counter.pointee &+= 1
        return counter.pointee % period == 0
    }
}
