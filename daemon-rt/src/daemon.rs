//! The configuration and the one call that runs the whole sequence.

use std::fmt;
use std::io::Write as _;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;
use nix::unistd::ForkResult;

use crate::error::{Context as _, Error, ErrorKind, Step};
use crate::pidfile::Pidfile;
use crate::readiness::{self, Outcome};
use crate::stdio::Stdio;
use crate::{fds, sys, threads};

/// The umask a daemon gets unless told otherwise: `0o022`, as systemd's `UMask=` default.
///
/// Not 0: Rust creates files with mode `0o666`, so a umask of 0 makes every file the daemon
/// creates world-writable (keepalived CVE-2011-1784, Proc::Daemon CVE-2013-7135).
pub const DEFAULT_UMASK: u32 = 0o022;

/// The working directory a daemon gets unless told otherwise: `/`, so it keeps no mount busy.
pub const DEFAULT_WORKING_DIRECTORY: &str = "/";

/// The hook [`Daemon::on_started`] runs in the starting process.
type StartedHook = Box<dyn FnOnce(&Started)>;

/// How to daemonize: build it with the option methods, then call [`Daemon::start`].
///
/// Every option has a default that is right for most daemons; each maps one-to-one onto an
/// argument of the `#[daemon]` attribute of the same name.
///
/// ```no_run
/// let running = daemon_rt::Daemon::new()
///     .pidfile("/run/ticker.pid")
///     .stdout("/var/log/ticker.log")
///     .start()
///     .unwrap_or_else(|e| e.exit());
/// // Here the process is the daemon, and the starting command has exited 0.
/// # drop(running);
/// ```
pub struct Daemon {
    pidfile: Option<PathBuf>,
    stdin: Option<PathBuf>,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
    working_directory: PathBuf,
    umask: u32,
    preserve_fds: Vec<RawFd>,
    on_started: Option<StartedHook>,
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon::new()
    }
}

impl fmt::Debug for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Daemon")
            .field("pidfile", &self.pidfile)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("working_directory", &self.working_directory)
            .field("umask", &format_args!("{:#o}", self.umask))
            .field("preserve_fds", &self.preserve_fds)
            .field("on_started", &self.on_started.is_some())
            .finish()
    }
}

impl Daemon {
    /// The defaults: no PID file, stdio on `/dev/null`, working directory `/`, umask
    /// [`DEFAULT_UMASK`], no descriptor kept but 0, 1 and 2.
    pub fn new() -> Daemon {
        Daemon {
            pidfile: None,
            stdin: None,
            stdout: None,
            stderr: None,
            working_directory: PathBuf::from(DEFAULT_WORKING_DIRECTORY),
            umask: DEFAULT_UMASK,
            preserve_fds: Vec::new(),
            on_started: None,
        }
    }

    /// The PID file: created if missing (mode `0o644`, whatever the umask), locked for the
    /// daemon's whole life, holding the daemon's PID and a newline by the time the starting
    /// command returns, and removed when the daemon exits or is ended by SIGTERM.
    ///
    /// A second start while the file is locked fails with [`ErrorKind::AlreadyRunning`] and
    /// the running instance's PID, and changes nothing. The path is refused if it is a
    /// symbolic link, not a regular file, or a file with other hard links.
    pub fn pidfile(mut self, path: impl Into<PathBuf>) -> Daemon {
        self.pidfile = Some(path.into());
        self
    }

    /// The file standard input reads from; `/dev/null` by default. It must exist.
    pub fn stdin(mut self, path: impl Into<PathBuf>) -> Daemon {
        self.stdin = Some(path.into());
        self
    }

    /// The file standard output appends to, created (mode `0o640` less the starting process's
    /// umask) if missing, never truncated; `/dev/null` by default.
    pub fn stdout(mut self, path: impl Into<PathBuf>) -> Daemon {
        self.stdout = Some(path.into());
        self
    }

    /// The file standard error appends to, like [`Daemon::stdout`]; `/dev/null` by default.
    /// The same path as stdout shares one open file, so lines interleave in order.
    pub fn stderr(mut self, path: impl Into<PathBuf>) -> Daemon {
        self.stderr = Some(path.into());
        self
    }

    /// The daemon's working directory, [`DEFAULT_WORKING_DIRECTORY`] by default. It is
    /// checked before forking, so a missing directory is reported by the starting command.
    pub fn working_directory(mut self, path: impl Into<PathBuf>) -> Daemon {
        self.working_directory = path.into();
        self
    }

    /// The daemon's file mode creation mask, [`DEFAULT_UMASK`] by default; `0` is allowed but
    /// makes the files the daemon creates world-writable. Above `0o777` is an error.
    pub fn umask(mut self, umask: u32) -> Daemon {
        self.umask = umask;
        self
    }

