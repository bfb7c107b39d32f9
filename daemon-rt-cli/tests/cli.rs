//! The `daemon-rt` command, checked from outside: exit statuses, the one stderr line, the PID
//! file and its lock, `/proc/<pid>/...`, the logs. Every program a test starts is recorded by
//! PID and ended by PID when the test ends.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const DAEMON_RT: &str = env!("CARGO_BIN_EXE_daemon-rt");

/// A scratch directory and the PIDs to end when the test ends.
struct Sandbox {
    dir: PathBuf,
    pids: std::cell::RefCell<Vec<u32>>,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("daemon-rt-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        Sandbox {
            dir,
            pids: Default::default(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `daemon-rt --notify-fd 3 OPTIONS --pidfile fd.pid -- PROGRAM` through `sh`, with
    /// descriptor 3 the test's pipe and the command's own stdout nowhere; its output (what
    /// descriptor 3 got) and the PID the file holds, recorded to be ended.
    fn run_with_notify_fd(&self, options: &str, program: &str) -> (Output, Option<u32>) {
        let pidfile = self.path("fd.pid");
        let script = format!(
            "{DAEMON_RT} --notify-fd 3 {options} --pidfile {} -- {program} 3>&1 >/dev/null",
            s(&pidfile)
        );
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        let pid = read_pid(&pidfile);
        if let Some(pid) = pid {
            self.pids.borrow_mut().push(pid);
        }
        (out, pid)
    }

    /// Runs `daemon-rt ARGS` to its end, within 20 s.
    fn run(&self, args: &[&str]) -> Output {
        let child = Command::new(DAEMON_RT)
            .args(args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let watchdog = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && alive(pid) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if alive(pid) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        });
        let output = child.wait_with_output().unwrap();
        watchdog.join().unwrap();
        output
    }

    /// Starts `-- PROGRAM...` with `options` and the PID file `pidfile`; expects success and
    /// returns the program's PID, recorded to be ended.
    fn start_ok(&self, pidfile: &Path, options: &[&str], program: &[&str]) -> u32 {
        let mut args = vec!["--pidfile", s(pidfile)];
        args.extend(options);
        args.push("--");
        args.extend(program);
        let out = self.run(&args);
        let pid = self.started(&out, pidfile);
        assert_eq!(stderr(&out), "");
        pid
    }

    /// A start that exited 0: returns the PID in `pidfile`, recorded to be ended.
    fn started(&self, out: &Output, pidfile: &Path) -> u32 {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        let pid = read_pid(pidfile).expect("the PID file holds a PID");
        self.pids.borrow_mut().push(pid);
        pid
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for &pid in self.pids.borrow().iter() {
            if alive(pid) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one line of a failure, checked to be one line.
fn one_line(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    err.trim_end().to_owned()
}

fn read_pid(pidfile: &Path) -> Option<u32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// Running, not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

/// Fields of `/proc/<pid>/stat` after the name: state is 0, ppid 1, pgrp 2, session 3.
fn stat_field(pid: u32, n: usize) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.split(' ').nth(n).unwrap().to_owned()
}

fn status_line(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap()
        .trim()
        .to_owned()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether another process holds the file's lock: a lock attempt of our own fails.
fn locked(path: &Path) -> bool {
    let file = File::open(path).unwrap();
    file.try_lock().is_err()
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    status_line(std::process::id(), "Uid").starts_with("0\t")
}

#[test]
fn a_program_becomes_a_daemon_that_holds_its_pid_file() {
    let sb = Sandbox::new("daemonize");
    let pidfile = sb.path("sleep.pid");
    let pid = sb.start_ok(&pidfile, &[], &["sleep", "60"]);

    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(
        cmdline, b"sleep\x0060\x00",
        "the daemon is the program, same PID"
    );
    let ppid: u32 = stat_field(pid, 1).parse().unwrap();
    assert!(
        ppid == 1 || status_line(ppid, "Name") != "daemon-rt",
        "re-parented to init or a subreaper, not {ppid}"
    );
    assert_ne!(stat_field(pid, 3), pid.to_string(), "not a session leader");
    // Default dispositions (SIGPIPE too) and an empty mask. glibc keeps signals 32 and 33 for
    // itself and refuses to change them: they stay as the test harness left them.
    let ignored = u64::from_str_radix(&status_line(pid, "SigIgn"), 16).unwrap();
    assert_eq!(ignored & !0x1_8000_0000, 0, "ignored: {ignored:#x}");
    assert_eq!(status_line(pid, "SigBlk"), "0000000000000000");
    // The lock survived the exec: held by the program through its one descriptor above 2.
    assert!(locked(&pidfile), "the PID file is locked");
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|fd| fd.parse::<i32>().unwrap() > 2)
        .collect();
    assert_eq!(fds.len(), 1, "only the PID file's lock: {fds:?}");
    let target = std::fs::read_link(format!("/proc/{pid}/fd/{}", fds[0])).unwrap();
    assert_eq!(target, pidfile);

    // A second start finds it running, and changes nothing.
    let out = sb.run(&["--pidfile", s(&pidfile), "--", "sleep", "60"]);
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(
        one_line(&out),
        format!(
            "daemon-rt: cannot lock pidfile `{}`: already running as PID {pid}",
            s(&pidfile)
        )
    );
    assert_eq!(read_pid(&pidfile), Some(pid));

    let out = sb.run(&["status", "--pidfile", s(&pidfile)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("daemon-rt: running as PID {pid}\n"));

    let out = sb.run(&["stop", "--pidfile", s(&pidfile)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("daemon-rt: stopped (PID {pid})\n"));
    assert!(!alive(pid));
    assert!(
        !pidfile.exists(),
        "stop removes the PID file the program left"
    );

    let out = sb.run(&["status", "--pidfile", s(&pidfile)]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "daemon-rt: not running\n");
    let out = sb.run(&["reload", "--pidfile", s(&pidfile)]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

#[test]
fn a_missing_program_is_127_and_leaves_nothing() {
    let sb = Sandbox::new("missing");
    let pidfile = sb.path("missing.pid");
    let out = sb.run(&["--pidfile", s(&pidfile), "--", "no-such-program-here", "x"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        one_line(&out),
        "daemon-rt: exec failed: no-such-program-here: No such file or directory"
    );
    assert!(!pidfile.exists(), "no PID file left");

    let text = sb.path("text");
    std::fs::write(&text, "not a program\n").unwrap();
    let out = sb.run(&["--pidfile", s(&pidfile), "--", s(&text)]);
    assert_eq!(out.status.code(), Some(126));
    assert_eq!(
        one_line(&out),
        format!("daemon-rt: exec failed: {}: Permission denied", s(&text))
    );
    assert!(!pidfile.exists(), "no PID file left");
}

#[test]
fn a_relative_program_path_is_the_starting_directorys() {
    let sb = Sandbox::new("relative");
    let script = sb.path("run.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pidfile = sb.path("rel.pid");
    let pid = sb.start_ok(&pidfile, &[], &["./run.sh"]);
    assert!(alive(pid));
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new("/")
    );
}

#[test]
fn ready_notify_waits_for_ready_1_from_a_child_of_the_program() {
    if !installed("systemd-notify") {
        eprintln!("skipped: needs systemd-notify (package systemd)");
        return;
    }
    let sb = Sandbox::new("notify");
    let pidfile = sb.path("notify.pid");
    let script = "sleep 0.3; systemd-notify --ready; exec sleep 60";
    let started = Instant::now();
    let pid = sb.start_ok(&pidfile, &["--ready", "notify"], &["sh", "-c", script]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "returned after {took:?}"
    );
    assert!(alive(pid));
    assert!(locked(&pidfile));
    // READY=1 came from the script before its own `exec sleep 60`.
    wait_until("the script's exec", || {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x0060\x00")
    });
    // Reparented once the start ended: not the starting command's child.
    let ppid: u32 = stat_field(pid, 1).parse().unwrap();
    assert!(ppid == 1 || status_line(ppid, "Name") != "daemon-rt");
}

/// The notify socket's abstract name is listed in `/proc/net/unix` for every user to read:
/// its randomness is no secret. `READY=1` from a process of another user is not the
/// program's, and must not end the wait.
#[test]
fn ready_notify_ignores_ready_1_from_another_user() {
    if !is_root() || !installed("systemd-notify") {
        eprintln!("skipped: needs root (to send as nobody) and systemd-notify (package systemd)");
        return;
    }
    let sb = Sandbox::new("forged");
    let pidfile = sb.path("forged.pid");
    let started = Instant::now();
    let starter = Command::new(DAEMON_RT)
        .args(["--pidfile", s(&pidfile), "--ready", "notify"])
        .args(["--ready-timeout", "1s", "--", "sleep", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // This start's socket: its name holds the starting process's PID.
    let prefix = format!("@daemon-rt/notify/{}/", starter.id());
    let name = loop {
        let table = std::fs::read_to_string("/proc/net/unix").unwrap();
        let name = table
            .lines()
            .filter_map(|l| l.split_whitespace().nth(7))
            .find(|n| n.starts_with(&prefix))
            .map(str::to_owned);
        match name {
            Some(name) => break name,
            None if started.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            None => panic!("no socket {prefix}... in /proc/net/unix"),
        }
    };
    let sent = Command::new("systemd-notify")
        .current_dir("/")
        .arg("--ready")
        .env("NOTIFY_SOCKET", &name)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let out = starter.wait_with_output().unwrap();
    if let Some(pid) = read_pid(&pidfile) {
        sb.pids.borrow_mut().push(pid);
    }
    assert!(
        sent.status.success(),
        "systemd-notify as nobody: {}",
        stderr(&sent)
    );
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(!pidfile.exists());
}

/// A program that fails says why in `STATUS=` and `ERRNO=`, as `systemctl status` shows them:
/// the failed start's line quotes them.
#[test]
fn ready_notify_failure_quotes_the_programs_status_and_errno() {
    if !installed("systemd-notify") {
        eprintln!("skipped: needs systemd-notify (package systemd)");
        return;
    }
    let sb = Sandbox::new("errno");
    let pidfile = sb.path("errno.pid");
    let script = "systemd-notify 'STATUS=cannot bind 127.0.0.1:80' ERRNO=98; exit 1";
    let out = sb.run(&[
        "--pidfile",
        s(&pidfile),
        "--ready",
        "notify",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        one_line(&out),
        "daemon-rt: daemon did not start: the program exited with status 1 before it sent \
         READY=1; it said \"cannot bind 127.0.0.1:80\" (errno 98: Address already in use)"
    );
    assert!(!pidfile.exists());
}

#[test]
fn ready_notify_fails_when_the_program_exits_first_or_says_nothing() {
    let sb = Sandbox::new("unready");
    let pidfile = sb.path("unready.pid");
    let out = sb.run(&[
        "--pidfile",
        s(&pidfile),
        "--ready",
        "notify",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        one_line(&out),
        "daemon-rt: daemon did not start: the program exited with status 3 before it sent READY=1"
    );
    assert!(!pidfile.exists());

    let out = sb.run(&[
        "--pidfile",
        s(&pidfile),
        "--ready",
        "notify",
        "--ready-timeout",
        "300ms",
        "--",
        "sleep",
        "60",
    ]);
    assert_eq!(out.status.code(), Some(124));
    let line = one_line(&out);
    let prefix = "daemon-rt: daemon did not start: the program did not send READY=1 within 0.3 s; stopped it (PID ";
    assert!(line.starts_with(prefix), "{line}");
    let pid: u32 = line[prefix.len()..line.len() - 1].parse().unwrap();
    assert!(!alive(pid), "the unready program was stopped");
    assert!(!pidfile.exists());
}

#[test]
fn the_programs_output_reaches_the_log() {
    let sb = Sandbox::new("logs");
    let pidfile = sb.path("logs.pid");
    let log = sb.path("out.log");
    let script = "echo to stdout; echo to stderr >&2; exec sleep 60";
    let pid = sb.start_ok(
        &pidfile,
        &["--stdout", s(&log), "--stderr", s(&log)],
        &["sh", "-c", script],
    );
    wait_until("both lines in the log", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l == "to stdout\nto stderr\n")
    });
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/1")).unwrap(),
        log
    );
}

#[test]
fn user_nobody_runs_the_program_as_nobody() {
    if !is_root() {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let sb = Sandbox::new("user");
    let pidfile = sb.path("user.pid");
    let pid = sb.start_ok(&pidfile, &["--user", "nobody"], &["sleep", "60"]);
    let uid = status_line(pid, "Uid");
    let uids: Vec<_> = uid.split_whitespace().collect();
    assert_eq!(uids, ["65534"; 4], "real, effective, saved, fs: {uid}");
    assert!(
        locked(&pidfile),
        "the lock survived the exec and the switch"
    );
}

#[test]
fn foreground_execs_in_place_with_the_pid_file_locked() {
    let sb = Sandbox::new("foreground");
    let pidfile = sb.path("fg.pid");
    let script = "echo $$; readlink /proc/$$/fd/*; exit 5";
    let child = Command::new(DAEMON_RT)
        .args([
            "--foreground",
            "--pidfile",
            s(&pidfile),
            "--",
            "sh",
            "-c",
            script,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let starter = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "the program's own status");
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(starter.to_string().as_str()), "no fork");
    assert!(
        lines.any(|l| Path::new(l) == pidfile),
        "the PID file is open in the program: {text}"
    );
    assert_eq!(read_pid(&pidfile), Some(starter));
}

#[test]
fn usage_errors_are_status_2_and_one_line() {
    let sb = Sandbox::new("usage");
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Usage: daemon-rt"),
        "{}",
        stderr(&out)
    );

    let out = sb.run(&["--pidfle", "x", "--", "sleep", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        one_line(&out),
        "daemon-rt: unexpected argument '--pidfle' found; a similar argument exists: '--pidfile' (see `daemon-rt --help`)"
    );

    // A forgotten program, or a forgotten `--`: the line says what is missing.
    let out = sb.run(&["--pidfile", "x.pid"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        one_line(&out),
        "daemon-rt: the following required arguments were not provided: <PROGRAM ARGS>... \
         (see `daemon-rt --help`)"
    );
    let out = sb.run(&["--pidfile", "x.pid", "sleep", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        one_line(&out),
        "daemon-rt: unexpected argument 'sleep' found; the program and its arguments go after \
         `--`: daemon-rt [OPTIONS] -- PROGRAM ARGS... (see `daemon-rt --help`)"
    );

    let out = sb.run(&["--umask", "9", "--", "sleep", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out).contains("`9` is not an octal number"));
}

#[test]
fn notify_fd_gets_its_newline_once_the_program_runs() {
    let sb = Sandbox::new("notify-fd");
    let (out, pid) = sb.run_with_notify_fd("", "sleep 60");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Read to the end: the program does not hold the descriptor, or this would not return.
    assert_eq!(stdout(&out), "\n");
    assert!(pid.is_some_and(alive));
}

#[test]
fn a_relative_argument_of_the_program_is_warned_about_in_one_line() {
    let sb = Sandbox::new("relarg");
    std::fs::write(sb.path("data"), "x").unwrap();
    let pidfile = sb.path("relarg.pid");
    let out = sb.run(&[
        "--pidfile",
        s(&pidfile),
        "--",
        "sh",
        "-c",
        "exec sleep 60",
        "sh",
        "data",
    ]);
    sb.started(&out, &pidfile);
    let dir = sb.dir.display();
    assert_eq!(
        stderr(&out),
        format!(
            "daemon-rt: warning: argument \"data\" is relative to {dir}, but the daemon runs in / \
             (set the working directory to \".\" to stay in {dir})\n"
        )
    );
    // `--working-directory .` keeps the directory, and says nothing.
    let kept = sb.path("kept.pid");
    let out = sb.run(&[
        "--pidfile",
        s(&kept),
        "--working-directory",
        ".",
        "--",
        "sh",
        "-c",
        "exec sleep 60",
        "sh",
        "data",
    ]);
    let pid = sb.started(&out, &kept);
    assert_eq!(stderr(&out), "");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        sb.dir
    );
}

#[test]
fn ready_after_a_time_waits_and_fails_a_program_that_ends_sooner() {
    let sb = Sandbox::new("after");
    let pidfile = sb.path("after.pid");
    let started = Instant::now();
    let pid = sb.start_ok(&pidfile, &["--ready", "300ms"], &["sleep", "60"]);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(alive(pid));

    let failed = sb.path("failed.pid");
    let out = sb.run(&[
        "--pidfile",
        s(&failed),
        "--ready",
        "2s",
        "--",
        "sh",
        "-c",
        "sleep 0.1; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let line = one_line(&out);
    assert!(line.contains("status 3"), "{line}");
    assert!(!failed.exists());
}

/// A program that forks and exits before it is up fails the start; what it forked must not
/// run on, holding the PID file's lock once the file is gone (a second start would then run
/// beside it).
#[test]
fn a_failed_start_stops_what_the_program_forked() {
    let sb = Sandbox::new("leftover");
    for ready in ["notify", "300ms"] {
        let pidfile = sb.path("leftover.pid");
        let left = sb.path("left");
        let script = format!("sleep 60 & echo $! > {}; exit 0", s(&left));
        let out = sb.run(&[
            "--pidfile",
            s(&pidfile),
            "--ready",
            ready,
            "--",
            "sh",
            "-c",
            &script,
        ]);
        let child: u32 = std::fs::read_to_string(&left)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        sb.pids.borrow_mut().push(child);
        assert_eq!(out.status.code(), Some(69), "{ready}: {}", stderr(&out));
        assert!(!pidfile.exists(), "{ready}");
        wait_until("the program's child to end", || !alive(child));
    }
}

/// Inside `--chroot` the program's path is the chroot's: a program missing there is said to
/// be missing there, not in the directory the operator sees.
#[test]
fn a_program_missing_in_the_chroot_is_said_to_be_missing_there() {
    if !is_root() {
        eprintln!("skipped: needs root to chroot");
        return;
    }
    let sb = Sandbox::new("chroot");
    let root = sb.path("root");
    std::fs::create_dir(&root).unwrap();
    let pidfile = sb.path("chroot.pid");
    let out = sb.run(&[
        "--pidfile",
        s(&pidfile),
        "--chroot",
        s(&root),
        "--",
        "/bin/sleep",
        "60",
    ]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        one_line(&out),
        format!(
            "daemon-rt: exec failed: /bin/sleep: No such file or directory (inside chroot `{}`)",
            s(&root)
        )
    );
    assert!(!pidfile.exists());
}

/// Under socket activation (`systemd-socket-activate`, a systemd .socket unit) the command
/// stays in the foreground with the manager's `$LISTEN_FDS`: the program that replaces it
/// must get the sockets those variables promise, not a closed descriptor 3.
#[test]
fn socket_activation_passes_the_sockets_on_to_the_program() {
    if !installed("systemd-socket-activate") {
        eprintln!("skipped: needs systemd-socket-activate (package systemd)");
        return;
    }
    let sb = Sandbox::new("activate");
    let pidfile = sb.path("activate.pid");
    let seen = sb.path("seen");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "echo $LISTEN_FDS $(readlink /proc/$$/fd/3) > {}; exec sleep 60",
        s(&seen)
    );
    let mut manager = Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{port}"), DAEMON_RT])
        .args(["--pidfile", s(&pidfile), "--", "sh", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sb.pids.borrow_mut().push(manager.id());
    // It execs the command at the first connection.
    wait_until("the socket", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    wait_until("the program's report", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s.ends_with('\n'))
    });
    let report = std::fs::read_to_string(&seen).unwrap();
    let _ = manager.kill();
    let _ = manager.wait();
    assert!(report.starts_with("1 socket:["), "{report:?}");
}

/// Under a manager with `WatchdogSec=` the command stays in the foreground and the program
/// keeps its PID: it must learn the watchdog's interval and where to ping, or the manager
/// kills it when the interval runs out.
#[test]
fn the_program_gets_the_managers_watchdog_in_the_foreground() {
    let sb = Sandbox::new("watchdog");
    let manager = sb.path("manager.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&manager).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for ready in ["started", "notify"] {
        let pidfile = sb.path("watchdog.pid");
        let seen = sb.path("seen");
        let program = format!(
            "echo $$ $WATCHDOG_PID $WATCHDOG_USEC $NOTIFY_SOCKET > {}",
            s(&seen)
        );
        let script = format!(
            "WATCHDOG_PID=$$ exec {DAEMON_RT} --ready {ready} --pidfile {} -- sh -c '{program}'",
            s(&pidfile)
        );
        let out = Command::new("sh")
            .args(["-c", &script])
            .env("NOTIFY_SOCKET", &manager)
            .env("WATCHDOG_USEC", "30000000")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{ready}: {}", stderr(&out));
        let seen = std::fs::read_to_string(&seen).unwrap();
        let fields: Vec<_> = seen.split_whitespace().collect();
        assert_eq!(fields.len(), 4, "{ready}: {seen:?}");
        assert_eq!(
            fields[0], fields[1],
            "{ready}: WATCHDOG_PID is the program's"
        );
        assert_eq!(fields[2], "30000000", "{ready}");
        assert_eq!(Path::new(fields[3]), manager, "{ready}");
        // The default readiness told the manager itself.
        if ready == "started" {
            let mut buf = [0u8; 512];
            let n = socket.recv(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
        }
    }
}

/// Another user cannot look into a root daemon's descriptors, so `status` cannot confirm
/// that the PID in the file holds the lock: it says so, not that the file has no such PID.
#[test]
fn status_as_another_user_does_not_deny_the_pid_in_the_file() {
    if !is_root() {
        eprintln!("skipped: needs root to run status as nobody");
        return;
    }
    let sb = Sandbox::new("other-user");
    std::fs::set_permissions(&sb.dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pidfile = sb.path("root.pid");
    let pid = sb.start_ok(&pidfile, &[], &["sleep", "60"]);
    let out = Command::new(DAEMON_RT)
        .args(["status", "--pidfile", s(&pidfile)])
        .current_dir("/")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "daemon-rt: running (the file says PID {pid}; not confirmed as the lock's holder)\n"
        )
    );
}

/// A value that can never work is named by its flag, as the operator wrote it, not by the
/// attribute's argument.
#[test]
fn invalid_values_are_named_by_their_flags() {
    let sb = Sandbox::new("flags");
    let pidfile = sb.path("flags.pid");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--limit-nofile", "5000:100"],
            "daemon-rt: invalid configuration: `--limit-nofile 5000:100`: the soft limit 5000 \
             is above the hard limit 100",
        ),
        (
            &["--ready-timeout", "0"],
            "daemon-rt: invalid configuration: `--ready-timeout` is zero",
        ),
        (
            &["--ready", "5m"],
            "daemon-rt: invalid configuration: `--ready` waits 300 s, longer than \
             `--ready-timeout` (90 s)",
        ),
        (
            &["--preserve-fds", "99"],
            "daemon-rt: invalid configuration: `--preserve-fds` lists 99, which is not open",
        ),
    ];
    for (flags, line) in cases {
        let mut args = vec!["--pidfile", s(&pidfile)];
        args.extend(flags);
        args.extend(["--", "sleep", "60"]);
        let out = sb.run(&args);
        assert_eq!(out.status.code(), Some(78), "{flags:?}");
        assert_eq!(one_line(&out), line);
        assert!(!pidfile.exists());
    }
}

#[test]
fn environment_limits_and_nice_reach_the_program() {
    let sb = Sandbox::new("environ");
    let pidfile = sb.path("environ.pid");
    let out = sb.path("env.txt");
    let script = format!("env > {}; exec sleep 60", out.display());
    let pid = sb.start_ok(
        &pidfile,
        &[
            "--keep-env",
            "LANG",
            "--nice",
            "5",
            "--limit-nofile",
            "1000:2000",
            "--prevent-core",
        ],
        &["sh", "-c", &script],
    );
    wait_until("the program wrote its environment", || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains("PATH="))
    });
    let env = std::fs::read_to_string(&out).unwrap();
    let mut names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    names.sort_unstable();
    // `sh` adds PWD (and may add SHLVL); nothing of the test's own environment is left.
    names.retain(|n| !["PWD", "SHLVL", "_", "OLDPWD"].contains(n));
    let lang = std::env::var_os("LANG").is_some();
    let expected: &[&str] = if lang { &["LANG", "PATH"] } else { &["PATH"] };
    assert_eq!(names, expected, "{env}");
    assert!(env.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let row = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap()
    };
    assert_eq!(row("Max open files"), "Max open files 1000 2000 files");
    assert_eq!(row("Max core file size"), "Max core file size 0 0 bytes");
    // Field 19 of stat, the nice value; `stat_field` counts from field 3.
    assert_eq!(stat_field(pid, 16), "5");
}

/// With `--ready notify` the supervisor's descriptor gets its newline when `READY=1` comes:
/// the program never writes it, and a descriptor closed without it reads as "never ready".
#[test]
fn notify_fd_gets_its_newline_when_the_program_sends_ready_1() {
    if !installed("systemd-notify") {
        eprintln!("skipped: needs systemd-notify (package systemd)");
        return;
    }
    let sb = Sandbox::new("notify-fd-manual");
    let program = "sh -c 'sleep 0.2; systemd-notify --ready; exec sleep 60'";
    let (out, pid) = sb.run_with_notify_fd("--ready notify", program);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "\n");
    assert!(pid.is_some_and(alive));
}

#[test]
fn a_panicking_program_is_quoted_by_its_panic_message() {
    let sb = Sandbox::new("panic");
    let pidfile = sb.path("panic.pid");
    let log = sb.path("panic.log");
    // What std prints for a panic, then its exit status.
    let script = "echo \"thread 'main' (1) panicked at src/main.rs:13:56:\" >&2; \
                  echo 'called `Result::unwrap()` on an `Err` value: AddrInUse' >&2; \
                  echo 'note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace' >&2; \
                  exit 101";
    let out = sb.run(&[
        "--pidfile",
        s(&pidfile),
        "--stderr",
        s(&log),
        "--ready",
        "2s",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let line = one_line(&out);
    assert!(
        line.ends_with(&format!(
            "{} ends: \"called `Result::unwrap()` on an `Err` value: AddrInUse\"",
            log.display()
        )),
        "{line}"
    );
    assert!(line.contains("status 101"), "{line}");
    assert!(!pidfile.exists());
}

#[test]
fn a_refused_path_is_told_the_flag_that_turns_the_check_off() {
    if !is_root() {
        eprintln!("skipped: strict_paths checks paths only as root");
        return;
    }
    let sb = Sandbox::new("strict");
    let open = sb.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let pidfile = open.join("p.pid");
    let out = sb.run(&["--pidfile", s(&pidfile), "--", "sleep", "60"]);
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let line = one_line(&out);
    assert!(line.contains("`--strict-paths false`"), "{line}");
    assert!(!line.contains("strict_paths"), "{line}");
    assert!(!pidfile.exists());
}
