//! Starting the programs: how long until the starting command returns and until the PID file
//! holds the daemon's PID, what is true at the moment it returns, and what the daemon holds.
//!
//! Each run starts a program as the leader of a process group of its own and watches two
//! things at once with `poll`: the starting command's pidfd, readable the moment it exits,
//! and an inotify watch on the directory of the PID file, which wakes the bench whenever the
//! file is created or written. Both times are taken from the `spawn`.
//!
//! At the moment the pidfd says the starting command exited, the bench reads the PID file,
//! reaps the starting command and sends signal 0 to its process group: a process of the
//! daemon that is not yet in a session of its own is still in that group, and is what a
//! shell's job control or a CI runner that waits for the group would wait for.
//!
//! This process is a child subreaper, so each daemon re-parents to it. The daemon's PID is
//! the one the PID file holds, and it must be a child of this process: it is ended by that
//! PID with SIGTERM and reaped, so its PID cannot be reused before it is signalled. Nothing is
//! ever signalled by name.

use std::fs::File;
use std::os::fd::{AsFd, FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::common::{Context, Result, WorkDir};

/// How long a run may take before the bench gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(10);

/// One program of the benchmark.
pub struct Program {
    /// The name in the table.
    pub name: String,
    pub exe: &'static str,
    /// Whether it daemonizes; only the baseline does not.
    pub forks: bool,
}

/// What one run measured and saw.
pub struct Run {
    /// From `spawn` until the starting command exited.
    pub returned: Duration,
    /// From `spawn` until the PID file held the daemon's PID.
    pub pidfile: Duration,
    /// Whether the PID file held the daemon's PID when the starting command exited.
    pub held: bool,
    /// Whether a process was still in the starting command's process group then.
    pub in_group: bool,
}

/// What a running daemon holds, from `/proc/<pid>`.
pub struct Holdings {
    pub threads: u64,
    pub fds: u64,
    pub rss_kib: u64,
    /// Whether the descriptor every program inherits from the bench is still open.
    pub inherited: bool,
}

/// The files of the runs, and the watch on the PID files' directory.
pub struct Bench {
    pids: PathBuf,
    logs: PathBuf,
    watch: Inotify,
    /// A file the bench holds open without close-on-exec, so that every program inherits it,
    /// as a daemon started from a shell or a service inherits descriptors it never asked for.
    inherited: (File, PathBuf),
}

impl Bench {
    /// Makes this process a child subreaper and creates the directories in `dir`.
    pub fn new(dir: &WorkDir) -> Result<Bench> {
        nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper")?;
        let pids = dir.0.join("pids");
        let logs = dir.0.join("logs");
        // The empty directory the program with every option changes root to.
        let root = dir.0.join("root");
        for path in [&pids, &logs, &root] {
            std::fs::create_dir(path).with_context(|| format!("creating {}", path.display()))?;
        }
        let watch = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .context("creating an inotify instance")?;
        watch
            .add_watch(
                &pids,
                AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_MODIFY
                    | AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_MOVED_TO,
            )
            .with_context(|| format!("watching {}", pids.display()))?;
        let inherited = dir.0.join("inherited");
        let file = File::create(&inherited)
            .with_context(|| format!("creating {}", inherited.display()))?;
        fcntl(&file, FcntlArg::F_SETFD(FdFlag::empty()))
            .context("clearing close-on-exec on the inherited descriptor")?;
        Ok(Bench {
            pids,
            logs,
            watch,
            inherited: (file, inherited),
        })
    }

    fn pidfile(&self, program: &Program) -> PathBuf {
        self.pids.join(format!("{}.pid", program.name))
    }

    fn log(&self, program: &Program) -> PathBuf {
        self.logs.join(format!("{}.log", program.name))
    }

    /// The starting command's stderr, shown when a run fails.
    fn stderr(&self, program: &Program) -> PathBuf {
        self.logs.join(format!("{}.stderr", program.name))
    }

    /// Starts `program` once, measures it, then ends its daemon. With `holdings`, also reads
    /// what the daemon holds once its log line is written.
    pub fn run(&self, program: &Program, holdings: bool) -> Result<(Run, Option<Holdings>)> {
        let pidfile = self.pidfile(program);
        remove_if_there(&pidfile)?;
        self.drain_watch()?;
        let stderr_path = self.stderr(program);
        let stderr = File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut command = Command::new(program.exe);
        command
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--log")
            .arg(self.log(program))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let start = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", program.exe))?;
        let starter = Pid::from_raw(child.id() as i32);
        let exited = pidfd_open(starter)?;

        let mut seen: Option<(Pid, Duration)> = None;
        let mut at_return: Option<(Duration, bool, bool)> = None;
        while seen.is_none() || at_return.is_none() {
            let left = RUN_TIMEOUT.saturating_sub(start.elapsed());
            if left.is_zero() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{}: after {RUN_TIMEOUT:?}, {}{}",
                    program.name,
                    if at_return.is_none() {
                        "the starting command had not returned"
                    } else {
                        "the PID file held no PID"
                    },
                    self.starter_said(program)
                ));
            }
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = vec![PollFd::new(self.watch.as_fd(), PollFlags::POLLIN)];
            if at_return.is_none() {
                fds.push(PollFd::new(exited.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(format!("poll: {e}")),
            }
            let returned = fds
                .get(1)
                .and_then(PollFd::revents)
                .is_some_and(|events| !events.is_empty());
            // The watch first: a PID file written just before the return counts as before it.
            self.drain_watch()?;
            if seen.is_none()
                && let Some(pid) = read_pid(&pidfile)?
            {
                seen = Some((pid, start.elapsed()));
            }
            if returned {
                let elapsed = start.elapsed();
                let now = read_pid(&pidfile)?;
                // Reaped first: until then the starting command is in its group itself.
                let status = child.wait().context("reaping the starting command")?;
                let in_group = kill(Pid::from_raw(-starter.as_raw()), None).is_ok();
                if !status.success() {
                    return Err(format!(
                        "{}: the starting command ended with {status}{}",
                        program.name,
                        self.starter_said(program)
                    ));
                }
                if seen.is_none()
                    && let Some(pid) = now
                {
                    seen = Some((pid, elapsed));
                }
                let held = now.is_some() && now == seen.map(|(pid, _)| pid);
                at_return = Some((elapsed, held, in_group));
            }
        }
        let ((daemon, pidfile_time), (returned, held, in_group)) = (
            seen.expect("loop ends once seen"),
            at_return.expect("and returned"),
        );
        let run = Run {
            returned,
            pidfile: pidfile_time,
            held,
            in_group,
        };

        if !program.forks {
            if daemon != starter {
                return Err(format!(
                    "{}: the PID file holds {daemon}, not the program's PID {starter}",
                    program.name
                ));
            }
            return Ok((run, None));
        }
        if daemon == starter {
            return Err(format!(
                "{}: the PID file holds the starting command's PID",
                program.name
            ));
        }
        self.adopt(program, daemon, start)?;
        let result = self.check_daemon(program, daemon, &pidfile, holdings);
        let ended = self.end(daemon);
        let holdings = result?;
        ended?;
        reap_strays()?;
        remove_if_there(&pidfile)?;
        Ok((run, holdings))
    }

    /// Waits until `daemon` is a child of this process.
    fn adopt(&self, program: &Program, daemon: Pid, start: Instant) -> Result<()> {
        loop {
            match parent_of(daemon)? {
                Some(parent) if parent == nix::unistd::getpid() => break,
                Some(_) if start.elapsed() < RUN_TIMEOUT => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                other => {
                    return Err(format!(
                        "{}: the PID file holds {daemon}, which is {}",
                        program.name,
                        match other {
                            Some(parent) => format!("a child of {parent}, not of the bench"),
                            None => "not a live process".to_owned(),
                        }
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks that the PID file still names `daemon`; with `holdings`, waits for its log line
    /// and reads what it holds.
    fn check_daemon(
        &self,
        program: &Program,
        daemon: Pid,
        pidfile: &Path,
        holdings: bool,
    ) -> Result<Option<Holdings>> {
        let now = read_pid(pidfile)?;
        if now != Some(daemon) {
            return Err(format!(
                "{}: the PID file first held {daemon}, then {now:?}",
                program.name
            ));
        }
        if !holdings {
            return Ok(None);
        }
        self.wait_for_line(program, daemon)?;
        read_holdings(daemon, &self.inherited.1).map(Some)
    }

    /// Waits until the log holds `<pid> started`: the program's job is done, and it sleeps.
    fn wait_for_line(&self, program: &Program, pid: Pid) -> Result<()> {
        let line = format!("{pid} started\n");
        let path = self.log(program);
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.ends_with(&line) {
                return Ok(());
            }
            if start.elapsed() > RUN_TIMEOUT {
                return Err(format!(
                    "{}: {} has no line `{}`",
                    program.name,
                    path.display(),
                    line.trim_end()
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Ends `daemon`, a child of this process, with SIGTERM and reaps it.
    fn end(&self, daemon: Pid) -> Result<()> {
        kill(daemon, Signal::SIGTERM).with_context(|| format!("signalling {daemon}"))?;
        match reap(daemon)? {
            WaitStatus::Signaled(_, Signal::SIGTERM, _) | WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(format!("the daemon {daemon} ended with {other:?}")),
        }
    }

    /// Kills and reaps every process left, after a failure: each is a child of this process
    /// (a daemon or an intermediate process re-parented to it, or a starting command that
    /// timed out), so its PID cannot have been reused.
    pub fn kill_all(&self) {
        let path = format!("/proc/self/task/{}/children", std::process::id());
        let children = std::fs::read_to_string(&path).unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
        {
            let pid = Pid::from_raw(pid);
            if let Err(e) = kill(pid, Signal::SIGKILL) {
                eprintln!("killing {pid}: {}", e.desc());
            }
            let _ = reap(pid);
        }
    }

    /// Measures the baseline's holdings: `nofork --linger`, read once its line is written,
    /// then ended with SIGTERM.
    pub fn baseline_holdings(&self, program: &Program) -> Result<Holdings> {
        let pidfile = self.pidfile(program);
        let mut child = Command::new(program.exe)
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--log")
            .arg(self.log(program))
            .arg("--linger")
            .arg(RUN_TIMEOUT.as_secs().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", program.exe))?;
        let pid = Pid::from_raw(child.id() as i32);
        let holdings = self
            .wait_for_line(program, pid)
            .and_then(|()| read_holdings(pid, &self.inherited.1));
        // Still the unreaped child: its PID is not reused.
        let _ = kill(pid, Signal::SIGTERM);
        let _ = child.wait();
        remove_if_there(&pidfile)?;
        holdings
    }

    /// What the starting command wrote to stderr, as the end of an error message.
    fn starter_said(&self, program: &Program) -> String {
        match std::fs::read_to_string(self.stderr(program)) {
            Ok(text) if !text.trim().is_empty() => format!("; it said: {}", text.trim()),
            _ => String::new(),
        }
    }

    /// Empties the watch's queue of events, which only say that something changed.
    fn drain_watch(&self) -> Result<()> {
        loop {
            match self.watch.read_events() {
                Ok(events) if !events.is_empty() => continue,
                Ok(_) | Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(format!("reading the inotify watch: {e}")),
            }
        }
    }
}

/// A pidfd for `pid`, readable once it exits. `pid` is an unreaped child, so it is this one.
fn pidfd_open(pid: Pid) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor or -1; no memory
    // is passed.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(format!("pidfd_open({pid}): {}", Errno::last()));
    }
    // SAFETY: the descriptor was just returned to this process and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The PID in the file at `path`: digits and a newline, as every program writes it. `None`
/// if the file is missing, empty or not complete yet.
fn read_pid(path: &Path) -> Result<Option<Pid>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    Ok(text
        .strip_suffix('\n')
        .and_then(|digits| digits.parse::<i32>().ok())
        .filter(|&pid| pid > 0)
        .map(Pid::from_raw))
}

/// The parent of `pid` from `/proc/<pid>/stat`; `None` if it is gone.
fn parent_of(pid: Pid) -> Result<Option<Pid>> {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Ok(None);
    };
    // The command name, in parentheses, may hold spaces: the fields after it are fixed.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    match (fields.first(), fields.get(1)) {
        (Some(&"Z"), _) => Ok(None),
        (Some(_), Some(ppid)) => ppid
            .parse()
            .map(|ppid| Some(Pid::from_raw(ppid)))
            .map_err(|e| format!("/proc/{pid}/stat: parent {ppid:?}: {e}")),
        _ => Err(format!("/proc/{pid}/stat: {stat:?}")),
    }
}

/// Threads and RSS from `/proc/<pid>/status`; descriptors from `/proc/<pid>/fd`, and whether
/// one of them is the file at `inherited`.
fn read_holdings(pid: Pid, inherited: &Path) -> Result<Holdings> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| format!("{path} has no {name}"))
    };
    let fd_dir = format!("/proc/{pid}/fd");
    let targets: Vec<PathBuf> = std::fs::read_dir(&fd_dir)
        .with_context(|| format!("reading {fd_dir}"))?
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .collect();
    Ok(Holdings {
        threads: field("Threads:")?,
        fds: targets.len() as u64,
        rss_kib: field("VmRSS:")?,
        inherited: targets.iter().any(|target| target == inherited),
    })
}

/// Waits for the child `pid` to end, retrying on `EINTR`.
fn reap(pid: Pid) -> Result<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => return other.with_context(|| format!("waiting for {pid}")),
        }
    }
}

/// Reaps the intermediate processes that re-parented to this process and have exited. Every
/// daemon has been ended and reaped by the time this runs, so any child left is one of them.
fn reap_strays() -> Result<()> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("reaping: {e}")),
        }
    }
}

fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("removing {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}
