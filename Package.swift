// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "warden",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "warden", targets: ["warden"]),
        // For the fuzz targets' package (Tests/Fuzz), which builds them with libFuzzer.
        .library(name: "WardenCore", targets: ["WardenCore"]),
        .library(name: "WardenTokens", targets: ["WardenTokens"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", exact: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", exact: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/google/swift-benchmark.git", exact: "0.1.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
        // OTLP over HTTP only: the gRPC trait (a default) costs minutes of build for nothing used here.
        .package(url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .target(
            name: "WardenCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                // RSA public keys, for client assertions and DPoP proofs signed with RS256 or PS256.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                // The tracing API only (spans around client authentication); no backend.
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The schemas and what both backends share about storing: value formats, errors, export.
        .target(name: "WardenMigrations", dependencies: ["WardenCore"], path: "Migrations"),
        .target(
            name: "WardenSQLite",
            dependencies: [
                "WardenCore", "WardenMigrations",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "WardenPostgres",
            dependencies: [
                "WardenCore", "WardenMigrations",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "WardenTokens",
            dependencies: [
                "WardenCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "WardenHTTP",
            dependencies: [
                "WardenCore", "WardenTokens",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            // Compiled into the binary: one file to ship, and the document served is the one reviewed.
            resources: [.embedInCode("Routes/openapi.yaml")]
        ),
        .target(
            name: "WardenServer",
            dependencies: [
                "WardenCore", "WardenTokens", "WardenSQLite", "WardenPostgres", "WardenHTTP", "WardenMigrations",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        .executableTarget(
            name: "warden",
            dependencies: [
                "WardenServer", "WardenHTTP", "WardenCore", "WardenSQLite", "WardenTokens", "WardenMigrations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "warden-microbenchmarks",
            dependencies: [
                "WardenCore", "WardenSQLite", "WardenTokens",
                .product(name: "Benchmark", package: "swift-benchmark"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Tests/Benchmarks/Micro"
        ),
        // The in-memory fakes of Core's repositories, held by the store suite to the backends' rules.
        .target(name: "WardenTestSupport", dependencies: ["WardenCore"], path: "Tests/WardenTestSupport"),
        .testTarget(name: "WardenCoreTests", dependencies: ["WardenCore", "WardenTestSupport"]),
        .testTarget(name: "WardenTokensTests", dependencies: ["WardenTokens", "WardenCore"]),
        .testTarget(
            name: "WardenStoreTests",
            dependencies: [
                "WardenSQLite", "WardenPostgres", "WardenServer", "WardenMigrations", "WardenCore", "WardenTokens",
                "WardenTestSupport", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WardenHTTPTests",
            dependencies: [
                "WardenServer", "WardenHTTP", "WardenCore", "WardenSQLite", "WardenTokens", "WardenMigrations",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ]
)
