//! Asking about, signalling and stopping the daemon behind a PID file.
//!
//! A daemon started by this crate holds an exclusive `flock` on its PID file for its whole
//! life, and writes its PID and a newline into it. So here "running" means "the file is
//! locked", never "`kill(pid, 0)` succeeds": a PID left in the file by a killed daemon may
//! have been given to any other process since.
//!
//! Nothing is signalled on the file's word alone. Before every signal the file must still be
//! locked, and the PID written in it must have the file open (checked in `/proc/<pid>/fd`;
//! on macOS through libproc, on FreeBSD through `sysctl`); otherwise the call fails and the
//! PID is left alone. Where none of these exists (a NetBSD without procfs mounted), every
//! signal is refused.
//!
//! The same functions answer an init script's `start`, `stop`, `status`, `restart` and
//! `reload` for [`Daemon::control`](crate::Daemon::control), with the LSB exit statuses.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;

use crate::Signal;
use crate::error::{Error, ErrorKind, Escaped, Step, program_name};
use crate::pidfile::{PID_WAIT, names_file, read_pid, verified_holder};

/// How often [`stop`] tests whether the lock was released.
const POLL: Duration = Duration::from_millis(10);

/// How many times a look at the file starts over when the file is replaced under it.
const ATTEMPTS: usize = 8;

/// How long the init-script `stop` waits after SIGTERM before it sends SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the init-script `stop` waits after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What a PID file says about its daemon.
///
/// ```no_run
/// use daemon_rt::control::{self, Status};
///
/// if let Status::Stale { pid } = control::status("/run/ticker.pid")? {
///     eprintln!("ticker died (PID {pid:?}); its PID file is left");
/// }
/// # Ok::<(), daemon_rt::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The file is locked: the daemon runs.
    Running {
        /// The daemon's PID: the one written in the file, and only once that process is
        /// seen to hold the file open. `None` when the file is locked by a process that
        /// cannot be named: a daemon that has not written its PID yet, a file that holds
        /// no PID or another process's, a lock taken by another program or another user.
        pid: Option<u32>,
    },
    /// The file exists but nobody holds its lock: the daemon is dead (it was killed, or it
    /// dropped privileges and could not remove the file). Stale by definition.
    Stale {
        /// The PID of the dead daemon, as written in the file, if it is a valid PID.
        pid: Option<u32>,
    },
    /// There is no PID file.
    NotRunning,
}

/// What [`stop`] did.
///
/// ```no_run
/// use std::time::Duration;
///
/// let stopped = daemon_rt::control::stop("/run/ticker.pid", Duration::from_secs(10), None)?;
/// println!("stopped: {:?}", stopped.pid());
/// # Ok::<(), daemon_rt::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    pid: Option<u32>,
    killed: bool,
}

impl Stopped {
    /// Nothing was running: nothing was signalled.
    const NOTHING: Stopped = Stopped {
        pid: None,
        killed: false,
    };

    /// The PID of the daemon that was stopped, `None` if nothing was running.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let stopped = daemon_rt::control::stop("/run/ticker.pid", Duration::from_secs(10), None)?;
    /// if stopped.pid().is_none() {
    ///     println!("it was not running");
    /// }
    /// # Ok::<(), daemon_rt::Error>(())
    /// ```
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the daemon outlived the timeout and was ended by SIGKILL.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let secs = Duration::from_secs;
    /// let stopped = daemon_rt::control::stop("/run/ticker.pid", secs(10), Some(secs(5)))?;
    /// if stopped.killed() {
    ///     eprintln!("it ignored SIGTERM for 10 s");
    /// }
    /// # Ok::<(), daemon_rt::Error>(())
    /// ```
    #[must_use]
    pub fn killed(&self) -> bool {
        self.killed
    }
}

