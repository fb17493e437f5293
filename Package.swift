// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "kakunin",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kakunin", targets: ["kakunin"]),
        .library(name: "KakuninCore", targets: ["KakuninCore"]),
        .library(name: "KakuninStore", targets: ["KakuninStore"]),
        .library(name: "KakuninBatch", targets: ["KakuninBatch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // libpq through pkg-config; the module map links "pq".
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The domain, pure: no I/O, no database.
        .target(name: "KakuninCore"),
        // PostgreSQL: connection, COPY streams, migrations (sql/ embedded by the plugin below).
        .target(name: "KakuninStore", dependencies: [
            "CLibPQ",
            .product(name: "Crypto", package: "swift-crypto"),
        ], plugins: ["EmbedSQLPlugin"]),
        .executableTarget(name: "kakunin-embed-sql"),
        .plugin(name: "EmbedSQLPlugin", capability: .buildTool(), dependencies: ["kakunin-embed-sql"], path: "Sources/EmbedSQLPlugin"),
        // The jobs: import, generate, run.
        .target(name: "KakuninBatch", dependencies: [
            "KakuninCore", "KakuninStore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The CLI: parse arguments, call the libraries, print.
        // Shipped beside the code for tests: a real database per test, cloned from a migrated template.
        .target(name: "KakuninTesting", dependencies: ["KakuninStore", "KakuninCore"]),
        .executableTarget(name: "kakunin", dependencies: [
            "KakuninBatch", "KakuninCore", "KakuninStore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Benchmarks (jobs/bench-policy): deciding members already in memory.
        .target(name: "CHeapUsage", path: "Benchmarks/CHeapUsage"),
        .executableTarget(name: "kakunin-policy-bench", dependencies: ["KakuninCore", "KakuninTesting", "CHeapUsage"],
                          path: "Benchmarks/PolicyBench"),
        .testTarget(name: "KakuninCoreTests", dependencies: ["KakuninCore", "KakuninTesting"]),
        .testTarget(name: "KakuninStoreTests", dependencies: ["KakuninStore", "KakuninTesting"]),
        .testTarget(name: "KakuninBatchTests", dependencies: ["KakuninBatch", "KakuninStore", "KakuninCore", "KakuninTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
