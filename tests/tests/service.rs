//! Life under a service manager or an init script, with the `service` fixture (`ready =
//! "manual"`): declared readiness, graceful stop, log reopening, privilege drop, chroot and
//! the control commands. Checked from outside: the starting command's exit status and output,
//! the PID file, the log, `/proc/<pid>/{status,fd,fdinfo,root,cwd}`, and how the daemon exits.

mod support;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use support::{SERVICE, Sandbox, Start, alive, fds, is_root, read_pid, status};

/// How long the tests wait for something the daemon does on its own (a log line, a file).
const WAIT: Duration = Duration::from_secs(10);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Polls `cond` every 5 ms until it holds; fails the test after `within`.
fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}: not the case after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The starting command's stderr, checked to be exactly one line; without its newline.
fn one_line(start: &Start) -> &str {
    assert!(
        start.stderr.ends_with('\n') && start.stderr.lines().count() == 1,
        "not one line on stderr: {start:?}"
    );
    start.stderr.trim_end_matches('\n')
}

/// A failed start left nothing behind: no process of the sandbox, no PID file.
fn nothing_left(sb: &Sandbox, pidfile: &Path) {
    // At once, not after a wait: the starting command returns only when the readiness pipe
    // closed, that is, when the failed daemon has exited.
    let left = sb.leftovers();
    assert!(left.is_empty(), "processes left at return: {left:?}");
    assert!(!pidfile.exists(), "a PID file was left behind");
}

/// Starts with `--pidfile <sandbox>/d.pid` and `args`, expecting the start to fail with
/// `code`; returns its one stderr line, after checking that nothing was left behind.
fn fails(sb: &Sandbox, args: &[&str], code: i32) -> String {
    let pidfile = sb.path("d.pid");
    let mut all = vec!["--pidfile", s(&pidfile)];
    all.extend_from_slice(args);
    let start = sb.service(&all);
    assert_eq!(start.code, Some(code), "{start:?}");
    assert_eq!(start.stdout, "", "{start:?}");
    let line = one_line(&start).to_owned();
    nothing_left(sb, &pidfile);
    line
}

/// Waits until the daemon listens for stop requests. Its stop pipe is then open, both ends:
/// the only pipe it holds, since the readiness pipe is closed once it reported ready.
fn wait_listening(pid: Pid) {
    wait_until("the daemon holds its stop pipe", WAIT, || {
        let pipes: Vec<_> = fds(pid)
            .into_values()
            .filter(|t| t.to_string_lossy().starts_with("pipe:"))
            .collect();
        pipes.len() == 2 && pipes[0] == pipes[1]
    });
}

/// Whether the daemon has a handler for `signal`, by `SigCgt` in `/proc/<pid>/status`.
fn catches(pid: Pid, signal: Signal) -> bool {
    let mask = u64::from_str_radix(&status(pid)["SigCgt"], 16).expect("SigCgt is hex");
    mask & (1 << (signal as i32 - 1)) != 0
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

/// The numbers of the `line N` lines of `path`, in order.
fn line_numbers(path: &Path) -> Vec<u64> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("line "))
        .map(|n| n.parse().unwrap_or_else(|_| panic!("garbled line {n:?}")))
        .collect()
}

/// How many `line N` lines `path` holds so far (0 if it does not exist).
fn count_lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.matches("line ").count())
}

/// A process the test started (not a daemon), killed and reaped by PID when dropped.
struct Child(std::process::Child);