/// Tells whether the daemon of the PID file at `pidfile` runs.
///
/// The PID in [`Status::Running`] is the one written in the file, once that process is seen
/// to hold the file open (in `/proc/<pid>/fd`), so a PID that a dead instance left, or that
/// another program wrote, is never reported. A locked file without such a PID is read again
/// for up to 200 ms, the time a starting daemon takes to write it.
///
/// ```no_run
/// use daemon_rt::control::{self, Status};
///
/// match control::status("/run/ticker.pid")? {
///     Status::Running { pid: Some(pid) } => println!("running as PID {pid}"),
///     Status::Running { pid: None } => println!("starting"),
///     Status::Stale { .. } => println!("dead, but its PID file remains"),
///     Status::NotRunning => println!("not running"),
/// }
/// # Ok::<(), daemon_rt::Error>(())
/// ```
///
/// # Errors
///
/// [`Step::ReadPidfile`]: [`ErrorKind::InvalidConfig`] when the path is a symbolic link or
/// not a regular file; [`ErrorKind::PermissionDenied`] or [`ErrorKind::Io`] when it cannot
/// be opened or its lock cannot be tested.
pub fn status(pidfile: impl AsRef<Path>) -> Result<Status, Error> {
    let path = pidfile.as_ref();
    Ok(match look(path)? {
        Look::Missing => Status::NotRunning,
        Look::Unlocked { pid } => Status::Stale { pid },
        Look::Locked(opened) => Status::Running {
            pid: verified_holder(&opened.file),
        },
    })
}

/// Sends `signal` to the daemon holding the PID file's lock; returns its PID.
///
/// The signal goes only to the PID written in the file, and only if the file is locked and
/// that process has the file open.
///
/// ```no_run
/// use daemon_rt::{Signal, control};
///
/// let pid = control::signal("/run/ticker.pid", Signal::SIGHUP)?;
/// println!("sent SIGHUP to PID {pid}");
/// # Ok::<(), daemon_rt::Error>(())
/// ```
///
/// # Errors
///
/// [`Step::SignalDaemon`] with [`ErrorKind::NotRunning`] when no process holds the lock
/// (no file, a stale file, or the daemon ended as it was signalled);
/// [`ErrorKind::InvalidConfig`] when the file is locked but its PID is missing or does not
/// hold the file open; [`ErrorKind::PermissionDenied`] when the daemon belongs to another
/// user. The errors of [`status`] when the file cannot be read.
pub fn signal(pidfile: impl AsRef<Path>, signal: Signal) -> Result<u32, Error> {
    let path = pidfile.as_ref();
    let step = Step::SignalDaemon;
    let opened = match look(path)? {
        Look::Missing => return Err(not_running(step, path, None)),
        Look::Unlocked { pid } => return Err(not_running(step, path, pid)),
        Look::Locked(opened) => opened,
    };
    // `None`: the daemon ended while it was being looked at.
    match holder(&opened, path, step, PID_WAIT)? {
        Some(pid) if send(pid, signal, step, path)? => Ok(pid),
        _ => Err(not_running(step, path, None)),
    }
}

