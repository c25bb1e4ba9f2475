// swift-tools-version: 6.0
// etcd-console: a terminal console and headless commands to back up etcd and bring a cluster back.
// Module layout and dependency direction: docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "etcd-console",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "etcd-console", targets: ["etcd-console"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // System libraries (Debian packages; scripts/setup installs them).
        .systemLibrary(name: "CNCurses", pkgConfig: "ncursesw",
                       providers: [.apt(["libncurses-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),

        // Modules, lowest first. A module only imports the ones above it.
        // The leaf: process spawning, errno text, free space, byte and duration formatting (Foundation and Glibc only).
        .target(name: "SystemSupport"),
        .target(name: "EtcdClient",
                dependencies: ["SystemSupport", "CNGHTTP2", "COpenSSL",
                               .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "SnapshotStore", dependencies: ["SystemSupport", "EtcdClient", "COpenSSL", "CZstd",
                                                      .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "ObjectStore", dependencies: ["SnapshotStore", "CCurl",
                                                    .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Recovery", dependencies: ["SystemSupport", "SnapshotStore", "EtcdClient", .product(name: "Yams", package: "Yams")]),
        .target(name: "Operations", dependencies: ["SystemSupport", "Recovery", "SnapshotStore", "EtcdClient", "ObjectStore", "COpenSSL", .product(name: "Yams", package: "Yams")]),
        // What demos and tests share, out of the product modules: the demo sandbox, the practice systemctl, the
        // scripted process runner and the restore executor's fakes, the founding-failure breaker.
        .target(name: "Practice", dependencies: ["SystemSupport", "Recovery", "SnapshotStore", "EtcdClient"]),
        .target(name: "ConsoleUI", dependencies: ["SystemSupport", "Recovery", "SnapshotStore", "EtcdClient"]),
        .target(name: "CursesTerminal", dependencies: ["CNCurses", "ConsoleUI"]),
        .executableTarget(name: "etcd-console",
                          dependencies: ["SystemSupport", "EtcdClient", "SnapshotStore", "Recovery", "Operations", "ConsoleUI",
                                         "CursesTerminal", "Practice",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          // Swift 6.3.1's -O crashes (signal 11, "while splitting coroutine") on the commands'
                          // async run() methods in a release build; -Osize compiles them. The modules above keep -O.
                          swiftSettings: [.unsafeFlags(["-Osize"])]),

        // Real etcd processes, certificates made by openssl, and etcdctl for the tests.
        .target(name: "EtcdTestSupport"),

        .testTarget(name: "EtcdTestSupportTests", dependencies: ["EtcdTestSupport"]),
        .testTarget(name: "EtcdClientTests", dependencies: ["EtcdClient", "EtcdTestSupport"]),
        .testTarget(name: "SnapshotStoreTests", dependencies: ["SnapshotStore", "SystemSupport", "Practice", "EtcdTestSupport"]),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore", "SnapshotStore", "EtcdTestSupport",
                                                             .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "RecoveryTests", dependencies: ["Recovery", "Practice", "EtcdTestSupport"], exclude: ["Golden"]),
        .testTarget(name: "OperationsTests", dependencies: ["Operations", "Recovery", "SnapshotStore", "EtcdClient", "EtcdTestSupport",
                                                            .product(name: "Yams", package: "Yams")],
                    exclude: ["Snapshots"]),
        .testTarget(name: "EtcdConsoleTests", dependencies: ["EtcdTestSupport", "EtcdClient", "SnapshotStore", "Recovery", "Operations", "Practice", "ObjectStore",
                                                             .product(name: "Yams", package: "Yams")],
                    exclude: ["Golden"]),
        .testTarget(name: "ConsoleUITests", dependencies: ["ConsoleUI", "EtcdTestSupport", "SnapshotStore", "Recovery", "EtcdClient"],
                    exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v6]
)