impl Child {
    fn sleep() -> Child {
        Child(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }

    fn still_alive(&self) -> bool {
        waitpid(self.pid(), Some(WaitPidFlag::WNOHANG)) == Ok(WaitStatus::StillAlive)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// No sandbox name below is a prefix of another: a sandbox finds its processes by its
// directory's path on their command line, so `x` would also find (and end) those of `x-y`.

// Declared readiness.

#[test]
fn the_start_returns_only_once_the_body_called_ready() {
    let sb = Sandbox::new("ready-late");
    let pidfile = sb.path("d.pid");
    let began = Instant::now();
    let start = sb.service(&["--pidfile", s(&pidfile), "--before-ready", "sleep:400"]);
    let took = began.elapsed();
    assert_eq!(start.code, Some(0), "{start:?}");
    assert!(
        took >= Duration::from_millis(400),
        "the start returned after {took:?}, before the body called ready()"
    );
    let pid = read_pid(&pidfile).expect("no PID in the PID file at return");
    sb.track(pid);
    assert!(alive(pid));
}

#[test]
fn an_error_returned_before_ready_fails_the_start_with_its_message() {
    let sb = Sandbox::new("ready-err");
    assert_eq!(
        fails(&sb, &["--before-ready", "fail"], 69),
        "service: daemon failed before it was ready: \
         cannot load the configuration: line 3 is broken"
    );
}

#[test]
fn a_panic_before_ready_fails_the_start_with_its_message() {
    let sb = Sandbox::new("ready-panic");
    let line = fails(&sb, &["--before-ready", "panic"], 69);
    assert!(
        line.starts_with("service: daemon failed before it was ready: panicked at "),
        "{line}"
    );
    assert!(line.contains("the configuration is missing"), "{line}");
}

#[test]
fn an_exit_before_ready_fails_the_start() {
    let sb = Sandbox::new("ready-exit");
    assert_eq!(
        fails(&sb, &["--before-ready", "exit"], 69),
        "service: daemon failed before it was ready: \
         the daemon exited before it called `daemon_rt::ready()`"
    );
}

#[test]
fn a_port_in_use_fails_the_start_and_a_free_one_is_served() {
    let sb = Sandbox::new("ready-bind");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let line = fails(&sb, &["--before-ready", &format!("bind:{addr}")], 69);
    assert!(
        line.starts_with(&format!(
            "service: daemon failed before it was ready: cannot listen on {addr}: "
        )),
        "{line}"
    );
    assert!(line.to_lowercase().contains("in use"), "{line}");
    drop(taken);

    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let pidfile = sb.path("d.pid");
    let bind = format!("bind:{addr}");
    let (_, pid) = sb.service_ok(
        &pidfile,
        &["--pidfile", s(&pidfile), "--before-ready", &bind],
    );
    // Ready means listening: the connection is accepted into the daemon's backlog.
    TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr} after ready: {e}"));
    assert!(alive(pid));
}

#[test]
fn a_daemon_that_never_calls_ready_is_stopped_after_the_timeout() {
    let sb = Sandbox::new("ready-timeout");
    let pidfile = sb.path("d.pid");
    let start = sb.service(&[
        "--pidfile",
        s(&pidfile),
        "--before-ready",
        "hang",
        "--ready-timeout-ms",
        "300",
    ]);
    assert_eq!(start.code, Some(124), "{start:?}");
    let line = one_line(&start);
    let prefix = "service: daemon did not start: \
                  it did not call `daemon_rt::ready()` within 0.3 s; stopped it (PID ";
    let pid = line
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|pid| pid.parse().ok())
        .map(Pid::from_raw)
        .unwrap_or_else(|| panic!("unexpected message: {line}"));
    // The daemon re-parented to this test (the subreaper): reaping it proves it is gone.
    assert_eq!(
        sb.wait_exit(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    nothing_left(&sb, &pidfile);
}

// Graceful stop.

#[test]
fn a_listening_daemon_stops_cleanly_on_sigterm_and_sigint() {
    let sb = Sandbox::new("graceful");
    let cases = [
        ("poll", Signal::SIGTERM),
        ("wait", Signal::SIGTERM),
        ("fd", Signal::SIGTERM),
        ("poll", Signal::SIGINT),
    ];
    for (i, (mode, signal)) in cases.into_iter().enumerate() {
        let pidfile = sb.path(&format!("{i}.pid"));
        let log = sb.path(&format!("{i}.log"));
        let args = [
            "--pidfile",
            s(&pidfile),
            "--stdout",
            s(&log),
            "--listen",
            mode,
        ];
        let (_, pid) = sb.service_ok(&pidfile, &args);
        wait_listening(pid);
        assert_eq!(
            sb.stop(pid, signal),
            WaitStatus::Exited(pid, 0),
            "--listen {mode}, {signal}"
        );
        let text = fs::read_to_string(&log).unwrap();
        assert!(
            text.ends_with("stop requested\n"),
            "--listen {mode}, {signal}: {text:?}"
        );
        assert!(
            !pidfile.exists(),
            "--listen {mode}, {signal}: PID file left"
        );
    }
}

#[test]
fn a_daemon_that_does_not_listen_is_ended_by_the_stop_signal() {
    let sb = Sandbox::new("ungraceful");
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let pidfile = sb.path(&format!("{}.pid", signal.as_str()));
        let (_, pid) = sb.service_ok(&pidfile, &["--pidfile", s(&pidfile)]);
        assert_eq!(
            sb.stop(pid, signal),
            WaitStatus::Signaled(pid, signal, false)
        );
        assert!(!pidfile.exists(), "{signal}: PID file left");
    }
}

// Log reopening.

#[test]
fn sighup_reopens_the_log_and_no_line_is_lost_or_doubled() {
    let sb = Sandbox::new("reopen-hup");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let rotated = sb.path("out.log.1");
    let args = [
        "--pidfile",
        s(&pidfile),
        "--stdout",
        s(&log),
        "--listen",
        "poll",
        "--lines",
    ];
    let (_, pid) = sb.service_ok(&pidfile, &args);
    let umask = u32::from_str_radix(&status(pid)["Umask"], 8).unwrap();
    wait_until("the log has lines", WAIT, || count_lines(&log) >= 10);

    // logrotate's way: rename, then signal.
    fs::rename(&log, &rotated).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    wait_until("a new log has lines", WAIT, || count_lines(&log) >= 10);

    let frozen = size(&rotated);
    let before = size(&log);
    let window = Instant::now();
    wait_until("the new log grows", WAIT, || size(&log) > before);
    // A window of at least 200 ms in which a write to the old file would show.
    std::thread::sleep(Duration::from_millis(200).saturating_sub(window.elapsed()));
    assert!(size(&log) > before, "the new log stopped growing");
    assert_eq!(
        size(&rotated),
        frozen,
        "the rotated log was written after the new one got lines"
    );

    assert_eq!(sb.stop(pid, Signal::SIGTERM), WaitStatus::Exited(pid, 0));
    let old = line_numbers(&rotated);
    let new = line_numbers(&log);
    assert!(!old.is_empty() && !new.is_empty(), "{old:?} {new:?}");
    let all: Vec<u64> = old.iter().chain(&new).copied().collect();
    if let Some(at) = (0..all.len()).find(|&i| all[i] != i as u64 + 1) {
        let around = &all[at.saturating_sub(3)..(at + 3).min(all.len())];
        panic!(
            "line {} is followed by {around:?} (rotated log ends at line {:?})",
            at,
            old.last()
        );
    }
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .ends_with("stop requested\n")
    );

    let mode = fs::metadata(&log).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        mode,
        0o640 & !umask,
        "new log mode {mode:o}, umask {umask:o}"
    );
}

