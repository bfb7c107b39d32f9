//! Reload requests, the watchdog and honest failures, as a service manager sees them: a
//! notification socket of the test's own receives exactly the datagrams expected; SIGHUP never
//! ends a daemon; `start-stop-daemon --notify-await` prints the right reason for a failure.
//! Checked from outside: the datagrams, the daemon's output, `/proc`, the exit status.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use support::{
    MANAGER_ENV, Manager, Sandbox, alive, installed, read_pid, spawn_logged, spawn_service,
};

/// How long the test waits for anything the daemon should do.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `start-stop-daemon --start --background --notify-await` on `program` with `args`, and reaps the process it started (re-parented to this subreaper); returns what
/// start-stop-daemon did and how the process ended. start-stop-daemon finds instances only by
/// the PID file it makes (`ssd_pidfile`, new for each call): whether the daemon is already
/// running is the daemon's own check.
fn ssd_await(
    sb: &Sandbox,
    program: &str,
    ssd_pidfile: &Path,
    args: &[&str],
) -> (support::Start, WaitStatus) {
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
        program,
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

    let cases: [(&str, &[&str], &str, i32); 4] = [
        (
            support::SERVICE,
            &["--pidfile", p],
            "Operation already in progress",
            75,
        ),
        // A configuration error is found before the notification socket was read, and
        // threads keep the start from taking it: either must still reach start-stop-daemon,
        // or it waits for its whole timeout.
        (
            support::SERVICE,
            &["--ready-timeout-ms", "0"],
            "Invalid argument",
            78,
        ),
        (
            support::FIXTURE,
            &["--spawn-thread"],
            "Operation not supported",
            70,
        ),
        // The body's own failure: nobody canceled the start. `main` returned `Err`: exit 1.
        (
            support::SERVICE,
            &["--before-ready", "fail"],
            "Input/output error",
            1,
        ),
    ];
    for (i, (program, args, reason, code)) in cases.into_iter().enumerate() {
        let began = Instant::now();
        let made = sb.path(&format!("ssd-{i}.pid"));
        let (start, status) = ssd_await(&sb, program, &made, args);
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
        assert!(
            matches!(status, WaitStatus::Exited(_, c) if c == code),
            "{args:?}: {status:?}"
        );
        assert!(alive(running), "the running instance was disturbed");
        assert_eq!(read_pid(&pidfile), Some(running));
    }
    sb.stop(running, Signal::SIGTERM);
}

/// Waits until the daemon's output has a line equal to `line`.
fn wait_for_line(log: &Path, line: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = fs::read_to_string(log).unwrap_or_default();
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no line {line:?} within {DEADLINE:?}: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `CLOCK_MONOTONIC` in µs, as systemd reads it.
fn monotonic_usec() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    now.tv_sec() as u64 * 1_000_000 + now.tv_nsec() as u64 / 1_000
}

/// Sends SIGHUP to `pid` and checks the `RELOADING=1` datagram that follows: exactly that and
/// `MONOTONIC_USEC=` with a time between the signal and its arrival.
fn hup_and_expect_reloading(manager: &Manager, pid: Pid, log: &Path) {
    let before = monotonic_usec();
    kill(pid, Signal::SIGHUP).unwrap();
    let got = manager.recv("RELOADING=1", log);
    let after = monotonic_usec();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 2, "{got:?}");
    assert_eq!(lines[0], "RELOADING=1", "{got:?}");
    let usec: u64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC= in {got:?}"));
    assert!(
        (before..=after).contains(&usec),
        "MONOTONIC_USEC={usec} is not between {before} and {after}"
    );
}

#[test]
fn sighup_to_a_body_that_does_not_listen_is_a_whole_reload() {
    let sb = Sandbox::new("reload-auto");
    let manager = Manager::at_path(&sb);
    let log = sb.path("service.log");
    let (_child, pid) = spawn_service(&sb, &[], &[("NOTIFY_SOCKET", &manager.address)]);
    assert_eq!(manager.recv("READY=1", &log), "READY=1");

    for _ in 0..3 {
        hup_and_expect_reloading(&manager, pid, &log);
        // Nothing for the body to do: the handler ends the reload itself.
        assert_eq!(manager.recv("READY=1 after the reload", &log), "READY=1");
    }
    assert_eq!(manager.try_recv(Duration::from_millis(200)), None);
    assert!(alive(pid), "SIGHUP ended the daemon");
    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert_eq!(manager.recv("STOPPING=1", &log), "STOPPING=1");
}

