// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "kakunin",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kakunin", targets: ["kakunin"]),
        .library(name: "KakuninCore", targets: ["KakuninCore"]),
        .library(name: "KakuninStore", targets: ["KakuninStore"]),
        .library(name: "KakuninRuntime", targets: ["KakuninRuntime"]),
        .library(name: "KakuninAudit", targets: ["KakuninAudit"]),
        .library(name: "KakuninBatch", targets: ["KakuninBatch"]),
        .library(name: "KakuninCounter", targets: ["KakuninCounter"]),
        .library(name: "KakuninWeb", targets: ["KakuninWeb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // The web console (kakunin serve): HTTP server, server-side templates, bcrypt.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Documentation: swift package generate-documentation --target kakunin (a command plugin,
        // built only when called; Sources/kakunin/Documentation.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // libpq through pkg-config; the module map links "pq".
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The domain, pure: no I/O, no database (the member letter's texts of Letters/Texts/ embedded by the plugin below).
        .target(name: "KakuninCore", exclude: ["Letters/Texts"], plugins: ["EmbedSQLPlugin"]),
        // PostgreSQL: connection, COPY streams, migrations (sql/ embedded by the plugin below).
        .target(name: "KakuninStore", dependencies: [
            "CLibPQ",
            .product(name: "Crypto", package: "swift-crypto"),
        ], plugins: ["EmbedSQLPlugin"]),
        .executableTarget(name: "kakunin-embed-sql"),
        .plugin(name: "EmbedSQLPlugin", capability: .buildTool(), dependencies: ["kakunin-embed-sql"], path: "Sources/EmbedSQLPlugin"),
        // Layers, each depending only on those below it (the compiler enforces the direction):
        //   kakunin (CLI), KakuninWeb  →  KakuninCounter  →  KakuninBatch  →  KakuninAudit  →  KakuninRuntime  →  KakuninStore, KakuninCore
        // What every job needs from the machine: exit statuses and operator errors, owner-only
        // files, CSV reading, vendor text, the concurrency toolkit. Fault injection (Faults/) only in
        // debug builds, which the tests run; a release build has no hooks (jobs/release-check checks the binary).
        .target(name: "KakuninRuntime", dependencies: ["KakuninCore", "KakuninStore"],
                swiftSettings: [.define("KAKUNIN_FAULTS", .when(configuration: .debug))]),
        // The audit log: entries, Merkle tree, signing keys, checkpoints, proofs, coverage.
        .target(name: "KakuninAudit", dependencies: [
            "KakuninRuntime", "KakuninCore", "KakuninStore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The jobs: import, facts, parameters, generate, the nightly run, mail files (Mail/) and
        // the run's reports (Reports/).
        .target(name: "KakuninBatch", dependencies: [
            "KakuninAudit", "KakuninRuntime", "KakuninCore", "KakuninStore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Counter work: the desk (search, issue, void, print), staff scopes, people and console accounts.
        .target(name: "KakuninCounter", dependencies: [
            "KakuninBatch", "KakuninAudit", "KakuninRuntime", "KakuninCore", "KakuninStore",
        ]),
        // The web console: pages over the same libraries (CounterDesk, AuditorReport, AuditLog).
        .target(name: "KakuninWeb", dependencies: [
            "KakuninCounter", "KakuninBatch", "KakuninAudit", "KakuninRuntime", "KakuninCore", "KakuninStore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The CLI: parse arguments, call the libraries, print.
        // Shipped beside the code for tests: a real database per test, cloned from a migrated template.
        .target(name: "KakuninTesting", dependencies: ["KakuninStore", "KakuninCore"]),
        .executableTarget(name: "kakunin", dependencies: [
            "KakuninCounter", "KakuninBatch", "KakuninAudit", "KakuninRuntime", "KakuninCore", "KakuninStore", "KakuninWeb",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Benchmarks (jobs/bench-policy): deciding members already in memory.
        .target(name: "CHeapUsage", path: "Benchmarks/CHeapUsage"),
        .executableTarget(name: "kakunin-policy-bench", dependencies: ["KakuninCore", "KakuninTesting", "CHeapUsage"],
                          path: "Benchmarks/PolicyBench"),
        .testTarget(name: "KakuninCoreTests", dependencies: ["KakuninCore", "KakuninTesting"]),
        .testTarget(name: "KakuninStoreTests", dependencies: ["KakuninStore", "KakuninTesting"]),
        .testTarget(name: "KakuninBatchTests", dependencies: ["KakuninCounter", "KakuninBatch", "KakuninAudit", "KakuninRuntime", "KakuninStore", "KakuninCore", "KakuninTesting"]),
        .testTarget(name: "KakuninWebTests", dependencies: ["KakuninWeb", "KakuninCounter", "KakuninBatch", "KakuninAudit", "KakuninRuntime", "KakuninStore", "KakuninTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