#[test]
fn the_reopen_signal_can_be_changed_or_left_alone() {
    let sb = Sandbox::new("reopen-usr1");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");

    let args = ["--pidfile", s(&pidfile), "--stdout", s(&log)];
    let (_, pid) = sb.service_ok(&pidfile, &[&args[..], &["--reopen-on", "none"]].concat());
    // `None` reopens nothing, but SIGHUP stays a reload request: it never ends the daemon.
    assert!(catches(pid, Signal::SIGHUP), "SIGHUP is not caught");
    fs::rename(&log, sb.path("out.log.0")).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "SIGHUP ended the daemon");
    assert!(!log.exists(), "the log was reopened");
    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );

    let (_, pid) = sb.service_ok(&pidfile, &[&args[..], &["--reopen-on", "usr1"]].concat());
    assert!(catches(pid, Signal::SIGUSR1), "SIGUSR1 is not caught");
    assert!(catches(pid, Signal::SIGHUP), "SIGHUP is not caught");
    fs::rename(&log, sb.path("out.log.1")).unwrap();
    kill(pid, Signal::SIGUSR1).unwrap();
    // The handler creates the new file, then moves it onto stdout.
    wait_until("SIGUSR1 moved stdout onto a new log", WAIT, || {
        fds(pid)[&1] == log
    });
    assert!(log.exists() && alive(pid));
}

// Privileges.