/// Stops the daemon holding the PID file's lock: sends SIGTERM (and SIGCONT, so that a
/// stopped daemon gets to handle it), then waits up to `timeout` for the lock to be released,
/// testing it every 10 ms. If the daemon still runs and `kill_after` is `Some(grace)`, sends
/// SIGKILL and waits `grace` more.
///
/// Stopping a daemon that does not run succeeds, as an init script's `stop` does: the result
/// then has no [`Stopped::pid`].
///
/// ```no_run
/// use std::time::Duration;
///
/// let stopped = daemon_rt::control::stop(
///     "/run/ticker.pid",
///     Duration::from_secs(10),
///     Some(Duration::from_secs(5)),
/// )?;
/// match stopped.pid() {
///     Some(pid) if stopped.killed() => println!("killed PID {pid}"),
///     Some(pid) => println!("stopped PID {pid}"),
///     None => println!("not running"),
/// }
/// # Ok::<(), daemon_rt::Error>(())
/// ```
///
/// # Errors
///
/// [`Step::StopDaemon`] with [`ErrorKind::Timeout`] when the daemon still holds the lock at
/// the end; [`ErrorKind::InvalidConfig`] when the file is locked but its PID is missing or
/// does not hold the file open (nothing is signalled); [`ErrorKind::PermissionDenied`] when
/// the daemon belongs to another user. The errors of [`status`] when the file cannot be read.
pub fn stop(
    pidfile: impl AsRef<Path>,
    timeout: Duration,
    kill_after: Option<Duration>,
) -> Result<Stopped, Error> {
    let path = pidfile.as_ref();
    let step = Step::StopDaemon;
    let Look::Locked(opened) = look(path)? else {
        return Ok(Stopped::NOTHING);
    };
    // A daemon still starting is waited for, as long as its stop would be.
    let Some(pid) = holder(&opened, path, step, timeout)? else {
        return Ok(Stopped::NOTHING);
    };
    // A PID that is gone already (ESRCH) is what was asked for: the wait below confirms it.
    if send(pid, Signal::SIGTERM, step, path)? {
        send(pid, Signal::SIGCONT, step, path)?;
    }
    let stopped = Stopped {
        pid: Some(pid),
        killed: false,
    };
    if wait_unlocked(&opened.file, path, step, timeout)? {
        return Ok(stopped);
    }
    let Some(grace) = kill_after else {
        return Err(Error::new(
            step,
            ErrorKind::Timeout,
            Some(path),
            format!("PID {pid} still runs after {}", seconds(timeout)),
        ));
    };
    // Checked again: the holder may have ended, or the file may name another PID by now.
    let Some(pid) = holder(&opened, path, step, PID_WAIT)? else {
        return Ok(stopped);
    };
    send(pid, Signal::SIGKILL, step, path)?;
    if wait_unlocked(&opened.file, path, step, grace)? {
        return Ok(Stopped {
            pid: Some(pid),
            killed: true,
        });
    }
    Err(Error::new(
        step,
        ErrorKind::Timeout,
        Some(path),
        format!("PID {pid} still runs {} after SIGKILL", seconds(grace)),
    ))
}

/// The PID file, open read-only, with the identity of the file it names.
struct Opened {
    file: File,
    dev: u64,
    ino: u64,
}

/// One look at the PID file.
enum Look {
    /// There is no file.
    Missing,
    /// Nobody holds the lock; `pid` is what the file says.
    Unlocked { pid: Option<u32> },
    /// Somebody holds the lock.
    Locked(Opened),
}

/// Opens the file, tests its lock, and reads the PID of an unlocked one.
fn look(path: &Path) -> Result<Look, Error> {
    for _ in 0..ATTEMPTS {
        let Some(opened) = open(path)? else {
            return Ok(Look::Missing);
        };
        if is_locked(&opened.file, path, Step::ReadPidfile)? {
            return Ok(Look::Locked(opened));
        }
        // An exiting daemon removes its file and the next start creates a new one: an
        // unlocked file that is no longer at the path says nothing about what runs now.
        if names_file(path, opened.dev, opened.ino) {
            return Ok(Look::Unlocked {
                pid: read_pid(&opened.file),
            });
        }
    }
    Err(Error::new(
        Step::ReadPidfile,
        ErrorKind::Io,
        Some(path),
        "the file keeps being replaced while it is read",
    ))
}

/// Opens the file read-only without following a symbolic link or blocking on a FIFO; `None`
/// when there is no file. Anything but a regular file is refused.
fn open(path: &Path) -> Result<Option<Opened>, Error> {
    let refuse = |reason: &str| {
        Error::new(
            Step::ReadPidfile,
            ErrorKind::InvalidConfig,
            Some(path),
            reason,
        )
    };
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refuse(
                "it is a symbolic link, and a PID file is never followed through one",
            ));
        }
        Err(e) => return Err(Error::os(Step::ReadPidfile, Some(path), e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::os(Step::ReadPidfile, Some(path), e))?;
    if !meta.file_type().is_file() {
        return Err(refuse("it is not a regular file"));
    }
    Ok(Some(Opened {
        file,
        dev: meta.dev(),
        ino: meta.ino(),
    }))
}

