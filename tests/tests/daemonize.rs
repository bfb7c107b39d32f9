//! The daemon(7) sequence, checked from outside: `/proc/<pid>/{stat,status,fd,cwd}`, the PID
//! file, the logs, the starting command's exit status and stderr.

mod support;

use std::fs;
use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use support::{Sandbox, alive, fds, inherit_fd_as, read_pid, settled_fds, stat, status};

#[test]
fn the_daemon_leads_no_session_and_has_no_terminal() {
    let sb = Sandbox::new("session");
    let pidfile = sb.path("d.pid");
    let (start, pid) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);

    let st = stat(pid);
    assert_ne!(st.ppid as u32, start.pid, "the starter is still the parent");
    assert_ne!(st.session, pid.as_raw(), "the daemon is a session leader");
    assert_ne!(
        st.session,
        nix::unistd::getsid(None).unwrap().as_raw(),
        "same session as the test"
    );
    assert_eq!(
        st.pgrp, st.session,
        "not in the group of the session it made"
    );
    assert_eq!(st.tty_nr, 0, "the daemon has a controlling terminal");
}

#[test]
fn only_stdio_the_pidfile_and_preserved_fds_stay_open() {
    let sb = Sandbox::new("fds");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let err = sb.path("err.log");
    let extra = fs::File::create(sb.path("extra")).unwrap();
    // The starter inherits the extra file as 5, 9 and 200; it is asked to keep 9 only.
    let start = sb.start_with(
        &[
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--stdout",
            log.to_str().unwrap(),
            "--stderr",
            err.to_str().unwrap(),
            "--preserve-fd",
            "9",
        ],
        |cmd| inherit_fd_as(cmd, extra.as_raw_fd(), &[5, 9, 200]),
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).unwrap();
    sb.track(pid);

    let open = settled_fds(pid);
    let lock_fd = open.iter().find(|(_, t)| **t == pidfile).map(|(fd, _)| *fd);
    let lock_fd = lock_fd.unwrap_or_else(|| panic!("PID file not held open: {open:?}"));
    let mut expected = vec![0, 1, 2, 9, lock_fd];
    expected.sort_unstable();
    assert_eq!(
        open.keys().copied().collect::<Vec<_>>(),
        expected,
        "{open:?}"
    );
    assert_eq!(open[&0], std::path::Path::new("/dev/null"));
    assert_eq!(open[&1], log);
    assert_eq!(open[&2], err);
    assert_eq!(open[&9], sb.path("extra"));
}

#[test]
fn stdin_is_dev_null_and_output_reaches_the_logs() {
    let sb = Sandbox::new("stdio");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let err = sb.path("err.log");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--stdout",
        log.to_str().unwrap(),
        "--stderr",
        err.to_str().unwrap(),
        "--exit-after-ms",
        "300",
    ];
    let (_, pid) = sb.start_ok(&pidfile, &args);
    assert_eq!(sb.wait_exit(pid), WaitStatus::Exited(pid, 0));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("daemon stdout pid={pid}\n")
    );
    assert_eq!(
        fs::read_to_string(&err).unwrap(),
        format!("daemon stderr pid={pid}\n")
    );
    // Logs are appended to, never truncated, and created with a mode no one else can write.
    let (_, pid) = sb.start_ok(&pidfile, &args);
    sb.wait_exit(pid);
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 2);
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&log).unwrap().permissions());
    assert_eq!(
        mode & 0o022,
        0,
        "log mode {mode:o} is group- or world-writable"
    );

    let pidfile2 = sb.path("d2.pid");
    let (_, pid) = sb.start_ok(&pidfile2, &["--pidfile", pidfile2.to_str().unwrap()]);
    assert_eq!(fds(pid)[&0], std::path::Path::new("/dev/null"));
    assert_eq!(fds(pid)[&1], std::path::Path::new("/dev/null"));
}

#[test]
fn umask_and_working_directory_have_safe_defaults_and_can_be_set() {
    let sb = Sandbox::new("umask-cwd");
    let pidfile = sb.path("a.pid");
    let (_, pid) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
    assert_eq!(status(pid)["Umask"], "0022");
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        std::path::Path::new("/")
    );

    let pidfile = sb.path("b.pid");
    let workdir = sb.path("work");
    fs::create_dir(&workdir).unwrap();
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--umask",
        "027",
        "--workdir",
        workdir.to_str().unwrap(),
    ];
    let (_, pid) = sb.start_ok(&pidfile, &args);
    assert_eq!(status(pid)["Umask"], "0027");
    assert_eq!(fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), workdir);

    let pidfile = sb.path("c.pid");
    let (_, pid) = sb.start_ok(
        &pidfile,
        &["--pidfile", pidfile.to_str().unwrap(), "--umask", "0"],
    );
    assert_eq!(status(pid)["Umask"], "0000");
}

