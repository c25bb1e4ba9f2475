import Recovery
import Foundation

/// A `systemctl` stand-in that starts and stops a real etcd process, for hosts where systemd is not
/// PID 1 (containers, CI) and for the demo sandbox. Put `binDirectory` first on PATH.
///
/// It knows the units `define`d for it: `start` runs the unit's command in the background (output to
/// the unit's log) and, like a `Type=notify` unit, returns only when etcd logs that it serves clients,
/// or fails when etcd exits first; `stop` sends SIGTERM, then SIGKILL after 10 s; `is-active` prints
/// active / inactive / failed (a unit whose process died) with systemctl's exit codes; `restart`,
/// `status`, `daemon-reload`, `enable`, `disable` and `reset-failed` work as an operator would expect.
public struct PracticeSystemctl: Sendable {
    public let directory: String

    public var binDirectory: String { directory + "/bin" }
    public var executable: String { binDirectory + "/systemctl" }

    /// Writes the stand-in into `directory` (created when missing).
    public static func install(in directory: String) throws -> PracticeSystemctl {
        let practice = PracticeSystemctl(directory: directory)
        let fm = FileManager.default
        try fm.createDirectory(atPath: practice.binDirectory, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: practice.stateDirectory, withIntermediateDirectories: true)
        try Data(script.utf8).write(to: URL(fileURLWithPath: practice.executable))
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: practice.executable)
        return practice
    }

    public init(directory: String) {
        self.directory = directory
    }

    var stateDirectory: String { directory + "/state" }

    /// Defines (or redefines) `unit` to run `command` (program, then arguments; no newlines in them).
    public func define(unit: String, command: [String]) throws {
        guard !command.isEmpty, !command.contains(where: { $0.contains("\n") }) else {
            throw RestoreError(.invalidPlan, "a practice unit's command must be non-empty words without newlines")
        }
        try Data((command.joined(separator: "\n") + "\n").utf8)
            .write(to: URL(fileURLWithPath: "\(stateDirectory)/\(unit).command"), options: .atomic)
    }

    /// Where the unit's process writes its output.
    public func logPath(unit: String) -> String { "\(stateDirectory)/\(unit).log" }

    /// The pid of the unit's process when it runs; nil when it does not (its pid file is gone, or names a
    /// process that has exited, even if the kernel has since given that pid to another process).
    ///
    /// The pid file holds "PID STARTTIME" (`/proc/PID/stat`'s start time in clock ticks): pids wrap at
    /// `pid_max` (32768 on many hosts), so a pid alone, read after its etcd died, can name an unrelated process,
    /// and a stop or a test's cleanup would signal it.
    public func pid(unit: String) -> Int32? {
        guard let text = try? String(contentsOfFile: "\(stateDirectory)/\(unit).pid", encoding: .utf8) else { return nil }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let first = words.first, let pid = Int32(first), pid > 0 else { return nil }
        guard words.count > 1 else { return kill(pid, 0) == 0 ? pid : nil }  // a pid file of an older stand-in
        return Self.startTime(of: pid) == String(words[1]) ? pid : nil
    }

    /// Field 22 of `/proc/PID/stat` (when the process started, in clock ticks after boot); nil when there is no
    /// such process or it is a zombie (it has exited; its adopter may take seconds to reap it). The command name
    /// (field 2) may hold spaces and parentheses, so fields count after its last ")".
    static func startTime(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.range(of: ") ", options: .backwards) else { return nil }
        let fields = stat[close.upperBound...].split(separator: " ")
        return fields.count > 19 && fields[0] != "Z" ? String(fields[19]) : nil
    }

    static let script = #"""
    #!/usr/bin/env bash
    # Practice systemctl from etcd-console: starts and stops a real etcd where systemd is not PID 1.
    set -u
    state="$(cd "$(dirname "$0")/../state" && pwd)"
    words=()
    for word in "$@"; do
      case "$word" in -q|--quiet|--no-pager|--now|--no-block|--system) ;; *) words+=("$word") ;; esac
    done
    verb="${words[0]:-}"
    unit="${words[1]:-}"
    unit="${unit%.service}"
    command_file="$state/$unit.command"
    pid_file="$state/$unit.pid"
    log="$state/$unit.log"

    # "PID STARTTIME": a pid alone, read after its process died, may name another process by now (pids wrap).
    # A zombie counts as gone: it has exited, and whoever adopted it may take a while to reap it.
    starttime() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; s="${s##*) }"; set -- $s
      [ "$1" != Z ] || return 1; echo "${20}"; }
    unit_pid() { local p t; read -r p t < "$pid_file" 2>/dev/null || return 1; [ -n "$p" ] || return 1
      if [ -n "$t" ]; then [ "$(starttime "$p")" = "$t" ] || return 1; else kill -0 "$p" 2>/dev/null || return 1; fi
      echo "$p"; }
    alive() { [ -f "$pid_file" ] && unit_pid >/dev/null; }
    known() { [ -f "$command_file" ] || { echo "Unit $unit.service could not be found." >&2; exit 5; }; }

    stop_unit() {
      alive || { rm -f "$pid_file"; return 0; }
      pid="$(unit_pid)"
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 100); do alive || break; sleep 0.1; done
      alive && kill -KILL "$pid" 2>/dev/null
      for _ in $(seq 1 50); do alive || break; sleep 0.1; done
      rm -f "$pid_file"
    }

    start_unit() {
      alive && return 0
      mapfile -t command < "$command_file"
      touch "$log"
      offset=$(stat -c %s "$log")
      # The daemon keeps none of the caller's descriptors (a pipe held open would make the caller wait).
      (
        for fd in /proc/self/fd/*; do
          n="${fd##*/}"
          case "$n" in 0|1|2) ;; *) eval "exec $n>&-" 2>/dev/null ;; esac
        done
        exec setsid "${command[@]}" >>"$log" 2>&1 </dev/null
      ) &
      echo "$! $(starttime $!)" > "$pid_file"
      for _ in $(seq 1 600); do
        if ! alive; then
          echo "Job for $unit.service failed because the control process exited with error code." >&2
          echo "See \"$log\" for details:" >&2
          tail -c +$((offset + 1)) "$log" | tail -n 5 >&2
          return 1
        fi
        # etcd 3.4 over plain http says "serving insecure client requests", with TLS and 3.5+ "serving client".
        if tail -c +$((offset + 1)) "$log" | grep -qE "serving (insecure )?client"; then return 0; fi
        sleep 0.1
      done
      echo "Job for $unit.service failed because a timeout was exceeded." >&2
      stop_unit
      return 1
    }

    case "$verb" in
      start) known; start_unit ;;
      stop) known; stop_unit ;;
      restart) known; stop_unit; start_unit ;;
      is-active)
        if alive; then echo active; exit 0; fi
        if [ -f "$pid_file" ]; then echo failed; else echo inactive; fi
        exit 3 ;;
      status)
        known
        if alive; then
          echo "* $unit.service - $unit (practice systemctl)"; echo "     Active: active (running), pid $(unit_pid)"
          tail -n 5 "$log"; exit 0
        fi
        echo "* $unit.service - $unit (practice systemctl)"; echo "     Active: inactive (dead)"; exit 3 ;;
      daemon-reload|enable|disable|reset-failed) exit 0 ;;
      *) echo "practice systemctl: '$verb' is not supported here" >&2; exit 1 ;;
    esac
    """#
}
