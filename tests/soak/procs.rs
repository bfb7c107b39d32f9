//! Every process the soak starts: spawned with a tag on its command line, reaped here (the
//! soak is a child subreaper, so the daemons become its children once their first parent
//! exits), and killed by PID when the soak ends, however it ends.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How often a wait looks again.
const POLL: Duration = Duration::from_micros(100);

/// The processes of one soak run, all tagged with a path under `root`.
pub struct Procs {
    root: PathBuf,
    /// Exit statuses reaped and not yet asked for, by PID; emptied at each try.
    reaped: HashMap<i32, WaitStatus>,
}

impl Procs {
    /// Makes this process the child subreaper: a daemon whose first parent exits becomes our
    /// child, so that we can reap it and know it is gone.
    pub fn new(root: &Path) -> Result<Procs, String> {
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
        Ok(Procs {
            root: root.to_owned(),
            reaped: HashMap::new(),
        })
    }

    /// Runs `program` with `args` and `--tag tag`, stdin and stdout on `/dev/null`, stderr into
    /// the file `stderr`; returns at once (after the `exec`) with its PID.
    pub fn spawn(
        &mut self,
        program: &str,
        args: &[&str],
        tag: &Path,
        stderr: &Path,
    ) -> Result<Pid, String> {
        self.spawn_with(program, args, tag, stderr, |_| {})
    }

    /// Like [`Procs::spawn`], letting `setup` change the command first.
    pub fn spawn_with(
        &mut self,
        program: &str,
        args: &[&str],
        tag: &Path,
        stderr: &Path,
        setup: impl FnOnce(&mut Command),
    ) -> Result<Pid, String> {
        let err = File::create(stderr).map_err(|e| format!("create {}: {e}", stderr.display()))?;
        let mut cmd = Command::new(program);
        setup(&mut cmd);
        let child = cmd
            .args(args)
            .arg("--tag")
            .arg(tag)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn {program}: {e}"))?;
        // The `Child` is dropped without a wait: every child is reaped by `reap`.
        Ok(Pid::from_raw(child.id() as i32))
    }

    /// Forgets the statuses of the last try, whose PIDs the kernel may hand out again.
    pub fn new_try(&mut self) {
        self.reap();
        self.reaped.clear();
    }

    /// Reaps every child that has exited, keeping its status for [`Procs::wait`].
    pub fn reap(&mut self) {
        // Bounded: there are never more children than this at once.
        for _ in 0..100_000 {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Err(Errno::EINTR) => {}
                Ok(status) => {
                    if let Some(pid) = status.pid() {
                        self.reaped.insert(pid.as_raw(), status);
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// Waits up to `timeout` for `pid`, a child or a daemon that becomes one, to exit.
    pub fn wait(&mut self, pid: Pid, timeout: Duration) -> Option<WaitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            self.reap();
            if let Some(status) = self.reaped.remove(&pid.as_raw()) {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kills `pid` (SIGKILL) and waits up to a second for it.
    pub fn kill_and_wait(&mut self, pid: Pid) {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = self.wait(pid, Duration::from_secs(1));
    }

    /// Kills every live process tagged with `tag`, by PID, and reaps them.
    pub fn kill_tagged(&mut self, tag: &Path) {
        for _ in 0..50 {
            let pids = tagged(tag);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = kill(pid, Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
            self.reap();
        }
        self.reap();
    }
}

impl Drop for Procs {
    /// Kills, by PID, every child of the soak (the starting commands it spawned and the
    /// daemons adopted as subreaper) and every process tagged under its directory (a daemon
    /// whose first parent still lives), then reaps them. Runs on a panic too.
    fn drop(&mut self) {
        for _ in 0..50 {
            let me = std::process::id() as i32;
            let pids = scan(|pid, args| {
                args.iter()
                    .any(|arg| Path::new(arg).starts_with(&self.root))
                    || stat(pid).is_some_and(|s| s.ppid == me && s.state != 'Z')
            });
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = kill(pid, Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(10));
            self.reap();
        }
        self.reap();
    }
}

/// Live processes with `tag` as one whole argument of their command line (a zombie has none).
pub fn tagged(tag: &Path) -> Vec<Pid> {
    scan(|_, args| args.iter().any(|arg| arg == tag))
}

/// The processes of `/proc` whose PID and arguments satisfy `select`.
fn scan(mut select: impl FnMut(Pid, &[PathBuf]) -> bool) -> Vec<Pid> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let pid = Pid::from_raw(pid);
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<PathBuf> = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| PathBuf::from(OsStr::from_bytes(a)))
            .collect();
        if select(pid, &args) {
            found.push(pid);
        }
    }
    found
}

/// The fields of `/proc/<pid>/stat` the soak reads.
pub struct Stat {
    pub state: char,
    pub ppid: i32,
}

/// `/proc/<pid>/stat`, if the process exists.
pub fn stat(pid: Pid) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat { state, ppid })
}

/// Whether `pid` is a running (not zombie) process.
pub fn alive(pid: Pid) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// What the kernel says `pid` is blocked in (`/proc/<pid>/wchan`), if anything.
pub fn wchan(pid: Pid) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// Makes the command's process run at nice 10, below the soak and the daemons it signals, so
/// that a hundred of them runnable at once do not delay the soak's own timing.
pub fn nice(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec, where only async-signal-safe calls are
    // allowed: `setpriority` is a plain system call, given integers only, and nothing is
    // allocated.
    unsafe {
        cmd.pre_exec(|| {
            if nix::libc::setpriority(nix::libc::PRIO_PROCESS, 0, 10) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A pipe whose read end the starting commands inherit (`--gate-fd`): they block reading it
/// until [`Gate::open`] closes the only write end, then all race at once.
pub struct Gate {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl Gate {
    pub fn new() -> Result<Gate, String> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe2: {e}"))?;
        // The read end only is inherited; a child holding the write end would never see EOF.
        fcntl(&read, FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| format!("fcntl(F_SETFD): {e}"))?;
        Ok(Gate {
            read,
            write: Some(write),
        })
    }

    /// The descriptor to pass as `--gate-fd`.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Releases every process blocked at the gate.
    pub fn open(&mut self) {
        self.write = None;
    }
}
