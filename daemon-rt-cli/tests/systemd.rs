//! The `daemon-rt` command under the manager it is for: a real systemd (252 on Debian 12),
//! booted by each test as PID 1 of a private namespace (`tests/tests/support/systemd.rs`),
//! driven through `systemctl`. A `Type=forking` unit with `PIDFile=`, a `Type=notify` unit
//! whose program sends `READY=1` itself, and a start that fails. Root only; skipped with a
//! message otherwise.

#[path = "../../tests/tests/support/systemd.rs"]
mod systemd;

use std::time::{Duration, Instant};

use systemd::Systemd;

const DAEMON_RT: &str = env!("CARGO_BIN_EXE_daemon-rt");
/// The PID file, outside `RuntimeDirectory=`, so the stop does not remove it for the test.
const PIDFILE: &str = "/run/cli.pid";
const LOG: &str = "/var/log/cli.log";
/// How long a unit may take to reach a state the test waits for.
const SETTLE: Duration = Duration::from_secs(15);

/// The command line of the process `pid` (a PID inside), its arguments joined by spaces.
fn cmdline(sd: &Systemd, pid: u32) -> Option<String> {
    let raw = std::fs::read(sd.host_path(&format!("proc/{pid}/cmdline"))).ok()?;
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(args.join(" "))
}

/// The PIDs inside the namespace whose command line is `wanted`.
fn processes(sd: &Systemd, wanted: &str) -> Vec<u32> {
    let entries = std::fs::read_dir(sd.host_path("proc")).expect("read the namespace's /proc");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| cmdline(sd, pid).as_deref() == Some(wanted))
        .collect()
}

/// Whether some process holds a `flock(2)` lock on the file at `path` inside.
fn locked(sd: &Systemd, path: &str) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let file = std::fs::File::open(sd.host_path(path)).expect("open the PID file");
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(_unlocked_on_drop) => false,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => true,
        Err((_, e)) => panic!("flock {path}: {e}"),
    }
}

