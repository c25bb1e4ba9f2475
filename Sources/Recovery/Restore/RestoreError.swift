/// A restore failure an operator can act on: what failed, where, and (in `message`) what to do next.
public struct RestoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        /// The snapshot does not verify good (or cannot be read).
        case badSnapshot
        /// etcdutl/etcdctl/systemctl/kubectl is not installed or cannot be started.
        case toolMissing
        /// Not enough free space where the data dir lives.
        case noSpace
        /// systemctl / the static pod manifest cannot stop or start etcd.
        case serviceControl
        /// A file-system step (move, chown) failed.
        case fileSystem
        /// The restore tool exited non-zero.
        case restoreTool
        /// etcd did not become healthy after the start.
        case unhealthy
        /// etcd came back but does not hold what the snapshot holds.
        case verification
        /// A restore journal says another restore is unfinished, or the journal is unreadable.
        case journal
        /// The options do not make a plan (e.g. no data dir).
        case invalidPlan
        /// The operator asked the restore to stop (Ctrl-C).
        case stopped
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
