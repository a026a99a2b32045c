/// A log-linear latency histogram (8 sub-buckets per power of two, so every value is
/// known within 12.5%) that merges exactly: the performance samples add up histograms of
/// several caches and compute percentiles over the sum.
///
/// ```swift
/// var histogram = LatencyHistogram()
/// histogram.record(nanoseconds: 850_000)
/// histogram.percentile(0.99)          // ≈ 850 µs, in nanoseconds
/// ```
public struct LatencyHistogram: Sendable, Hashable {
    static let subBucketBits = 3
    static let subBuckets = 1 << subBucketBits
    static let bucketCount = 64 * subBuckets

    private var counts: [UInt32]
    /// Number of recorded values.
    public private(set) var count: Int = 0
    /// Sum of the recorded values, in nanoseconds.
    public private(set) var sum: Int64 = 0

    public init() { counts = [] }

    /// Records one latency.
    public mutating func record(nanoseconds: Int64) {
        if counts.isEmpty { counts = Array(repeating: 0, count: Self.bucketCount) }
        let value = max(0, nanoseconds)
        counts[Self.index(value)] &+= 1
        count += 1
        sum &+= value
    }

    /// Adds another histogram's values.
    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        if counts.isEmpty { counts = Array(repeating: 0, count: Self.bucketCount) }
        for index in other.counts.indices where other.counts[index] != 0 { counts[index] &+= other.counts[index] }
        count += other.count
        sum &+= other.sum
    }

    /// The value at quantile `q` (0...1), in nanoseconds: the upper bound of its bucket
    /// (at most 12.5% above the true value). `nil` when empty.
    public func percentile(_ q: Double) -> Int64? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for index in counts.indices where counts[index] != 0 {
            seen += Int(counts[index])
            if seen >= rank { return Self.upperBound(index) }
        }
        return Self.upperBound(counts.count - 1)
    }

    static func index(_ value: Int64) -> Int {
        if value < Int64(subBuckets) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount          // position of the leading bit, >= subBucketBits
        let shift = exponent - subBucketBits
        let sub = Int((value >> shift) & Int64(subBuckets - 1))
        return (shift + 1) * subBuckets + sub
    }

    static func upperBound(_ index: Int) -> Int64 {
        if index < subBuckets { return Int64(index) }
        let shift = index / subBuckets - 1
        let sub = Int64(index % subBuckets)
        let base = (Int64(subBuckets) + sub) << shift
        return base + (Int64(1) << shift) - 1
    }
}
