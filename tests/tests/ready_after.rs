//! `ready = "300ms"` (`Ready::After`), with the `after` fixture: the start succeeds only if the
//! daemon still runs 300 ms after its steps; an end before then fails it with how the daemon
//! ended and, when it has a log file, that file's last line. Checked from outside: the
//! starting command's exit status, its one stderr line, the PID file, `/proc/<pid>`.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use support::{Sandbox, Start, alive, one_line, read_pid, s, wait_until};

const AFTER: &str = env!("CARGO_BIN_EXE_after");

/// The fixture's `ready` time.
const PERIOD: Duration = Duration::from_millis(300);

/// Runs the fixture with `args` and its tag; returns what it did and how long it took.
fn after(sb: &Sandbox, args: &[&str]) -> (Start, Duration) {
    let began = Instant::now();
    let start = sb.run(AFTER, &[args, &["--tag", s(sb.dir())]].concat(), |_| {});
    (start, began.elapsed())
}

/// Runs the fixture with `--then then` and its stderr in `log`: the start must fail with
/// status 69. Returns its one stderr line.
fn fails_logged(sb: &Sandbox, pidfile: &Path, log: &Path, then: &str) -> String {
    let (start, _) = after(
        sb,
        &["--pidfile", s(pidfile), "--stderr", s(log), "--then", then],
    );
    assert_eq!(start.code, Some(69), "{start:?}");
    one_line(&start).to_owned()
}

/// The line of a daemon that ended (`how`: "exited with status 3") within the fixture's
/// time, then `rest`: what it says of the logs and what it stopped.
fn ended_early(how: &str, rest: &str) -> String {
    format!(
        "after: daemon did not start: the daemon {how} within the 0.3 s it had to stay up{rest}"
    )
}

/// A failed start left nothing behind: no process of the sandbox, no PID file.
fn nothing_left(sb: &Sandbox, pidfile: &Path) {
    let left = sb.leftovers();
    assert!(left.is_empty(), "processes left at return: {left:?}");
    assert!(!pidfile.exists(), "a PID file was left behind");
}

#[test]
fn a_daemon_still_running_after_the_time_is_up_is_started() {
    let sb = Sandbox::new("after-up");
    let pidfile = sb.path("d.pid");
    let (start, took) = after(&sb, &["--pidfile", s(&pidfile)]);
    assert_eq!(start.code, Some(0), "{start:?}");
    assert_eq!(start.stderr, "", "{start:?}");
    assert!(
        took >= PERIOD,
        "returned after {took:?}, before the {PERIOD:?}"
    );
    let pid = read_pid(&pidfile).expect("a PID in the PID file");
    sb.track(pid);
    assert!(alive(pid), "the daemon is gone");
    assert_eq!(sb.stop(pid, Signal::SIGTERM), WaitStatus::Exited(pid, 0));
    assert!(!pidfile.exists(), "the PID file stays after the stop");
}

