import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Whether a scheduled backup will be able to log in to etcd.
///
/// A timer or CronJob run has no terminal to ask for a password and does not see the environment of the shell
/// that ran `schedule` (ETCDCTL_PASSWORD there is lost). With a user set, the only source that reaches the run is
/// `password-file` in the config file the units pass with `--config`; that file must be a regular file only its
/// owner (root or the user scheduling) can read. Pure apart from `lstat` of that file.
public enum ScheduledBackupPassword {
    /// nil when the schedule can authenticate (no user, or a usable password file from the config file), else the
    /// refusal: what is wrong and where the password goes instead.
    public static func problem(_ resolved: ResolvedConfiguration, configFile: String?) -> String? {
        guard let user = resolved[.user] else { return nil }
        let name = user.split(separator: ":", maxSplits: 1).first.map(String.init) ?? user
        let file = configFile ?? "/etc/etcd-console/config.yaml"
        let howTo = "put the password in a file only root can read (install -m 0600 -o root /dev/null "
            + "/etc/etcd-console/password, then write the password into it) and set password-file: "
            + "/etc/etcd-console/password in \(file); nothing was written"
        guard let setting = resolved.settings[.passwordFile], case .file = setting.source, configFile != nil else {
            let given = user.contains(":") ? "a password on the command line"
                : ProcessInfo.processInfo.environment["ETCDCTL_PASSWORD"] != nil ? "ETCDCTL_PASSWORD in this shell" : "no password"
            return "the scheduled backup logs in as etcd user \(name) but would have no password: a timer run has no "
                + "terminal to ask and does not see \(given); \(howTo)"
        }
        let path = setting.value
        var info = stat()
        guard lstat(path, &info) == 0 else {
            return "the password file \(path) (\(setting.source)) cannot be read: \(errnoDescription(errno)); \(howTo)"
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return "the password file \(path) (\(setting.source)) is not a regular file (a symbolic link?); \(howTo)"
        }
        if info.st_uid != 0 && info.st_uid != geteuid() {
            return "the password file \(path) belongs to uid \(info.st_uid), not to root: run chown root \(path)"
        }
        if info.st_mode & 0o077 != 0 {
            return "the password file \(path) can be read by other users (mode 0\(String(info.st_mode & 0o777, radix: 8))): "
                + "run chmod 600 \(path)"
        }
        return nil
    }
}
