//! Life under a service manager, against real peers: a notification socket of the test's own
//! (as systemd's `Type=notify` gives), the real `systemd-notify` to compare the protocol with,
//! `start-stop-daemon` (`--notify-await`, and the classic forking start), the `--foreground`
//! switch, and socket activation. Checked from outside: the datagrams received, the PID file,
//! `/proc/<pid>/{stat,fd}`, the exit status.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use support::{
    MANAGER_ENV, Manager, Sandbox, Start, alive, inherit_fd_as, installed, read_pid, spawn_logged,
    spawn_service, stat,
};

/// How long the test waits for anything the daemon or a peer should do.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `start-stop-daemon` with `args` under the sandbox's watchdog, without a service
/// manager's variables of its own.
fn ssd(sb: &Sandbox, args: &[&str]) -> Start {
    sb.run("start-stop-daemon", args, |cmd| {
        for key in MANAGER_ENV {
            cmd.env_remove(key);
        }
    })
}

/// Polls `check` every few milliseconds until it holds or the deadline passes.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reaps `pid`, a process that is not recorded in the sandbox and that becomes a child of
/// this subreaper once the intermediate process of a daemonizing start has exited.
fn reap_untracked(pid: Pid) -> WaitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR | Errno::ECHILD) => {}
            Ok(status) => return status,
            Err(e) => panic!("waitpid({pid}): {e}"),
        }
        assert!(Instant::now() < deadline, "{pid} did not exit in time");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `KEY=value` assignments of `datagrams`, as a set.
fn assignments<'a>(datagrams: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    datagrams
        .into_iter()
        .flat_map(|d| d.lines())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn this_pid() -> i32 {
    std::process::id() as i32
}