#[test]
fn an_exit_within_the_time_fails_the_start_and_quotes_the_log() {
    let sb = Sandbox::new("after-exit");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    fs::write(&log, "a line of an earlier run\n").unwrap();
    assert_eq!(
        fails_logged(&sb, &pidfile, &log, "exit:3"),
        ended_early(
            "exited with status 3",
            &format!("; {} ends: \"exiting with 3\"", log.display())
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_body_error_within_the_time_gives_its_message_and_the_log() {
    let sb = Sandbox::new("after-err");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    // Rust's `main` prints the returned error on stderr, the log: its last line.
    assert_eq!(
        fails_logged(&sb, &pidfile, &log, "fail"),
        format!(
            "after: daemon failed before it was ready: cannot listen on 127.0.0.1:7: Address \
             already in use; {} ends: \"Error: \"cannot listen on 127.0.0.1:7: Address already \
             in use\"\"",
            log.display()
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_program_the_daemon_execs_is_watched_too() {
    // As a command-line daemonizer does: the steps, then `exec`, which closes the readiness
    // pipe. The program's end is still seen, and its last line quoted.
    let sb = Sandbox::new("after-exec-dies");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    let then = "exec:echo 'Error: Address in use (os error 98)' >&2; exit 1";
    assert_eq!(
        fails_logged(&sb, &pidfile, &log, then),
        ended_early(
            "exited with status 1",
            &format!(
                "; {} ends: \"Error: Address in use (os error 98)\"",
                log.display()
            )
        )
    );
    nothing_left(&sb, &pidfile);

    // One that stays up is started, with its PID (the same process) in the PID file.
    let (start, _) = after(
        &sb,
        &["--pidfile", s(&pidfile), "--then", "exec:exec sleep 30"],
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("a PID in the PID file");
    sb.track(pid);
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with(b"sleep\x0030"), "{cmdline:?}");
    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
}

#[test]
fn without_a_log_file_the_line_says_how_it_ended_and_nothing_more() {
    let sb = Sandbox::new("after-nolog");
    let pidfile = sb.path("d.pid");
    let (start, _) = after(
        &sb,
        &["--pidfile", s(&pidfile), "--then", "exec:kill -9 $$"],
    );
    assert_eq!(start.code, Some(69), "{start:?}");
    assert_eq!(one_line(&start), ended_early("was killed by SIGKILL", ""));
    nothing_left(&sb, &pidfile);

    // A log it wrote nothing to this time is named, and not quoted from.
    let log = sb.path("err.log");
    fs::write(&log, "Error: from an earlier run\n").unwrap();
    assert_eq!(
        fails_logged(&sb, &pidfile, &log, "exec:exit 2"),
        ended_early(
            "exited with status 2",
            &format!("; nothing new in {}", log.display())
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_time_longer_than_ready_timeout_is_refused() {
    let sb = Sandbox::new("after-long");
    let pidfile = sb.path("d.pid");
    let (start, _) = after(
        &sb,
        &["--pidfile", s(&pidfile), "--ready-timeout-ms", "100"],
    );
    assert_eq!(start.code, Some(78), "{start:?}");
    assert_eq!(
        one_line(&start),
        "after: invalid configuration: `ready` waits 0.3 s, longer than `ready_timeout` (0.1 s)"
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn sigterm_to_the_starting_command_while_it_watches_stops_the_daemon() {
    let sb = Sandbox::new("after-term");
    let pidfile = sb.path("d.pid");
    let child = Command::new(AFTER)
        .args(["--pidfile", s(&pidfile), "--tag", s(sb.dir())])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let starter = Pid::from_raw(child.id() as i32);
    // The PID is written by the steps, before the time starts.
    wait_until("the PID file holds the PID", || {
        read_pid(&pidfile).is_some()
    });
    let daemon = read_pid(&pidfile).unwrap();
    sb.track(daemon);
    kill(starter, Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(out.status.signal(), Some(libc_sigterm()), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "after: daemon did not start: the start was interrupted by SIGTERM before the \
             daemon was ready; stopped it (PID {daemon})\n"
        )
    );
    assert!(!alive(daemon), "the daemon still runs");
    nothing_left(&sb, &pidfile);
}

fn libc_sigterm() -> i32 {
    Signal::SIGTERM as i32
}

#[test]
fn a_manual_daemon_that_fails_before_ready_points_at_its_log_too() {
    // `ready = "manual"` (the service fixture): an `Err` from `main`, which Rust's `main`
    // also prints on stderr, the log.
    let sb = Sandbox::new("manual-log");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    let start = sb.service(&[
        "--pidfile",
        s(&pidfile),
        "--stderr",
        s(&log),
        "--before-ready",
        "fail",
    ]);
    assert_eq!(start.code, Some(69), "{start:?}");
    assert_eq!(
        one_line(&start),
        format!(
            "service: daemon failed before it was ready: cannot load the configuration: line 3 \
             is broken; {} ends: \"Error: \"cannot load the configuration: line 3 is broken\"\"",
            log.display()
        )
    );
    nothing_left(&sb, &pidfile);

    // An exit before `ready()` that wrote nothing there: the file is named, nothing quoted.
    let start = sb.service(&[
        "--pidfile",
        s(&pidfile),
        "--stderr",
        s(&log),
        "--before-ready",
        "exit",
    ]);
    assert_eq!(start.code, Some(69), "{start:?}");
    assert_eq!(
        one_line(&start),
        format!(
            "service: daemon failed before it was ready: the daemon exited before it called \
             `daemon_rt::ready()`; nothing new in {}",
            log.display()
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_log_swapped_for_a_symlink_is_not_followed_to_another_file() {
    // The daemon (often another user than the starter, which may be root) replaces its log
    // by a symlink to a file it cannot read, then fails: the starter must not print that
    // file's last line.
    let sb = Sandbox::new("after-log-symlink");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    let secret = sb.path("secret");
    fs::write(&secret, "root:TOPSECRET:19000\n").unwrap();
    let cmd = format!(
        "echo 'Error: the real reason' >&2; mv {log} {log}.old; ln -s {secret} {log}; exit 1",
        log = log.display(),
        secret = secret.display()
    );
    let line = fails_logged(&sb, &pidfile, &log, &format!("exec:{cmd}"));
    assert!(!line.contains("TOPSECRET"), "another file quoted: {line}");
    assert_eq!(
        line,
        ended_early(
            "exited with status 1",
            &format!(
                "; {} was replaced since the start opened it: not quoted",
                log.display()
            )
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_log_swapped_for_a_fifo_does_not_hang_the_starter() {
    let sb = Sandbox::new("after-log-fifo");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    let cmd = format!(
        "echo 'Error: the real reason' >&2; rm {log}; mkfifo {log}; exit 1",
        log = log.display()
    );
    let args = [
        "--pidfile",
        s(&pidfile),
        "--stderr",
        s(&log),
        "--then",
        &format!("exec:{cmd}"),
        "--tag",
        s(sb.dir()),
    ];
    let (_, out) = sb
        .run_within(AFTER, &args, support::NO_HANG, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(69), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.ends_with(&format!(
            "; {} was replaced since the start opened it: not quoted\n",
            log.display()
        )),
        "{stderr}"
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn what_a_daemon_that_ended_within_the_time_left_running_is_stopped() {
    // A program that daemonizes itself (forks, and its first process exits 0) under a
    // daemonizer: the start fails, and must not leave the real server running without its
    // PID file. Once as a plain background child, once forked twice into its own session.
    for (name, cmd) in [
        ("child", "sleep 60 & echo \"bg=$!\" >&2; exit 0"),
        (
            "setsid",
            "(setsid sleep 60 & echo \"bg=$!\" >&2; sleep 0.05); exit 0",
        ),
    ] {
        let sb = Sandbox::new(&format!("after-left-{name}"));
        let pidfile = sb.path("d.pid");
        let log = sb.path("err.log");
        let (start, _) = after(
            &sb,
            &[
                "--pidfile",
                s(&pidfile),
                "--stderr",
                s(&log),
                "--then",
                &format!("exec:{cmd}"),
            ],
        );
        let text = fs::read_to_string(&log).unwrap();
        let bg: i32 = text
            .lines()
            .find_map(|l| l.strip_prefix("bg="))
            .expect("the background PID in the log")
            .parse()
            .unwrap();
        let bg = Pid::from_raw(bg);
        let running = alive(bg);
        if running {
            let _ = kill(bg, Signal::SIGKILL);
        }
        assert_eq!(start.code, Some(69), "{name}: {start:?}");
        assert!(!running, "{name}: PID {bg} left running: {start:?}");
        assert_eq!(
            one_line(&start),
            ended_early(
                "exited with status 0",
                &format!(
                    "; stopped PID {bg}, which it left running; {} ends: \"bg={bg}\"",
                    log.display()
                )
            ),
            "{name}"
        );
        nothing_left(&sb, &pidfile);
    }
}

#[test]
fn without_pidfd_open_the_watch_looks_every_few_milliseconds() {
    // Linux before 5.3, or a seccomp filter that refuses pidfd_open(2) with ENOSYS.
    let Some(shim) = support::build_shim("nopidfd") else {
        return;
    };
    let sb = Sandbox::new("after-nopidfd");
    let pidfile = sb.path("d.pid");
    let mark = sb.path("refused");
    let run = |then: &str| {
        let began = Instant::now();
        let start = sb.run(
            AFTER,
            &[
                "--pidfile",
                s(&pidfile),
                "--then",
                then,
                "--tag",
                s(sb.dir()),
            ],
            |cmd| {
                cmd.env("LD_PRELOAD", &shim).env("NOPIDFD_MARK", &mark);
            },
        );
        (start, began.elapsed())
    };
    // An end is still seen, and told.
    let (start, took) = run("exec:sleep 0.1; exit 4");
    assert!(
        mark.exists(),
        "pidfd_open was not refused: the shim did not load"
    );
    assert_eq!(start.code, Some(69), "{start:?}");
    assert_eq!(one_line(&start), ended_early("exited with status 4", ""));
    assert!(took < Duration::from_secs(2), "seen after {took:?}");
    nothing_left(&sb, &pidfile);
    // A daemon that stays is up after the time, not before.
    let (start, took) = run("wait");
    assert_eq!(start.code, Some(0), "{start:?}");
    assert!(took >= PERIOD, "up after {took:?}");
    let pid = read_pid(&pidfile).expect("a PID in the PID file");
    sb.track(pid);
    assert_eq!(sb.stop(pid, Signal::SIGTERM), WaitStatus::Exited(pid, 0));
}

#[test]
fn a_log_named_through_a_symlink_is_quoted() {
    // /var/log/app.log -> /data/logs/app.log: the link was there at the open, and still leads
    // to the file the start opened.
    let sb = Sandbox::new("after-log-link");
    let pidfile = sb.path("d.pid");
    let real = sb.path("real.log");
    let link = sb.path("err.log");
    fs::write(&real, "a line of an earlier run\n").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_eq!(
        fails_logged(&sb, &pidfile, &link, "exit:5"),
        ended_early(
            "exited with status 5",
            &format!("; {} ends: \"exiting with 5\"", link.display())
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_log_truncated_during_the_start_is_quoted_from_its_new_start() {
    // logrotate's copytruncate, or an operator's `: > log`, while the daemon starts: what it
    // writes after that is this start's, though the file is shorter than at the open.
    let sb = Sandbox::new("after-log-truncated");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    fs::write(&log, format!("{}\n", "an earlier run's line ".repeat(50))).unwrap();
    let cmd = format!(
        ": > {log}; echo 'Error: after the truncation' >&2; exit 1",
        log = log.display()
    );
    assert_eq!(
        fails_logged(&sb, &pidfile, &log, &format!("exec:{cmd}")),
        ended_early(
            "exited with status 1",
            &format!("; {} ends: \"Error: after the truncation\"", log.display())
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn ctrl_c_while_it_watches_stops_what_the_daemon_started_too() {
    let sb = Sandbox::new("after-int-left");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    let child = Command::new(AFTER)
        .args([
            "--pidfile",
            s(&pidfile),
            "--stderr",
            s(&log),
            "--then",
            "exec:sleep 60 & echo \"bg=$!\" >&2; wait",
            "--tag",
            s(sb.dir()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let starter = Pid::from_raw(child.id() as i32);
    let bg = || {
        fs::read_to_string(&log)
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("bg=")?.parse::<i32>().ok())
    };
    wait_until("the background PID is in the log", || bg().is_some());
    let bg = Pid::from_raw(bg().unwrap());
    let daemon = read_pid(&pidfile).expect("a PID in the PID file");
    sb.track(daemon);
    kill(starter, Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let running = alive(bg);
    if running {
        let _ = kill(bg, Signal::SIGKILL);
    }
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(out.status.signal(), Some(Signal::SIGINT as i32), "{out:?}");
    assert!(
        !running,
        "PID {bg}, the daemon's child, left running: {out:?}"
    );
    assert!(!alive(daemon), "the daemon still runs");
    nothing_left(&sb, &pidfile);
}

#[test]
fn children_that_ignore_sigterm_are_stopped_together_not_one_after_another() {
    // Three children that ignore SIGTERM, each with a child that ignores it too: each needs
    // the 5 s grace, then SIGKILL. One after another that was 30 s of a start that had
    // already failed; together it is one grace per generation, 10 s.
    let sb = Sandbox::new("after-left-stubborn");
    let pidfile = sb.path("d.pid");
    let cmd = "for i in 1 2 3; do sh -c 'trap \"\" TERM; sleep 60' & done; sleep 0.05; exit 0";
    let (start, took) = after(
        &sb,
        &["--pidfile", s(&pidfile), "--then", &format!("exec:{cmd}")],
    );
    assert_eq!(start.code, Some(69), "{start:?}");
    assert!(one_line(&start).contains("; stopped PIDs "), "{start:?}");
    assert!(took < Duration::from_secs(15), "the stop took {took:?}");
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_quoted_line_cannot_reorder_or_hide_the_rest_of_the_line() {
    // Terminal escapes, a NUL, and the Unicode controls that reorder text on screen (U+202E
    // RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE) or hide it (U+200B ZERO WIDTH
    // SPACE): all written as escapes.
    let sb = Sandbox::new("after-log-bidi");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    let cmd = r"printf 'Error: \033[8mhidden\000 \342\200\256desrever \342\201\246x\342\200\213y\n' >&2; exit 1";
    assert_eq!(
        fails_logged(&sb, &pidfile, &log, &format!("exec:{cmd}")),
        ended_early(
            "exited with status 1",
            &format!(
                "; {} ends: \"Error: \\x1b[8mhidden\\x00 \\u{{202e}}desrever \
                 \\u{{2066}}x\\u{{200b}}y\"",
                log.display()
            )
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn a_reason_written_to_stdout_is_quoted_when_stderr_has_nothing_new() {
    // Many programs print their errors with `println!` or `echo`: with separate files, the
    // stderr file had nothing new, and the line said only that.
    let sb = Sandbox::new("after-log-stdout");
    let pidfile = sb.path("d.pid");
    let out = sb.path("out.log");
    let err = sb.path("err.log");
    let (start, _) = after(
        &sb,
        &[
            "--pidfile",
            s(&pidfile),
            "--stdout",
            s(&out),
            "--stderr",
            s(&err),
            "--then",
            "exec:echo 'fatal: no such table: users'; exit 1",
        ],
    );
    assert_eq!(start.code, Some(69), "{start:?}");
    assert_eq!(
        one_line(&start),
        ended_early(
            "exited with status 1",
            &format!(
                "; nothing new in {}; {} ends: \"fatal: no such table: users\"",
                err.display(),
                out.display()
            )
        )
    );
    nothing_left(&sb, &pidfile);
}

#[test]
fn the_quote_is_the_daemons_last_line_not_what_its_stopped_children_said() {
    // A worker that logs its own shutdown: stopped after the daemon ended, its line must not
    // take the place of the daemon's reason.
    let sb = Sandbox::new("after-left-quote");
    let pidfile = sb.path("d.pid");
    let log = sb.path("err.log");
    let cmd = "sh -c 'trap \"echo worker: shutting down >&2; exit 0\" TERM; while :; do sleep 0.01; done' & \
               sleep 0.05; echo 'Error: the real reason' >&2; exit 1";
    let line = fails_logged(&sb, &pidfile, &log, &format!("exec:{cmd}"));
    assert!(line.contains("; stopped PID "), "{line}");
    assert!(
        line.ends_with(&format!(
            "; {} ends: \"Error: the real reason\"",
            log.display()
        )),
        "{line}"
    );
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("worker: shutting down"),
        "the worker was not stopped by SIGTERM: {text}"
    );
    nothing_left(&sb, &pidfile);
}
