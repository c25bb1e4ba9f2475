import ArgumentParser
import Foundation
import Practice
#if canImport(Glibc)
import Glibc
#endif

/// `etcd-console demo`: parses its flags and runs `Practice`'s `DemoSandbox` (the sandbox, the drill's breakage,
/// the console on it); this file only parses, prints errors and handles signals.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A throwaway sandbox: a real etcd with Kubernetes-shaped data and snapshots, and the console on it.",
        discussion: """
        Starts the installed etcd in a temporary directory on free loopback ports, writes a few thousand \
        Kubernetes-shaped objects (pods, deployments, configmaps, secrets... in default, kube-system and \
        business), takes three snapshots, and opens the console on it with a practice service controller, so \
        backups, browsing, diffs and the whole restore wizard can be tried safely. --drill first breaks the \
        data dir the way the power loss behind this project did (etcd then refuses to start) so the recovery \
        can be rehearsed. Everything is removed on exit. Nothing outside the temporary directory is touched.

        Examples:
          etcd-console demo
          etcd-console demo --drill
          etcd-console demo --etcd /usr/local/bin/etcd --objects 10000
        """)

    @Flag(help: "Break the data dir first (etcd's 'failed to find database snapshot file') to rehearse the recovery.")
    var drill = false

    @Option(help: ArgumentHelp("The etcd binary (default: etcd on PATH, /usr/bin/etcd, /usr/local/bin/etcd).", valueName: "path"))
    var etcd: String?

    @Option(help: "Kubernetes-shaped objects to write.")
    var objects: Int = 3000

    @Flag(help: "Keep the sandbox directory on exit (etcd is stopped anyway).")
    var keep = false

    func validate() throws {
        guard objects >= 100 else { throw ValidationError("--objects must be at least 100 (three snapshots need something to differ)") }
        // The drill breaks etcd's newest raft snapshot (.snap), which the practice etcd writes every 500 entries.
        guard !drill || objects >= 600 else {
            throw ValidationError("--drill needs --objects 600 or more: the drill breaks etcd's raft snapshot (.snap file), which the practice etcd writes every 500 writes")
        }
    }

    func run() async throws {
        let binary: String
        let work: String
        do {
            let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            binary = try DemoSandbox.locateEtcd(etcd.map(absolutePath), path: path)
            work = try DemoSandbox.makeTemporaryDirectory(
                in: ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        } catch let error as DemoError {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let sandbox = try DemoSandbox(root: work, etcdBinary: binary)
        let cleanup = DemoCleanup(sandbox: sandbox, keep: keep)
        // SIGTERM and SIGHUP (a closed SSH session) clean up too.
        let signals = InterruptHandler(signals: [SIGTERM, SIGHUP]) { cleanup.run(); Foundation.exit(130) }
        defer { signals.cancel() }
        do {
            try await sandbox.build(objects: objects, drill: drill)
        } catch {
            printError("error: the demo could not be set up: \(error)")
            printError("etcd's log: \(sandbox.practice.logPath(unit: "etcd"))" + (keep ? "" : " (removed on exit; --keep keeps it)"))
            cleanup.run()
            throw ExitCode(1)
        }
        let status: Int32
        do { status = try sandbox.runConsole(program: currentBinaryPath()) } catch {
            printError("error: \(error)")
            status = 1
        }
        print("the console exited (status \(status)).")
        if status != 0 && Terminal.stdinIsTTY {
            print("The sandbox is still up: \(sandbox.endpoint)  (try: \(currentBinaryPath()) status --endpoints \(sandbox.endpoint))")
            print("Press Enter to stop etcd and remove \(work).")
            fflush(nil)
            _ = readLine()
        }
        cleanup.run()
    }
}
