/// SnapshotStore: the backup catalog. Atomic snapshot files, verification, the bbolt reader,
/// Kubernetes object decoding, retention and diff live here.
