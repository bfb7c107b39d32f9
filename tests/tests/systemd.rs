//! The service fixture under a real systemd (252 on Debian 12), PID 1 of a private namespace
//! booted by each test (`support::systemd`), driven through `systemctl`: what `systemctl
//! status` shows of a failure before ready, the log reopened by `systemctl reload`, the
//! watchdog, and a forking unit with `WatchdogSec=`. Root only; skipped with a message
//! otherwise.

mod support;

use std::time::{Duration, Instant};

use support::SERVICE;
use support::systemd::Systemd;

/// What the fixture's body returns with `--before-ready fail`.
const MESSAGE: &str = "cannot load the configuration: line 3 is broken";
/// How long a unit may take to reach a state the test waits for.
const SETTLE: Duration = Duration::from_secs(15);

/// A unit of the service fixture: `service` lines (`Type=...`, ...) and the fixture's
/// arguments. Its PID file is `/run/svc/svc.pid`, its log directory `/var/log/svc`.
fn unit(service: &str, args: &str) -> String {
    format!(
        "[Service]\n{service}\nRuntimeDirectory=svc\nLogsDirectory=svc\n\
         ExecStart={SERVICE} --pidfile /run/svc/svc.pid {args}\n"
    )
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

/// `systemctl status UNIT`, which exits non-zero for a unit that is not active.
fn status(sd: &Systemd, unit: &str) -> String {
    let out = sd.systemctl(&["status", "--no-pager", "--full", unit]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_failure_before_ready_is_shown_as_the_units_status() {
    let text = unit("Type=notify", "--before-ready fail");
    let Some(sd) = Systemd::boot("fail", &[("fail.service", &text)]) else {
        return;
    };
    let start = sd.systemctl(&["start", "fail.service"]);
    assert!(!start.status.success(), "the start succeeded: {start:?}");
    assert_eq!(sd.state("fail.service"), "failed");
    assert_eq!(sd.property("fail.service", "StatusText"), MESSAGE);
    // `main` returned `Err`: exit status 1, as Rust gives it.
    assert_eq!(sd.property("fail.service", "ExecMainStatus"), "1");
    let shown = status(&sd, "fail.service");
    assert!(
        shown.contains(&format!("Status: \"{MESSAGE}\"")),
        "systemctl status:\n{shown}"
    );
    assert!(
        sd.read("/run/svc/svc.pid").is_none(),
        "the PID file outlived the failed start"
    );
}

#[test]
fn a_failure_before_ready_shows_an_honest_error() {
    let text = unit("Type=notify", "--before-ready fail");
    let Some(sd) = Systemd::boot("fail-errno", &[("fail.service", &text)]) else {
        return;
    };
    let start = sd.systemctl(&["start", "fail.service"]);
    assert!(!start.status.success(), "the start succeeded: {start:?}");
    let errno: i32 = sd.property("fail.service", "StatusErrno").parse().unwrap();
    assert!(errno > 0, "no ERRNO= reached systemd");
    assert_ne!(errno, nix::libc::ECANCELED, "the start was not canceled");
    let shown = status(&sd, "fail.service");
    let error = shown
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Error: "))
        .unwrap_or_else(|| panic!("no Error: line:\n{shown}"));
    assert!(!error.contains("Operation canceled"), "Error: {error}");
}

#[test]
fn a_failure_with_an_os_error_shows_it() {
    let text = unit("Type=notify", "--workdir /nonexistent/daemon-rt");
    let Some(sd) = Systemd::boot("fail-os", &[("fail.service", &text)]) else {
        return;
    };
    let start = sd.systemctl(&["start", "fail.service"]);
    assert!(!start.status.success(), "the start succeeded: {start:?}");
    let status_text = sd.property("fail.service", "StatusText");
    assert!(
        status_text.contains("/nonexistent/daemon-rt"),
        "StatusText={status_text:?}"
    );
    assert_eq!(
        sd.property("fail.service", "StatusErrno"),
        nix::libc::ENOENT.to_string()
    );
    let shown = status(&sd, "fail.service");
    assert!(
        shown.contains("Error: 2 (No such file or directory)"),
        "systemctl status:\n{shown}"
    );
    // 66, the documented status of a missing working directory.
    assert_eq!(sd.property("fail.service", "ExecMainStatus"), "66");
}

#[test]
fn systemctl_reload_reopens_the_log_of_a_notify_unit() {
    let text = unit(
        "Type=notify\nExecReload=/bin/kill -HUP $MAINPID",
        "--stdout /var/log/svc/svc.log",
    );
    let Some(sd) = Systemd::boot("reload", &[("svc.service", &text)]) else {
        return;
    };
    sd.systemctl_ok(&["start", "svc.service"]);
    let pid = sd.main_pid("svc.service");
    assert_eq!(
        sd.read_pid("/run/svc/svc.pid"),
        Some(pid),
        "MainPID vs PID file"
    );
    let log = "/var/log/svc/svc.log";
    assert_eq!(sd.fd_target(pid, 1), Some(log.into()));
    let printed = sd.read(log).unwrap_or_default();
    assert_eq!(printed, format!("service pid={pid}\n"));

    // logrotate's way: rename, then reload.
    std::fs::rename(sd.host_path(log), sd.host_path("/var/log/svc/svc.log.1")).unwrap();
    assert_eq!(sd.fd_target(pid, 1), Some("/var/log/svc/svc.log.1".into()));
    sd.systemctl_ok(&["reload", "svc.service"]);
    wait_until(&sd, "stdout reopened on the log's path", || {
        sd.fd_target(pid, 1).as_deref() == Some(log.as_ref())
    });
    assert_eq!(
        sd.main_pid("svc.service"),
        pid,
        "the reload changed the process"
    );
    assert_eq!(sd.state("svc.service"), "active");
    assert_eq!(sd.read_pid("/run/svc/svc.pid"), Some(pid));

    sd.systemctl_ok(&["stop", "svc.service"]);
    assert_eq!(
        sd.state("svc.service"),
        "inactive",
        "the stop was not clean"
    );
    assert!(
        sd.read("/run/svc/svc.pid").is_none(),
        "the PID file outlived the stop"
    );
    // The logs are in LogsDirectory=, which a stop keeps.
    assert!(sd.read(log).is_some(), "the log went with the stop");
}

#[test]
fn systemctl_reload_of_a_notify_unit_is_announced_to_systemd() {
    let text = unit(
        "Type=notify\nExecReload=/bin/kill -HUP $MAINPID",
        "--stdout /var/log/svc/svc.log",
    );
    let Some(sd) = Systemd::boot("reload-announced", &[("svc.service", &text)]) else {
        return;
    };
    sd.systemctl_ok(&["start", "svc.service"]);
    let pid = sd.main_pid("svc.service");
    sd.systemctl_ok(&["reload", "svc.service"]);
    // systemd's debug log shows each datagram: RELOADING=1 with MONOTONIC_USEC=, then
    // READY=1 once the reload is done (at once here: the body does not listen for reloads).
    let from = format!("Got notification message from PID {pid} (");
    let reloading = |l: &str| l.contains(&from) && l.contains("RELOADING=1");
    sd.wait_journal("svc.service", SETTLE, |l| reloading(l).then_some(()));
    let journal = sd.journal("svc.service");
    let datagrams: Vec<&str> = journal
        .lines()
        .filter_map(|l| l.split_once(&from).map(|(_, rest)| rest))
        .collect();
    let at = datagrams
        .iter()
        .position(|d| d.contains("RELOADING=1"))
        .unwrap();
    assert!(
        datagrams[at].contains("MONOTONIC_USEC="),
        "RELOADING=1 without MONOTONIC_USEC=: {datagrams:?}"
    );
    assert!(
        datagrams[at..].iter().any(|d| d.contains("READY=1")),
        "no READY=1 after RELOADING=1: {datagrams:?}"
    );
    wait_until(&sd, "the unit active again", || {
        sd.state("svc.service") == "active"
    });
    assert_eq!(
        sd.main_pid("svc.service"),
        pid,
        "the reload changed the process"
    );
}

#[test]
fn a_notify_unit_that_never_pings_its_watchdog_is_killed() {
    let text = unit("Type=notify\nWatchdogSec=1", "");
    let Some(sd) = Systemd::boot("watchdog", &[("svc.service", &text)]) else {
        return;
    };
    sd.systemctl_ok(&["start", "svc.service"]);
    let pid = sd.main_pid("svc.service");
    assert_eq!(
        sd.read_pid("/run/svc/svc.pid"),
        Some(pid),
        "MainPID vs PID file"
    );
    wait_until(&sd, "the watchdog ended the unit", || {
        sd.state("svc.service") == "failed"
    });
    assert_eq!(sd.property("svc.service", "Result"), "watchdog");
}

#[test]
fn a_forking_unit_with_a_watchdog_starts() {
    let text = unit(
        "Type=forking\nPIDFile=/run/svc/svc.pid\nWatchdogSec=30\nTimeoutStartSec=10",
        "--fork always",
    );
    let Some(sd) = Systemd::boot("forking-watchdog", &[("svc.service", &text)]) else {
        return;
    };
    sd.systemctl_ok(&["start", "svc.service"]);
    assert_eq!(sd.state("svc.service"), "active");
    let pid = sd.main_pid("svc.service");
    assert_ne!(pid, 0, "no main PID");
    assert_eq!(
        sd.read_pid("/run/svc/svc.pid"),
        Some(pid),
        "MainPID vs PID file"
    );
    sd.systemctl_ok(&["stop", "svc.service"]);
    assert_eq!(
        sd.state("svc.service"),
        "inactive",
        "the stop was not clean"
    );
    assert!(
        sd.read("/run/svc/svc.pid").is_none(),
        "the PID file outlived the stop"
    );
}
