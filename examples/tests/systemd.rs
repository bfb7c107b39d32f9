//! The unit files of `examples/systemd/`, as written (only `/usr/local/bin/ticker` replaced by
//! the built example), under a real systemd (252 on Debian 12) booted by each test as PID 1 of
//! a private namespace (`tests/tests/support/systemd.rs`), driven through `systemctl`. Every
//! time: `MainPID` equals the PID in the PID file, `systemctl stop` stops cleanly and the PID
//! file is gone, and a log kept out of `RuntimeDirectory=` survives the stop. Root only;
//! skipped with a message otherwise.

#[path = "../../tests/tests/support/systemd.rs"]
mod systemd;

use std::path::Path;
use std::time::{Duration, Instant};

use systemd::Systemd;

const TICKER: &str = env!("CARGO_BIN_EXE_ticker");
const PIDFILE: &str = "/run/ticker/ticker.pid";
const LOG: &str = "/var/log/ticker/ticker.log";
/// How long a unit may take to reach a state the test waits for (ticker ticks every second).
const SETTLE: Duration = Duration::from_secs(15);

/// The example unit `name`, with the built ticker in place of `/usr/local/bin/ticker`.
fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
    assert!(
        text.contains("/usr/local/bin/ticker"),
        "{name} does not run ticker"
    );
    text.replace("/usr/local/bin/ticker", TICKER)
}