#[test]
fn a_listening_body_ends_each_reload_with_reloaded() {
    for mode in ["poll", "wait", "fd"] {
        let sb = Sandbox::new(&format!("reload-{mode}"));
        let manager = Manager::at_path(&sb);
        let log = sb.path("service.log");
        let args = ["--reload", mode, "--reload-delay-ms", "300"];
        let (_child, pid) = spawn_service(&sb, &args, &[("NOTIFY_SOCKET", &manager.address)]);
        assert_eq!(manager.recv("READY=1", &log), "READY=1");
        let listening = match mode {
            "poll" => "polling for reload",
            "wait" => "waiting for reload",
            _ => "polling the reload fd",
        };
        wait_for_line(&log, listening);

        for n in 1..=2 {
            hup_and_expect_reloading(&manager, pid, &log);
            // The body takes 300 ms to reload: `READY=1` waits for it.
            assert_eq!(
                manager.try_recv(Duration::from_millis(150)),
                None,
                "{mode}: READY=1 before the body was done"
            );
            assert_eq!(manager.recv("READY=1 from reloaded()", &log), "READY=1");
            wait_for_line(&log, &format!("reloaded {n}"));
        }
        let text = fs::read_to_string(&log).unwrap();
        assert!(
            !text.contains("reload 3"),
            "{mode}: a third reload: {text:?}"
        );
        assert_eq!(manager.try_recv(Duration::from_millis(100)), None);

        let status = sb.stop(pid, Signal::SIGTERM);
        if mode == "wait" {
            // This mode does not listen for stop requests: SIGTERM keeps its clean default.
            assert_eq!(status, WaitStatus::Signaled(pid, Signal::SIGTERM, false));
        } else {
            assert_eq!(status, WaitStatus::Exited(pid, 0), "{mode}");
            wait_for_line(&log, "stop requested");
        }
    }
}