#[test]
fn notify_socket_gets_ready_status_and_stopping() {
    let sb = Sandbox::new("notify-path");
    let manager = Manager::at_path(&sb);
    let pidfile = sb.path("d.pid");
    let log = sb.path("service.log");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--status",
        "serving 3 clients",
        "--child-env",
    ];
    let (_child, pid) = spawn_service(&sb, &args, &[("NOTIFY_SOCKET", &manager.address)]);

    assert_eq!(manager.recv("READY=1", &log), "READY=1");
    assert_eq!(manager.recv("STATUS=", &log), "STATUS=serving 3 clients");
    // `$NOTIFY_SOCKET` was taken out of the environment at the start: a child the daemon runs
    // does not inherit it, so it cannot notify on the daemon's behalf.
    let deadline = Instant::now() + Duration::from_secs(10);
    let child_line = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with("child NOTIFY_SOCKET=")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no child line in {text:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(child_line, "child NOTIFY_SOCKET=unset");
    // Under a service manager it stays in the foreground: the process the manager started is
    // the daemon, and the PID file names it.
    assert_eq!(
        read_pid(&pidfile),
        Some(pid),
        "PID file vs the started process"
    );
    assert_eq!(
        stat(pid).ppid,
        this_pid(),
        "the daemon is not the test's child"
    );
    assert!(alive(pid));

    kill(pid, Signal::SIGTERM).unwrap();
    assert_eq!(manager.recv("STOPPING=1", &log), "STOPPING=1");
    assert_eq!(
        sb.wait_exit(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
    assert_eq!(
        manager.drain(),
        Vec::<String>::new(),
        "more after STOPPING=1"
    );
}

#[test]
fn an_abstract_notify_socket_gets_ready() {
    let sb = Sandbox::new("notify-abstract");
    let manager = Manager::abstract_named("abstract");
    let pidfile = sb.path("d.pid");
    let log = sb.path("service.log");
    let (_child, pid) = spawn_service(
        &sb,
        &["--pidfile", pidfile.to_str().unwrap()],
        &[("NOTIFY_SOCKET", &manager.address)],
    );

    assert_eq!(manager.recv("READY=1", &log), "READY=1");
    assert_eq!(read_pid(&pidfile), Some(pid));
    kill(pid, Signal::SIGTERM).unwrap();
    assert_eq!(manager.recv("STOPPING=1", &log), "STOPPING=1");
    assert_eq!(
        sb.wait_exit(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
}

#[test]
fn systemd_notify_sends_the_same_assignments() {
    if !installed("systemd-notify") {
        eprintln!("skipped: systemd-notify is not installed");
        return;
    }
    let sb = Sandbox::new("notify-compare");
    let manager = Manager::at_path(&sb);
    let log = sb.path("service.log");

    // The reference: what systemd's own client sends for the same state. It ends with a
    // barrier, waiting until the manager has read its datagrams: read them as it runs.
    let (reference, datagrams) = std::thread::scope(|s| {
        let run = s.spawn(|| {
            sb.run(
                "systemd-notify",
                &["--ready", "--status=serving 3 clients"],
                |cmd| {
                    cmd.env("NOTIFY_SOCKET", &manager.address);
                },
            )
        });
        let mut got = Vec::new();
        loop {
            // Once it has exited, everything it sent is queued: one more pass reads it all.
            let finished = run.is_finished();
            while let Some(datagram) = manager.try_recv(Duration::from_millis(20)) {
                got.push(datagram);
            }
            if finished {
                break;
            }
        }
        (run.join().unwrap(), got)
    });
    assert_eq!(reference.code, Some(0), "{reference:?}");
    let mut theirs = assignments(&datagrams);
    // systemd-notify then waits for the manager to have read it (a barrier): not state.
    theirs.remove("BARRIER=1");
    assert!(theirs.contains("READY=1"), "systemd-notify sent {theirs:?}");

    let args = ["--status", "serving 3 clients"];
    let (_child, pid) = spawn_service(&sb, &args, &[("NOTIFY_SOCKET", &manager.address)]);
    let ours = [manager.recv("READY=1", &log), manager.recv("STATUS=", &log)];
    assert_eq!(assignments(&ours), theirs, "datagrams {ours:?}");
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn a_failure_before_ready_is_sent_as_status_and_errno() {
    let sb = Sandbox::new("notify-fail");
    let manager = Manager::at_path(&sb);
    let pidfile = sb.path("d.pid");
    let log = sb.path("service.log");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--before-ready",
        "fail",
    ];
    let (_child, pid) = spawn_service(&sb, &args, &[("NOTIFY_SOCKET", &manager.address)]);

    let failure = manager.recv("STATUS= and ERRNO=", &log);
    let lines: Vec<&str> = failure.lines().collect();
    assert_eq!(lines.len(), 2, "{failure:?}");
    assert_eq!(
        lines[0],
        "STATUS=cannot load the configuration: line 3 is broken"
    );
    let errno = lines[1]
        .strip_prefix("ERRNO=")
        .unwrap_or_else(|| panic!("{failure:?}"));
    assert!(
        errno.parse::<i32>().is_ok_and(|n| n > 0),
        "ERRNO is not a positive number: {failure:?}"
    );
    // Rust's `main` returning `Err` exits 1.
    assert_eq!(sb.wait_exit(pid), WaitStatus::Exited(pid, 1));
    let rest = manager.drain();
    assert!(
        !assignments(&rest).contains("READY=1"),
        "READY=1 after a failure: {rest:?}"
    );
    assert!(
        !rest.iter().any(|d| d.contains("STATUS=")),
        "a second status: {rest:?}"
    );
    assert!(!pidfile.exists(), "the PID file outlived the failed start");
}

#[test]
fn start_stop_daemon_notify_await_returns_once_ready() {
    if !installed("start-stop-daemon") {
        eprintln!("skipped: start-stop-daemon is not installed");
        return;
    }
    let sb = Sandbox::new("ssd-await");
    let pidfile = sb.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let dir = sb.dir().to_str().unwrap();
    let began = Instant::now();
    let start = ssd(
        &sb,
        &[
            "--start",
            "--background",
            "--notify-await",
            "--notify-timeout",
            "20",
            "--pidfile",
            p,
            "--exec",
            support::SERVICE,
            "--",
            "--pidfile",
            p,
            "--before-ready",
            "sleep:300",
            "--tag",
            dir,
        ],
    );
    let took = began.elapsed();
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("no PID in the PID file once started");
    sb.track(pid);
    // It waited for READY=1, which comes only after the body's 300 ms.
    assert!(
        took >= Duration::from_millis(300),
        "returned after {took:?}, before the daemon was ready"
    );
    assert!(alive(pid), "the daemon is not running");
    // start-stop-daemon's forks are gone: the daemon was re-parented to this subreaper.
    assert_eq!(stat(pid).ppid, this_pid(), "the daemon kept a parent");

    stop_with_ssd(&sb, p, pid);
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
}

/// `start-stop-daemon --stop --pidfile P --retry TERM/5`, while this test reaps the daemon as
/// init would (a zombie is not "stopped" for every tool); expects status 0 and the daemon
/// ended by SIGTERM.
fn stop_with_ssd(sb: &Sandbox, pidfile: &str, pid: Pid) {
    let (stop, status) = std::thread::scope(|s| {
        let stop = s.spawn(|| ssd(sb, &["--stop", "--pidfile", pidfile, "--retry", "TERM/5"]));
        let status = sb.wait_exit(pid);
        (stop.join().unwrap(), status)
    });
    assert_eq!(stop.code, Some(0), "{stop:?}");
    assert_eq!(status, WaitStatus::Signaled(pid, Signal::SIGTERM, false));
}

#[test]
fn start_stop_daemon_notify_await_reports_a_failed_start() {
    if !installed("start-stop-daemon") {
        eprintln!("skipped: start-stop-daemon is not installed");
        return;
    }
    let sb = Sandbox::new("ssd-fail");
    let pidfile = sb.path("d.pid");
    let output = sb.path("out.log");
    let p = pidfile.to_str().unwrap();
    let began = Instant::now();
    let start = ssd(
        &sb,
        &[
            "--start",
            "--background",
            "--notify-await",
            "--notify-timeout",
            "20",
            "--output",
            output.to_str().unwrap(),
            "--pidfile",
            p,
            "--exec",
            support::SERVICE,
            "--",
            "--pidfile",
            p,
            "--before-ready",
            "fail",
            "--tag",
            sb.dir().to_str().unwrap(),
        ],
    );
    let took = began.elapsed();
    assert_ne!(start.code, Some(0), "{start:?}");
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: start-stop-daemon waited for its timeout"
    );
    assert!(
        start.stderr.contains("failed to initialize"),
        "stderr: {:?}",
        start.stderr
    );

    // The daemon's PID, from its first line of output; it exited 1 (`main` returned `Err`).
    let printed = fs::read_to_string(&output).unwrap();
    let pid: i32 = printed
        .lines()
        .find_map(|l| l.strip_prefix("service pid="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no PID in the output: {printed:?}"));
    let pid = Pid::from_raw(pid);
    assert_eq!(reap_untracked(pid), WaitStatus::Exited(pid, 1));
    wait_for("no process of the sandbox left", || {
        sb.leftovers().is_empty()
    });
    assert!(!pidfile.exists(), "the PID file outlived the failed start");
}

#[test]
fn start_stop_daemon_starts_and_stops_a_forking_daemon() {
    if !installed("start-stop-daemon") {
        eprintln!("skipped: start-stop-daemon is not installed");
        return;
    }
    let sb = Sandbox::new("ssd-forking");
    let pidfile = sb.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let start = ssd(
        &sb,
        &[
            "--start",
            "--pidfile",
            p,
            "--exec",
            support::FIXTURE,
            "--",
            "--pidfile",
            p,
            "--tag",
            sb.dir().to_str().unwrap(),
        ],
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("no PID in the PID file once started");
    sb.track(pid);
    assert!(alive(pid), "the daemon is not running");
    assert_ne!(pid.as_raw() as u32, start.pid, "the daemon did not fork");

    let status = ssd(&sb, &["--status", "--pidfile", p]);
    assert_eq!(status.code, Some(0), "running: {status:?}");

    stop_with_ssd(&sb, p, pid);
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
    // LSB: 3, "program is not running" (1 would mean a stale PID file was left).
    let status = ssd(&sb, &["--status", "--pidfile", p]);
    assert_eq!(status.code, Some(3), "stopped: {status:?}");
}

#[test]
fn foreground_switch_does_not_fork() {
    let sb = Sandbox::new("foreground");
    let pidfile = sb.path("d.pid");
    let args = ["--foreground", "--pidfile", pidfile.to_str().unwrap()];
    let (_child, pid) = spawn_service(&sb, &args, &[]);

    wait_for("the PID file is written", || read_pid(&pidfile).is_some());
    assert_eq!(
        read_pid(&pidfile),
        Some(pid),
        "PID file vs the started process"
    );
    let st = stat(pid);
    assert_eq!(st.ppid, this_pid(), "the daemon is not the test's child");
    assert_eq!(
        st.session,
        nix::unistd::getsid(None).unwrap().as_raw(),
        "the daemon left the test's session"
    );

    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
}

#[test]
fn socket_activation_fds_are_kept() {
    let sb = Sandbox::new("activation");
    let pidfile = sb.path("d.pid");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let socket_link = fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
    // A copy above 3 (close-on-exec), so that placing it at 3 always clears close-on-exec.
    let copy = nix::fcntl::fcntl(&listener, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10)).unwrap();
    // SAFETY: `fcntl` returned a new descriptor that nothing else owns.
    let copy = unsafe { OwnedFd::from_raw_fd(copy) };

    // The shell sets LISTEN_PID to its own PID, then execs the daemon, which keeps it.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"LISTEN_PID=$$ exec "$0" "$@""#)
        .arg(support::SERVICE)
        .args(["--pidfile", pidfile.to_str().unwrap(), "--tag"])
        .arg(sb.dir());
    inherit_fd_as(&mut cmd, copy.as_raw_fd(), &[3]);
    let (_child, pid) = spawn_logged(&sb, cmd, &[("LISTEN_FDS", "1")]);
    drop(copy);

    wait_for("the PID file is written", || read_pid(&pidfile).is_some());
    assert_eq!(read_pid(&pidfile), Some(pid), "the activated daemon forked");
    let fd3 = fs::read_link(format!("/proc/{pid}/fd/3"));
    assert_eq!(
        fd3.ok(),
        Some(socket_link),
        "descriptor 3 is not the passed socket"
    );
    // Only the daemon holds the socket now: a connection is queued by its listening socket.
    drop(listener);
    std::net::TcpStream::connect_timeout(&address, DEADLINE)
        .expect("connect to the socket the daemon kept");

    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
}
