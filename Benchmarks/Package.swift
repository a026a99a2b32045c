// swift-tools-version:6.1
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the
// repository was cloned; find it rather than hard-coding it.
let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent

// Benchmarks live in their own package so that the root package's tests build fast.
// Build and run from this folder:
//   swift build -c release --scratch-path ../.build-mem-bench
//   ../.build-mem-bench/release/l1-bench all
let package = Package(
    name: "strata-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "l1-bench",
            dependencies: [
                "CMallocStats",
                .product(name: "StrataMem", package: rootPackage),
            ]
        ),
        // Commit-to-invalidation latency and worker throughput against the dev servers.
        .executableTarget(
            name: "invalidation-bench",
            dependencies: [
                .product(name: "StrataCore", package: rootPackage),
                .product(name: "StrataPostgres", package: rootPackage),
                .product(name: "StrataRedis", package: rootPackage),
            ]
        ),
        // L2 through the library against redis-benchmark, and the codecs (scripts/bench-l2.sh).
        .executableTarget(
            name: "l2-bench",
            dependencies: [
                .product(name: "StrataL2", package: rootPackage),
                .product(name: "StrataRedis", package: rootPackage),
            ]
        ),
        // Tiered and authorization caches: hit cost against bare L1 and raw Redis, and the
        // authorization hit ratio and latency on the seeded schema (scripts/bench-tiered.sh).
        .executableTarget(
            name: "tiered-bench",
            dependencies: [
                .product(name: "Strata", package: rootPackage),
                .product(name: "StrataCore", package: rootPackage),
                .product(name: "StrataMem", package: rootPackage),
                .product(name: "StrataL2", package: rootPackage),
                .product(name: "StrataInvalidation", package: rootPackage),
                .product(name: "StrataPostgres", package: rootPackage),
                .product(name: "StrataRedis", package: rootPackage),
            ]
        ),
        // glibc's mallinfo2, for the memory figures.
        .target(name: "CMallocStats"),
    ],
    swiftLanguageModes: [.v6]
)