#[test]
fn the_daemon_runs_as_the_user_and_cannot_rewrite_its_pidfile() {
    if !is_root() {
        eprintln!("skipped: needs root, to run the daemon as user nobody");
        return;
    }
    let sb = Sandbox::new("user");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let args = [
        "--user",
        "nobody",
        "--pidfile",
        s(&pidfile),
        "--stdout",
        s(&log),
        "--try-setuid0",
    ];
    let (_, pid) = sb.service_ok(&pidfile, &args);

    let st = status(pid);
    for field in ["Uid", "Gid"] {
        let ids: Vec<&str> = st[field].split_whitespace().collect();
        assert_eq!(ids, ["65534"; 4], "{field}: {}", st[field]);
    }
    assert_eq!(st["Groups"], "", "supplementary groups kept");
    wait_until("the log says whether setuid(0) works", WAIT, || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("setuid(0)"))
    });
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("setuid(0) failed: EPERM\n"), "{text:?}");

    let meta = fs::symlink_metadata(&pidfile).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));
    let on_pidfile: Vec<i32> = fds(pid)
        .into_iter()
        .filter(|(_, target)| *target == pidfile)
        .map(|(fd, _)| fd)
        .collect();
    assert!(
        !on_pidfile.is_empty(),
        "the daemon does not hold its PID file"
    );
    for fd in on_pidfile {
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        assert_eq!(flags & 3, 0, "fd {fd} on the PID file is writable: {info}");
    }

    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    // nobody cannot unlink in this root-owned directory: the file stays, unlocked.
    assert!(pidfile.exists(), "precondition: the PID file stays");
    let st = sb.service(&["status", "--control", "--pidfile", s(&pidfile)]);
    assert_eq!(st.code, Some(1), "{st:?}");
    assert!(
        st.stdout.contains("not running") && st.stdout.contains("stale"),
        "{st:?}"
    );
    let (_, again) = sb.service_ok(&pidfile, &args);
    assert_ne!(again, pid);
    assert!(alive(again));
    sb.stop(again, Signal::SIGKILL);
}

#[test]
fn an_unknown_user_is_refused_before_anything_starts() {
    let sb = Sandbox::new("no-user");
    assert_eq!(
        fails(&sb, &["--user", "no-such-user-xyz"], 67),
        "service: unknown user `no-such-user-xyz`: no such user"
    );
}

#[test]
fn only_root_can_ask_for_another_user() {
    let sb = Sandbox::new("not-root");
    // As root, the starting command runs as nobody; otherwise as the test's own user.
    let (uid, gid) = if is_root() {
        (65534, 65534)
    } else {
        (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    };
    let start = sb.run(SERVICE, &["--user", "root"], |cmd| {
        cmd.arg("--tag").arg(sb.dir());
        if is_root() {
            cmd.uid(uid).gid(gid);
        }
    });
    assert_eq!(start.code, Some(77), "{start:?}");
    assert_eq!(
        one_line(&start),
        format!(
            "service: cannot drop privileges: only root can run a daemon as UID 0 GID 0; \
             this process runs as UID {uid} GID {gid}"
        )
    );
    assert!(sb.leftovers().is_empty());
}

#[test]
fn the_daemon_runs_inside_its_chroot() {
    if !is_root() {
        eprintln!("skipped: needs root, for chroot(2)");
        return;
    }
    let sb = Sandbox::new("chroot-inside");
    let root = sb.path("root");
    fs::create_dir(&root).unwrap();
    let pidfile = sb.path("d.pid");
    let (_, pid) = sb.service_ok(&pidfile, &["--chroot", s(&root), "--pidfile", s(&pidfile)]);
    assert_eq!(fs::read_link(format!("/proc/{pid}/root")).unwrap(), root);
    assert_eq!(fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), root);
    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
}

