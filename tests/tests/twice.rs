//! A `#[daemon]` function called a second time in one process: refused with one line and
//! status 70, never a second daemon or a second run of the body.

mod support;

use std::time::Duration;

use support::{Sandbox, s, tagged, wait_until};

const TWICE: &str = env!("CARGO_BIN_EXE_twice");
const REFUSED: &str = "twice: cannot daemonize: this process has daemonized already; a process \
                       daemonizes once";

/// In the foreground, the second call fails its start: the body ran once, the process exits
/// 70 with the one line.
#[test]
fn a_second_start_in_the_foreground_is_refused() {
    let sb = Sandbox::new("twice-foreground");
    let (pidfile, log) = (sb.path("t.pid"), sb.path("t.log"));
    let start = sb.run(
        TWICE,
        &[s(&pidfile), s(&log), "--foreground", "--tag", s(sb.dir())],
        |_| {},
    );
    assert_eq!(start.code, Some(70), "{start:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].starts_with("round 0 as "), "{log}");
    assert_eq!(lines[1], REFUSED, "{log}");
    assert!(!pidfile.exists(), "the PID file outlived the process");
}

/// In the background, the daemon does not fork a second daemon when its body returns and the
/// function is called again: it ends with the line in its log, and no process is left.
#[test]
fn a_daemon_does_not_daemonize_again() {
    let sb = Sandbox::new("twice-background");
    let (pidfile, log) = (sb.path("t.pid"), sb.path("t.log"));
    let start = sb.run(TWICE, &[s(&pidfile), s(&log), "--tag", s(sb.dir())], |_| {});
    assert_eq!(start.code, Some(0), "{start:?}");
    wait_until("the daemon ends", || {
        tagged(sb.dir()).is_empty()
            && std::fs::read_to_string(&log).is_ok_and(|l| l.lines().count() >= 2)
    });
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].starts_with("round 0 as "), "{log}");
    assert_eq!(lines[1], REFUSED, "{log}");
    assert!(tagged(sb.dir()).is_empty(), "a second daemon runs");
}
