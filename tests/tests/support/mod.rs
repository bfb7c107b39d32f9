//! What every integration test needs: a temporary directory of its own, the fixture started
//! under a watchdog, the daemon inspected through `/proc`, and every process it started ended
//! by PID when the test ends, pass or fail.
#![allow(dead_code)] // each test file uses part of it

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// A real systemd as PID 1 of a private namespace, for the tests through `systemctl`.
pub mod systemd;

pub const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture");
/// The fixture for readiness, stop requests, privileges and control commands.
pub const SERVICE: &str = env!("CARGO_BIN_EXE_service");

/// How long a start may take before the watchdog kills it and fails the test.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to exit once signalled.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes this test process the child subreaper, once: daemons re-parent to it, so a test can
/// reap the daemon it ended and know that it is gone.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER"));
}

/// One test's temporary directory and the daemons it started.
pub struct Sandbox {
    dir: PathBuf,
    daemons: Mutex<Vec<Pid>>,
}

/// What a starting command did.
#[derive(Debug)]
pub struct Start {
    pub pid: u32,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        become_subreaper();
        let dir =
            std::env::temp_dir().join(format!("daemon-rt-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        Sandbox {
            dir,
            daemons: Mutex::new(Vec::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs the fixture with `args` and waits for the starting command to return.
    pub fn start(&self, args: &[&str]) -> Start {
        self.start_with(args, |_| {})
    }

    /// Like [`Sandbox::start`], letting `setup` change the command first (`pre_exec`, ...).
    pub fn start_with(&self, args: &[&str], setup: impl FnOnce(&mut Command)) -> Start {
        self.run(FIXTURE, args, |cmd| {
            cmd.arg("--tag").arg(&self.dir);
            setup(cmd);
        })
    }

    /// Runs the service fixture with `args` (and its `--tag`), and waits for it to return.
    pub fn service(&self, args: &[&str]) -> Start {
        self.run(SERVICE, args, |cmd| {
            cmd.arg("--tag").arg(&self.dir);
        })
    }

    /// Runs `program` with `args`, stdin on `/dev/null` and its output captured, under the
    /// watchdog; `setup` may change the command first (more arguments, the environment,
    /// `pre_exec`).
    pub fn run(&self, program: &str, args: &[&str], setup: impl FnOnce(&mut Command)) -> Start {
        self.run_for(START_TIMEOUT, program, args, setup)
    }

    /// Like [`Sandbox::run`], with a watchdog of `timeout`: for a start that must not hang.
    pub fn run_for(
        &self,
        timeout: Duration,
        program: &str,
        args: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> Start {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        let child = cmd.spawn().expect("spawn the fixture");
        let pid = child.id();
        let out = watchdog(child, timeout, &format!("running {program} {args:?}"));
        Start {
            pid,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `program` with `args` as [`Sandbox::run`] does, under a watchdog of `timeout`
    /// rather than the usual one, and returns its PID and output. A command that does not
    /// return in time is killed by PID, and so is every process with this sandbox's tag;
    /// that is an `Err`, not a failed test, so that a table of cases goes on to the next.
    pub fn run_within(
        &self,
        program: &str,
        args: &[impl AsRef<OsStr>],
        timeout: Duration,
        setup: impl FnOnce(&mut Command),
    ) -> Result<(u32, Output), String> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        let pid = child.id();
        match wait_within(child, timeout) {
            Some(out) => Ok((pid, out)),
            None => {
                for leftover in self.leftovers() {
                    let _ = kill(Pid::from_raw(leftover as i32), Signal::SIGKILL);
                }
                Err(format!(
                    "the start hung: no return within {timeout:?}; killed"
                ))
            }
        }
    }

    /// Starts the fixture and expects success; returns the daemon's PID from `pidfile`,
    /// recorded so the sandbox ends it if the test does not.
    pub fn start_ok(&self, pidfile: &Path, args: &[&str]) -> (Start, Pid) {
        self.started(pidfile, self.start(args))
    }

    /// Like [`Sandbox::start_ok`], for the service fixture.
    pub fn service_ok(&self, pidfile: &Path, args: &[&str]) -> (Start, Pid) {
        self.started(pidfile, self.service(args))
    }

    fn started(&self, pidfile: &Path, start: Start) -> (Start, Pid) {
        assert_eq!(start.code, Some(0), "start failed: {start:?}");
        let pid = read_pid(pidfile).unwrap_or_else(|| panic!("no PID in {pidfile:?} at return"));
        self.track(pid);
        (start, pid)
    }

    /// Records a daemon the sandbox must end if the test does not.
    pub fn track(&self, pid: Pid) {
        self.daemons.lock().unwrap().push(pid);
    }

    /// Sends `signal` to the daemon `pid` and waits until it has exited; returns how.
    pub fn stop(&self, pid: Pid, signal: Signal) -> WaitStatus {
        kill(pid, signal).expect("signal the daemon");
        self.wait_exit(pid)
    }

    /// Waits (with a deadline) for the daemon `pid`, a child of this subreaper, to exit.
    pub fn wait_exit(&self, pid: Pid) -> WaitStatus {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
                Ok(status) => {
                    self.daemons.lock().unwrap().retain(|p| *p != pid);
                    return status;
                }
                Err(e) => panic!("waitpid({pid}): {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "daemon {pid} did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Processes still running with this sandbox as one argument of their command line (the
    /// fixture's `--tag`).
    pub fn leftovers(&self) -> Vec<u32> {
        tagged(&self.dir)
    }
}

/// Processes running with `tag` as one whole argument of their command line.
pub fn tagged(tag: &Path) -> Vec<u32> {
    let tag = tag.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // One whole argument equal to the tag: a sandbox whose name extends this one's
        // (`x` and `x-y`) is another test's.
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline.split(|&b| b == 0).any(|arg| arg == tag) {
            found.push(pid);
        }
    }
    found
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The daemons recorded, and any process of this sandbox a failed assertion kept the
        // test from recording (found by the tag on its command line): ended by PID.
        let mut pids = std::mem::take(&mut *self.daemons.lock().unwrap());
        pids.extend(
            self.leftovers()
                .into_iter()
                .map(|pid| Pid::from_raw(pid as i32)),
        );
        pids.sort_unstable();
        pids.dedup();
        for pid in pids {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits for `child` to exit and collects its output, killing it (by PID) after `timeout`.
fn watchdog(child: std::process::Child, timeout: Duration, what: &str) -> Output {
    wait_within(child, timeout).unwrap_or_else(|| panic!("{what}: no return within {timeout:?}"))
}

/// Waits for `child` to exit and collects its output; after `timeout`, kills it (by PID) and
/// returns `None`.
fn wait_within(child: std::process::Child, timeout: Duration) -> Option<Output> {
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(timeout) {
        Ok(out) => Some(out.expect("wait for the starting command")),
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            None
        }
    }
}

pub fn read_pid(pidfile: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let pid: i32 = text.strip_suffix('\n')?.parse().ok()?;
    Some(Pid::from_raw(pid))
}

/// The fields of `/proc/<pid>/stat` the tests look at.
#[derive(Debug)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
}

pub fn stat(pid: Pid) -> Stat {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Stat {
        state: f[0].chars().next().unwrap(),
        ppid: f[1].parse().unwrap(),
        pgrp: f[2].parse().unwrap(),
        session: f[3].parse().unwrap(),
        tty_nr: f[4].parse().unwrap(),
    }
}

/// `/proc/<pid>/status` as a map from field to value.
pub fn status(pid: Pid) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The daemon's open descriptors and what each points to.
pub fn fds(pid: Pid) -> BTreeMap<i32, PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .flatten()
        .map(|e| {
            let fd = e.file_name().to_str().unwrap().parse().unwrap();
            (fd, std::fs::read_link(e.path()).unwrap_or_default())
        })
        .collect()
}

/// The daemon's open descriptors once it has closed its end of the readiness pipe, which it
/// does right after writing "ready" into it, so a moment after the starting command may have
/// returned. Waits up to 2 s for no descriptor to be a pipe.
pub fn settled_fds(pid: Pid) -> BTreeMap<i32, PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let open = fds(pid);
        let pipe = |target: &PathBuf| target.to_string_lossy().starts_with("pipe:");
        if !open.values().any(pipe) || Instant::now() > deadline {
            return open;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` is a running (not zombie) process.
pub fn alive(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok() && stat(pid).state != 'Z'
}

/// Makes the command run its child with `fd` (an open descriptor of this process) also
/// available, not close-on-exec, as each of `targets`.
pub fn inherit_fd_as(cmd: &mut Command, fd: i32, targets: &'static [i32]) {
    // SAFETY: the closure runs between fork and exec, where only async-signal-safe calls are
    // allowed: it calls `dup2` only, with plain integers, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for &target in targets {
                if nix::libc::dup2(fd, target) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The delay shim (`tests/shim/delay.c`), built once per test process with the system's C
/// compiler; `None`, with a message, where there is none. Loaded with `LD_PRELOAD`, it makes
/// one chosen system call of the process wait, so that a race window is open every time.
pub fn shim() -> Option<PathBuf> {
    static SHIM: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    SHIM.get_or_init(|| build_shim("delay")).clone()
}

/// `tests/shim/<name>.c` built into a shared object to load with `LD_PRELOAD`; `None`, with a
/// message, where the system has no C compiler.
pub fn build_shim(name: &str) -> Option<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("shim/{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-shim-{}.so", std::process::id()));
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status();
    match built {
        Ok(status) if status.success() => Some(out),
        other => {
            eprintln!("skipped: cannot build the {name} shim with cc: {other:?}");
            None
        }
    }
}

/// How long a start that must not hang gets before the watchdog calls it a hang.
pub const NO_HANG: Duration = Duration::from_secs(5);

/// Polls `cond` every 5 ms until it holds; fails the test after 10 s.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not the case after 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The starting command's stderr: exactly one line, with no control character in it.
pub fn one_line(start: &Start) -> &str {
    let line = start
        .stderr
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no line on stderr: {start:?}"));
    assert!(
        !line.chars().any(char::is_control),
        "more than one line, or a control character: {start:?}"
    );
    line
}

/// Runs the service fixture with `args`, its tag, the environment `env`, and a watchdog of
/// [`NO_HANG`].
pub fn service_env(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Start {
    sb.run_for(NO_HANG, SERVICE, args, |cmd| {
        cmd.arg("--tag").arg(sb.dir());
        cmd.envs(env.iter().copied());
    })
}

/// The shim's variables for delaying `call` (see `tests/shim/delay.c`), plus `extra`; `None`
/// (the test skips) without a C compiler.
pub fn delayed(call: &str, ms: u32, extra: &[(&str, String)]) -> Option<Vec<(String, String)>> {
    let shim = shim()?;
    let mut env = vec![
        ("LD_PRELOAD".to_owned(), shim.to_str()?.to_owned()),
        ("SHIM_CALL".to_owned(), call.to_owned()),
        ("SHIM_MS".to_owned(), ms.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Some(env)
}

/// `env` as [`service_env`] takes it.
pub fn as_env(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// How long a [`Manager`] waits for a datagram.
pub const NOTIFY_DEADLINE: Duration = Duration::from_secs(10);

/// A notification socket, as a service manager binds it.
pub struct Manager {
    pub socket: UnixDatagram,
    /// The value of `$NOTIFY_SOCKET` that names it.
    pub address: String,
}

impl Manager {
    /// A socket at a path in the sandbox.
    pub fn at_path(sb: &Sandbox) -> Manager {
        let path = sb.path("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notification socket");
        Manager::new(socket, path.to_str().unwrap().to_owned())
    }

    /// A socket in the abstract namespace, named after this test process.
    pub fn abstract_named(suffix: &str) -> Manager {
        let name = format!("daemon-rt-test-{}-{suffix}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&address).expect("bind the abstract socket");
        Manager::new(socket, format!("@{name}"))
    }

    pub fn new(socket: UnixDatagram, address: String) -> Manager {
        socket.set_read_timeout(Some(NOTIFY_DEADLINE)).unwrap();
        Manager { socket, address }
    }

    /// The next datagram, waiting up to the deadline; `what` says what was expected.
    pub fn recv(&self, what: &str, log: &Path) -> String {
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => panic!(
                "no datagram ({what}) within {NOTIFY_DEADLINE:?}: {e}; the daemon's output: {:?}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    }

    /// The next datagram if one comes within `timeout`.
    pub fn try_recv(&self, timeout: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        let got = self.socket.recv(&mut buf);
        self.socket.set_read_timeout(Some(NOTIFY_DEADLINE)).unwrap();
        got.ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The datagrams already queued, without waiting: once the sender has exited, all it sent.
    pub fn drain(&self) -> Vec<String> {
        self.socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while let Ok(n) = self.socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.socket.set_nonblocking(false).unwrap();
        got
    }
}

/// `path` as the `&str` a command line takes (the tests' paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Variables through which a service manager talks to the process: removed from every command
/// the tests run, so a test run under a service manager is not confused by its own.
pub const MANAGER_ENV: [&str; 5] = [
    "NOTIFY_SOCKET",
    "LISTEN_PID",
    "LISTEN_FDS",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
];

/// Whether `program` is on `PATH`.
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file()))
    })
}

/// Starts the service fixture with `args` (and its `--tag`) as a child the test keeps, with
/// `env` set, stdin on `/dev/null` and its output in the sandbox's `service.log`; records it
/// for the sandbox to end.
pub fn spawn_service(
    sb: &Sandbox,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, Pid) {
    let mut cmd = Command::new(SERVICE);
    cmd.args(args).arg("--tag").arg(sb.dir());
    spawn_logged(sb, cmd, env)
}

/// Spawns `cmd` as [`spawn_service`] does: without the manager's variables, with `env`, its
/// output in the sandbox's `service.log`, recorded for the sandbox to end.
pub fn spawn_logged(
    sb: &Sandbox,
    mut cmd: Command,
    env: &[(&str, &str)],
) -> (std::process::Child, Pid) {
    let log = std::fs::File::create(sb.path("service.log")).unwrap();
    for key in MANAGER_ENV {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let child = cmd.spawn().expect("spawn the service");
    let pid = Pid::from_raw(child.id() as i32);
    sb.track(pid);
    (child, pid)
}

/// The PIDs of the children of `pid` (`/proc/<pid>/task/*/children`).
pub fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    found
}

/// Whether this process may make a PID namespace with `unshare`; says why not when it cannot.
pub fn can_unshare() -> bool {
    if !is_root() {
        eprintln!("skipped: PID namespaces need root");
        return false;
    }
    let works = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        eprintln!("skipped: `unshare --pid --fork --mount-proc` does not work here");
    }
    works
}