#[test]
fn signals_are_reset_the_mask_is_cleared_and_terminal_signals_ignored() {
    let sb = Sandbox::new("signals");
    let pidfile = sb.path("d.pid");
    // The starter runs with SIGUSR1 and SIGHUP blocked and SIGINT and SIGUSR2 ignored.
    let start = sb.start_with(&["--pidfile", pidfile.to_str().unwrap()], |cmd| {
        // SAFETY: between fork and exec only async-signal-safe calls: sigprocmask and signal.
        unsafe {
            cmd.pre_exec(|| {
                use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, signal, sigprocmask};
                let mut set = SigSet::empty();
                set.add(Signal::SIGUSR1);
                set.add(Signal::SIGHUP);
                sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
                signal(Signal::SIGINT, SigHandler::SigIgn)?;
                signal(Signal::SIGUSR2, SigHandler::SigIgn)?;
                Ok(())
            });
        }
    });
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).unwrap();
    sb.track(pid);

    let st = status(pid);
    let bit = |s: i32| 1u64 << (s - 1);
    let ignored = [
        Signal::SIGPIPE,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
    ];
    let expected_ign: u64 = ignored.iter().map(|s| bit(*s as i32)).sum();
    // glibc keeps signals 32 and 33 for itself and refuses to change them (EINVAL): they stay
    // as inherited (this test process inherits 32 ignored). Every other signal is checked.
    let glibc_reserved = bit(32) | bit(33);
    let sig_ign = u64::from_str_radix(&st["SigIgn"], 16).unwrap();
    assert_eq!(st["SigBlk"], "0000000000000000");
    assert_eq!(
        sig_ign & !glibc_reserved,
        expected_ign,
        "SigIgn {sig_ign:x}"
    );
    // SIGTERM and SIGINT are caught, to stop cleanly (the PID file removed), and SIGHUP, a
    // reload request even without log files to reopen; nothing else is.
    assert_eq!(
        u64::from_str_radix(&st["SigCgt"], 16).unwrap(),
        bit(Signal::SIGTERM as i32) | bit(Signal::SIGINT as i32) | bit(Signal::SIGHUP as i32)
    );
}

#[test]
fn the_pidfile_holds_the_daemon_pid_every_time_the_start_returns() {
    let sb = Sandbox::new("pid-at-return");
    let pidfile = sb.path("d.pid");
    for run in 0..100 {
        let (start, pid) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
        assert!(
            alive(pid),
            "run {run}: PID {pid} from the PID file is not running"
        );
        assert_ne!(
            pid.as_raw() as u32,
            start.pid,
            "run {run}: the starter's PID was written"
        );
        assert_eq!(stat(pid).tty_nr, 0);
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&pidfile).unwrap().permissions());
        assert_eq!(mode & 0o7777, 0o644, "run {run}: PID file mode");
        sb.stop(pid, Signal::SIGTERM);
        assert!(!pidfile.exists(), "run {run}: PID file left after SIGTERM");
    }
}

#[test]
fn the_lock_is_held_and_a_second_start_changes_nothing() {
    let sb = Sandbox::new("second-start");
    let pidfile = sb.path("d.pid");
    let log = sb.path("d.log");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--stdout",
        log.to_str().unwrap(),
    ];
    let (_, pid) = sb.start_ok(&pidfile, &args);

    let flock = std::process::Command::new("flock")
        .args(["-n", pidfile.to_str().unwrap(), "true"])
        .status()
        .expect("run flock(1)");
    assert_eq!(
        flock.code(),
        Some(1),
        "flock -n got the lock the daemon should hold"
    );

    let pid_text = fs::read_to_string(&pidfile).unwrap();
    // The body writes its line after the start returned: wait for it, or it could land
    // between the two reads of the log and look like the second start's doing.
    let line = format!("daemon stdout pid={pid}\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !fs::read_to_string(&log).unwrap().contains(&line) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon wrote no line"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let log_text = fs::read_to_string(&log).unwrap();
    let second = sb.start(&args);
    assert_eq!(second.code, Some(75), "{second:?}");
    assert_eq!(
        second.stderr,
        format!(
            "fixture: cannot lock pidfile `{}`: already running as PID {pid}\n",
            pidfile.display()
        )
    );
    assert!(alive(pid), "the first instance died");
    assert_eq!(fs::read_to_string(&pidfile).unwrap(), pid_text);
    assert_eq!(fs::read_to_string(&log).unwrap(), log_text);
    assert_eq!(
        sb.leftovers(),
        vec![pid.as_raw() as u32],
        "a second daemon is running"
    );
}

#[test]
fn sigterm_and_a_normal_exit_remove_the_pidfile() {
    let sb = Sandbox::new("cleanup");
    let pidfile = sb.path("d.pid");
    let (_, pid) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists(), "PID file left after SIGTERM");

    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--exit-after-ms",
        "50",
    ];
    let (_, pid) = sb.start_ok(&pidfile, &args);
    assert_eq!(sb.wait_exit(pid), WaitStatus::Exited(pid, 0));
    assert!(!pidfile.exists(), "PID file left after a normal exit");
}