#[test]
fn a_missing_chroot_directory_is_refused() {
    let sb = Sandbox::new("chroot-absent");
    let missing = sb.path("missing");
    assert_eq!(
        fails(&sb, &["--chroot", s(&missing)], 66),
        format!(
            "service: cannot change root to `{}`: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

// Control commands.

#[test]
fn control_commands_answer_as_an_init_script_does() {
    let sb = Sandbox::new("control-cmds");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let ctl = |command: &str| {
        sb.service(&[
            command,
            "--control",
            "--pidfile",
            s(&pidfile),
            "--stdout",
            s(&log),
        ])
    };
    let answer = |start: &Start| (start.code, start.stdout.clone(), start.stderr.clone());
    let out = |code: i32, line: String| (Some(code), line, String::new());

    let start = ctl("start");
    assert_eq!(answer(&start), out(0, String::new()));
    let pid = read_pid(&pidfile).expect("no PID after start");
    sb.track(pid);
    assert!(alive(pid));

    assert_eq!(
        answer(&ctl("status")),
        out(0, format!("service: running as PID {pid}\n"))
    );

    // reload sends SIGHUP, which reopens the log: the daemon makes a new one and lives on.
    fs::rename(&log, sb.path("out.log.1")).unwrap();
    assert_eq!(
        answer(&ctl("reload")),
        out(0, format!("service: sent SIGHUP to PID {pid}\n"))
    );
    wait_until("reload made a new log", WAIT, || log.exists());
    assert!(alive(pid), "reload ended the daemon");

    assert_eq!(
        answer(&ctl("stop")),
        out(0, format!("service: stopped (PID {pid})\n"))
    );
    assert_eq!(
        sb.wait_exit(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists());
    assert_eq!(
        answer(&ctl("status")),
        out(3, "service: not running\n".into())
    );
    assert_eq!(
        answer(&ctl("stop")),
        out(0, "service: not running\n".into())
    );

    assert_eq!(answer(&ctl("restart")), out(0, String::new()));
    let first = read_pid(&pidfile).expect("no PID after restart");
    sb.track(first);
    assert!(alive(first));

    assert_eq!(
        answer(&ctl("restart")),
        out(0, format!("service: stopped (PID {first})\n"))
    );
    let second = read_pid(&pidfile).expect("no PID after the second restart");
    sb.track(second);
    assert_ne!(second, first);
    assert_eq!(
        sb.wait_exit(first),
        WaitStatus::Signaled(first, Signal::SIGTERM, false)
    );
    assert!(alive(second));

    assert_eq!(
        answer(&ctl("bogus")),
        (
            Some(2),
            String::new(),
            "usage: service start|stop|status|restart|reload\n".into()
        )
    );
    assert!(alive(second), "a usage error touched the daemon");
    assert_eq!(ctl("stop").code, Some(0));
    assert_eq!(
        sb.wait_exit(second),
        WaitStatus::Signaled(second, Signal::SIGTERM, false)
    );
}

#[test]
fn print_pid_prints_the_daemon_pid() {
    let sb = Sandbox::new("print-pid");
    let pidfile = sb.path("d.pid");
    let (start, pid) = sb.service_ok(&pidfile, &["--print-pid", "--pidfile", s(&pidfile)]);
    assert_eq!(start.stdout, format!("{pid}\n"));
    assert_eq!(start.stdout, fs::read_to_string(&pidfile).unwrap());
    assert!(alive(pid));
}

#[test]
fn control_never_signals_a_pid_that_does_not_hold_the_lock() {
    let sb = Sandbox::new("control-stale");
    let pidfile = sb.path("d.pid");
    let bystander = Child::sleep();
    let victim = bystander.pid();
    let ctl = |command: &str| sb.service(&[command, "--control", "--pidfile", s(&pidfile)]);

    // A stale file: unlocked, naming a live process that is not the daemon.
    fs::write(&pidfile, format!("{victim}\n")).unwrap();
    let st = ctl("status");
    assert_eq!(st.code, Some(1), "{st:?}");
    assert_eq!(
        st.stdout,
        format!(
            "service: not running, but PID file `{}` exists (stale, PID {victim})\n",
            pidfile.display()
        )
    );
    let st = ctl("stop");
    assert_eq!(
        (st.code, st.stdout.as_str()),
        (Some(0), "service: not running\n")
    );
    let st = ctl("reload");
    assert_eq!(
        (st.code, st.stderr.as_str()),
        (Some(7), "service: not running\n")
    );
    assert!(bystander.still_alive(), "the bystander was signalled");

    // A file locked by someone (this test) but naming a process that does not hold it.
    let lock = fs::File::open(&pidfile).unwrap();
    lock.lock().unwrap();
    for command in ["stop", "reload"] {
        let st = ctl(command);
        assert_eq!(st.code, Some(1), "{command}: {st:?}");
        assert!(
            one_line(&st).contains(&format!(
                "PID {victim} written in the file does not hold it open"
            )),
            "{command}: {st:?}"
        );
    }
    assert!(bystander.still_alive(), "the bystander was signalled");
}
