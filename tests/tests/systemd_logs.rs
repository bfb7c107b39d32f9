//! `stdout` and `stderr` to the journal (`daemon_rt::Output::Journal`) from a `Type=forking`
//! unit under a real systemd (252 on Debian 12), PID 1 of a private namespace booted by the
//! test (`support::systemd`): journald stores every line under the unit, with the priority
//! of its stream, and the last line still arrives when `systemctl stop` ends the daemon.
//! Root only; skipped with a message otherwise.

mod support;

use std::time::Duration;

use support::systemd::Systemd;

const LOGS: &str = env!("CARGO_BIN_EXE_logs");

#[test]
fn a_forking_unit_logs_to_the_journal_through_the_forwarder() {
    let service = format!(
        "[Service]\nType=forking\nPIDFile=/run/logs/logs.pid\nRuntimeDirectory=logs\n\
         ExecStart={LOGS} journal journal /run/logs/logs.pid\n"
    );
    let Some(sd) = Systemd::boot("journal-logs", &[("logs.service", service.as_str())]) else {
        return;
    };
    sd.systemctl_ok(&["start", "logs.service"]);
    let pid = sd.main_pid("logs.service");
    assert_eq!(
        sd.read_pid("/run/logs/logs.pid"),
        Some(pid),
        "MainPID vs PID file"
    );
    sd.wait_journal("logs.service", Duration::from_secs(10), |line| {
        (line == "daemon_rt eprintln").then_some(())
    });
    sd.systemctl_ok(&["stop", "logs.service"]);
    assert_eq!(sd.state("logs.service"), "inactive", "{}", sd.journal_all());
    sd.wait_journal("logs.service", Duration::from_secs(10), |line| {
        (line == "last words, no newline").then_some(())
    });

    // Each stream with its priority, every line in order.
    let out = sd.run(
        "journalctl",
        &[
            "-u",
            "logs.service",
            "-p",
            "6..6",
            "-o",
            "cat",
            "--no-pager",
        ],
    );
    let info = String::from_utf8_lossy(&out.stdout);
    let x = "x".repeat(9000);
    let expected_info = [
        "std println",
        "one line in two print!s",
        "daemon_rt println",
        "two lines",
        "in one write",
        &x[..8192],
        &x[8192..],
        "",
        "last words, no newline",
    ];
    let info: Vec<&str> = info
        .lines()
        .filter(|l| !l.starts_with("Start") && !l.starts_with("Stop") && !l.contains(".service"))
        .collect();
    assert_eq!(info, expected_info, "{}", sd.journal_all());
    let out = sd.run(
        "journalctl",
        &[
            "-u",
            "logs.service",
            "-p",
            "3..3",
            "-o",
            "cat",
            "--no-pager",
        ],
    );
    let err = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        ["std eprintln", "daemon_rt eprintln"],
        "{}",
        sd.journal_all()
    );
    // The daemon's PID, not the forwarder's, in SYSLOG_PID. (The kernel's messages that
    // journald reads from /dev/kmsg carry other processes' SYSLOG_PID: the identifier too.)
    let syslog_pid = format!("SYSLOG_PID={pid}");
    let out = sd.run(
        "journalctl",
        &[
            &syslog_pid,
            "SYSLOG_IDENTIFIER=logs",
            "-o",
            "short-monotonic",
            "--no-pager",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), expected_info.len() + 2, "{text}");
}
