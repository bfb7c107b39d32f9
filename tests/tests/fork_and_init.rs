//! Whether the start forks (`fork`), readiness by descriptor (`notify_fd`, with a pipe of the
//! test's own and with the real s6), and life as PID 1 of a PID namespace
//! (`unshare --pid --fork --mount-proc`). Checked from outside: the datagrams a notification
//! socket of the test's own receives, the bytes a readiness pipe carries, the PID file,
//! `/proc`, exit statuses.

mod support;

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use support::{MANAGER_ENV, Sandbox, alive, can_unshare, children, inherit_fd_as, read_pid};

/// How long the test waits for anything the daemon or a peer should do.
const DEADLINE: Duration = Duration::from_secs(10);

fn service(sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(support::SERVICE);
    cmd.args(args).arg("--tag").arg(sb.dir());
    for key in MANAGER_ENV {
        cmd.env_remove(key);
    }
    cmd
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A pipe whose ends are close-on-exec and above 3, so that placing one at 3 in a child
/// always clears close-on-exec.
fn pipe() -> (fs::File, OwnedFd) {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    (fs::File::from(high(read)), high(write))
}

fn high(fd: OwnedFd) -> OwnedFd {
    let high = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10)).unwrap();
    // SAFETY: `fcntl` returned a new descriptor that nothing else owns.
    unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(high) }
}

/// Everything the pipe carries until every writer has closed it, within the deadline.
fn read_to_eof(mut read: fs::File) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = read.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx.recv_timeout(DEADLINE)
        .expect("the readiness pipe was not closed in time")
}

#[test]
fn fork_always_with_a_notify_socket_forks_and_sends_mainpid_with_ready() {
    let sb = Sandbox::new("fork-always");
    let socket_path = sb.path("notify.sock");
    let manager = UnixDatagram::bind(&socket_path).unwrap();
    manager.set_read_timeout(Some(DEADLINE)).unwrap();
    let pidfile = sb.path("d.pid");
    let args = ["--fork", "always", "--pidfile", pidfile.to_str().unwrap()];
    // A Type=forking unit with WatchdogSec=: `$NOTIFY_SOCKET` is set, and the unit waits for
    // the starting command to exit.
    let start = sb.run(support::SERVICE, &args, |cmd| {
        cmd.arg("--tag").arg(sb.dir());
        cmd.env("NOTIFY_SOCKET", &socket_path);
    });
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("the PID file holds the daemon's PID at return");
    sb.track(pid);
    assert_ne!(pid.as_raw() as u32, start.pid, "the daemon did not fork");

    let mut buf = [0u8; 4096];
    let n = manager.recv(&mut buf).expect("a datagram from the daemon");
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        format!("MAINPID={pid}\nREADY=1"),
        "the first datagram"
    );
    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    let n = manager.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
}

#[test]
fn a_fork_contradiction_is_a_configuration_error() {
    let sb = Sandbox::new("fork-contradiction");
    let pidfile = sb.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let start = sb.service(&["--fork", "always", "--foreground", "--pidfile", p]);
    assert_eq!(start.code, Some(78), "{start:?}");
    assert_eq!(
        start.stderr,
        "service: invalid configuration: `fork = \"always\"` contradicts `foreground = true`\n"
    );
    assert!(!pidfile.exists(), "the refused start left a PID file");

    // `fork = "never"` is the foreground: the started process is the daemon.
    let mut child = service(&sb, &["--fork", "never", "--pidfile", p])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    sb.track(pid);
    wait_for("the PID file is written", || read_pid(&pidfile).is_some());
    assert_eq!(read_pid(&pidfile), Some(pid), "`fork = \"never\"` forked");
    kill(pid, Signal::SIGTERM).unwrap();
    let _ = child.wait();
}

