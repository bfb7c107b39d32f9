//! `Daemon::exec` with `Ready::Manual` makes the starting process a child subreaper while it
//! waits for `READY=1`, and puts the setting back as it was: a caller that was a subreaper
//! before stays one.

mod support;

use support::{Sandbox, s};

const FIXTURE: &str = env!("CARGO_BIN_EXE_exec_subreaper");

#[test]
fn a_failed_start_leaves_a_subreaper_a_subreaper() {
    let sb = Sandbox::new("exec-subreaper");
    let pidfile = sb.path("p.pid");
    let start = sb.run(FIXTURE, &[s(&pidfile)], |_| {});
    assert_eq!(start.code, Some(0), "{start:?}");
    let lines: Vec<&str> = start.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{start:?}");
    assert!(lines[0].contains("exited with status 3"), "{start:?}");
    assert_eq!(lines[1], "subreaper true", "{start:?}");
    assert!(!pidfile.exists(), "the failed start left its PID file");
}
