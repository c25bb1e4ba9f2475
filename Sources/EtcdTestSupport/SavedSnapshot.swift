import Foundation

extension EtcdProcess {
    /// A real snapshot at `path`: a throwaway etcd of `version` named `name` gets `keys` puts (key-N = value-N), then
    /// `etcdctl snapshot save`; the etcd is stopped whatever happens.
    public static func saveSnapshot(_ version: EtcdVersion = .v3_5, name: String, keys: Int, to path: String) async throws {
        let etcd = try await EtcdProcess.start(EtcdOptions(version: version, name: name))
        do {
            for index in 0..<keys {
                let put = try etcd.etcdctl(["put", "key-\(index)", "value-\(index)"])
                guard put.succeeded else { throw EtcdTestSupportError("etcdctl put failed: \(put.output)") }
            }
            let saved = try etcd.etcdctl(["snapshot", "save", path])
            guard saved.succeeded else { throw EtcdTestSupportError("etcdctl snapshot save failed: \(saved.output)") }
        } catch {
            await etcd.stop()
            throw error
        }
        await etcd.stop()
    }
}
