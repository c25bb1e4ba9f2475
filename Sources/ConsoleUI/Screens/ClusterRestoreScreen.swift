import Foundation

/// `restore --cluster` in the console (`:cluster`): one column per host, live. ConsoleUI's own plain values; the
/// services build them from Operations' `ClusterRestore` and its events.
public struct ClusterRestoreView: Sendable, Equatable {
    public struct Host: Sendable, Equatable {
        public var name: String
        /// "root@10.0.0.2" / "this host".
        public var host: String
        /// pending, reached, copied, planned, prepared, started, failed, rolled-back.
        public var phase: String
        /// The host's last output lines, newest last.
        public var lines: [String]

        public init(name: String, host: String, phase: String = "pending", lines: [String] = []) {
            self.name = name
            self.host = host
            self.phase = phase
            self.lines = lines
        }
    }

    public var snapshot: String
    /// Where the members came from ("the inventory /etc/etcd-console/cluster.yaml").
    public var membership: String
    public var initialCluster: String
    public var hosts: [Host]
    /// What the coordinator does now.
    public var step: String
    /// nil while planned or running; the verdict once finished.
    public var succeeded: Bool?
    public var result: String?
    /// Lost quorum (`:recover`): the member whose data every member is restored from, instead of a snapshot.
    public var survivor: String?

    public init(snapshot: String, membership: String, initialCluster: String, hosts: [Host], step: String = "",
                succeeded: Bool? = nil, result: String? = nil, survivor: String? = nil) {
        self.survivor = survivor
        self.snapshot = snapshot
        self.membership = membership
        self.initialCluster = initialCluster
        self.hosts = hosts
        self.step = step
        self.succeeded = succeeded
        self.result = result
    }

    /// Keeps a host's last lines bounded (the screen shows what fits).
    public mutating func append(_ line: String, to name: String, keep: Int = 40) {
        guard let index = hosts.firstIndex(where: { $0.name == name }) else { return }
        hosts[index].lines.append(line)
        if hosts[index].lines.count > keep { hosts[index].lines.removeFirst(hosts[index].lines.count - keep) }
    }
}

/// The cluster restore screen: the plan (hosts as columns), enter to confirm, then each host's phase and output
/// as it runs.
public struct ClusterRestoreScreen: Sendable, Equatable {
    public enum Phase: Sendable, Equatable { case planned, running, finished }

    public var ref: SnapshotRef
    public var view: ClusterRestoreView
    public var phase: Phase
    public var job: Int?

    public init(ref: SnapshotRef, view: ClusterRestoreView) {
        self.ref = ref
        self.view = view
        self.phase = .planned
    }

    static let plannedBindings: [KeyBinding] = [
        KeyBinding([.enter], "restore every member (asks for yes)", destructive: true, footer: "restore all"),
        KeyBinding([.escape], "back to Snapshots", footer: "back"),
    ]
    static let runningBindings: [KeyBinding] = [
        KeyBinding([.escape], "back to Snapshots (the restore goes on; :cluster returns)", footer: "back"),
    ]

    var bindings: [KeyBinding] { phase == .planned ? Self.plannedBindings : Self.runningBindings }

    func handle(_ key: Key, readonly: Bool) -> ScreenAction {
        switch key {
        case .escape:
            return .close
        case .enter where phase == .planned:
            if readonly { return .refused("read-only session (--readonly): restore is not available") }
            return .confirm(Confirmation(
                title: view.survivor == nil ? "Restore every member of the cluster" : "Recover the cluster from \(view.survivor!)'s data",
                lines: ["from \(view.snapshot):"] + view.hosts.map { "  \($0.name) on \($0.host)" }
                    + ["etcd stops on every host; each data dir is moved aside (kept)."],
                action: .restoreCluster, typedWord: "yes"))
        default:
            return .unhandled
        }
    }

    func render(into grid: inout TextGrid, area: Area, context: RenderContext) {
        var row = area.top
        let bottom = area.top + area.height
        let what = view.survivor == nil ? "Cluster restore" : "Quorum recovery"
        let title = "\(what): " + (phase == .planned ? "plan" : phase == .running ? "running" : "finished")
        _ = grid.put(title, row: row, column: 0, style: .header, limit: area.width)
        row += 1
        _ = grid.put(view.survivor == nil ? "snapshot \(view.snapshot)" : "from \(view.snapshot)", row: row, column: 0, limit: area.width)
        row += 1
        _ = grid.put("members from \(view.membership)", row: row, column: 0, style: .dim, limit: area.width)
        row += 1
        if !view.step.isEmpty || phase == .planned {
            let step = phase != .planned ? view.step
                : view.survivor == nil ? "on each host: copy + SHA-256, plan, restore (left stopped); start all; hashKV"
                : "stop \(view.survivor!), copy its db; then each host: copy, plan, restore; start all"
            _ = grid.put(step, row: row, column: 0, style: phase == .planned ? .dim : .normal, limit: area.width)
            row += 1
        }
        // One column per host: name, destination, phase, then its newest lines.
        let count = max(1, view.hosts.count)
        let width = max(10, (area.width - (count - 1)) / count)
        let resultRows = view.result == nil ? 0 : 2
        let last = bottom - resultRows
        for (index, host) in view.hosts.enumerated() {
            let column = index * (width + 1)
            guard column < area.width else { break }
            let limit = min(width, area.width - column)
            var line = row
            _ = grid.put(host.name, row: line, column: column, style: .header, limit: limit)
            line += 1
            if line < last { _ = grid.put(host.host, row: line, column: column, style: .dim, limit: limit); line += 1 }
            if line < last { _ = grid.put(host.phase, row: line, column: column, style: Self.style(host.phase), limit: limit); line += 1 }
            let space = max(0, last - line)
            var wrapped: [String] = []
            for text in host.lines { wrapped += Self.wrap(text, width: limit) }
            for text in wrapped.suffix(space) {
                _ = grid.put(text, row: line, column: column, style: .dim, limit: limit)
                line += 1
            }
        }
        if let result = view.result {
            let style: CellStyle = view.succeeded == true ? .good : .bad
            var line = last
            for text in Self.wrap(result, width: area.width).prefix(resultRows) {
                _ = grid.put(text, row: line, column: 0, style: style, limit: area.width)
                line += 1
            }
        }
    }

    static func style(_ phase: String) -> CellStyle {
        switch phase {
        case "started": return .good
        case "failed", "rolled-back": return .bad
        case "pending": return .dim
        default: return .warning
        }
    }

    /// Cuts `text` into lines of at most `width` characters (at spaces when it can).
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = []
        var rest = Substring(text)
        while rest.count > width {
            let window = rest.prefix(width)
            let cut = window.lastIndex(of: " ").map { rest.distance(from: rest.startIndex, to: $0) } ?? width
            let take = cut > width / 3 ? cut : width
            lines.append(String(rest.prefix(take)))
            rest = rest.dropFirst(take).drop { $0 == " " }
        }
        if !rest.isEmpty || lines.isEmpty { lines.append(String(rest)) }
        return lines
    }
}