/// Boots systemd with the example unit `name` installed.
fn boot(name: &str, text: &str) -> Option<Systemd> {
    Systemd::boot(name.trim_end_matches(".service"), &[(name, text)])
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

/// Starts `unit`; checks that it is active and that its `MainPID` is the PID in the PID
/// file, and returns that PID.
fn start(sd: &Systemd, unit: &str) -> u32 {
    sd.systemctl_ok(&["start", unit]);
    assert_eq!(sd.state(unit), "active");
    running(sd, unit)
}

/// The unit's `MainPID`, checked against the PID file; once the PID file holds it (a
/// `Type=simple` unit is started before its process has written the file).
fn running(sd: &Systemd, unit: &str) -> u32 {
    let pid = sd.main_pid(unit);
    assert_ne!(pid, 0, "{unit} has no main PID");
    wait_until(sd, "the PID file holds the main PID", || {
        sd.read_pid(PIDFILE) == Some(pid)
    });
    pid
}

/// Stops `unit`; checks that it stopped cleanly (inactive, not failed) and that the PID file
/// went with it.
fn stop(sd: &Systemd, unit: &str) {
    sd.systemctl_ok(&["stop", unit]);
    assert_eq!(sd.state(unit), "inactive", "{unit} did not stop cleanly");
    assert_eq!(sd.property(unit, "Result"), "success");
    assert!(sd.read(PIDFILE).is_none(), "the PID file outlived the stop");
}

/// Waits until the log `LOG` has a line equal to `line`.
fn wait_log(sd: &Systemd, line: &str) {
    wait_until(sd, &format!("{line:?} in {LOG}"), || {
        sd.read(LOG).unwrap_or_default().lines().any(|l| l == line)
    });
}

#[test]
fn the_forking_unit_starts_reloads_restarts_and_stops() {
    let unit = "ticker-forking.service";
    let Some(sd) = boot(unit, &example(unit)) else {
        return;
    };
    let pid = start(&sd, unit);
    wait_log(&sd, &format!("ticker {pid} started"));
    wait_log(&sd, "tick 1");

    // `systemctl reload` (ExecReload=kill -HUP): the log is reopened, the process kept.
    let rotated = "/var/log/ticker/ticker.log.1";
    std::fs::rename(sd.host_path(LOG), sd.host_path(rotated)).unwrap();
    sd.systemctl_ok(&["reload", unit]);
    wait_until(&sd, "stdout reopened on the log's path", || {
        sd.fd_target(pid, 1).as_deref() == Some(LOG.as_ref())
    });
    assert_eq!(running(&sd, unit), pid, "the reload changed the process");

    // Restart=on-failure: a daemon killed is started again, and MainPID follows the PID file.
    sd.systemctl_ok(&["kill", "--signal=SIGKILL", unit]);
    wait_until(&sd, "a new main PID", || {
        let now = sd.main_pid(unit);
        now != 0 && now != pid && sd.state(unit) == "active"
    });
    let restarted = running(&sd, unit);
    assert_eq!(sd.property(unit, "NRestarts"), "1");
    wait_log(&sd, &format!("ticker {restarted} started"));

    stop(&sd, unit);
    // The log is in LogsDirectory=, which the stop keeps, with the daemon's last line.
    let log = sd.read(LOG).expect("the log went with the stop");
    let last = log.lines().last().unwrap_or_default();
    assert!(last.starts_with("ticker: stopping after "), "{log}");
    assert!(
        sd.read(rotated).is_some(),
        "the rotated log went with the stop"
    );
}

/// `Type=notify` and `Type=simple` run ticker in the foreground, its output to the journal.
fn journal_unit(unit: &str) {
    let Some(sd) = boot(unit, &example(unit)) else {
        return;
    };
    let pid = start(&sd, unit);
    let started = format!("ticker {pid} started");
    sd.wait_journal_of_pid(pid, SETTLE, |l| (l == started).then_some(()));
    // The unit's own journal: journald may count the first second's lines as init.scope's.
    sd.wait_journal(unit, SETTLE, |l| (l == "tick 3").then_some(()));
    assert_eq!(running(&sd, unit), pid);
    stop(&sd, unit);
    sd.wait_journal(unit, SETTLE, |l| {
        l.starts_with("ticker: stopping after ").then_some(())
    });
    if sd.property(unit, "Type") == "notify" {
        // systemd's debug log shows each datagram: READY=1 once up, STOPPING=1 on SIGTERM.
        let journal = sd.journal(unit);
        let from = format!("Got notification message from PID {pid} (");
        let sent: Vec<&str> = journal
            .lines()
            .filter_map(|l| l.split_once(&from).map(|(_, rest)| rest))
            .collect();
        assert!(sent.iter().any(|d| d.contains("READY=1")), "{journal}");
        assert!(sent.iter().any(|d| d.contains("STOPPING=1")), "{journal}");
    }
}

#[test]
fn the_notify_unit_starts_logs_to_the_journal_and_stops() {
    journal_unit("ticker-notify.service");
}

#[test]
fn the_simple_unit_starts_logs_to_the_journal_and_stops() {
    journal_unit("ticker-simple.service");
}

#[test]
fn the_notify_reload_unit_reloads_and_keeps_its_watchdog_fed() {
    let unit = "ticker-notify-reload.service";
    let mut text = example(unit);
    // A watchdog of 2 s rather than 10, so that missing pings show within the test.
    text = text.replace("WatchdogSec=10", "WatchdogSec=2");
    let Some(sd) = boot(unit, &text) else {
        return;
    };
    if sd.version() < 253 {
        // The unit's own comment: what systemd 252 and older have instead.
        let old = "Type=notify\nExecReload=/bin/kill -HUP $MAINPID";
        sd.install(unit, &text.replace("Type=notify-reload", old));
    }
    let pid = start(&sd, unit);
    wait_log(&sd, "tick 1");

    // Alive after three watchdog intervals: ticker pings from its loop.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(sd.state(unit), "active", "{}", sd.journal(unit));
    assert_eq!(running(&sd, unit), pid, "the watchdog restarted ticker");
    assert_eq!(sd.property(unit, "NRestarts"), "0");
    let pings = sd.journal(unit);
    assert!(
        pings.contains("WATCHDOG=1"),
        "no WATCHDOG=1 in the journal:\n{pings}"
    );

    // `systemctl reload`: RELOADING=1 with MONOTONIC_USEC=, then READY=1; the log reopened.
    let rotated = "/var/log/ticker/ticker.log.1";
    std::fs::rename(sd.host_path(LOG), sd.host_path(rotated)).unwrap();
    sd.systemctl_ok(&["reload", unit]);
    wait_until(&sd, "stdout reopened on the log's path", || {
        sd.fd_target(pid, 1).as_deref() == Some(LOG.as_ref())
    });
    let journal = sd.journal(unit);
    let reloading = journal
        .lines()
        .position(|l| l.contains("RELOADING=1") && l.contains("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no RELOADING=1 with MONOTONIC_USEC=:\n{journal}"));
    assert!(
        journal
            .lines()
            .skip(reloading)
            .any(|l| l.contains("READY=1")),
        "no READY=1 after RELOADING=1:\n{journal}"
    );
    assert_eq!(sd.state(unit), "active");
    assert_eq!(running(&sd, unit), pid, "the reload changed the process");

    stop(&sd, unit);
    assert!(sd.read(LOG).is_some(), "the log went with the stop");
}

#[test]
fn the_echo_example_serves_a_socket_passed_by_a_socket_unit() {
    const ECHO: &str = env!("CARGO_BIN_EXE_echo");
    let socket = "[Socket]\nListenStream=127.0.0.1:7007\n";
    let service = format!(
        "[Service]\nType=notify\nRuntimeDirectory=echo\n\
         ExecStart={ECHO} 127.0.0.1:7007 /run/echo\n"
    );
    let units = [("echo.socket", socket), ("echo.service", service.as_str())];
    let Some(sd) = Systemd::boot("echo-socket", &units) else {
        return;
    };
    sd.systemctl_ok(&["start", "echo.socket"]);
    // A connection made inside the namespace (its loopback is its own) starts the service.
    let script = "exec 3<>/dev/tcp/127.0.0.1/7007; printf 'hello\\n' >&3; head -n 1 <&3";
    let out = sd.run("timeout", &["10", "bash", "-c", script]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello\n",
        "{out:?}\n{}",
        sd.journal_all()
    );
    assert_eq!(sd.state("echo.service"), "active");
    let pid = sd.main_pid("echo.service");
    assert_eq!(
        sd.read_pid("/run/echo/echo.pid"),
        Some(pid),
        "MainPID vs PID file"
    );
    sd.systemctl_ok(&["stop", "echo.socket", "echo.service"]);
    assert_eq!(
        sd.state("echo.service"),
        "inactive",
        "the stop was not clean"
    );
    assert!(
        sd.read("/run/echo/echo.pid").is_none(),
        "the PID file outlived the stop"
    );
}
