import Foundation

extension SnapshotCatalog {
    /// What `prune` decided and did.
    public struct PruneOutcome: Sendable, Equatable {
        public var plan: RetentionPlan
        /// Snapshots deleted (empty on a dry run).
        public var deleted: [String]
        /// Leftover `.part` files removed (empty on a dry run).
        public var removedParts: [String]
    }

    /// Lists the directory, plans retention with `policy` (`Retention.plan`), and unless `dryRun` deletes what the
    /// plan lets go and the `.part` leftovers of saves that crashed more than an hour ago. Shared by
    /// `snapshot prune` and the headless `backup`, so both apply exactly the same rules.
    public func prune(policy: RetentionPolicy, now: Date, dryRun: Bool) throws(SnapshotStoreError) -> PruneOutcome {
        let listing = try list()
        let plan = Retention.plan(listing.entries.map(\.retentionCandidate), policy: policy, now: now)
        guard !dryRun else { return PruneOutcome(plan: plan, deleted: [], removedParts: []) }
        let byName = Dictionary(uniqueKeysWithValues: listing.entries.map { ($0.name, $0) })
        var deleted: [String] = []
        for item in plan.delete {
            guard let entry = byName[item.name] else { continue }
            try delete(entry)
            deleted.append(item.name)
        }
        let parts = try removeLeftoverParts(olderThan: 3600, now: now)
        return PruneOutcome(plan: plan, deleted: deleted, removedParts: parts)
    }
}
