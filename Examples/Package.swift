// swift-tools-version:6.1
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the
// repository was cloned; find it rather than hard-coding it.
let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent

// The README's examples as code that builds, in a package of their own so that the root
// package does not depend on a web framework. `make test` builds it and checks that the
// README shows API.swift as it is here. Build from this folder:
//   swift build --scratch-path ../.build-examples
let package = Package(
    name: "strata-examples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
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
    ]
)
