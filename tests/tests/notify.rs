//! What a service manager hears from the daemon: `start-stop-daemon --notify-await` prints the
//! right reason for a failure. Checked from outside: its output, the exit status.

mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use support::{Sandbox, alive, read_pid};

/// How long the test waits for anything the daemon should do.
const DEADLINE: Duration = Duration::from_secs(10);

/// Variables through which a service manager talks to the process: removed from every command
/// the tests run, so a test run under a service manager is not confused by its own.
const MANAGER_ENV: [&str; 3] = ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS"];

/// Whether `program` is on `PATH`.
fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file()))
    })
}

/// Runs `start-stop-daemon --start --background --notify-await` on the service fixture with
/// `args`, and reaps the process it started (re-parented to this subreaper); returns what
/// start-stop-daemon did and how the process ended. start-stop-daemon finds instances only by
/// the PID file it makes (`ssd_pidfile`, new for each call): whether the daemon is already
/// running is the daemon's own check.
fn ssd_await(sb: &Sandbox, ssd_pidfile: &Path, args: &[&str]) -> (support::Start, WaitStatus) {
    let mut all = vec![
        "--start",
        "--background",
        "--notify-await",
        "--notify-timeout",
        "20",
        "--make-pidfile",
        "--pidfile",
        ssd_pidfile.to_str().unwrap(),
        "--startas",
        support::SERVICE,
        "--",
    ];
    all.extend(args);
    all.extend(["--tag", sb.dir().to_str().unwrap()]);
    let start = sb.run("start-stop-daemon", &all, |cmd| {
        for key in MANAGER_ENV {
            cmd.env_remove(key);
        }
    });
    let pid = read_pid(ssd_pidfile).unwrap_or_else(|| panic!("no PID made: {start:?}"));
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR | Errno::ECHILD) => {}
            Ok(status) => break status,
            Err(e) => panic!("waitpid({pid}): {e}"),
        }
        assert!(Instant::now() < deadline, "{pid} did not exit: {start:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    (start, status)
}

#[test]
fn start_stop_daemon_shows_the_honest_reason_of_a_failed_start() {
    if !installed("start-stop-daemon") {
        eprintln!("skipped: start-stop-daemon is not installed");
        return;
    }
    let sb = Sandbox::new("ssd-errno");
    let pidfile = sb.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let (_, running) = sb.service_ok(&pidfile, &["--pidfile", p]);

    let cases: [(&[&str], &str); 2] = [
        (&["--pidfile", p], "Operation already in progress"),
        // A configuration error is found before the notification socket was read: it must
        // still reach start-stop-daemon, or it waits for its whole timeout.
        (&["--ready-timeout-ms", "0"], "Invalid argument"),
    ];
    for (i, (args, reason)) in cases.into_iter().enumerate() {
        let began = Instant::now();
        let made = sb.path(&format!("ssd-{i}.pid"));
        let (start, status) = ssd_await(&sb, &made, args);
        let took = began.elapsed();
        assert_ne!(start.code, Some(0), "{args:?}: {start:?}");
        assert!(
            took < Duration::from_secs(10),
            "{args:?}: took {took:?}: start-stop-daemon waited for its timeout"
        );
        assert!(
            start
                .stderr
                .contains(&format!("failed to initialize ({reason})")),
            "{args:?}: stderr {:?}",
            start.stderr
        );
        let code = if i == 0 { 75 } else { 78 };
        assert!(
            matches!(status, WaitStatus::Exited(_, c) if c == code),
            "{args:?}: {status:?}"
        );
        assert!(alive(running), "the running instance was disturbed");
        assert_eq!(read_pid(&pidfile), Some(running));
    }
    sb.stop(running, Signal::SIGTERM);
}