/// Whether a process holds the file's `flock`, tested by taking a shared lock and releasing
/// it at once.
///
/// On Linux the kernel's list of locks (`/proc/locks`) is read instead, so that the test
/// takes no lock: a start that tried the lock at that moment would find it taken.
fn is_locked(file: &File, path: &Path, step: Step) -> Result<bool, Error> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(meta) = file.metadata()
        && let Some(locked) = crate::pidfile::flocked(meta.dev(), meta.ino())
    {
        return Ok(locked);
    }
    match file.try_lock_shared() {
        Ok(()) => {
            file.unlock().map_err(|e| Error::os(step, Some(path), e))?;
            Ok(false)
        }
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(Error::os(step, Some(path), e)),
    }
}

/// The PID of the process that holds the lock, checked: the file is locked, and the PID
/// written in it has the file open. `Ok(None)` when nobody holds the lock (any more).
///
/// A daemon that is starting holds the lock before its PID is in the file (and the file may
/// still hold a dead instance's): the file is read again until a PID checks out, for up to
/// `wait` (at least [`PID_WAIT`]), so that a `stop` right after a start stops the daemon
/// rather than giving up.
fn holder(opened: &Opened, path: &Path, step: Step, wait: Duration) -> Result<Option<u32>, Error> {
    let started = Instant::now();
    let waited = wait.max(PID_WAIT);
    loop {
        if !is_locked(&opened.file, path, step)? {
            return Ok(None);
        }
        let pid = read_pid(&opened.file);
        if let Some(pid) = pid
            && holds_open(pid, opened, path, step)?
        {
            return Ok(Some(pid));
        }
        // An empty file is a start in progress, waited for as long as asked; a PID that is
        // not the holder's is a dead instance's for a moment at most (the start empties
        // the file once it holds the lock), so it is given the short wait.
        let limit = if pid.is_none() { waited } else { PID_WAIT };
        if started.elapsed() >= limit {
            // The file is locked, so "not running" would be false; no system call failed
            // either, so neither `Os` nor `Io` fits. What is wrong is the file's content: it
            // names no process, or one that is not its holder, because two programs are
            // configured with one PID file or something else wrote into it. That is for
            // the administrator to fix: InvalidConfig.
            let reason = match pid {
                None => format!(
                    "it is locked but holds no valid PID after {}; refusing to signal",
                    seconds(limit)
                ),
                Some(pid) => format!(
                    "PID {pid} written in the file does not hold it open; refusing to signal it"
                ),
            };
            return Err(Error::new(
                step,
                ErrorKind::InvalidConfig,
                Some(path),
                reason,
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether process `pid` has the file open (see [`crate::pidfile::holds_open`]).
fn holds_open(pid: u32, opened: &Opened, path: &Path, step: Step) -> Result<bool, Error> {
    let own = opened.file.as_raw_fd();
    crate::pidfile::holds_open(pid, opened.dev, opened.ino, Some(own)).map_err(|e| {
        // Without `/proc` nothing can be checked: that is the system's state, not a file's.
        if e.kind() == io::ErrorKind::Unsupported {
            Error::new(step, ErrorKind::Os, Some(path), e.to_string())
        } else {
            // EACCES: another user's process. Its kind is PermissionDenied.
            Error::os(step, Some(path), e)
        }
    })
}

/// Sends `signal` to `pid`; `Ok(false)` when the process no longer exists (ESRCH).
fn send(pid: u32, signal: Signal, step: Step, path: &Path) -> Result<bool, Error> {
    // `parse_pid` only gives PIDs within `pid_t`, so the conversion never wraps, and never
    // to 0 or a negative number, which would signal process groups.
    match crate::sys::kill(pid as libc::pid_t, signal.as_raw()) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(Errno::ESRCH as i32) => Ok(false),
        Err(e) => Err(Error::os(step, Some(path), e)),
    }
}

/// Waits up to `within` for the file's lock to be released; `Ok(false)` if it is still held.
fn wait_unlocked(file: &File, path: &Path, step: Step, within: Duration) -> Result<bool, Error> {
    // A wait too long to be an instant (`Duration::MAX`) has no end.
    let deadline = Instant::now().checked_add(within);
    loop {
        if !is_locked(file, path, step)? {
            return Ok(true);
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            return Ok(false);
        }
        let left = deadline.map_or(POLL, |deadline| deadline - now);
        std::thread::sleep(POLL.min(left));
    }
}

/// The error for a PID file nobody holds, with the stale PID if the file names one.
fn not_running(step: Step, path: &Path, stale: Option<u32>) -> Error {
    let reason = match stale {
        Some(pid) => format!("not running (stale PID file, PID {pid})"),
        None => "not running".to_owned(),
    };
    Error::new(step, ErrorKind::NotRunning, Some(path), reason)
}

/// A duration as "10 s", or "250 ms" when it is not a whole number of seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// An init script's action, the program's first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Start the daemon.
    Start,
    /// Stop the daemon.
    Stop,
    /// Tell whether the daemon runs.
    Status,
    /// Stop the daemon if it runs, then start it.
    Restart,
    /// Send the daemon its reload signal.
    Reload,
}

impl Command {
    /// The action named by `arg`, if it names one.
    fn parse(arg: &OsStr) -> Option<Command> {
        Some(match arg.to_str()? {
            "start" => Command::Start,
            "stop" => Command::Stop,
            "status" => Command::Status,
            "restart" => Command::Restart,
            "reload" => Command::Reload,
            _ => return None,
        })
    }
}

/// What `Daemon::start` does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Go on with the start.
    Start,
    /// Exit with this status: the action was answered.
    Exit(i32),
}

/// Answers the program's first argument as an init script does: runs `stop`, `status`,
/// `reload` and the stop half of `restart`, printing one line each, and returns
/// [`Next::Start`] for `start` and (once stopped) `restart`. `reload` sends `reload`.
///
/// Exit statuses are LSB's: 2 for a usage error (no or unknown argument, or no PID file);
/// `status` gives 0 (running), 1 (stale PID file), 3 (not running) or 4 (cannot tell);
/// `stop` 0 or 1; `reload` 0, 7 (not running) or 1.
pub(crate) fn answer(pidfile: Option<&Path>, reload: Signal) -> Next {
    let arg = std::env::args_os().nth(1);
    let program = program_name();
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    let mut reply = Reply {
        program: &program,
        out: &mut out,
        err: &mut err,
    };
    dispatch(arg.as_deref(), pidfile, reload, &mut reply)
}

/// Where [`answer`] prints: success and status lines to `out`, errors to `err`, each line
/// prefixed with the program's name.
struct Reply<'a> {
    program: &'a str,
    out: &'a mut dyn io::Write,
    err: &'a mut dyn io::Write,
}

impl Reply<'_> {
    /// Prints `line` to `out`; exits with `code`.
    fn say(&mut self, code: i32, line: fmt::Arguments<'_>) -> Next {
        let _ = writeln!(self.out, "{}: {line}", self.program);
        Next::Exit(code)
    }

    /// Prints `line` to `err`; exits with `code`.
    fn complain(&mut self, code: i32, line: fmt::Arguments<'_>) -> Next {
        let _ = writeln!(self.err, "{}: {line}", self.program);
        Next::Exit(code)
    }

    /// Prints the usage line to `err`; exits with 2.
    fn usage(&mut self) -> Next {
        let _ = writeln!(
            self.err,
            "usage: {} start|stop|status|restart|reload",
            self.program
        );
        Next::Exit(2)
    }
}

