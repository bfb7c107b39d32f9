//! Failed starts: one line on stderr naming what failed and where, a distinct exit status,
//! no process left behind, and no PID file left where the start had taken one.

mod support;

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::Path;

use support::{Sandbox, is_root};

/// Starts the fixture with `args` and a valid PID file unless `args` names one, and checks a
/// clean failure: exit `code`, one stderr line that starts with `prefix` (`{dir}` stands for
/// the sandbox) and contains `reason`, nothing running, no PID file left. Returns the sandbox
/// for further checks.
fn fails(
    name: &str,
    setup: impl FnOnce(&Sandbox) -> Vec<String>,
    code: i32,
    prefix: &str,
    reason: &str,
) -> Sandbox {
    let sb = Sandbox::new(name);
    let mut args = setup(&sb);
    let own_pidfile = sb.path("valid.pid");
    if !args.iter().any(|a| a == "--pidfile") {
        args.extend([
            "--pidfile".to_owned(),
            own_pidfile.to_str().unwrap().to_owned(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let start = sb.start(&args);
    let prefix = prefix.replace("{dir}", sb.dir().to_str().unwrap());

    assert_eq!(start.code, Some(code), "{name}: {start:?}");
    assert!(
        start.stderr.ends_with('\n') && start.stderr.lines().count() == 1,
        "{name}: {start:?}"
    );
    assert!(
        start.stderr.starts_with(&format!("fixture: {prefix}")),
        "{name}: {:?}",
        start.stderr
    );
    assert!(
        start.stderr.contains(reason),
        "{name}: {:?} lacks {reason:?}",
        start.stderr
    );
    assert!(start.stdout.is_empty(), "{name}: {start:?}");
    assert_eq!(
        sb.leftovers(),
        Vec::<u32>::new(),
        "{name}: processes left behind"
    );
    assert!(!own_pidfile.exists(), "{name}: a PID file was left behind");
    sb
}

fn s(p: impl AsRef<Path>) -> String {
    p.as_ref().to_str().unwrap().to_owned()
}

#[test]
fn a_symlinked_pidfile_is_refused_and_its_target_untouched() {
    let sb = fails(
        "symlink",
        |sb| {
            fs::write(sb.path("target"), "precious\n").unwrap();
            std::os::unix::fs::symlink(sb.path("target"), sb.path("link.pid")).unwrap();
            vec!["--pidfile".into(), s(sb.path("link.pid"))]
        },
        73,
        "cannot open pidfile `{dir}/link.pid`: ",
        "symbolic link",
    );
    assert_eq!(fs::read_to_string(sb.path("target")).unwrap(), "precious\n");
}

#[test]
fn a_directory_as_pidfile_is_refused() {
    fails(
        "pidfile-dir",
        |sb| {
            fs::create_dir(sb.path("dir.pid")).unwrap();
            vec!["--pidfile".into(), s(sb.path("dir.pid"))]
        },
        73,
        "cannot open pidfile `{dir}/dir.pid`: ",
        "it is a directory, not a regular file",
    );
}

#[test]
fn an_unreachable_pidfile_is_refused() {
    fails(
        "pidfile-unreachable",
        |sb| vec!["--pidfile".into(), s(sb.path("missing/d.pid"))],
        73,
        "cannot open pidfile `{dir}/missing/d.pid`: ",
        "No such file or directory",
    );
}

#[test]
fn a_hard_linked_pidfile_is_refused() {
    fails(
        "pidfile-hardlink",
        |sb| {
            fs::write(sb.path("other"), "").unwrap();
            fs::hard_link(sb.path("other"), sb.path("d.pid")).unwrap();
            vec!["--pidfile".into(), s(sb.path("d.pid"))]
        },
        73,
        "cannot open pidfile `{dir}/d.pid`: ",
        "2 hard links",
    );
}

#[test]
fn an_unwritable_log_path_is_refused() {
    fails(
        "log-missing-dir",
        |sb| vec!["--stdout".into(), s(sb.path("nodir/out.log"))],
        73,
        "cannot open stdout file `{dir}/nodir/out.log`: ",
        "No such file or directory",
    );
    fails(
        "log-is-dir",
        |sb| {
            fs::create_dir(sb.path("logs")).unwrap();
            vec!["--stderr".into(), s(sb.path("logs"))]
        },
        73,
        "cannot open stderr file `{dir}/logs`: ",
        "Is a directory",
    );
}

#[test]
fn a_missing_working_directory_is_refused() {
    fails(
        "workdir-missing",
        |sb| vec!["--workdir".into(), s(sb.path("gone"))],
        66,
        "cannot use working directory `{dir}/gone`: ",
        "No such file or directory",
    );
    fails(
        "workdir-file",
        |sb| {
            fs::write(sb.path("file"), "").unwrap();
            vec!["--workdir".into(), s(sb.path("file"))]
        },
        66,
        "cannot use working directory `{dir}/file`: ",
        "Not a directory",
    );
}

#[test]
fn a_missing_stdin_file_is_refused() {
    fails(
        "stdin-missing",
        |sb| vec!["--stdin".into(), s(sb.path("input"))],
        66,
        "cannot open stdin file `{dir}/input`: ",
        "No such file or directory",
    );
}

#[test]
fn invalid_option_values_are_refused() {
    fails(
        "umask",
        |_| vec!["--umask".into(), "1000".into()],
        78,
        "invalid configuration: ",
        "above 0o777",
    );
    fails(
        "fd-closed",
        |_| vec!["--preserve-fd".into(), "77".into()],
        78,
        "invalid configuration: ",
        "not open",
    );
    fails(
        "fd-stdio",
        |_| vec!["--preserve-fd".into(), "1".into()],
        78,
        "invalid configuration: ",
        "standard stream",
    );
}

#[test]
fn a_process_that_already_runs_threads_is_refused() {
    fails(
        "threads",
        |_| vec!["--spawn-thread".into()],
        70,
        "cannot daemonize: ",
        "daemonizing must happen before any thread or async runtime starts",
    );
}

#[test]
fn permission_denied_has_its_own_status() {
    if !is_root() {
        eprintln!("skipped: needs root, to run the fixture as user nobody");
        return;
    }
    let sb = Sandbox::new("eacces");
    // The sandbox is root's and not writable by others: nobody cannot create a file in it.
    let pidfile = sb.path("d.pid");
    let start = sb.start_with(&["--pidfile", pidfile.to_str().unwrap()], |cmd| {
        cmd.uid(65534).gid(65534);
    });
    assert_eq!(start.code, Some(77), "{start:?}");
    assert_eq!(
        start.stderr,
        format!(
            "fixture: cannot open pidfile `{}`: Permission denied (os error 13)\n",
            pidfile.display()
        )
    );
    assert!(!pidfile.exists());
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_failure_inside_the_daemon_reaches_the_starting_command() {
    if !is_root() {
        eprintln!("skipped: needs root, to run the fixture as user nobody");
        return;
    }
    // nobody can stat the directory (the starter's check passes) but not enter it: chdir
    // fails in the daemon, after both forks, and only the pipe can carry that back.
    let sb = Sandbox::new("daemon-side");
    let locked = sb.path("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let log_dir = sb.path("logs");
    fs::create_dir(&log_dir).unwrap();
    std::os::unix::fs::chown(&log_dir, Some(65534), Some(65534)).unwrap();
    let pidfile = log_dir.join("d.pid");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--workdir",
        locked.to_str().unwrap(),
    ];
    let start = sb.start_with(&args, |cmd| {
        cmd.uid(65534).gid(65534);
    });
    assert_eq!(start.code, Some(77), "{start:?}");
    assert_eq!(
        start.stderr,
        format!(
            "fixture: cannot change directory to `{}`: Permission denied (os error 13)\n",
            locked.display()
        )
    );
    assert!(
        sb.leftovers().is_empty(),
        "the failed daemon is still running"
    );
    assert!(!pidfile.exists(), "the failed daemon left its PID file");
}
