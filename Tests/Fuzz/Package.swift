// swift-tools-version: 6.1
// Coverage-guided fuzz targets (libFuzzer) for every parser that sees client input.
// Built and run by Tests/Fuzz/run.sh; never part of the normal build.
import Foundation
import PackageDescription

// A path dependency is named after its directory, which is the checkout's name.
let warden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let wardenPackage = warden.lastPathComponent.lowercased()

let targets = ["FuzzFormBody", "FuzzBasicCredentials", "FuzzAuthorizeQuery", "FuzzAccessToken", "FuzzPKCE", "FuzzRedirectURI", "FuzzDPoPProof", "FuzzClientAssertion", "FuzzClientMetadata"]

let package = Package(
    name: "warden-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: warden.path)],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer", .product(name: "WardenCore", package: wardenPackage)]),
    ]
        + targets.map { name in
            .executableTarget(
                name: name,
                dependencies: [
                    "FuzzSupport",
                    .product(name: "WardenCore", package: wardenPackage),
                    .product(name: "WardenTokens", package: wardenPackage),
                ])
        }
)
