/// The admission/eviction policy of an ``L1Cache``.
///
/// The default, ``adaptiveTinyLFU``, is the one to use: it matches or beats LRU, SIEVE,
/// S3-FIFO, ARC and fixed W-TinyLFU across skewed, scan-heavy, loop-heavy and
/// recency-biased workloads because it re-tunes its admission window to the workload
/// as it runs. The others exist for users who ask for them by name.
public struct L1Policy: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline
    enum _Kind: Hashable, Sendable {
        case adaptive
        case fixed(windowPercent: Double)
        case lru
    }

    @usableFromInline
    let _kind: _Kind

    @usableFromInline
    init(_ kind: _Kind) { _kind = kind }

    /// W-TinyLFU with hill-climbing adaptation of the window (Caffeine's policy): an LRU
    /// admission window in front of a segmented LRU main space, a 4-bit count-min sketch
    /// that decides which of the window's victim and the main space's victim stays, and a
    /// climber that grows the window when recency pays and shrinks it when frequency does.
    public static let adaptiveTinyLFU = L1Policy(.adaptive)

    /// W-TinyLFU with a fixed window of `windowPercent` percent of the capacity (1 is the
    /// classic setting).
    public static func tinyLFU(windowPercent: Double = 1) -> L1Policy {
        L1Policy(.fixed(windowPercent: min(100, max(0, windowPercent))))
    }

    /// Plain least-recently-used: no admission filter, no frequency sketch.
    public static let lru = L1Policy(.lru)

    public var description: String {
        switch _kind {
        case .adaptive: "adaptiveTinyLFU"
        case .fixed(let p): "tinyLFU(window: \(p)%)"
        case .lru: "lru"
        }
    }
}
