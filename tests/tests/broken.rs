//! What a second hostile campaign found, after the sixteen fixes of `hostile.rs`: each test
//! FAILS on the code it was written against and shows one defect, checked from outside the
//! process (exit status, the one line on stderr, files, `/proc`). Race windows are opened
//! every time by the delay shim (`tests/shim/delay.c`).

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use support::{
    NO_HANG, SERVICE, Sandbox, as_env, children, delayed, is_root, one_line, read_pid, s,
    service_env, wait_until,
};

const NOBODY: u32 = 65534;

fn mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

/// Runs `script` with `sh -c` as the user nobody (UID and GID 65534), and expects it to
/// succeed: what an unprivileged attacker can do.
fn as_nobody(script: &str) {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]).uid(NOBODY).gid(NOBODY);
    // (std drops the supplementary groups itself when it sets the UID.)
    let out = cmd.output().expect("run sh as nobody");
    assert!(
        out.status.success(),
        "as nobody, `{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The daemon's log path was accepted as root although nobody can change it: nobody runs
/// `script` (which puts a link to `victim` where the log was), and logrotate's SIGHUP makes
/// the root daemon create `victim`. Returns whether root created it.
fn swap_and_reopen(sb: &Sandbox, pidfile: &Path, script: &str, victim: &Path) -> bool {
    let daemon = read_pid(pidfile).expect("a PID in the file");
    sb.track(daemon);
    as_nobody(script);
    kill(daemon, Signal::SIGHUP).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let created = fs::symlink_metadata(victim).is_ok_and(|m| m.uid() == 0);
    sb.stop(daemon, Signal::SIGTERM);
    created
}

/// Broken 1: `strict_paths` lets a path pass through a sticky world-writable directory to
/// an entry root owns, "which no other user can rename or remove". But the sticky bit does
/// not protect entries from the directory's OWNER: a sticky directory owned by nobody lets
/// nobody rename root's directory away and put its own in its place. The start must refuse
/// it (77), as it refuses a non-sticky directory nobody owns.
#[test]
fn a_sticky_directory_another_user_owns_is_not_a_safe_passage() {
    if !is_root() {
        eprintln!("skipped: needs root, to own directories as another user");
        return;
    }
    let sb = Sandbox::new("broken-sticky-owner");
    let sticky = sb.path("sticky");
    fs::create_dir(&sticky).unwrap();
    nix::unistd::chown(&sticky, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    mode(&sticky, 0o1777);
    let dir = sticky.join("logs");
    fs::create_dir(&dir).unwrap(); // root's, 0755
    let pidfile = sb.path("d.pid");
    let log = dir.join("out.log");
    let victim = sb.path("victim-created-by-root");
    // nobody renames root's directory away and puts its own, with a link, in its place.
    let swap = format!(
        "mv '{d}' '{d}.moved' && mkdir '{d}' && ln -s '{v}' '{d}/out.log'",
        d = s(&dir),
        v = s(&victim)
    );
    let start = service_env(&sb, &["--pidfile", s(&pidfile), "--stdout", s(&log)], &[]);
    if start.code == Some(0) {
        assert!(
            !swap_and_reopen(&sb, &pidfile, &swap, &victim),
            "nobody, owner of the sticky directory, swapped root's log directory and made \
             the root daemon create {victim:?} on SIGHUP"
        );
    }
    assert_eq!(start.code, Some(77), "{start:?}");
    assert!(one_line(&start).contains("UID 65534"), "{start:?}");
}

/// Sets a POSIX access ACL on `dir` that gives nobody (a named-user entry) rwx, as
/// `setfacl -m u:nobody:rwx dir` does. The mode bits then show the ACL mask in the group
/// bits (0775), and the group stays root's.
fn grant_nobody_write(dir: &Path) {
    // ACL xattr, version 2: entries of (tag u16, perm u16, id u32), little-endian.
    const USER_OBJ: u16 = 0x01;
    const USER: u16 = 0x02;
    const GROUP_OBJ: u16 = 0x04;
    const MASK: u16 = 0x10;
    const OTHER: u16 = 0x20;
    let none = u32::MAX;
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (USER_OBJ, 7u16, none),
        (USER, 7, NOBODY),
        (GROUP_OBJ, 5, none),
        (MASK, 7, none),
        (OTHER, 5, none),
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    let path = std::ffi::CString::new(s(dir)).unwrap();
    let name = c"system.posix_acl_access";
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let rc = unsafe {
        nix::libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            acl.as_ptr().cast(),
            acl.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
}

/// Broken 2: `strict_paths` reads only the mode bits. A directory root owns, mode 0755 and
/// group root, with an ACL entry `user:nobody:rwx` is writable by nobody (the mode then
/// reads 0775, group 0, which the check takes for "root's group only"). The start must
/// refuse it (77): nobody can replace the log with a link at any time.
#[test]
fn a_directory_an_acl_opens_to_another_user_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root, to own directories as another user");
        return;
    }
    let sb = Sandbox::new("broken-acl");
    let dir = sb.path("logs");
    fs::create_dir(&dir).unwrap();
    grant_nobody_write(&dir);
    // The ACL really lets nobody write there.
    as_nobody(&format!("touch '{0}/probe' && rm '{0}/probe'", s(&dir)));
    let pidfile = sb.path("d.pid");
    let log = dir.join("out.log");
    let victim = sb.path("victim-created-by-root");
    // nobody replaces root's log with a link (rename over it: allowed by the ACL).
    let swap = format!(
        "ln -s '{v}' '{d}/new' && mv -T '{d}/new' '{d}/out.log'",
        d = s(&dir),
        v = s(&victim)
    );
    let start = service_env(&sb, &["--pidfile", s(&pidfile), "--stdout", s(&log)], &[]);
    if start.code == Some(0) {
        assert!(
            !swap_and_reopen(&sb, &pidfile, &swap, &victim),
            "nobody, through the ACL, made the root daemon create {victim:?} on SIGHUP"
        );
    }
    assert_eq!(start.code, Some(77), "{start:?}");
}

/// Broken 3: `strict_paths` passes a path whose missing directory would be created in a
/// sticky world-writable one (`/tmp/app/out.log` with no `/tmp/app`): "the open fails and
/// says so". But between the check and the open, any user can create that directory, with
/// a link in it; root then follows the link and appends the daemon's output to a file of
/// the attacker's choosing. The window is opened by the shim; the start must either refuse
/// the path (a missing entry in a directory others can write is as unsafe as the file
/// itself) or fail, never write through nobody's link.
#[test]
fn a_missing_directory_in_a_sticky_one_is_a_race_root_loses() {
    if !is_root() {
        eprintln!("skipped: needs root, to act as another user");
        return;
    }
    let sb = Sandbox::new("broken-missing-dir");
    let sticky = sb.path("tmp");
    fs::create_dir(&sticky).unwrap();
    mode(&sticky, 0o1777); // root's, like /tmp
    let dir = sticky.join("app");
    let log = dir.join("out.log");
    let victim = sb.path("shadow");
    fs::write(&victim, "root:secret\n").unwrap();
    let pidfile = sb.path("d.pid");
    let mark = sb.path("window-open");
    let Some(env) = delayed(
        "open",
        500,
        &[
            ("SHIM_PATH", "app/out.log".to_owned()),
            ("SHIM_NTH", "1".to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        return;
    };
    let start = std::thread::scope(|scope| {
        let start = scope.spawn(|| {
            service_env(
                &sb,
                &["--pidfile", s(&pidfile), "--stdout", s(&log)],
                &as_env(&env),
            )
        });
        // A start that refuses the path never opens it: then there is no window.
        wait_until(
            "the window between the check and the open, or a refusal",
            || mark.exists() || start.is_finished(),
        );
        if mark.exists() {
            as_nobody(&format!(
                "mkdir '{d}' && ln -s '{v}' '{d}/out.log'",
                d = s(&dir),
                v = s(&victim)
            ));
        }
        start.join().unwrap()
    });
    if let Some(pid) = read_pid(&pidfile) {
        sb.track(pid);
        std::thread::sleep(Duration::from_millis(100));
    }
    let content = fs::read_to_string(&victim).unwrap();
    assert_eq!(
        content, "root:secret\n",
        "root wrote the daemon's output through nobody's link: {start:?}"
    );
    assert_ne!(start.code, Some(0), "{start:?}");
}

/// Broken 4: with `ready = "manual"`, a start that times out before it learned the daemon's
/// PID assumes that "the intermediate child ended without naming a daemon, so none was
/// forked". An intermediate child killed (SIGKILL: the OOM killer, an operator's `kill -9`)
/// between its fork and its message leaves a daemon that runs and holds the PID file; the
/// start then reports a clean timeout (124) and DELETES the PID file under the live daemon,
/// so a second instance starts beside it. The shim holds the intermediate child just after
/// its fork. The start must not remove a PID file that a live process still holds locked
/// (it can tell: the lock), and must not say that nothing runs.
#[test]
fn a_timeout_after_the_intermediate_child_died_leaves_a_daemon_and_no_pid_file() {
    let sb = Sandbox::new("broken-timeout-orphan");
    let pidfile = sb.path("d.pid");
    let mark = sb.path("window-open");
    let Some(env) = delayed(
        "fork",
        1000,
        &[
            ("SHIM_AFTER", "1".to_owned()),
            ("SHIM_NTH", "2".to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        return;
    };
    let args = [
        "--pidfile",
        s(&pidfile),
        "--before-ready",
        "hang",
        "--ready-timeout-ms",
        "1500",
    ];
    let (start, daemon) = std::thread::scope(|scope| {
        let start = scope.spawn(|| service_env(&sb, &args, &as_env(&env)));
        wait_until("the intermediate child forked the daemon", || mark.exists());
        let intermediate: u32 = fs::read_to_string(&mark).unwrap().trim().parse().unwrap();
        let daemon = children(intermediate);
        assert_eq!(daemon.len(), 1, "the daemon, child of {intermediate}");
        let daemon = nix::unistd::Pid::from_raw(daemon[0] as i32);
        sb.track(daemon);
        kill(
            nix::unistd::Pid::from_raw(intermediate as i32),
            Signal::SIGKILL,
        )
        .unwrap();
        (start.join().unwrap(), daemon)
    });
    let running = support::alive(daemon);
    let kept = pidfile.exists();
    let second = service_env(&sb, &["--pidfile", s(&pidfile)], &[]);
    if let Some(pid) = read_pid(&pidfile) {
        sb.track(pid);
    }
    assert!(
        !running || kept || second.code != Some(0),
        "the start said {:?} ({}), daemon {daemon} runs on, its PID file was deleted, and a \
         second instance started beside it: {second:?}",
        start.code,
        start.stderr.trim_end()
    );
}

/// Broken 5: `status` (and `stop`, `reload`, `control::status`) tests the lock by TAKING a
/// shared `flock` and releasing it. While it holds it, a start's `LOCK_EX|LOCK_NB` fails,
/// and the start exits 75 "already running (locked by a process whose PID is not in the
/// file)" although nothing runs, and `status` itself says "not running". A monitor that
/// polls `status` makes starts and restarts fail at random; the file is the stale one a
/// daemon that dropped privileges always leaves. The shim holds `status`'s shared lock open
/// (its `LOCK_UN` waits); the start must succeed, as it does a moment later.
#[test]
fn a_status_check_makes_a_concurrent_start_fail_as_already_running() {
    let sb = Sandbox::new("broken-status-lock");
    let pidfile = sb.path("d.pid");
    fs::write(&pidfile, "999999\n").unwrap(); // stale: unlocked
    let mark = sb.path("window-open");
    // A status check holds its test lock for microseconds; the shim holds it 100 ms, long
    // past that, and a start must still win the stale file (it tries the lock again while
    // it looks for a holder). Status tests a stale file's lock by taking it, as /proc/locks
    // is not believed when it shows none (btrfs names devices otherwise: broken2.rs).
    let Some(env) = delayed("unlock", 100, &[("SHIM_MARK", s(&mark).to_owned())]) else {
        return;
    };
    let (status, start) = std::thread::scope(|scope| {
        let status = scope.spawn(|| {
            service_env(
                &sb,
                &["status", "--control", "--pidfile", s(&pidfile)],
                &as_env(&env),
            )
        });
        // A `status` that tests the lock without taking it (Linux: /proc/locks) never
        // unlocks: then there is no window, and the start runs beside it anyway.
        wait_until("status holds its shared lock, or is done", || {
            mark.exists() || status.is_finished()
        });
        let start = service_env(&sb, &["--pidfile", s(&pidfile)], &[]);
        (status.join().unwrap(), start)
    });
    if let Some(pid) = read_pid(&pidfile).filter(|p| p.as_raw() != 999_999) {
        sb.track(pid);
        sb.stop(pid, Signal::SIGTERM);
    }
    assert_eq!(status.code, Some(1), "status says stale: {status:?}");
    assert_eq!(
        start.code,
        Some(0),
        "a start beside a `status` check failed although nothing runs: {start:?}"
    );
}

/// Broken 6: `daemon_rt::println!` on a full disk. A write that fits only in part (a
/// filesystem with a few bytes left in its last block) writes the first bytes of the line,
/// then counts the whole line as lost; the next line that can be written starts with the
/// "N lines lost" notice, glued to the broken line (`lservice: 1432 lines lost, ...`). The
/// log must hold whole lines only: the notice on a line of its own, and a line either
/// written or counted, not both. A tmpfs of 16 KiB, in a private mount namespace (undone
/// when its last process, the daemon, is ended), filled by three 4 KiB files removed one by
/// one once the log is full: three pages filled, three chances of a line cut at a page's
/// end (one line in nine ends exactly there).
#[test]
fn a_line_cut_by_a_full_disk_is_glued_to_the_lost_lines_notice() {
    if !is_root() {
        eprintln!("skipped: needs root, to mount a tmpfs");
        return;
    }
    let sb = Sandbox::new("broken-partial-line");
    let fs_dir = sb.path("fs");
    fs::create_dir(&fs_dir).unwrap();
    let pidfile = sb.path("d.pid");
    let log = fs_dir.join("out.log");
    let script = r#"
        set -e
        mount -t tmpfs -o size=16k,mode=0755 none "$FS"
        for n in 1 2 3; do head -c 4096 /dev/zero > "$FS/filler$n"; done
        "$SERVICE" --pidfile "$PIDFILE" --stdout "$LOG" --listen poll --lines --tag "$TAG"
        for n in 1 2 3; do sleep 0.3; rm "$FS/filler$n"; done
        sleep 0.3
        kill "$(cat "$PIDFILE")"
        sleep 0.3
        cat "$LOG"
        umount "$FS"
    "#;
    let run = sb.run_for(
        Duration::from_secs(10),
        "unshare",
        &["-m", "--propagation", "private", "/bin/sh", "-c", script],
        |cmd| {
            cmd.env("FS", &fs_dir)
                .env("SERVICE", SERVICE)
                .env("PIDFILE", &pidfile)
                .env("LOG", &log)
                .env("TAG", sb.dir());
        },
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let bad: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| {
            !(l.starts_with("service pid=")
                || l.strip_prefix("line ")
                    .is_some_and(|n| n.parse::<u64>().is_ok())
                || (l.starts_with("service: ") && l.contains(" lost, not written to ")))
        })
        .collect();
    assert!(bad.is_empty(), "broken lines in the log: {bad:?}");
}

/// Broken 7: `ready_timeout = Duration::MAX`, the natural "wait as long as it takes" (only
/// zero is refused), makes the starting command panic (`Instant + Duration` overflows in
/// the readiness wait): exit 101, a multi-line backtrace instead of one line, while the
/// daemon it forked runs on with the PID file. A start must end 0 (the daemon is up) or
/// with one line and a documented status, never a panic. (`--ready-timeout-ms max` is
/// `Duration::MAX` in the service fixture.)
#[test]
fn a_ready_timeout_of_duration_max_panics_the_starting_command() {
    let sb = Sandbox::new("broken-timeout-max");
    let pidfile = sb.path("d.pid");
    let start = service_env(
        &sb,
        &["--pidfile", s(&pidfile), "--ready-timeout-ms", "max"],
        &[],
    );
    let daemon = read_pid(&pidfile);
    if let Some(pid) = daemon {
        sb.track(pid);
        sb.stop(pid, Signal::SIGTERM);
    }
    assert_ne!(start.code, Some(101), "the start panicked: {start:?}");
    assert!(
        start.code == Some(0) || one_line(&start).starts_with("service: "),
        "{start:?}"
    );
    assert!(
        start.code == Some(0) || daemon.is_none(),
        "the start failed and left daemon {daemon:?} running: {start:?}"
    );
}

/// Broken 3, without a race: the check returns "fine" as soon as a directory on the path is
/// missing, before it looks at who can write the directory that would hold it. A path
/// through a directory nobody OWNS, to a subdirectory that does not exist yet, is not
/// refused (77) but fails later with ENOENT (73): nobody only has to create the
/// subdirectory (with a link in it) at the right moment, as
/// `a_missing_directory_in_a_sticky_one_is_a_race_root_loses` does. The same path with the
/// file directly in nobody's directory is refused, naming it.
#[test]
fn a_missing_directory_under_another_users_directory_passes_the_check() {
    if !is_root() {
        eprintln!("skipped: needs root, to own directories as another user");
        return;
    }
    let sb = Sandbox::new("broken-missing-theirs");
    let theirs = sb.path("theirs");
    fs::create_dir(&theirs).unwrap();
    nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    for pidfile in [theirs.join("d.pid"), theirs.join("missing/d.pid")] {
        let start = service_env(&sb, &["--pidfile", s(&pidfile)], &[]);
        assert_eq!(start.code, Some(77), "{pidfile:?}: {start:?}");
        assert!(one_line(&start).contains("UID 65534"), "{start:?}");
    }
}

/// Broken 8: a log path that is a UNIX socket (`open(2)` gives ENXIO, as for a FIFO without
/// a reader) is refused with "it is a FIFO with no reader, and a start never waits for
/// one": the operator is sent looking for a FIFO that does not exist. The status (73) is
/// right; the reason must say what the file is (or give the OS error).
#[test]
fn a_socket_as_a_log_is_not_called_a_fifo() {
    let sb = Sandbox::new("broken-socket-log");
    let socket = sb.path("log.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let pidfile = sb.path("d.pid");
    let start = service_env(
        &sb,
        &["--pidfile", s(&pidfile), "--stdout", s(&socket)],
        &[],
    );
    assert_eq!(start.code, Some(73), "{start:?}");
    assert!(!one_line(&start).contains("FIFO"), "{start:?}");
}

/// Broken 9: with `ready = "manual"`, the starting command is what enforces
/// `ready_timeout`. An operator who interrupts a start that hangs (Ctrl-C: SIGINT to the
/// starting command only, as the daemon is in its own session) kills the enforcer: the
/// daemon that never became ready runs on, forever, holding the PID file, and the next
/// start fails with 75 "already running". The starting command should stop the unready
/// daemon when it is interrupted (as it does when the time runs out, and as a service
/// manager does with a cancelled start job), or the daemon should enforce its own deadline.
#[test]
fn interrupting_a_start_leaves_an_unready_daemon_nobody_will_stop() {
    let sb = Sandbox::new("broken-interrupted-start");
    let pidfile = sb.path("d.pid");
    let args = [
        "--pidfile",
        s(&pidfile),
        "--before-ready",
        "hang",
        "--ready-timeout-ms",
        "1000",
    ];
    let start = std::thread::scope(|scope| {
        let start = scope.spawn(|| service_env(&sb, &args, &[]));
        wait_until("the daemon wrote its PID", || read_pid(&pidfile).is_some());
        let daemon = read_pid(&pidfile).unwrap();
        sb.track(daemon);
        // The starting command: the one tagged process that is not the daemon and whose
        // parent is this test.
        let starter = support::tagged(sb.dir())
            .into_iter()
            .find(|&p| p != daemon.as_raw() as u32 && children(std::process::id()).contains(&p))
            .expect("the starting command");
        kill(nix::unistd::Pid::from_raw(starter as i32), Signal::SIGINT).unwrap();
        start.join().unwrap()
    });
    // Twice the timeout: the deadline the start promised has long passed.
    std::thread::sleep(Duration::from_millis(2000));
    let daemon = read_pid(&pidfile);
    let again = service_env(&sb, &["--pidfile", s(&pidfile)], &[]);
    if let Some(pid) = read_pid(&pidfile) {
        sb.track(pid);
    }
    assert!(
        !daemon.is_some_and(support::alive),
        "the interrupted start ({:?}) left daemon {daemon:?} unready and running past its \
         ready_timeout; the next start: {again:?}",
        start.code
    );
}

/// Broken 10: a failed start removes the log files it created "if still empty". Empty is
/// not unused: two services (two PID files) that share one error log start at the same
/// time; the first creates the log, the second opens it and is up, then the first fails
/// (its body exits before `ready()`, writing nothing) and deletes the log under the running
/// second one, whose errors from then on go to a
/// deleted file nobody can read. The shim holds the first start just after it created the
/// log (its first fork). A start must not delete a log another process has open (or must
/// not delete logs at all: an empty file is harmless, a vanished log is not).
#[test]
fn a_failed_start_deletes_a_shared_log_another_daemon_writes_to() {
    let sb = Sandbox::new("broken-shared-log");
    let log = sb.path("errors.log");
    let (first_pid, second_pid) = (sb.path("first.pid"), sb.path("second.pid"));
    let mark = sb.path("window-open");
    let Some(env) = delayed(
        "fork",
        1000,
        &[
            ("SHIM_NTH", "1".to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        return;
    };
    let first_args = [
        "--pidfile",
        s(&first_pid),
        "--stderr",
        s(&log),
        "--before-ready",
        "exit",
    ];
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| service_env(&sb, &first_args, &as_env(&env)));
        wait_until("the first start created the log", || mark.exists());
        assert!(log.exists());
        let second = service_env(
            &sb,
            &["--pidfile", s(&second_pid), "--stderr", s(&log)],
            &[],
        );
        (first.join().unwrap(), second)
    });
    assert_eq!(first.code, Some(69), "the first start fails: {first:?}");
    assert_eq!(
        second.code,
        Some(0),
        "the second start succeeds: {second:?}"
    );
    let daemon = read_pid(&second_pid).unwrap();
    sb.track(daemon);
    let stderr = fs::read_link(format!("/proc/{daemon}/fd/2")).unwrap();
    sb.stop(daemon, Signal::SIGTERM);
    assert!(
        log.exists(),
        "the failed start deleted {log:?}, the log of running daemon {daemon}, whose stderr \
         is now {stderr:?}"
    );
}

/// Broken 11: `$LISTEN_FDS` set but empty (a unit file's `Environment=LISTEN_FDS=`, a
/// wrapper that clears it with `LISTEN_FDS=`) for this process is refused, rightly, with 78,
/// but the reason is "more descriptors than a process can have": an empty string passes
/// the digits-only test and then fails to parse, which is taken for an overflow. The
/// reason must say that the value is not a count.
#[test]
fn an_empty_listen_fds_is_not_too_many_descriptors() {
    let sb = Sandbox::new("broken-empty-listen-fds");
    let pidfile = sb.path("d.pid");
    let script = r#"LISTEN_PID=$$ LISTEN_FDS= exec "$SERVICE" --pidfile "$PIDFILE" --tag "$TAG""#;
    let start = sb.run_for(NO_HANG, "/bin/sh", &["-c", script], |cmd| {
        cmd.env("SERVICE", SERVICE)
            .env("PIDFILE", &pidfile)
            .env("TAG", sb.dir());
    });
    assert_eq!(start.code, Some(78), "{start:?}");
    assert!(
        !one_line(&start).contains("more descriptors than a process can have"),
        "{start:?}"
    );
}

/// Broken 12: `stop` (and `restart`, `reload`) while a start is under way. The start holds
/// the lock from before its fork, and the daemon writes its PID only at step 12; `stop`
/// waits 200 ms for a PID, then gives up with exit 1, "it is locked but holds no valid PID
/// after 200 ms; refusing to signal" (an `InvalidConfig` error, for a configuration that is
/// fine), and the daemon it was asked to stop comes up a moment later and runs on. A loaded
/// machine at boot, or a `restart` right after a `start`, is enough. `stop` must stop the
/// instance that is starting (it may wait for its PID as long as a start may take), not
/// fail and leave it running. The shim holds the daemon's `chdir("/")` (step 11) for 1 s.
#[test]
fn stop_during_a_start_fails_and_the_daemon_comes_up_anyway() {
    let sb = Sandbox::new("broken-stop-while-starting");
    let pidfile = sb.path("d.pid");
    let mark = sb.path("window-open");
    let Some(env) = delayed(
        "chdir",
        1000,
        &[
            ("SHIM_PATH", "/".to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        return;
    };
    let (start, stop) = std::thread::scope(|scope| {
        let start = scope.spawn(|| service_env(&sb, &["--pidfile", s(&pidfile)], &as_env(&env)));
        wait_until("the daemon is at step 11, the lock held", || mark.exists());
        let stop = service_env(&sb, &["stop", "--control", "--pidfile", s(&pidfile)], &[]);
        (start.join().unwrap(), stop)
    });
    let daemon = read_pid(&pidfile);
    if let Some(pid) = daemon {
        sb.track(pid);
    }
    let running = daemon.is_some_and(support::alive);
    if let Some(pid) = daemon.filter(|_| running) {
        sb.stop(pid, Signal::SIGTERM);
    }
    assert!(
        !(stop.code != Some(0) && running),
        "`stop` during the start: {stop:?}; the start: {start:?}; daemon {daemon:?} runs on"
    );
}

/// Broken 13: the README's security notes promise that the PID file is owned by the
/// starting user, mode 0644, so that an unprivileged daemon can never rewrite it (the
/// pattern of OpenLDAP CVE-2017-14159 and Nagios CVE-2016-10089). A PID file that is
/// already there, owned by another user (left by an older init script that `chown`ed it
/// to the service's user), is taken over as it is: the root start sets its mode but leaves
/// its owner, so that user rewrites the PID at will, and the README's own logrotate recipe
/// (`kill -HUP $(cat /run/ticker.pid)`), `start-stop-daemon` or a monitoring script then
/// signal any process they choose, as root. As root, the start must take the file over
/// (`fchown` to root) or refuse it (77), as `strict_paths` refuses another user's link.
#[test]
fn a_pid_file_another_user_owns_is_kept_theirs() {
    if !is_root() {
        eprintln!("skipped: needs root, to own a file as another user");
        return;
    }
    let sb = Sandbox::new("broken-pidfile-owner");
    let pidfile = sb.path("d.pid");
    fs::write(&pidfile, "").unwrap();
    std::os::unix::fs::chown(&pidfile, Some(NOBODY), None).unwrap();
    let start = service_env(&sb, &["--pidfile", s(&pidfile)], &[]);
    if start.code == Some(0) {
        let daemon = read_pid(&pidfile).unwrap();
        sb.track(daemon);
        let owner = fs::metadata(&pidfile).unwrap().uid();
        if owner != 0 {
            as_nobody(&format!("echo 1 > '{}'", s(&pidfile)));
        }
        let content = fs::read_to_string(&pidfile).unwrap();
        sb.stop(daemon, Signal::SIGTERM);
        assert_eq!(
            owner, 0,
            "root's daemon {daemon} runs with a PID file owned by UID {owner}, who rewrote \
             it to {content:?}"
        );
    } else {
        assert_eq!(start.code, Some(77), "{start:?}");
    }
}
