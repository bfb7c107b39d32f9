//! What a third hostile campaign found, against the features that landed after `broken.rs`
//! (PID 1, `notify_fd`, `fork = "always"`, the starter's interrupt handling, `status` and
//! `stop` through `/proc/locks`): each test FAILS on the code it was written against and
//! shows one defect, checked from outside the process (exit status, the one line on stderr,
//! files, `/proc`). Race windows are opened every time by the delay shim
//! (`tests/shim/delay.c`).

mod support;

use std::fs;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{
    NO_HANG, SERVICE, Sandbox, alive, as_env, can_unshare, children, delayed, inherit_fd_as,
    is_root, read_pid, s, service_env, wait_until,
};

/// A pipe whose buffer is full: a blocking write to `write` waits until someone reads
/// `read`, which nobody does.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (read, write) = nix::unistd::pipe().unwrap();
    fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let chunk = [b'x'; 4096];
    while nix::unistd::write(&write, &chunk).is_ok() {}
    fcntl(&write, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
    (read, write)
}

/// Broken2 1: `notify_fd` writes its newline with a blocking `write`, in `ready()`, on the
/// body's thread. A supervisor that is slow to read, or a pipe that is full for any reason
/// (the descriptor is shared, the supervisor is stuck), makes `ready()` block: the starting
/// command has already exited 0 (the readiness pipe is written first), and the daemon never
/// gets past `ready()`: it serves nothing, forever, while everything says it is up. The
/// newline should be written without blocking (`O_NONBLOCK` on the descriptor, which the
/// daemon owns and closes right after, or `poll` with a short timeout), and dropped if it
/// cannot be written.
#[test]
fn a_full_notify_fd_pipe_blocks_the_daemon_in_ready_forever() {
    let sb = Sandbox::new("broken2-notify-fd-full");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let (_read, write) = full_pipe();
    let fd = write.as_raw_fd();
    let args = [
        "--pidfile",
        s(&pidfile),
        "--stdout",
        s(&log),
        "--notify-fd",
        "3",
        "--listen",
        "wait",
    ];
    let start = sb.run_for(NO_HANG, SERVICE, &args, |cmd| {
        cmd.arg("--tag").arg(sb.dir());
        inherit_fd_as(cmd, fd, &[3]);
    });
    drop(write);
    assert_eq!(start.code, Some(0), "{start:?}");
    let daemon = read_pid(&pidfile).expect("a PID in the file");
    sb.track(daemon);
    // The body prints this line right after `ready()` returns.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut out = String::new();
    while std::time::Instant::now() < deadline {
        out = fs::read_to_string(&log).unwrap_or_default();
        if out.contains("waiting for stop") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stuck = fs::read_to_string(format!("/proc/{daemon}/wchan")).unwrap_or_default();
    sb.stop(daemon, Signal::SIGKILL);
    assert!(
        out.contains("waiting for stop"),
        "the start exited 0, but the daemon is stuck in ready() (wchan {stuck:?}) writing \
         its newline to a full notify_fd pipe; its output: {out:?}"
    );
}

/// Broken2 2: `status` and `stop` test the lock through `/proc/locks`, matching the line by
/// `major:minor:inode` of the file's `st_dev`. The kernel prints the superblock's device
/// there (`i_sb->s_dev`), which on btrfs is not what `stat` returns (every subvolume, the
/// top one included, has its own anonymous device number). So on btrfs a running daemon's
/// PID file is never seen locked: `status` says "stale" (1), and `stop` says "not running"
/// and exits 0 while the daemon runs on; `restart` then fails with 75. `/proc/locks` should
/// only be trusted when it shows a lock: with no matching line, the lock is tested as
/// before (a shared `flock` taken and released), or the device is matched as the kernel
/// prints it. One-line fix in `control::is_locked`: return early only on
/// `flocked(..) == Some(true)`.
#[test]
fn status_and_stop_miss_a_running_daemon_whose_pid_file_is_on_btrfs() {
    if !is_root() {
        eprintln!("skipped: needs root, to mount a file system");
        return;
    }
    let mkfs = [
        "/usr/sbin/mkfs.btrfs",
        "/sbin/mkfs.btrfs",
        "/usr/bin/mkfs.btrfs",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    let Some(mkfs) = mkfs else {
        eprintln!("skipped: no mkfs.btrfs (btrfs-progs)");
        return;
    };
    let btrfs_known = fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("btrfs"));
    if !btrfs_known {
        eprintln!("skipped: the kernel has no btrfs");
        return;
    }
    let sb = Sandbox::new("broken2-btrfs");
    let image = sb.path("btrfs.img");
    fs::File::create(&image)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let made = Command::new(mkfs).arg("-q").arg(&image).output().unwrap();
    assert!(made.status.success(), "{made:?}");
    let mnt = sb.path("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-o", "loop"])
        .arg(&image)
        .arg(&mnt)
        .status()
        .unwrap();
    if !mounted.success() {
        eprintln!("skipped: cannot loop-mount a btrfs image here");
        return;
    }
    /// Unmounts (and so frees the loop device) however the test ends.
    struct Mounted(PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _mounted = Mounted(mnt.clone());
    let pidfile = mnt.join("d.pid");
    let control = |cmd: &str| {
        sb.run_for(
            NO_HANG,
            SERVICE,
            &[cmd, "--control", "--pidfile", s(&pidfile)],
            |c| {
                c.arg("--tag").arg(sb.dir());
            },
        )
    };
    let start = control("start");
    assert_eq!(start.code, Some(0), "{start:?}");
    let daemon = read_pid(&pidfile).expect("a PID in the file");
    sb.track(daemon);
    let status = control("status");
    let stop = control("stop");
    let survived = alive(daemon);
    if survived {
        sb.stop(daemon, Signal::SIGTERM);
    }
    assert_eq!(
        status.code,
        Some(0),
        "`status` does not see daemon {daemon} that holds the lock on a btrfs PID file: \
         {status:?}"
    );
    assert!(
        !survived,
        "`stop` left daemon {daemon} running (the PID file is on btrfs): {stop:?}"
    );
}

/// Broken2 3: the starter installs its SIGINT/SIGTERM/SIGHUP/SIGQUIT handlers only after
/// the fork. A Ctrl-C that arrives between the fork and `catch_interrupts` kills the
/// starter with the default action, and the unready daemon it forked runs on with nobody to
/// enforce `ready_timeout`: the very defect of `broken.rs` (Broken 9), in the window before
/// the fix takes effect. The shim holds the starter just after its fork. The interrupts
/// should be blocked before the fork and unblocked once the handlers are in place (the
/// daemon resets its mask at step 8 anyway).
#[test]
fn an_interrupt_just_after_the_fork_leaves_an_unready_daemon_nobody_will_stop() {
    let sb = Sandbox::new("broken2-interrupt-after-fork");
    let pidfile = sb.path("d.pid");
    let mark = sb.path("forked");
    let Some(env) = delayed(
        "fork",
        1500,
        &[
            ("SHIM_AFTER", "1".to_owned()),
            ("SHIM_NTH", "1".to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        eprintln!("skipped: no C compiler for the delay shim");
        return;
    };
    let args = [
        "--pidfile",
        s(&pidfile),
        "--before-ready",
        "hang",
        "--ready-timeout-ms",
        "1000",
    ];
    let start = std::thread::scope(|scope| {
        let start = scope.spawn(|| service_env(&sb, &args, &as_env(&env)));
        wait_until("the starter forked", || {
            fs::read_to_string(&mark).is_ok_and(|t| t.ends_with('\n'))
        });
        let starter: i32 = fs::read_to_string(&mark).unwrap().trim().parse().unwrap();
        kill(Pid::from_raw(starter), Signal::SIGINT).unwrap();
        start.join().unwrap()
    });
    // Well past the 1 s the start promised.
    std::thread::sleep(Duration::from_millis(2500));
    // A start that stopped its daemon has removed the PID file with it: then no process of
    // the start may be left.
    match read_pid(&pidfile) {
        Some(daemon) => {
            sb.track(daemon);
            assert!(
                !alive(daemon),
                "the start interrupted right after its fork ({start:?}) left daemon {daemon} \
                 unready and running past its ready_timeout"
            );
        }
        None => assert_eq!(sb.leftovers(), Vec::<u32>::new(), "{start:?}"),
    }
}

/// Broken2 4: as PID 1, the start blocks the signals it forwards before forking the daemon,
/// so that none is lost; the daemon inherits the mask, and step 8 (`reset_signals`) clears
/// it BEFORE `install_stop_handlers` runs. A SIGTERM that PID 1 forwarded during the start
/// (`docker stop` right after `docker run`, a supervisor's timeout) is therefore always
/// delivered in that gap, with the default action: the daemon dies by it after it created,
/// locked and emptied the PID file and created its log, and nothing removes them. The
/// namespace ends with 143 and leaves an empty PID file and an empty log behind, which a
/// failed start must not (CHANGELOG: "A failed start left the PID file or the empty log
/// files it had created", fixed). The same gap kills the daemon on a forwarded SIGHUP
/// (`reopen_logs`) or SIGINT. The handlers should be installed while the mask still blocks
/// the signals, and the mask cleared after. The shim holds the daemon (PID 2) at its open
/// of the PID file, so the SIGTERM is pending when the start goes on.
#[test]
fn as_pid_1_a_sigterm_during_the_start_leaves_the_pid_file_and_log_behind() {
    if !can_unshare() {
        return;
    }
    let sb = Sandbox::new("broken2-pid1-early-sigterm");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let mark = sb.path("opening");
    let Some(env) = delayed(
        "open",
        800,
        &[
            ("SHIM_PATH", s(&pidfile).to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        eprintln!("skipped: no C compiler for the delay shim");
        return;
    };
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", SERVICE])
        .args(["--pidfile", s(&pidfile), "--stdout", s(&log), "--tag"])
        .arg(sb.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for key in [
        "NOTIFY_SOCKET",
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
    ] {
        cmd.env_remove(key);
    }
    let child = cmd.spawn().unwrap();
    let unshare = child.id();
    wait_until("the daemon opens its PID file", || mark.exists());
    let init = children(unshare)[0];
    kill(Pid::from_raw(init as i32), Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let left: Vec<&Path> = [pidfile.as_path(), log.as_path()]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    assert!(
        left.is_empty(),
        "a SIGTERM forwarded by PID 1 during the start ended the namespace with {:?} and \
         left {left:?} behind: the daemon died by the default action between step 8's \
         unmask and its stop handlers",
        out.status.code()
    );
}

/// Broken2 5: with `fork = "always"` the daemon sends `MAINPID=`/`READY=1` from `ready()`
/// with a blocking `send(2)`, after it already told the starting command it is up (the
/// readiness pipe first). A notify socket whose queue is full (a busy or stuck manager: a
/// datagram socket holds `net.unix.max_dgram_qlen` datagrams) makes the send wait: the
/// starting command exits 0, the `Type=forking` unit is "started", and the daemon never gets
/// past `ready()`. `STOPPING=1` is already sent with `MSG_DONTWAIT`; `READY=1` (and
/// `STATUS=`) should be too, or with a send timeout, dropped rather than waited for. A gone
/// manager (`ECONNREFUSED`) is already no error.
#[test]
fn fork_always_with_a_full_notify_socket_blocks_the_daemon_in_ready_forever() {
    use std::os::unix::net::UnixDatagram;
    let sb = Sandbox::new("broken2-notify-socket-full");
    let socket_path = sb.path("notify.sock");
    let manager = UnixDatagram::bind(&socket_path).unwrap();
    // Fill the manager's queue, as a manager that does not read would have it.
    let filler = UnixDatagram::unbound().unwrap();
    filler.connect(&socket_path).unwrap();
    filler.set_nonblocking(true).unwrap();
    while filler.send(b"STATUS=filler").is_ok() {}
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let args = [
        "--fork",
        "always",
        "--pidfile",
        s(&pidfile),
        "--stdout",
        s(&log),
        "--listen",
        "wait",
    ];
    let start = sb.run_for(NO_HANG, SERVICE, &args, |cmd| {
        cmd.arg("--tag").arg(sb.dir());
        cmd.env("NOTIFY_SOCKET", &socket_path);
        cmd.env_remove("LISTEN_PID").env_remove("LISTEN_FDS");
    });
    assert_eq!(start.code, Some(0), "{start:?}");
    let daemon = read_pid(&pidfile).expect("a PID in the file");
    sb.track(daemon);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut out = String::new();
    while std::time::Instant::now() < deadline {
        out = fs::read_to_string(&log).unwrap_or_default();
        if out.contains("waiting for stop") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stuck = fs::read_to_string(format!("/proc/{daemon}/wchan")).unwrap_or_default();
    sb.stop(daemon, Signal::SIGKILL);
    drop(manager);
    assert!(
        out.contains("waiting for stop"),
        "the start exited 0, but the daemon is stuck in ready() (wchan {stuck:?}) sending \
         READY=1 to a full notify socket; its output: {out:?}"
    );
}

/// Broken2 6: the starter's interrupt pipe is created after the fork
/// (`catch_interrupts`), and when that fails (`EMFILE` under a low descriptor limit: one
/// descriptor fewer than the start needs) the start returns the error through `abandon`:
/// it exits 71 "cannot create the readiness pipe" (the readiness pipe exists; this is
/// another one), REMOVES THE PID FILE, and leaves the daemon it forked running, unready,
/// holding the lock on a file no longer at the path, with nobody to enforce
/// `ready_timeout`. The next start succeeds beside it: two instances. A failure after the
/// fork must stop the daemon it forked (as a timeout does), or the pipe must be made before
/// the fork.
#[test]
fn a_failed_interrupt_pipe_leaves_the_forked_daemon_running_and_deletes_its_pid_file() {
    use nix::sys::resource::{Resource, setrlimit};
    use std::os::unix::process::CommandExt as _;
    let sb = Sandbox::new("broken2-interrupt-pipe-emfile");
    let pidfile = sb.path("d.pid");
    let args = [
        "--pidfile",
        s(&pidfile),
        "--before-ready",
        "hang",
        "--ready-timeout-ms",
        "1000",
    ];
    // The lowest limit at which the start gets as far as the fork; the exact count of
    // descriptors a start uses is not this test's business.
    let mut found = None;
    for limit in 6..24u64 {
        let start = sb.run_for(NO_HANG, SERVICE, &args, |cmd| {
            cmd.arg("--tag").arg(sb.dir());
            // SAFETY: `setrlimit` is async-signal-safe and allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    setrlimit(Resource::RLIMIT_NOFILE, limit, limit).map_err(std::io::Error::from)
                });
            }
        });
        let running: Vec<u32> = sb.leftovers();
        if !running.is_empty() {
            found = Some((limit, start, running));
            break;
        }
        if start.code == Some(124) {
            // The start went through the fork and timed out as it should: past the window.
            break;
        }
    }
    let Some((limit, start, running)) = found else {
        return; // every limit failed before the fork or stopped its daemon: nothing left
    };
    for &pid in &running {
        sb.track(Pid::from_raw(pid as i32));
    }
    // Well past the 1 s the start promised; then a second start on the same PID file.
    std::thread::sleep(Duration::from_millis(1500));
    let again = service_env(&sb, &["--pidfile", s(&pidfile)], &[]);
    if let Some(pid) = read_pid(&pidfile) {
        sb.track(pid);
    }
    panic!(
        "with RLIMIT_NOFILE {limit}, the start failed ({:?}, {:?}) and left daemon(s) \
         {running:?} running unready past ready_timeout, without their PID file; a second \
         start on the same PID file: {:?} {:?}",
        start.code, start.stderr, again.code, again.stderr
    );
}

/// Broken2 7: `status` and `stop` read `/proc/locks` and count a POSIX (`fcntl`/`lockf`)
/// or OFD write lock on the PID file as the daemon's `flock`, "where a filesystem (NFS)
/// emulates flock with them". On a local filesystem the two kinds are independent: the
/// daemon never takes a POSIX lock, and a start ignores one (it takes the `flock` beside
/// it). So another program's `lockf` on the file (a C daemon configured with the same PID
/// file, a tool that locks what it reads) makes `status` say "running" (0) for a daemon that
/// is dead, and `stop` wait its whole timeout and fail, while `start` at the same moment
/// succeeds. Before `/proc/locks`, the test was a shared `flock`, which is right. A POSIX or
/// OFD lock should count only on a filesystem that emulates `flock` with it (NFS), or a
/// lock seen in `/proc/locks` be confirmed with the shared `flock` test.
#[test]
fn a_posix_lock_of_another_program_makes_a_dead_daemon_look_running() {
    let sb = Sandbox::new("broken2-posix-lock");
    let pidfile = sb.path("d.pid");
    // A daemon that died by SIGKILL: its PID file stays, unlocked (a PID that is not running).
    fs::write(&pidfile, "999999\n").unwrap();
    // Another program's lockf(3) on the same file, held for the test's length.
    let holder = fs::OpenOptions::new().write(true).open(&pidfile).unwrap();
    let lock = nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(&holder, FcntlArg::F_SETLK(&lock)).unwrap();
    let control = |cmd: &str| {
        sb.run_for(
            Duration::from_secs(30),
            SERVICE,
            &[cmd, "--control", "--pidfile", s(&pidfile)],
            |c| {
                c.arg("--tag").arg(sb.dir());
            },
        )
    };
    let status = control("status");
    drop(holder);
    assert_eq!(
        status.code,
        Some(1),
        "no daemon holds the PID file's flock (only another program's POSIX lock is on it), \
         yet `status` says: {status:?}"
    );
}

/// Broken2 8: a failed start removes the empty log files it created "unless another process
/// has them open", found by looking at every process's `/proc/<pid>/fd`, and a process that
/// cannot be looked at counts as having it open. Run as any user but root, that is every
/// other user's process (`/proc/1/fd` is root's, `EACCES`): the created log is never
/// removed, and a failed start leaves an empty log behind, the defect the CHANGELOG lists as
/// fixed. Here nobody's start fails at `chroot` (EPERM, exit 77) after it created its log.
/// A process that cannot be looked at cannot have opened a file this start just created
/// with permissions that do not let its user open it; at least those should not count.
#[test]
fn a_failed_start_of_an_unprivileged_user_leaves_its_created_log() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    if !is_root() {
        eprintln!("skipped: needs root, to run the start as another user");
        return;
    }
    let sb = Sandbox::new("broken2-unprivileged-created-log");
    let dir = sb.path("nobody");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let pidfile = dir.join("d.pid");
    let log = dir.join("out.log");
    let args = [
        "--pidfile",
        s(&pidfile),
        "--stdout",
        s(&log),
        "--chroot",
        "/",
    ];
    let start = sb.run_for(NO_HANG, SERVICE, &args, |cmd| {
        cmd.arg("--tag").arg(sb.dir()).uid(65534).gid(65534);
    });
    assert_eq!(start.code, Some(77), "{start:?}");
    assert!(!pidfile.exists(), "the PID file was left: {start:?}");
    assert!(
        !log.exists(),
        "the failed start ({}) left the empty log it created, {:?} bytes",
        start.stderr.trim_end(),
        fs::metadata(&log).map(|m| m.len()).ok()
    );
}

/// Broken2 9: `stop` waits for a daemon that is still starting only while the PID file is
/// EMPTY; a PID in it that is not the holder's gets 200 ms, "a dead instance's for a moment
/// at most (the start empties the file once it holds the lock)". The moment is longer than
/// that: the start takes the lock, then opens (and, as root, checks) its logs, and only then
/// empties the file. After a crash (SIGKILL, OOM: the file keeps the dead PID), an
/// operator's `restart` or a supervisor's `stop` that meets a start in that window fails
/// with 1 "PID N written in the file does not hold it open; refusing to signal it", and the
/// daemon comes up anyway: the defect `broken.rs` fixed for an empty file (Broken 12),
/// back for a stale one. The shim holds the start at its log's open. `holder` should
/// wait as long for a stale PID as for none while the lock is held (or the start empty the
/// file as soon as it holds the lock).
#[test]
fn stop_during_a_start_after_a_crash_fails_and_the_daemon_comes_up_anyway() {
    let sb = Sandbox::new("broken2-stop-stale-while-starting");
    let pidfile = sb.path("d.pid");
    let log = sb.path("out.log");
    let mark = sb.path("window-open");
    // The instance before crashed: its PID stays in the file, which nobody locks.
    fs::write(&pidfile, "999999\n").unwrap();
    let Some(env) = delayed(
        "open",
        1000,
        &[
            ("SHIM_PATH", s(&log).to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        eprintln!("skipped: no C compiler for the delay shim");
        return;
    };
    let args = ["--pidfile", s(&pidfile), "--stdout", s(&log)];
    let (start, stop) = std::thread::scope(|scope| {
        let start = scope.spawn(|| service_env(&sb, &args, &as_env(&env)));
        wait_until("the start holds the lock and opens its log", || {
            mark.exists()
        });
        let stop = service_env(&sb, &["stop", "--control", "--pidfile", s(&pidfile)], &[]);
        (start.join().unwrap(), stop)
    });
    let daemon = read_pid(&pidfile);
    if let Some(pid) = daemon {
        sb.track(pid);
    }
    let running = daemon.is_some_and(alive);
    if let Some(pid) = daemon.filter(|_| running) {
        sb.stop(pid, Signal::SIGTERM);
    }
    assert!(
        !(stop.code != Some(0) && running),
        "`stop` during a start after a crash: {stop:?}; the start: {start:?}; daemon \
         {daemon:?} runs on"
    );
}

/// Broken2 10: the created-log removal looks for other holders of the log in `/proc`, and
/// in a PID namespace (a container, here PID 1 of `unshare --pid --fork --mount-proc`)
/// `/proc` shows only the namespace's processes. A log on a shared volume that a process
/// outside (the host's log shipper, another container's daemon) opened while this start
/// was under way is deleted under it when the start fails: Broken 10 of `broken.rs`, back
/// across a namespace. The shim holds the daemon (PID 2) at its `chdir`, after it created
/// the log; the test opens the log from outside and removes the working directory, so the
/// `chdir` fails (exit 71 or so) and the start takes back what it created. A start that
/// cannot see every process (its `/proc` is another PID namespace's than the init one's)
/// should leave an empty log it created rather than delete it.
#[test]
fn as_pid_1_a_failed_start_deletes_a_log_a_process_outside_the_namespace_has_open() {
    if !can_unshare() {
        return;
    }
    let sb = Sandbox::new("broken2-pid1-shared-log");
    let pidfile = sb.path("d.pid");
    let log = sb.path("shared.log");
    let work = sb.path("work");
    fs::create_dir(&work).unwrap();
    let mark = sb.path("at-chdir");
    let Some(env) = delayed(
        "chdir",
        1000,
        &[
            ("SHIM_PATH", s(&work).to_owned()),
            ("SHIM_MARK", s(&mark).to_owned()),
        ],
    ) else {
        eprintln!("skipped: no C compiler for the delay shim");
        return;
    };
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", SERVICE])
        .args(["--pidfile", s(&pidfile), "--stdout", s(&log)])
        .args(["--workdir", s(&work), "--tag"])
        .arg(sb.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for key in [
        "NOTIFY_SOCKET",
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
    ] {
        cmd.env_remove(key);
    }
    let child = cmd.spawn().unwrap();
    wait_until("the daemon created its log and is at chdir", || {
        mark.exists()
    });
    // Another process, outside the namespace, opens the shared log to write to it.
    let other = fs::OpenOptions::new().append(true).open(&log).unwrap();
    fs::remove_dir(&work).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(0),
        "the start should fail: {stderr}"
    );
    let still = log.exists();
    drop(other);
    assert!(
        still,
        "the failed start ({:?}: {}) deleted {log:?}, which a process outside its PID \
         namespace has open",
        out.status.code(),
        stderr.trim_end()
    );
}