#[test]
fn a_pidfile_left_by_sigkill_does_not_block_the_next_start() {
    let sb = Sandbox::new("sigkill");
    let pidfile = sb.path("d.pid");
    let (_, first) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
    sb.stop(first, Signal::SIGKILL);
    assert_eq!(
        read_pid(&pidfile),
        Some(first),
        "SIGKILL cannot remove the file"
    );

    let (_, second) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
    assert_ne!(second, first);
    assert!(alive(second));
}

#[test]
fn a_stale_pidfile_longer_than_the_new_pid_is_replaced_whole() {
    let sb = Sandbox::new("stale");
    let pidfile = sb.path("d.pid");
    fs::write(&pidfile, "2147483647\nleft by a dead instance\n").unwrap();
    let (_, pid) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{pid}\n"),
        "nothing of the old content may be left"
    );
}

#[test]
fn a_pidfile_removed_and_recreated_by_another_instance_is_not_removed() {
    let sb = Sandbox::new("not-ours");
    let pidfile = sb.path("d.pid");
    let (_, first) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
    // Someone deletes the file, and a second instance starts and takes the path.
    fs::remove_file(&pidfile).unwrap();
    let (_, second) = sb.start_ok(&pidfile, &["--pidfile", pidfile.to_str().unwrap()]);
    sb.stop(first, Signal::SIGTERM);
    assert_eq!(
        read_pid(&pidfile),
        Some(second),
        "the first instance removed the second's file"
    );
}

#[test]
fn output_buffered_before_the_start_is_written_once() {
    let sb = Sandbox::new("buffered");
    let pidfile = sb.path("d.pid");
    let log = sb.path("d.log");
    let args = [
        "--print-before",
        "early-text",
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--stdout",
        log.to_str().unwrap(),
        "--exit-after-ms",
        "300",
    ];
    let (start, pid) = sb.start_ok(&pidfile, &args);
    sb.wait_exit(pid);
    assert_eq!(start.stdout, "early-text");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("daemon stdout pid={pid}\n")
    );
}

#[test]
fn starts_when_the_standard_streams_are_closed() {
    let sb = Sandbox::new("closed-stdio");
    let pidfile = sb.path("d.pid");
    let start = sb.start_with(&["--pidfile", pidfile.to_str().unwrap()], |cmd| {
        // SAFETY: between fork and exec only async-signal-safe calls: close.
        unsafe {
            cmd.pre_exec(|| {
                for fd in 0..3 {
                    nix::libc::close(fd);
                }
                Ok(())
            });
        }
    });
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).unwrap();
    sb.track(pid);
    let open = settled_fds(pid);
    assert_eq!(open.len(), 4, "{open:?}");
    assert_eq!(open[&0], std::path::Path::new("/dev/null"));
    assert!(
        open.iter().any(|(fd, t)| *fd > 2 && *t == pidfile),
        "{open:?}"
    );
}

#[test]
fn a_program_that_chains_its_own_sigterm_handler_stops_gracefully() {
    let sb = Sandbox::new("chained-sigterm");
    let pidfile = sb.path("d.pid");
    let log = sb.path("d.log");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--stdout",
        log.to_str().unwrap(),
        "--chain-sigterm",
    ];
    let (_, pid) = sb.start_ok(&pidfile, &args);
    // Wait until the body has installed its handler.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("handler installed")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the handler was never installed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        sb.stop(pid, Signal::SIGTERM),
        WaitStatus::Exited(pid, 0),
        "not a graceful exit"
    );
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .ends_with("graceful stop\n")
    );
    assert!(!pidfile.exists(), "PID file left after a graceful stop");
}

#[test]
fn a_panicking_on_started_hook_does_not_fail_a_start_that_succeeded() {
    let sb = Sandbox::new("hook-panic");
    let pidfile = sb.path("d.pid");
    let (start, pid) = sb.start_ok(
        &pidfile,
        &["--pidfile", pidfile.to_str().unwrap(), "--panic-on-started"],
    );
    assert!(
        start.stderr.contains("on_started hook panics as asked"),
        "{start:?}"
    );
    assert!(alive(pid));
}

#[test]
fn an_error_returned_from_main_removes_the_pidfile_and_sets_the_status() {
    let sb = Sandbox::new("body-error");
    let pidfile = sb.path("d.pid");
    let err = sb.path("err.log");
    let args = [
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--stderr",
        err.to_str().unwrap(),
        "--exit-after-ms",
        "300",
        "--fail",
    ];
    let (_, pid) = sb.start_ok(&pidfile, &args);
    assert_eq!(sb.wait_exit(pid), WaitStatus::Exited(pid, 1));
    assert!(
        fs::read_to_string(&err)
            .unwrap()
            .ends_with("Error: \"asked to fail\"\n")
    );
    assert!(
        !pidfile.exists(),
        "PID file left after main returned an error"
    );
}