/// [`answer`] for the argument `arg`, printing through `reply`.
fn dispatch(
    arg: Option<&OsStr>,
    pidfile: Option<&Path>,
    reload: Signal,
    reply: &mut Reply<'_>,
) -> Next {
    let Some(command) = arg.and_then(Command::parse) else {
        return reply.usage();
    };
    if command == Command::Start {
        return Next::Start;
    }
    let Some(path) = pidfile else {
        return reply.usage();
    };
    match command {
        Command::Start => Next::Start,
        Command::Status => match status(path) {
            Ok(Status::Running { pid: Some(pid) }) => {
                reply.say(0, format_args!("running as PID {pid}"))
            }
            Ok(Status::Running { pid: None }) => reply.say(
                0,
                format_args!("running (locked by a process whose PID is not in the file)"),
            ),
            Ok(Status::Stale { pid }) => {
                let pid = pid.map_or(String::new(), |pid| format!(", PID {pid}"));
                reply.say(
                    1,
                    format_args!(
                        "not running, but PID file `{}` exists (stale{pid})",
                        Escaped(path.as_os_str())
                    ),
                )
            }
            Ok(Status::NotRunning) => reply.say(3, format_args!("not running")),
            Err(e) => reply.complain(4, format_args!("{e:#}")),
        },
        Command::Stop | Command::Restart => {
            let stopped = match stop(path, STOP_TIMEOUT, Some(KILL_GRACE)) {
                Ok(stopped) => stopped,
                Err(e) => return reply.complain(1, format_args!("{e:#}")),
            };
            let said = match (stopped.pid(), stopped.killed()) {
                (Some(pid), true) => {
                    reply.say(0, format_args!("stopped (PID {pid}, killed by SIGKILL)"))
                }
                (Some(pid), false) => reply.say(0, format_args!("stopped (PID {pid})")),
                // Nothing to say before a start.
                (None, _) if command == Command::Restart => Next::Exit(0),
                (None, _) => reply.say(0, format_args!("not running")),
            };
            if command == Command::Restart {
                Next::Start
            } else {
                said
            }
        }
        Command::Reload => match signal(path, reload) {
            Ok(pid) => reply.say(0, format_args!("sent {reload} to PID {pid}")),
            Err(e) if e.kind() == ErrorKind::NotRunning => {
                reply.complain(7, format_args!("not running"))
            }
            Err(e) => reply.complain(1, format_args!("{e:#}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use nix::sys::signal::Signal as NixSignal;
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    use nix::unistd::Pid;

    /// A fresh directory under the system's temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "daemon-rt-control-{}-{n}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            TempDir(dir)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A child process, killed and reaped by PID when dropped unless the test reaped it.
    struct Child(u32, bool);

    impl Child {
        /// Runs `sh -c script`, with `stdin` as its standard input if given.
        #[allow(
            clippy::zombie_processes,
            reason = "reaped by PID, in `Drop` or by the test"
        )]
        fn spawn(script: &str, stdin: Option<File>) -> Child {
            let mut command = std::process::Command::new("sh");
            command.arg("-c").arg(script);
            if let Some(file) = stdin {
                command.stdin(file);
            }
            let child = command.spawn().unwrap();
            // The command keeps its copy of `stdin` until it is dropped.
            drop(command);
            let child = Child(child.id(), false);
            // `exec` happened when `spawn` returned; wait until the script `exec`s `sleep`.
            let comm = format!("/proc/{}/comm", child.0);
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n" {
                assert!(Instant::now() < deadline, "the child never ran sleep");
                std::thread::sleep(Duration::from_millis(5));
            }
            child
        }

        fn pid(&self) -> Pid {
            Pid::from_raw(self.0 as libc::pid_t)
        }

        /// Waits for the child to end.
        fn reap(&mut self) -> WaitStatus {
            self.1 = true;
            waitpid(self.pid(), None).unwrap()
        }

        /// Whether the child has neither ended nor been ended by a signal.
        fn alive(&self) -> bool {
            matches!(
                waitpid(self.pid(), Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive)
            )
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            if self.1 {
                // Reaped: the PID may belong to another process by now.
                return;
            }
            let _ = nix::sys::signal::kill(self.pid(), NixSignal::SIGKILL);
            let _ = waitpid(self.pid(), None);
        }
    }

    /// Writes `content` into `path` and locks it exclusively through a second open file
    /// description, which the returned file keeps.
    fn locked(path: &Path, content: &str) -> File {
        std::fs::write(path, content).unwrap();
        let file = File::open(path).unwrap();
        file.lock().unwrap();
        file
    }

    /// Runs the dispatcher on `arg`; returns what it decided and printed.
    fn run(arg: Option<&str>, pidfile: Option<&Path>) -> (Next, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut reply = Reply {
            program: "prog",
            out: &mut out,
            err: &mut err,
        };
        let next = dispatch(arg.map(OsStr::new), pidfile, Signal::SIGCONT, &mut reply);
        let text = |v: Vec<u8>| String::from_utf8(v).unwrap();
        (next, text(out), text(err))
    }

    fn reason(err: &Error) -> String {
        std::error::Error::source(err).unwrap().to_string()
    }

    #[test]
    fn a_missing_file_is_not_running() {
        let dir = TempDir::new("missing");
        let path = dir.join("d.pid");
        assert_eq!(status(&path).unwrap(), Status::NotRunning);
        let err = signal(&path, Signal::SIGCONT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotRunning);
        assert_eq!(err.step(), Step::SignalDaemon);
        assert_eq!(reason(&err), "not running");
        let stopped = stop(&path, Duration::from_secs(1), None).unwrap();
        assert_eq!((stopped.pid(), stopped.killed()), (None, false));
    }

    #[test]
    fn an_unlocked_file_is_stale() {
        let dir = TempDir::new("stale");
        let path = dir.join("d.pid");
        std::fs::write(&path, "123\n").unwrap();
        assert_eq!(status(&path).unwrap(), Status::Stale { pid: Some(123) });
        let err = signal(&path, Signal::SIGCONT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotRunning);
        assert_eq!(reason(&err), "not running (stale PID file, PID 123)");
        assert_eq!(
            stop(&path, Duration::from_secs(1), None).unwrap().pid(),
            None
        );
        // Testing the lock left it free.
        File::open(&path).unwrap().try_lock().unwrap();
    }

    #[test]
    fn a_locked_file_is_running() {
        let dir = TempDir::new("running");
        let path = dir.join("d.pid");
        let me = std::process::id();
        let _lock = locked(&path, &format!("{me}\n"));
        assert_eq!(status(&path).unwrap(), Status::Running { pid: Some(me) });
    }

    #[test]
    fn a_locked_file_without_a_pid_is_running_but_not_signalled() {
        let dir = TempDir::new("empty");
        let path = dir.join("d.pid");
        let _lock = locked(&path, "");
        assert_eq!(status(&path).unwrap(), Status::Running { pid: None });
        let err = signal(&path, Signal::SIGCONT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(reason(&err).contains("holds no valid PID"), "{err:?}");
    }

    #[test]
    fn signal_reaches_the_holder() {
        let dir = TempDir::new("signal");
        let path = dir.join("d.pid");
        let me = std::process::id();
        let _lock = locked(&path, &format!("{me}\n"));
        assert_eq!(signal(&path, Signal::SIGCONT).unwrap(), me);
    }

    #[test]
    fn a_pid_that_does_not_hold_the_file_is_never_signalled() {
        let dir = TempDir::new("foreign");
        let path = dir.join("d.pid");
        let child = Child::spawn("exec sleep 5", None);
        let _lock = locked(&path, &format!("{}\n", child.0));
        for err in [
            signal(&path, Signal::SIGTERM).unwrap_err(),
            stop(&path, Duration::from_secs(1), Some(Duration::from_secs(1))).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err:?}");
            assert!(reason(&err).contains("does not hold it open"), "{err:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(child.alive());
    }

    #[test]
    fn the_own_descriptor_of_the_caller_does_not_count() {
        let dir = TempDir::new("own");
        let path = dir.join("d.pid");
        // Locked by a child, but the file names this process, which only has it open to
        // look at it.
        let file = File::open({
            std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
            &path
        })
        .unwrap();
        file.lock().unwrap();
        let _child = Child::spawn("exec sleep 5", Some(file));
        let err = signal(&path, Signal::SIGCONT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err:?}");
    }

    #[test]
    fn stop_ends_the_holder() {
        let dir = TempDir::new("stop");
        let path = dir.join("d.pid");
        std::fs::write(&path, "").unwrap();
        let file = File::open(&path).unwrap();
        file.lock().unwrap();
        // The child shares the locked open file description: it holds the lock alone once
        // this process has dropped its copy.
        let mut child = Child::spawn("exec sleep 5", Some(file));
        std::fs::write(&path, format!("{}\n", child.0)).unwrap();
        let stopped = stop(&path, Duration::from_secs(5), None).unwrap();
        assert_eq!((stopped.pid(), stopped.killed()), (Some(child.0), false));
        assert_eq!(
            child.reap(),
            WaitStatus::Signaled(child.pid(), NixSignal::SIGTERM, false)
        );
        assert_eq!(status(&path).unwrap(), Status::Stale { pid: Some(child.0) });
    }

    #[test]
    fn stop_kills_a_holder_that_ignores_sigterm() {
        let dir = TempDir::new("kill");
        let path = dir.join("d.pid");
        std::fs::write(&path, "").unwrap();
        let file = File::open(&path).unwrap();
        file.lock().unwrap();
        let mut child = Child::spawn("trap '' TERM; exec sleep 5", Some(file));
        std::fs::write(&path, format!("{}\n", child.0)).unwrap();

        let err = stop(&path, Duration::from_millis(100), None).unwrap_err();
        assert_eq!(
            (err.step(), err.kind()),
            (Step::StopDaemon, ErrorKind::Timeout)
        );
        assert_eq!(
            reason(&err),
            format!("PID {} still runs after 100 ms", child.0)
        );
        assert!(child.alive());

        let stopped = stop(
            &path,
            Duration::from_millis(100),
            Some(Duration::from_secs(5)),
        );
        let stopped = stopped.unwrap();
        assert_eq!((stopped.pid(), stopped.killed()), (Some(child.0), true));
        assert_eq!(
            child.reap(),
            WaitStatus::Signaled(child.pid(), NixSignal::SIGKILL, false)
        );
    }

    #[test]
    fn links_and_other_file_types_are_refused() {
        let dir = TempDir::new("refused");
        let target = dir.join("target.pid");
        std::fs::write(&target, "123\n").unwrap();
        let link = dir.join("link.pid");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = status(&link).unwrap_err();
        assert_eq!(
            (err.step(), err.kind()),
            (Step::ReadPidfile, ErrorKind::InvalidConfig)
        );
        assert!(reason(&err).contains("symbolic link"), "{err:?}");
        assert!(signal(&link, Signal::SIGCONT).is_err());
        assert!(stop(&link, Duration::from_secs(1), None).is_err());

        let err = status(&dir.0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert_eq!(reason(&err), "it is not a regular file");
    }

    #[test]
    fn the_dispatcher_follows_lsb() {
        let dir = TempDir::new("dispatch");
        let path = dir.join("d.pid");
        let some = Some(path.as_path());
        let usage = "usage: prog start|stop|status|restart|reload\n";

        assert_eq!(
            run(None, some),
            (Next::Exit(2), String::new(), usage.into())
        );
        assert_eq!(run(Some("bogus"), some).0, Next::Exit(2));
        assert_eq!(
            run(Some("status"), None),
            (Next::Exit(2), String::new(), usage.into())
        );
        assert_eq!(run(Some("start"), some).0, Next::Start);

        let not_running = "prog: not running\n";
        assert_eq!(
            run(Some("status"), some),
            (Next::Exit(3), not_running.into(), String::new())
        );
        assert_eq!(
            run(Some("stop"), some),
            (Next::Exit(0), not_running.into(), String::new())
        );
        assert_eq!(
            run(Some("reload"), some),
            (Next::Exit(7), String::new(), not_running.into())
        );
        assert_eq!(
            run(Some("restart"), some),
            (Next::Start, String::new(), String::new())
        );

        std::fs::write(&path, "123\n").unwrap();
        let stale = format!(
            "prog: not running, but PID file `{}` exists (stale, PID 123)\n",
            path.display()
        );
        assert_eq!(
            run(Some("status"), some),
            (Next::Exit(1), stale, String::new())
        );

        let me = std::process::id();
        let lock = locked(&path, &format!("{me}\n"));
        let running = format!("prog: running as PID {me}\n");
        assert_eq!(
            run(Some("status"), some),
            (Next::Exit(0), running, String::new())
        );
        let sent = format!("prog: sent SIGCONT to PID {me}\n");
        assert_eq!(
            run(Some("reload"), some),
            (Next::Exit(0), sent, String::new())
        );
        drop(lock);

        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/nonexistent", &path).unwrap();
        let (next, out, err) = run(Some("status"), some);
        assert_eq!((next, out.as_str()), (Next::Exit(4), ""));
        assert!(err.starts_with("prog: cannot read pidfile"), "{err}");
    }
}