/// Starts the service with the write end of a pipe as descriptor 3 and `--notify-fd 3`;
/// returns the read end and the started child.
fn with_notify_fd(sb: &Sandbox, args: &[&str]) -> (fs::File, Child) {
    let (read, write) = pipe();
    let mut cmd = service(sb, args);
    cmd.args(["--notify-fd", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    inherit_fd_as(&mut cmd, write.as_raw_fd(), &[3]);
    let child = cmd.spawn().unwrap();
    sb.track(Pid::from_raw(child.id() as i32));
    drop(write);
    (read, child)
}

#[test]
fn notify_fd_gets_one_newline_when_ready_in_the_foreground_then_is_closed() {
    let sb = Sandbox::new("notify-fd-fg");
    let pidfile = sb.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let args = [
        "--foreground",
        "--pidfile",
        p,
        "--before-ready",
        "sleep:300",
    ];
    let started = Instant::now();
    let (read, child) = with_notify_fd(&sb, &args);
    let pid = Pid::from_raw(child.id() as i32);
    // EOF comes when the daemon closes it: the newline is all it ever carries.
    assert_eq!(read_to_eof(read), "\n");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the newline came before the body called ready()"
    );
    assert!(alive(pid), "the daemon is gone");
    let open = support::fds(pid);
    assert!(
        !open.contains_key(&3),
        "descriptor 3 is still open: {open:?}"
    );
    kill(pid, Signal::SIGTERM).unwrap();
    assert_eq!(
        sb.wait_exit(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
}

#[test]
fn notify_fd_works_when_forking_and_says_nothing_on_a_failed_start() {
    let sb = Sandbox::new("notify-fd-fork");
    let pidfile = sb.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let (read, mut child) = with_notify_fd(&sb, &["--pidfile", p]);
    assert!(child.wait().unwrap().success(), "the start failed");
    let pid = read_pid(&pidfile).expect("the PID file at return");
    sb.track(pid);
    assert_eq!(read_to_eof(read), "\n");
    assert!(alive(pid));
    sb.stop(pid, Signal::SIGTERM);

    // A body that fails before ready closes the descriptor without the newline.
    let (read, mut child) = with_notify_fd(&sb, &["--pidfile", p, "--before-ready", "fail"]);
    assert_eq!(child.wait().unwrap().code(), Some(69));
    assert_eq!(read_to_eof(read), "", "a failed start said it was ready");
}

#[test]
fn a_notify_fd_that_cannot_work_is_refused() {
    let sb = Sandbox::new("notify-fd-bad");
    let pidfile = sb.path("d.pid");
    let p = pidfile.to_str().unwrap();
    for (fd, why) in [
        (
            "1",
            "`notify_fd` 1 is standard output; a supervisor's notification descriptor is 3 or above, so that the daemon's own output cannot read as ready",
        ),
        ("2", "`notify_fd` 2 is standard error;"),
        (
            "9",
            "`notify_fd` 9 is not open; is the supervisor configured to pass it?",
        ),
        ("-1", "`notify_fd` -1 is not a descriptor number"),
    ] {
        let start = sb.service(&["--notify-fd", fd, "--pidfile", p]);
        assert_eq!(start.code, Some(78), "{fd}: {start:?}");
        assert!(
            start
                .stderr
                .starts_with(&format!("service: invalid configuration: {why}")),
            "{fd}: {start:?}"
        );
        assert_eq!(start.stderr.lines().count(), 1, "{start:?}");
        assert!(!pidfile.exists(), "the refused start left a PID file");
    }
    // The read end of a pipe cannot carry the newline.
    let (read, write) = pipe();
    let mut cmd = service(&sb, &["--notify-fd", "3", "--pidfile", p]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    inherit_fd_as(&mut cmd, read.as_raw_fd(), &[3]);
    let out = cmd.output().unwrap();
    drop(write);
    assert_eq!(out.status.code(), Some(78));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "service: invalid configuration: `notify_fd` 3 is open for reading only\n"
    );
}

/// Whether `program` is installed; says so when it is not.
fn installed(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: {program} is not installed (.ci/run installs it)");
    }
    found
}

/// Writes an s6 service directory `dir` whose `run` execs the service fixture with `args`,
/// and whose `notification-fd` holds 3.
fn s6_service(sb: &Sandbox, dir: &Path, args: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let run = format!(
        "#!/bin/sh\nexec 2>&1\nexec '{}' {} --tag '{}'\n",
        support::SERVICE,
        quoted.join(" "),
        sb.dir().display()
    );
    fs::write(dir.join("run"), run).unwrap();
    fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("notification-fd"), "3\n").unwrap();
}

#[test]
fn s6_svwait_returns_once_ready_with_notify_fd_and_times_out_without() {
    if !installed("s6-svscan") {
        return;
    }
    let sb = Sandbox::new("s6");
    // s6-svscan takes every directory of the scan directory as a service, except hidden
    // ones: the PID files go in `.state`. The scan directory is the sandbox itself, so that
    // s6-svscan carries the sandbox's tag and is ended with it if the test fails.
    let state = sb.path(".state");
    fs::create_dir_all(&state).unwrap();
    let ready_pid = state.join("ready.pid");
    let silent_pid = state.join("silent.pid");
    let ready = sb.path("ready");
    let silent = sb.path("silent");
    s6_service(
        &sb,
        &ready,
        &[
            "--fork",
            "never",
            "--notify-fd",
            "3",
            "--pidfile",
            ready_pid.to_str().unwrap(),
            "--before-ready",
            "sleep:300",
            "--listen",
            "wait",
        ],
    );
    s6_service(
        &sb,
        &silent,
        &[
            "--fork",
            "never",
            "--pidfile",
            silent_pid.to_str().unwrap(),
            "--listen",
            "wait",
        ],
    );
    let mut svscan = Command::new("s6-svscan")
        .arg(sb.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let svscan_pid = Pid::from_raw(svscan.id() as i32);
    sb.track(svscan_pid);
    // Each service's s6-supervise is recorded as soon as it runs, so that the sandbox ends it
    // (by PID) if the test fails; the daemons carry the sandbox's tag.
    for dir in [&ready, &silent] {
        wait_for("s6-supervise watches the service", || {
            Command::new("s6-svok")
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success())
        });
    }
    for supervise in children(svscan.id()) {
        sb.track(Pid::from_raw(supervise as i32));
    }

    let svwait = |dir: &Path, ms: &str| {
        let started = Instant::now();
        let out = Command::new("s6-svwait")
            .args(["-U", "-t", ms])
            .arg(dir)
            .output()
            .unwrap();
        (out.status.code(), started.elapsed())
    };
    let (code, took) = svwait(&ready, "5000");
    assert_eq!(code, Some(0), "s6-svwait -U on the notifying service");
    let pid = read_pid(&ready_pid).expect("ready before its PID file was written");
    assert!(alive(pid), "the daemon is gone");
    eprintln!("s6-svwait -U returned 0 after {took:?}");

    // Without `notify_fd`, the descriptor is closed with the others and the newline never
    // comes: s6-svwait times out (exit 99 since s6 2.10) although the daemon runs.
    let (code, took) = svwait(&silent, "1500");
    assert_ne!(code, Some(0), "s6-svwait -U without notify_fd");
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    let silent_daemon = read_pid(&silent_pid).expect("the silent daemon runs");
    assert!(alive(silent_daemon));
    eprintln!("without notify_fd: s6-svwait -U exited {code:?} after {took:?}");

    // Down, and s6-svscan told to exit; every process ended by PID, not by name.
    for dir in [&ready, &silent] {
        let status = Command::new("s6-svc").arg("-d").arg(dir).status().unwrap();
        assert!(status.success());
    }
    for daemon in [pid, silent_daemon] {
        wait_for("the daemon is stopped by s6-svc -d", || !alive(daemon));
    }
    let status = Command::new("s6-svscanctl")
        .arg("-t")
        .arg(sb.dir())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + DEADLINE;
    while svscan.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = kill(svscan_pid, Signal::SIGKILL);
            panic!("s6-svscan did not exit after s6-svscanctl -t");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `unshare --pid --fork --mount-proc SERVICE ARGS`: the service is PID 1 of a new PID
/// namespace. Its output is piped.
fn in_namespace(sb: &Sandbox, args: &[&str]) -> Child {
    in_namespace_with(sb, args, |_| {})
}

/// Like [`in_namespace`], letting `setup` change the command first.
fn in_namespace_with(sb: &Sandbox, args: &[&str], setup: impl FnOnce(&mut Command)) -> Child {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", support::SERVICE])
        .args(args)
        .arg("--tag")
        .arg(sb.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for key in MANAGER_ENV {
        cmd.env_remove(key);
    }
    setup(&mut cmd);
    let child = cmd.spawn().unwrap();
    sb.track(Pid::from_raw(child.id() as i32));
    child
}

#[test]
fn as_pid_1_the_start_stays_reaps_orphans_and_exits_with_the_body() {
    if !can_unshare() {
        return;
    }
    let sb = Sandbox::new("pid1-orphans");
    let pidfile = sb.path("d.pid");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--orphan",
        "--exit-after-ms",
        "500",
    ];
    let started = Instant::now();
    let child = in_namespace(&sb, &args);
    let unshare = child.id();
    wait_for("PID 1 of the namespace runs", || {
        !children(unshare).is_empty()
    });
    let init = children(unshare)[0];
    wait_for("the body wrote its PID file", || {
        read_pid(&pidfile).is_some()
    });
    // The body is PID 2 of the namespace, forked by PID 1, which stays its parent.
    assert_eq!(read_pid(&pidfile), Some(Pid::from_raw(2)));
    assert!(
        !children(init).is_empty(),
        "PID 1 has no child: where is the body?"
    );
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The start does not return before the body ends (1 s of --orphan, then 0.5 s).
    assert!(
        took >= Duration::from_millis(1500),
        "returned after {took:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout.contains("service pid=2\n"), "{stdout}");
    // The orphaned `sleep 0.1` was reaped by PID 1: no zombie in the namespace a second on.
    assert!(stdout.contains("zombies=0\n"), "{stdout}");
    assert!(!pidfile.exists(), "the PID file outlived the body");
    assert!(!alive(Pid::from_raw(init as i32)));
}

#[test]
fn as_pid_1_sigterm_reaches_the_body_and_its_status_ends_the_namespace() {
    if !can_unshare() {
        return;
    }
    let sb = Sandbox::new("pid1-sigterm");
    // A body that listens returns from `main` (status 0); one that does not is ended by the
    // signal, which PID 1 reports as a shell does: 128 + 15.
    for (listen, status) in [(true, 0), (false, 143)] {
        let pidfile = sb.path("d.pid");
        let mut args = vec!["--pidfile", pidfile.to_str().unwrap()];
        if listen {
            args.extend(["--listen", "wait"]);
        }
        let mut child = in_namespace(&sb, &args);
        let unshare = child.id();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        assert_eq!(first, "service pid=2");
        if listen {
            assert_eq!(lines.next().unwrap().unwrap(), "waiting for stop");
            // The line comes just before `wait_for_stop` makes SIGTERM a request.
            std::thread::sleep(Duration::from_millis(300));
        }
        wait_for("the body wrote its PID file", || {
            read_pid(&pidfile).is_some()
        });
        let init = children(unshare)[0];
        kill(Pid::from_raw(init as i32), Signal::SIGTERM).unwrap();
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let exited = child.wait().unwrap();
        assert_eq!(exited.code(), Some(status), "listen {listen}: {rest:?}");
        if listen {
            assert_eq!(rest, ["stop requested"], "the body did not stop gracefully");
        }
        assert!(!pidfile.exists(), "the PID file outlived the body");
    }
}

#[test]
fn as_pid_1_the_body_writes_notify_fd_once_ready() {
    if !can_unshare() {
        return;
    }
    let sb = Sandbox::new("pid1-notify-fd");
    let (read, write) = pipe();
    let args = [
        "--notify-fd",
        "3",
        "--before-ready",
        "sleep:200",
        "--exit-after-ms",
        "300",
    ];
    let child = in_namespace_with(&sb, &args, |cmd| {
        inherit_fd_as(cmd, write.as_raw_fd(), &[3]);
    });
    drop(write);
    // `unshare` keeps its copy until it exits: EOF comes when the namespace has ended, and
    // the pipe carried one newline, from the body; PID 1 closed its copy unwritten.
    assert_eq!(read_to_eof(read), "\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