/// Waits until `check` holds, or fails the test with `what` and the journal.
fn wait_until(sd: &Systemd, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {SETTLE:?}\n{}",
            sd.journal_all()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_forking_unit_runs_the_program_with_the_pid_file_as_its_main_pid() {
    let text = format!(
        "[Service]\nType=forking\nPIDFile={PIDFILE}\nTimeoutStartSec=10\n\
         ExecStart={DAEMON_RT} --pidfile {PIDFILE} --stdout {LOG} -- /bin/sh -c 'echo up; exec /bin/sleep 600'\n"
    );
    let Some(sd) = Systemd::boot("cli-forking", &[("cli.service", &text)]) else {
        return;
    };
    sd.systemctl_ok(&["start", "cli.service"]);
    assert_eq!(sd.state("cli.service"), "active");
    let pid = sd.main_pid("cli.service");
    assert_ne!(pid, 0, "no main PID");
    assert_eq!(sd.read_pid(PIDFILE), Some(pid), "MainPID vs PID file");
    wait_until(&sd, "the program became sleep", || {
        cmdline(&sd, pid).as_deref() == Some("/bin/sleep 600")
    });
    assert!(locked(&sd, PIDFILE), "the PID file is not locked");
    assert_eq!(
        sd.read(LOG).as_deref(),
        Some("up\n"),
        "the program's stdout"
    );
    assert_eq!(processes(&sd, "/bin/sleep 600"), [pid], "other sleeps run");

    sd.systemctl_ok(&["stop", "cli.service"]);
    assert_eq!(
        sd.state("cli.service"),
        "inactive",
        "the stop was not clean"
    );
    assert!(cmdline(&sd, pid).is_none(), "the program outlived the stop");
    assert_eq!(
        processes(&sd, "/bin/sleep 600"),
        Vec::<u32>::new(),
        "a sleep is left"
    );
    if sd.read(PIDFILE).is_some() {
        assert!(!locked(&sd, PIDFILE), "the stale PID file is still locked");
    }
}

#[test]
fn a_notify_unit_is_active_only_once_the_program_says_ready() {
    let text = format!(
        "[Service]\nType=notify\nNotifyAccess=all\nTimeoutStartSec=10\n\
         ExecStart={DAEMON_RT} --foreground --ready notify --pidfile {PIDFILE} -- \
         /bin/sh -c 'sleep 0.3; systemd-notify --ready; exec /bin/sleep 600'\n"
    );
    let Some(sd) = Systemd::boot("cli-notify", &[("cli.service", &text)]) else {
        return;
    };
    let begun = Instant::now();
    sd.systemctl_ok(&["start", "cli.service"]);
    let took = begun.elapsed();
    assert_eq!(sd.state("cli.service"), "active");
    assert!(
        took >= Duration::from_millis(300),
        "active after {took:?}, before the program's READY=1"
    );
    let pid = sd.main_pid("cli.service");
    assert_ne!(pid, 0, "no main PID");
    assert_eq!(sd.read_pid(PIDFILE), Some(pid), "MainPID vs PID file");
    wait_until(&sd, "the program became sleep", || {
        cmdline(&sd, pid).as_deref() == Some("/bin/sleep 600")
    });
    // systemd's debug log: the READY=1 came before the unit was started.
    let journal = sd.journal("cli.service");
    let ready = journal
        .lines()
        .position(|l| l.contains("Got notification message") && l.contains("READY=1"))
        .unwrap_or_else(|| panic!("no READY=1 in the journal:\n{journal}"));
    let started = journal
        .lines()
        .position(|l| l.contains("Started cli.service"))
        .unwrap_or_else(|| panic!("no start in the journal:\n{journal}"));
    assert!(ready < started, "started before READY=1:\n{journal}");

    sd.systemctl_ok(&["stop", "cli.service"]);
    assert_eq!(
        sd.state("cli.service"),
        "inactive",
        "the stop was not clean"
    );
    assert!(cmdline(&sd, pid).is_none(), "the program outlived the stop");
    assert_eq!(
        processes(&sd, "/bin/sleep 600"),
        Vec::<u32>::new(),
        "a sleep is left"
    );
}

#[test]
fn a_forking_unit_with_a_missing_program_fails_with_one_line() {
    let text = format!(
        "[Service]\nType=forking\nPIDFile={PIDFILE}\nTimeoutStartSec=10\n\
         ExecStart={DAEMON_RT} --pidfile {PIDFILE} -- /nonexistent/daemon-rt-program\n"
    );
    let Some(sd) = Systemd::boot("cli-missing", &[("cli.service", &text)]) else {
        return;
    };
    let start = sd.systemctl(&["start", "cli.service"]);
    assert!(!start.status.success(), "the start succeeded: {start:?}");
    assert_eq!(sd.state("cli.service"), "failed");
    assert_eq!(sd.property("cli.service", "Result"), "exit-code");
    // Under `Type=forking` the command is the start's control process, not the main one: its
    // status is the `ExecStart=` entry's.
    let exec_start = sd.property("cli.service", "ExecStart");
    assert!(
        exec_start.contains("code=exited ; status=127 }"),
        "ExecStart={exec_start}"
    );
    // The command's PID, from the `ExecStart=` entry. Its line is looked up by PID: journald
    // may file it under `init.scope`, where the process was when it connected, and `journalctl
    // -u` would miss it (see `Systemd::journal_of_pid`).
    let pid: u32 = exec_start
        .split("pid=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid= in ExecStart={exec_start}"));
    let line = "daemon-rt: exec failed: /nonexistent/daemon-rt-program: No such file or directory";
    sd.wait_journal_of_pid(pid, SETTLE, |l| (l == line).then_some(()));
    let journal = sd.journal_of_pid(pid);
    let failures: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("daemon-rt:"))
        .collect();
    assert_eq!(failures, [line], "the journal of PID {pid}:\n{journal}");
    let all = sd.run("journalctl", &["-o", "cat", "--no-pager"]);
    let all = String::from_utf8_lossy(&all.stdout);
    let count = all.lines().filter(|l| l.contains("exec failed")).count();
    assert_eq!(
        count, 1,
        "the line is not once in the whole journal:\n{all}"
    );
    assert!(
        sd.read(PIDFILE).is_none(),
        "the failed start left its PID file"
    );
}
