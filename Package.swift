// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "strata",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StrataCore", targets: ["StrataCore"]),
        .library(name: "StrataPostgres", targets: ["StrataPostgres"]),
        .library(name: "StrataRedis", targets: ["StrataRedis"]),
        .library(name: "StrataMem", targets: ["StrataMem"]),
        .library(name: "StrataL2", targets: ["StrataL2"]),
        .library(name: "StrataInvalidation", targets: ["StrataInvalidation"]),
        .library(name: "Strata", targets: ["Strata"]),
        .library(name: "StrataWorker", targets: ["StrataWorker"]),
        .executable(name: "strata-worker", targets: ["strata-worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // C shims: headers and link flags come from pkg-config.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),

        // CRC32C with the CPU's instruction (SSE4.2, ARMv8 CRC) for L2's envelope checksum.
        .target(
            name: "CStrataCRC32C",
            path: "Sources/CStrataCRC32C"
        ),

        // Shared vocabulary: key templates and escaping, the L2 key layout, invalidation messages.
        .target(
            name: "StrataCore",
            swiftSettings: strictSettings
        ),
        // PostgreSQL client over libpq.
        .target(
            name: "StrataPostgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Redis client over hiredis.
        .target(
            name: "StrataRedis",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // L1: the in-process cache.
        .target(
            name: "StrataMem",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // L2: values in Redis, following docs/l2-key-layout.md.
        .target(
            name: "StrataL2",
            dependencies: [
                "StrataCore",
                "StrataRedis",
                "CLZ4",
                "CStrataCRC32C",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // L1 invalidation subscribers: the worker's Redis channel, or PostgreSQL directly (Redis-less).
        .target(
            name: "StrataInvalidation",
            dependencies: [
                "StrataCore",
                "StrataMem",
                "StrataPostgres",
                "StrataRedis",
                "StrataWorker",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // What a service embeds: the tiered cache over L1/L2/L3 and the authorization cache.
        .target(
            name: "Strata",
            dependencies: [
                "StrataCore",
                "StrataMem",
                "StrataL2",
                "StrataInvalidation",
                "StrataPostgres",
                "StrataRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The worker's logic as a library; `strata-worker` only parses flags and starts it.
        .target(
            name: "StrataWorker",
            dependencies: [
                "StrataCore",
                "StrataPostgres",
                "StrataRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "strata-worker",
            dependencies: [
                "StrataWorker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        .testTarget(name: "StrataCoreTests", dependencies: ["StrataCore"]),
        .testTarget(name: "StrataPostgresTests", dependencies: ["StrataPostgres"]),
        .testTarget(name: "StrataRedisTests", dependencies: ["StrataRedis", "StrataTestSupport"]),
        .testTarget(
            name: "StrataMemTests",
            dependencies: [
                "StrataMem",
                "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        // Shared by the integration tests: running the project's scripts, free ports.
        .target(name: "StrataTestSupport", path: "Tests/StrataTestSupport"),
        .testTarget(name: "StrataL2Tests", dependencies: ["StrataL2", "StrataCore", "StrataRedis", "StrataTestSupport", "CStrataCRC32C"]),
        .testTarget(
            name: "StrataInvalidationTests",
            dependencies: ["StrataInvalidation", "StrataCore", "StrataMem", "StrataPostgres", "StrataRedis", "StrataWorker", "StrataTestSupport"]
        ),
        .testTarget(
            name: "StrataTests",
            dependencies: [
                "Strata", "StrataCore", "StrataMem", "StrataL2", "StrataInvalidation", "StrataPostgres", "StrataRedis",
                "StrataWorker", "StrataTestSupport",
            ]
        ),
        .testTarget(
            name: "StrataWorkerTests",
            dependencies: ["StrataWorker", "StrataCore", "StrataPostgres", "StrataRedis", "StrataTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

var strictSettings: [SwiftSetting] {
    [.enableUpcomingFeature("ExistentialAny")]
}
