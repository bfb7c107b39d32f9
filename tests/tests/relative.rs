//! Relative paths: the path options are resolved against the directory the start ran in,
//! `working_directory = "."` keeps that directory, and a program whose own arguments are
//! relative paths is warned, once, when the daemon is about to leave for `/`. Checked from
//! outside: the PID file and the log where the start ran, `/proc/<pid>/cwd`, the starting
//! command's stderr.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use support::{SERVICE, Sandbox, Start, read_pid, s, wait_until};

const AFTER: &str = env!("CARGO_BIN_EXE_after");

/// Runs `program` with `args` and the sandbox's tag, in the directory `dir`.
fn run_in(sb: &Sandbox, dir: &Path, program: &str, args: &[&str]) -> Start {
    let dir = dir.to_path_buf();
    sb.run(
        program,
        &[args, &["--tag", s(sb.dir())]].concat(),
        move |cmd| {
            cmd.current_dir(dir);
        },
    )
}

fn cwd(pid: nix::unistd::Pid) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/cwd")).unwrap()
}

fn count_lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.matches("line ").count())
}

#[test]
fn relative_path_options_name_files_where_the_start_ran_and_sighup_reopens_them() {
    let sb = Sandbox::new("relative-options");
    let start = run_in(
        &sb,
        sb.dir(),
        SERVICE,
        &[
            "--pidfile",
            "d.pid",
            "--stdout",
            "out.log",
            "--listen",
            "poll",
            "--lines",
        ],
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    // The values of path options are the start's to resolve: no warning about them.
    assert_eq!(start.stderr, "", "{start:?}");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let pid = read_pid(&pidfile).expect("the PID file where the start ran");
    sb.track(pid);
    assert_eq!(cwd(pid), Path::new("/"));
    wait_until("the log has lines", || count_lines(&log) >= 5);

    // logrotate's way, after the daemon changed to `/`: the same absolute file is reopened.
    let rotated = sb.path("out.log.1");
    fs::rename(&log, &rotated).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    wait_until("the reopened log has lines", || count_lines(&log) >= 5);
    assert!(!Path::new("/out.log").exists(), "the log was reopened in /");

    // The PID file, named relatively, is removed at the exit, from `/`.
    assert_eq!(sb.stop(pid, Signal::SIGTERM), WaitStatus::Exited(pid, 0));
    assert!(
        !pidfile.exists(),
        "the relative PID file stays after the exit"
    );
}

#[test]
fn working_directory_dot_keeps_the_starting_directory() {
    let sb = Sandbox::new("relative-dot");
    fs::create_dir(sb.path("site")).unwrap();
    let start = run_in(
        &sb,
        sb.dir(),
        AFTER,
        &["--pidfile", "d.pid", "--workdir", ".", "site"],
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    // Set, so the argument stays valid: no warning.
    assert_eq!(start.stderr, "", "{start:?}");
    let pid = read_pid(&sb.path("d.pid")).expect("a PID");
    sb.track(pid);
    assert_eq!(cwd(pid), sb.dir());
    assert_eq!(sb.stop(pid, Signal::SIGTERM), WaitStatus::Exited(pid, 0));
    assert!(!sb.path("d.pid").exists());
}

/// Starts the `after` fixture in the sandbox's directory with `args`, expects success, ends
/// the daemon, and returns the starting command's stderr.
fn warned(sb: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let pidfile = sb.path("d.pid");
    let start = run_in(
        sb,
        dir,
        AFTER,
        &[&["--pidfile", s(&pidfile)], args].concat(),
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("a PID");
    sb.track(pid);
    assert_eq!(sb.stop(pid, Signal::SIGTERM), WaitStatus::Exited(pid, 0));
    start.stderr
}

#[test]
fn a_relative_argument_is_warned_about_once_when_the_daemon_leaves_for_root() {
    let sb = Sandbox::new("relative-warn");
    fs::create_dir(sb.path("site")).unwrap();
    fs::write(sb.path("site.conf"), "").unwrap();
    let dir = sb.dir().display().to_string();
    let line = |what: &str| {
        format!(
            "after: warning: argument \"site\"{what} is relative to {dir}, but the daemon runs \
             in / (set working_directory = \".\" to stay in {dir})\n"
        )
    };
    assert_eq!(warned(&sb, sb.dir(), &["site"]), line(""));
    // The value of `--flag=value` too; several make one line.
    assert_eq!(
        warned(
            &sb,
            sb.dir(),
            &["--root=site", "--config", "site.conf", "missing"]
        ),
        line(" (and 1 more)")
    );
}

#[test]
fn no_warning_with_a_working_directory_an_argument_naming_nothing_or_a_start_in_root() {
    let sb = Sandbox::new("relative-quiet");
    fs::create_dir(sb.path("site")).unwrap();
    // Given explicitly, even as `/`.
    assert_eq!(warned(&sb, sb.dir(), &["--workdir", "/", "site"]), "");
    // Relative, but naming nothing here: a name, not a path.
    assert_eq!(warned(&sb, sb.dir(), &["serve", "--port=8080"]), "");
    // Started in `/`: the daemon does not move.
    assert_eq!(warned(&sb, Path::new("/"), &["tmp"]), "");
}

#[test]
fn a_relative_path_to_a_file_the_program_will_create_here_is_warned_about() {
    // `--out=logs/today.log` with `logs/` here and no file yet: the daemon would look for
    // `/logs/` instead. A path with a slash counts when its directory is here.
    let sb = Sandbox::new("relative-new");
    fs::create_dir(sb.path("logs")).unwrap();
    let dir = sb.dir().display().to_string();
    let line = |arg: &str| {
        format!(
            "after: warning: argument \"{arg}\" is relative to {dir}, but the daemon runs in / \
             (set working_directory = \".\" to stay in {dir})\n"
        )
    };
    assert_eq!(
        warned(&sb, sb.dir(), &["--out=logs/today.log"]),
        line("logs/today.log")
    );
    assert_eq!(warned(&sb, sb.dir(), &["./new.log"]), line("./new.log"));
    // A word with a slash whose first part is not here stays a word (a MIME type, say).
    assert_eq!(warned(&sb, sb.dir(), &["text/html", "nowhere/x.log"]), "");
}