    /// Descriptors the daemon keeps open besides 0, 1 and 2 (a listening socket bound before
    /// daemonizing, say). Every other inherited descriptor is closed.
    ///
    /// Any file or socket opened before [`Daemon::start`] and not listed here is closed under
    /// its owner: drop it first, or list it.
    pub fn preserve_fds(mut self, fds: impl IntoIterator<Item = RawFd>) -> Daemon {
        self.preserve_fds.extend(fds);
        self
    }

    /// Runs `hook` in the starting process once the daemon is up, just before that process
    /// exits 0: to print the daemon's PID, say. It does not run when the start fails, and a
    /// panic in it does not change the exit status: the daemon is running.
    pub fn on_started(mut self, hook: impl FnOnce(&Started) + 'static) -> Daemon {
        self.on_started = Some(Box::new(hook));
        self
    }

    /// Daemonizes: returns in the daemon, after every step succeeded and the starting process
    /// was told so. The starting process does not return from a successful start: it exits
    /// with status 0 once the daemon reported that it is up.
    ///
    /// The sequence (systemd's daemon(7), PEP 3143): check that the process is
    /// single-threaded; open and lock the PID file, open the stdio files and check the working
    /// directory, all in the starting process; make the readiness pipe; fork, `setsid`, fork
    /// again (the daemon is not a session leader, so it can never get a controlling
    /// terminal); in the daemon, reset every signal disposition and the signal mask (SIGPIPE
    /// and the terminal signals SIGTSTP, SIGTTIN, SIGTTOU stay ignored), move stdio onto its
    /// files, close every other inherited descriptor, set the umask and working directory,
    /// write the PID file; then report success through the pipe.
    ///
    /// # Errors
    ///
    /// Only in the starting process, and then no daemon is running: the step that failed,
    /// in the starting process or in the daemon (reported through the pipe), or the daemon
    /// ending before it reported. [`Error::exit`] prints it as one line and exits with the
    /// status of its [`ErrorKind`].
    pub fn start(self) -> Result<Running, Error> {
        let single = threads::ensure_single_threaded()?;
        self.check()?;
        let Daemon {
            pidfile,
            stdin,
            stdout,
            stderr,
            working_directory,
            umask,
            preserve_fds,
            on_started,
        } = self;

        // Everything that can fail for a reason the user can fix fails here, in the process
        // whose stderr the user sees.
        let pidfile = pidfile.as_deref().map(Pidfile::acquire).transpose()?;
        let prepared = Stdio::open(stdin.as_deref(), stdout.as_deref(), stderr.as_deref())
            .and_then(|stdio| check_directory(&working_directory).map(|()| stdio))
            .and_then(|stdio| Ok((stdio, readiness::channel()?)));
        let (stdio, (waiter, reporter)) = prepared.map_err(|e| abandon(pidfile.as_ref(), e))?;

        // Output buffered now would otherwise be written again by the daemon.
        let _ = std::io::stdout().flush();
        let forked = sys::fork(&single).context(Step::Fork, None);
        match forked.map_err(|e| abandon(pidfile.as_ref(), e))? {
            ForkResult::Parent { child } => {
                drop(reporter);
                let outcome = waiter.wait();
                sys::reap(child);
                return finish_starter(outcome, pidfile, on_started);
            }
            ForkResult::Child => drop(waiter),
        }

        // The intermediate child: a new session, then the fork that leaves the daemon
        // outside the session leader's role.
        let second = nix::unistd::setsid()
            .context(Step::CreateSession, None)
            .and_then(|_| sys::fork(&single).context(Step::Fork, None));
        match second {
            Ok(ForkResult::Child) => {}
            Ok(ForkResult::Parent { .. }) => sys::exit_now(0),
            Err(err) => {
                reporter.fail(&err);
                sys::exit_now(1)
            }
        }

        // The daemon.
        let pid = std::process::id();
        let mut keep = preserve_fds;
        keep.push(reporter.fd());
        keep.extend(pidfile.as_ref().map(Pidfile::fd));
        let steps = become_daemon(
            pidfile.as_ref(),
            stdio,
            keep,
            umask,
            &working_directory,
            pid,
        );
        match steps {
            Ok(()) => {
                reporter.ready(pid);
                Ok(Running { pid, pidfile })
            }
            Err(err) => {
                reporter.fail(&err);
                sys::exit_now(err.exit_code())
            }
        }
    }

