import Foundation
import ObjectStore
import SnapshotStore

/// Everything an offsite operation needs, from the one resolved settings value plus the credentials (resolved
/// once by the caller from the AWS_* environment or a credentials file). Built by `OffsiteSettings.from`.
public struct OffsiteSettings: Sendable {
    public var endpoint: String
    public var bucket: String
    public var prefix: String
    public var region: String
    public var caFile: String?
    public var credentials: S3Credentials
    public var recipients: [AgeRecipient]
    public var identityFile: String?
    public var compressionLevel: Int32
    /// `remote.bundle-unencrypted`: bundles may be uploaded without age recipients (off: they are then kept local).
    public var allowUnencryptedBundles = false
    /// The remote copies' retention; nil when `remote.retention` sets nothing (remote copies are then kept).
    public var retention: RetentionPolicy?
    /// Bytes per multipart part (16-64 MiB).
    public var partSize: Int = MultipartUploadSink.defaultPartSize
    /// Attempts per request that failed for a reason that may pass (unreachable, 5xx, a broken stream).
    public var attempts: Int = 3
    /// Pause before the n-th retry (n from 1): 0.5 s, 1 s, 2 s by default.
    public var backoff: @Sendable (Int) -> Duration = { .milliseconds(500 << ($0 - 1)) }
    /// Stall timeout of each request (no byte for this long ends it).
    public var stallSeconds: Int = 60

    public init(endpoint: String, bucket: String, prefix: String = "", region: String = "us-east-1",
                caFile: String? = nil, credentials: S3Credentials, recipients: [AgeRecipient] = [],
                identityFile: String? = nil, compressionLevel: Int32 = Zstd.defaultLevel,
                retention: RetentionPolicy? = nil) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.caFile = caFile
        self.credentials = credentials
        self.recipients = recipients
        self.identityFile = identityFile
        self.compressionLevel = compressionLevel
        self.retention = retention
    }

    /// The offsite settings in `resolved`, or nil when no `remote.endpoint` is configured (offsite is off).
    /// `environment` and `home` are read only for the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).
    public static func from(_ resolved: ResolvedConfiguration, environment: [String: String],
                            home: String) throws(OffsiteError) -> OffsiteSettings? {
        guard let endpoint = resolved[.remoteEndpoint] else {
            if let other = ConfigurationKey.allCases.first(where: { ($0.section ?? "").hasPrefix("remote") && resolved.chosen($0) != nil }) {
                throw OffsiteError("\(other.fileKey) is set (\(resolved.settings[other]!.source)) but remote.endpoint is not: set remote.endpoint (or ETCD_CONSOLE_REMOTE_ENDPOINT) to turn offsite copies on, or remove the remote: section")
            }
            return nil
        }
        guard let bucket = resolved[.remoteBucket] else {
            throw OffsiteError("remote.endpoint is set (\(resolved.settings[.remoteEndpoint]!.source)) but remote.bucket is not: name the bucket offsite copies go to")
        }
        if resolved[.remotePathStyle] == "false" {
            throw OffsiteError("remote.path-style is false (\(resolved.settings[.remotePathStyle]!.source)), but only path-style addressing (<endpoint>/<bucket>/<key>) is supported; AWS S3, MinIO, Ceph RGW, SeaweedFS and R2 all accept it: set path-style: true or remove it")
        }
        let credentials: S3Credentials
        do {
            credentials = try S3Credentials.resolve(environment: environment, credentialsFile: resolved[.remoteCredentialsFile],
                                                    profile: resolved[.remoteProfile], home: home)
        } catch {
            throw OffsiteError(error.detail)
        }
        var recipients: [AgeRecipient] = []
        for text in (resolved[.remoteAgeRecipients] ?? "").split(separator: ",") {
            do { recipients.append(try AgeRecipient(String(text))) } catch {
                throw OffsiteError("remote.age-recipients: \(error)")
            }
        }
        var retention: RetentionPolicy?
        if ConfigurationKey.remoteRetentionKeys.contains(where: { resolved[$0] != nil }) {
            func count(_ key: ConfigurationKey) -> Int? { resolved[key].flatMap { Int($0) } }
            retention = RetentionPolicy(keepLast: count(.remoteKeepLast), hourly: count(.remoteHourly),
                                        daily: count(.remoteDaily), weekly: count(.remoteWeekly),
                                        monthly: count(.remoteMonthly))
        }
        var settings = OffsiteSettings(endpoint: endpoint, bucket: bucket, prefix: resolved[.remotePrefix] ?? "",
                               region: resolved[.remoteRegion] ?? "us-east-1", caFile: resolved[.remoteCAFile],
                               credentials: credentials, recipients: recipients,
                               identityFile: resolved[.remoteAgeIdentityFile],
                               compressionLevel: resolved[.remoteCompressionLevel].flatMap { Int32($0) } ?? Zstd.defaultLevel,
                               retention: retention)
        settings.allowUnencryptedBundles = resolved[.remoteBundleUnencrypted] == "true"
        return settings
    }

    /// `s3://bucket/prefix/` for messages.
    public var location: String { "s3://\(bucket)/\(prefix.isEmpty ? "" : prefix + "/")" }
}

/// Why an offsite operation failed: what, on which snapshot or object, and why, in an operator's words.
public struct OffsiteError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
