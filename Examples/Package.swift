// swift-tools-version:6.1
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the
// repository was cloned; find it rather than hard-coding it.
let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent

// The README's examples as code that builds, in a package of their own so that the root
// package does not depend on a web framework. `make test` (scripts/test-examples.sh) builds
// it, checks that every Swift block of the README and of docs/*.md appears verbatim in one
// of its sources, and runs authz-api against the servers. Build from this folder:
//   swift build --scratch-path ../.build-examples
let package = Package(
    name: "strata-examples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // The README's Hummingbird 2 route: API.swift is the README's code block,
        // YourApplication.swift the parts an application supplies itself.
        .executableTarget(
            name: "authz-api",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Strata", package: rootPackage),
                .product(name: "StrataInvalidation", package: rootPackage),
                .product(name: "StrataL2", package: rootPackage),
                .product(name: "StrataPostgres", package: rootPackage),
            ]
        ),
        // The README's other snippets, each with stand-ins for its surroundings: built, not run.
        .executableTarget(
            name: "readme-l1",
            dependencies: [.product(name: "StrataMem", package: rootPackage)]
        ),
        .executableTarget(
            name: "readme-tiered",
            dependencies: [
                .product(name: "Strata", package: rootPackage),
                .product(name: "StrataInvalidation", package: rootPackage),
                .product(name: "StrataL2", package: rootPackage),
            ]
        ),
        .executableTarget(
            name: "readme-subscribers",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Strata", package: rootPackage),
                .product(name: "StrataInvalidation", package: rootPackage),
                .product(name: "StrataL2", package: rootPackage),
            ]
        ),
        // The Swift snippets of docs/*.md, the same way.
        .executableTarget(
            name: "docs-authorization",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Strata", package: rootPackage),
                .product(name: "StrataInvalidation", package: rootPackage),
                .product(name: "StrataL2", package: rootPackage),
            ]
        ),
        .executableTarget(
            name: "docs-clients",
            dependencies: [
                .product(name: "StrataPostgres", package: rootPackage),
                .product(name: "StrataRedis", package: rootPackage),
            ]
        ),
        .executableTarget(
            name: "docs-invalidation",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "StrataInvalidation", package: rootPackage),
                .product(name: "StrataMem", package: rootPackage),
            ]
        ),
        .executableTarget(
            name: "docs-l1",
            dependencies: [
                .product(name: "StrataMem", package: rootPackage),
            ]
        ),
        .executableTarget(
            name: "docs-l2",
            dependencies: [
                .product(name: "StrataL2", package: rootPackage),
            ]
        ),
        .executableTarget(
            name: "docs-tiered",
            dependencies: [
                .product(name: "Strata", package: rootPackage),
                .product(name: "StrataInvalidation", package: rootPackage),
                .product(name: "StrataL2", package: rootPackage),
            ]
        ),
    ]
)
