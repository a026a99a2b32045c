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
/// Products of the root package.
func strata(_ names: String...) -> [Target.Dependency] {
    names.map { .product(name: $0, package: rootPackage) }
}
let service: [Target.Dependency] = [
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
]

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
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
                + strata("Strata", "StrataInvalidation", "StrataL2", "StrataPostgres")
        ),
        // The other snippets of the README and of docs/*.md, each with stand-ins for its
        // surroundings: built, not run.
        .executableTarget(name: "readme-l1", dependencies: strata("StrataMem")),
        .executableTarget(name: "readme-tiered", dependencies: strata("Strata", "StrataInvalidation", "StrataL2")),
        .executableTarget(name: "readme-subscribers", dependencies: service + strata("Strata", "StrataInvalidation", "StrataL2")),
        .executableTarget(name: "docs-authorization", dependencies: service + strata("Strata", "StrataInvalidation", "StrataL2")),
        .executableTarget(name: "docs-clients", dependencies: strata("StrataPostgres", "StrataRedis")),
        .executableTarget(name: "docs-invalidation", dependencies: service + strata("StrataInvalidation", "StrataMem")),
        .executableTarget(name: "docs-l1", dependencies: strata("StrataMem")),
        .executableTarget(name: "docs-l2", dependencies: strata("StrataL2")),
        .executableTarget(name: "docs-tiered", dependencies: strata("Strata", "StrataInvalidation", "StrataL2")),
    ]
)