#[test]
fn a_sighup_before_ready_tells_the_manager_nothing() {
    let sb = Sandbox::new("reload-early");
    let manager = Manager::at_path(&sb);
    let log = sb.path("service.log");
    let args = ["--before-ready", "sleep:500"];
    let (_child, pid) = spawn_service(&sb, &args, &[("NOTIFY_SOCKET", &manager.address)]);
    wait_for_line(&log, &format!("service pid={pid}"));
    kill(pid, Signal::SIGHUP).unwrap();
    // Its `READY=1` would announce a daemon that is still starting.
    assert_eq!(manager.recv("READY=1", &log), "READY=1");
    assert_eq!(manager.try_recv(Duration::from_millis(200)), None);
    assert!(alive(pid));
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn a_sighup_storm_does_not_end_a_foreground_daemon_without_log_files() {
    for listen in [None, Some("poll")] {
        let sb = Sandbox::new("reload-storm");
        let pidfile = sb.path("d.pid");
        let log = sb.path("service.log");
        let mut args = vec!["--foreground", "--pidfile", pidfile.to_str().unwrap()];
        if let Some(mode) = listen {
            args.extend(["--reload", mode]);
        }
        let (_child, pid) = spawn_service(&sb, &args, &[]);
        wait_for_line(&log, &format!("service pid={pid}"));
        let deadline = Instant::now() + DEADLINE;
        while read_pid(&pidfile) != Some(pid) {
            assert!(Instant::now() < deadline, "no PID file");
            std::thread::sleep(Duration::from_millis(5));
        }
        if listen.is_some() {
            wait_for_line(&log, "polling for reload");
        }
        for _ in 0..500 {
            kill(pid, Signal::SIGHUP).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(alive(pid), "{listen:?}: SIGHUP ended the daemon");
        if listen.is_some() {
            // Merged: at least one reload, never one per signal sent while it was busy.
            wait_for_line(&log, "reloaded 1");
        }
        assert_eq!(read_pid(&pidfile), Some(pid));
        let status = sb.stop(pid, Signal::SIGTERM);
        assert!(
            matches!(
                status,
                WaitStatus::Signaled(_, Signal::SIGTERM, false) | WaitStatus::Exited(_, 0)
            ),
            "{listen:?}: {status:?}"
        );
        assert!(!pidfile.exists(), "the PID file outlived the daemon");
    }
}

#[test]
fn watchdog_pings_and_extend_timeout_reach_the_manager() {
    let sb = Sandbox::new("watchdog");
    let manager = Manager::at_path(&sb);
    let log = sb.path("service.log");
    // `exec` keeps the shell's PID: `$WATCHDOG_PID` names the daemon, as systemd sets it.
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
        support::SERVICE,
        "--extend-ms",
        "5000",
        "--pings",
        "3",
        "--child-env",
        "--tag",
    ])
    .arg(sb.dir());
    let (_child, pid) = spawn_logged(
        &sb,
        cmd,
        &[
            ("NOTIFY_SOCKET", &manager.address),
            ("WATCHDOG_USEC", "30000000"),
        ],
    );
    assert_eq!(
        manager.recv("EXTEND_TIMEOUT_USEC=", &log),
        "EXTEND_TIMEOUT_USEC=5000000"
    );
    assert_eq!(manager.recv("READY=1", &log), "READY=1");
    for n in 1..=3 {
        assert_eq!(manager.recv(&format!("ping {n}"), &log), "WATCHDOG=1");
    }
    wait_for_line(&log, "pings sent");
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("watchdog=30000000\n"), "{text:?}");
    // Taken out of the environment: a child cannot ping for the daemon.
    assert!(
        text.contains("child WATCHDOG_USEC=unset WATCHDOG_PID=unset\n"),
        "{text:?}"
    );
    assert_eq!(manager.try_recv(Duration::from_millis(100)), None);
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_pinged() {
    let sb = Sandbox::new("watchdog-other");
    let manager = Manager::at_path(&sb);
    let log = sb.path("service.log");
    let env = [
        ("NOTIFY_SOCKET", manager.address.as_str()),
        ("WATCHDOG_USEC", "30000000"),
        ("WATCHDOG_PID", "1"),
    ];
    let (_child, pid) = spawn_service(&sb, &["--pings", "3"], &env);
    assert_eq!(manager.recv("READY=1", &log), "READY=1");
    wait_for_line(&log, "pings sent");
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .contains("watchdog=none\n")
    );
    assert_eq!(manager.try_recv(Duration::from_millis(100)), None);
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn a_bad_watchdog_interval_fails_the_start_with_one_line() {
    let sb = Sandbox::new("watchdog-bad");
    let manager = Manager::at_path(&sb);
    let pidfile = sb.path("d.pid");
    let start = sb.run(
        support::SERVICE,
        &["--pidfile", pidfile.to_str().unwrap()],
        |cmd| {
            for key in MANAGER_ENV {
                cmd.env_remove(key);
            }
            cmd.arg("--tag").arg(sb.dir());
            cmd.env("NOTIFY_SOCKET", &manager.address);
            cmd.env("WATCHDOG_USEC", "soon");
        },
    );
    assert_eq!(start.code, Some(78), "{start:?}");
    let line = "service: cannot notify the service manager at `soon`: `$WATCHDOG_USEC` is not a \
                positive number\n";
    assert_eq!(start.stderr, line);
    let failure = manager.recv("STATUS= and ERRNO=", &sb.path("service.log"));
    assert_eq!(
        failure,
        format!(
            "STATUS={}\nERRNO={}",
            line.trim_end().trim_start_matches("service: "),
            nix::libc::EINVAL
        )
    );
    assert!(!pidfile.exists(), "a PID file was left");
}

#[test]
fn a_forking_daemon_keeps_the_watchdog_of_the_process_it_continues() {
    let sb = Sandbox::new("watchdog-fork");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let (p, l) = (pidfile.to_str().unwrap(), log.to_str().unwrap());
    // The manager started the shell, whose PID `exec` keeps: the starting command.
    let script = "WATCHDOG_PID=$$ exec \"$0\" \"$@\"";
    let args = [
        "-c",
        script,
        support::SERVICE,
        "--pidfile",
        p,
        "--stdout",
        l,
        "--pings",
        "1",
        "--tag",
        sb.dir().to_str().unwrap(),
    ];
    let start = sb.run("/bin/sh", &args, |cmd| {
        for key in MANAGER_ENV {
            cmd.env_remove(key);
        }
        cmd.env("WATCHDOG_USEC", "30000000");
    });
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("no PID file");
    sb.track(pid);
    assert_ne!(pid.as_raw() as u32, start.pid, "the daemon did not fork");
    wait_for_line(&log, "pings sent");
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .contains("watchdog=30000000\n")
    );
    sb.stop(pid, Signal::SIGTERM);
}