    /// Refuses values that can never work, before anything is touched.
    fn check(&self) -> Result<(), Error> {
        let invalid = |reason: String| {
            Err(Error::new(
                Step::CheckConfig,
                ErrorKind::InvalidConfig,
                None,
                reason,
            ))
        };
        let paths = [
            ("pidfile", self.pidfile.as_deref()),
            ("stdin", self.stdin.as_deref()),
            ("stdout", self.stdout.as_deref()),
            ("stderr", self.stderr.as_deref()),
            ("working_directory", Some(self.working_directory.as_path())),
        ];
        for (option, path) in paths {
            if path.is_some_and(|p| p.as_os_str().is_empty()) {
                return invalid(format!("`{option}` is an empty path"));
            }
        }
        if self.umask > 0o777 {
            return invalid(format!("`umask` {:#o} is above 0o777", self.umask));
        }
        for &fd in &self.preserve_fds {
            if fd <= 2 {
                return invalid(format!(
                    "`preserve_fds` lists {fd}, a standard stream; use `stdin`, `stdout` or `stderr`"
                ));
            }
            if !sys::is_open(fd) {
                return invalid(format!("`preserve_fds` lists {fd}, which is not open"));
            }
        }
        Ok(())
    }
}

/// The daemon's own steps, after the second fork.
fn become_daemon(
    pidfile: Option<&Pidfile>,
    stdio: Stdio,
    keep: Vec<RawFd>,
    umask: u32,
    working_directory: &Path,
    pid: u32,
) -> Result<(), Error> {
    if let Some(pidfile) = pidfile {
        pidfile.arm_cleanup();
    }
    sys::reset_signals().context(Step::ResetSignals, None)?;
    if pidfile.is_some() {
        sys::remove_pidfile_on_sigterm().context(Step::ResetSignals, None)?;
    }
    stdio.redirect()?;
    fds::close_inherited(keep)?;
    nix::sys::stat::umask(Mode::from_bits_truncate(umask as nix::libc::mode_t));
    nix::unistd::chdir(working_directory)
        .context(Step::ChangeDirectory, Some(working_directory))?;
    if let Some(pidfile) = pidfile {
        pidfile.write_pid(pid)?;
    }
    Ok(())
}

/// The starting process after the daemon reported (or vanished).
fn finish_starter(
    outcome: Outcome,
    pidfile: Option<Pidfile>,
    on_started: Option<StartedHook>,
) -> Result<Running, Error> {
    let err = match outcome {
        Outcome::Ready(pid) => {
            if let Some(hook) = on_started {
                let started = Started {
                    pid,
                    pidfile: pidfile.as_ref().map(|p| p.path().to_path_buf()),
                };
                // The daemon is up whatever the hook does: a panic (printing to a closed
                // pipe, say) is reported by the panic hook but does not make the start fail.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&started)));
            }
            std::process::exit(0);
        }
        Outcome::Failed(err) => err,
        Outcome::Vanished => Error::new(
            Step::AwaitReadiness,
            ErrorKind::DiedBeforeReady,
            None,
            "the daemon exited before it reported that it is up",
        ),
    };
    Err(abandon(pidfile.as_ref(), err))
}

/// A start that failed after the PID file was taken: remove it (the lock is still held
/// through this process's descriptor, so the file is ours), so no empty PID file is left.
fn abandon(pidfile: Option<&Pidfile>, err: Error) -> Error {
    if let Some(pidfile) = pidfile {
        pidfile.remove();
    }
    err
}

fn check_directory(path: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(path).context(Step::CheckWorkingDirectory, Some(path))?;
    if !meta.is_dir() {
        let not_dir = std::io::Error::from_raw_os_error(nix::libc::ENOTDIR);
        return Err(Error::os(Step::CheckWorkingDirectory, Some(path), not_dir));
    }
    Ok(())
}

/// What the starting process knows once the daemon is up; given to [`Daemon::on_started`].
#[derive(Debug, Clone)]
pub struct Started {
    pid: u32,
    pidfile: Option<PathBuf>,
}

impl Started {
    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The PID file's absolute path, if there is one.
    pub fn pidfile(&self) -> Option<&Path> {
        self.pidfile.as_deref()
    }
}

/// The running daemon, returned by [`Daemon::start`] in the daemon process.
///
/// It owns the PID file's lock. Dropping it (the end of `main`, an error returned from
/// `main`) removes the PID file; so does `std::process::exit` and SIGTERM. After SIGKILL the
/// file stays, unlocked, and the next start takes it over.
#[derive(Debug)]
#[must_use = "dropping `Running` removes the PID file; keep it for the daemon's life"]
pub struct Running {
    pid: u32,
    pidfile: Option<Pidfile>,
}

impl Running {
    /// The daemon's PID, as written in the PID file.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The PID file's absolute path, if there is one.
    pub fn pidfile(&self) -> Option<&Path> {
        self.pidfile.as_ref().map(Pidfile::path)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.pidfile.is_some() {
            sys::remove_armed_pidfile();
        }
    }
}
