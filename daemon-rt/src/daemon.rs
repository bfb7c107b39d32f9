//! The configuration and the one call that runs the whole sequence.

use std::ffi::CString;
use std::ffi::OsStr;
use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd as _, RawFd};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::stat::Mode;
use nix::unistd::ForkResult;

use crate::environment::{self, Environment};
use crate::error::{Context as _, Error, ErrorKind, Escaped, Step};
use crate::fork::{self, Fork};
use crate::forward::{self, Forwarder, Sink};
use crate::limits::{Limits, Resource};
use crate::pidfile::Pidfile;
use crate::privileges::{self, Credentials};
use crate::readiness::{self, Forked, Outcome};
use crate::stdio::{Created, Stdio};
use crate::threads::{self, SingleThreaded};
use crate::value::{IdValue, LimitValue, OutputValue, PathValue, SignalValue};
use crate::{Signal, activation, control, fds, init, lifecycle, notify, notify_fd, sys};

mod exec;

/// The umask a daemon gets unless told otherwise: `0o022`, as systemd's `UMask=` default.
///
/// Not 0: Rust creates files with mode `0o666`, so a umask of 0 makes every file the daemon
/// creates world-writable (keepalived CVE-2011-1784, Proc::Daemon CVE-2013-7135).
///
/// ```no_run
/// // Group members may read what the daemon creates, others nothing.
/// let daemon = daemon_rt::Daemon::new().umask(daemon_rt::DEFAULT_UMASK | 0o007);
/// # drop(daemon);
/// ```
pub const DEFAULT_UMASK: u32 = 0o022;

/// The working directory a daemon gets unless told otherwise: `/`, so it keeps no mount busy.
///
/// ```
/// assert_eq!(daemon_rt::DEFAULT_WORKING_DIRECTORY, "/");
/// ```
pub const DEFAULT_WORKING_DIRECTORY: &str = "/";

/// How long the starting command waits for a daemon with [`Ready::Manual`] to call
/// [`ready`](crate::ready) unless told otherwise: 90 s, systemd's default `TimeoutStartSec=`.
///
/// ```no_run
/// let daemon = daemon_rt::Daemon::new()
///     .ready(daemon_rt::Ready::Manual)
///     .ready_timeout(daemon_rt::DEFAULT_READY_TIMEOUT * 2); // a slow cache warm-up
/// # drop(daemon);
/// ```
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// When the daemon counts as up: when the starting command exits 0, and when a service manager
/// gets `READY=1`.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/web.pid", ready = "manual")] // Ready::Manual
/// fn main() -> std::io::Result<()> {
///     let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
///     daemon_rt::ready();
///     # drop(listener);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Ready {
    /// Once every step of the start succeeded, just before the body of `main` runs. The
    /// default.
    #[default]
    Started,
    /// When the body calls [`daemon_rt::ready()`](crate::ready): after it bound its socket or
    /// loaded its configuration. A failure before that (an `Err` returned from `main`, a
    /// panic, an exit) fails the start with the body's own message.
    Manual,
    /// When the daemon still runs this long after its steps succeeded (supervisord's
    /// `startsecs`): for a program that cannot call [`ready`](crate::ready), one that `exec`s
    /// another, say. The starting command watches the daemon from outside for that long; an
    /// end before then (an exit, a signal, an `Err` from `main`) fails the start with how it
    /// ended. Not zero, and not longer than [`Daemon::ready_timeout`]. A service manager hears
    /// `READY=1` at once: it watches the daemon by itself.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// #[daemon_rt::daemon(pidfile = "/run/web.pid", ready = "500ms")]
    /// fn main() {
    ///     // Ready::After(Duration::from_millis(500)): a start whose body dies within
    ///     // half a second fails.
    ///     daemon_rt::wait_for_stop();
    /// }
    /// ```
    After(Duration),
}

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
    /// Syslog or the journal, instead of a file (`stdout` is then `None`).
    stdout_sink: Option<Sink>,
    stderr_sink: Option<Sink>,
    working_directory: PathBuf,
    umask: u32,
    preserve_fds: Vec<RawFd>,
    on_started: Option<StartedHook>,
    foreground: bool,
    ready: Ready,
    ready_timeout: Duration,
    reopen_logs: Option<Signal>,
    user: Option<String>,
    group: Option<String>,
    chroot: Option<PathBuf>,
    control: bool,
    print_pid: bool,
    strict_paths: bool,
    fork: Fork,
    notify_fd: Option<RawFd>,
    /// Whether `working_directory` was given: the default `/` warns about relative arguments.
    working_directory_set: bool,
    /// Set by [`Daemon::exec`]: the daemon becomes a program.
    exec: Option<exec::Plan>,
    /// The names `keep_env` keeps; `None` keeps the whole environment.
    keep_env: Option<Vec<OsString>>,
    /// The resource limits, `prevent_core` and `nice`.
    limits: Limits,
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
            .field("stdout_sink", &self.stdout_sink)
            .field("stderr_sink", &self.stderr_sink)
            .field("working_directory", &self.working_directory)
            .field("umask", &format_args!("{:#o}", self.umask))
            .field("preserve_fds", &self.preserve_fds)
            .field("on_started", &self.on_started.is_some())
            .field("foreground", &self.foreground)
            .field("ready", &self.ready)
            .field("ready_timeout", &self.ready_timeout)
            .field("reopen_logs", &self.reopen_logs)
            .field("user", &self.user)
            .field("group", &self.group)
            .field("chroot", &self.chroot)
            .field("control", &self.control)
            .field("print_pid", &self.print_pid)
            .field("strict_paths", &self.strict_paths)
            .field("fork", &self.fork)
            .field("notify_fd", &self.notify_fd)
            .field("exec", &self.exec)
            .field("keep_env", &self.keep_env)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Daemon {
    /// The defaults: no PID file, stdio on `/dev/null`, working directory `/`, umask
    /// [`DEFAULT_UMASK`], no descriptor kept but 0, 1 and 2.
    ///
    /// ```no_run
    /// let running = daemon_rt::Daemon::new().start().unwrap_or_else(|e| e.exit());
    /// # drop(running);
    /// ```
    #[must_use]
    pub fn new() -> Daemon {
        Daemon {
            pidfile: None,
            stdin: None,
            stdout: None,
            stderr: None,
            stdout_sink: None,
            stderr_sink: None,
            working_directory: PathBuf::from(DEFAULT_WORKING_DIRECTORY),
            umask: DEFAULT_UMASK,
            preserve_fds: Vec::new(),
            on_started: None,
            foreground: false,
            ready: Ready::Started,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            reopen_logs: Some(Signal::SIGHUP),
            user: None,
            group: None,
            chroot: None,
            control: false,
            print_pid: false,
            strict_paths: true,
            fork: Fork::Auto,
            notify_fd: None,
            working_directory_set: false,
            exec: None,
            keep_env: None,
            limits: Limits::default(),
        }
    }

    /// The PID file: created if missing (mode `0o644`, whatever the umask), locked for the
    /// daemon's whole life, holding the daemon's PID and a newline by the time the starting
    /// command returns, and removed when the daemon exits or is ended by SIGTERM or SIGINT.
    ///
    /// A daemon that dropped privileges ([`Daemon::user`]) or is in a [`Daemon::chroot`]
    /// usually cannot remove it: it leaves the file, unlocked, which makes it stale by
    /// definition; [`control::status`](crate::control::status) says so, and the next start
    /// takes it over.
    ///
    /// A second start while the file is locked fails with [`ErrorKind::AlreadyRunning`] and
    /// the running instance's PID, and changes nothing. The path is refused if it is a
    /// symbolic link, not a regular file, or a file with other hard links.
    ///
    /// ```no_run
    /// let pidfile = std::env::var_os("PIDFILE"); // an Option: no PID file without the variable
    /// let daemon = daemon_rt::Daemon::new().pidfile(pidfile);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn pidfile(mut self, path: impl PathValue) -> Daemon {
        self.pidfile = path.into_path();
        self
    }

    /// The file standard input reads from; `/dev/null` by default (or `None`). It must exist.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().stdin("/etc/worker/jobs");
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn stdin(mut self, path: impl PathValue) -> Daemon {
        self.stdin = path.into_path();
        self
    }

    /// The file standard output appends to, created (mode `0o640` less the starting process's
    /// umask) if missing, never truncated; `/dev/null` by default (or `None`).
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().stdout("/var/log/worker.log");
    /// # drop(daemon);
    /// ```
    ///
    /// [`Output::Syslog`](crate::Output::Syslog) or [`Output::Journal`](crate::Output::Journal)
    /// send each line to syslog or the journal instead, through a process forked from the
    /// daemon:
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().stdout(daemon_rt::Output::Syslog);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn stdout(mut self, path: impl OutputValue) -> Daemon {
        (self.stdout, self.stdout_sink) = forward::split(path.into_output());
        self
    }

    /// The file standard error appends to, like [`Daemon::stdout`]; `/dev/null` by default.
    /// The same path as stdout shares one open file, so lines interleave in order.
    ///
    /// ```no_run
    /// let log = "/var/log/worker.log";
    /// let daemon = daemon_rt::Daemon::new().stdout(log).stderr(log);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn stderr(mut self, path: impl OutputValue) -> Daemon {
        (self.stderr, self.stderr_sink) = forward::split(path.into_output());
        self
    }

    /// The daemon's working directory, [`DEFAULT_WORKING_DIRECTORY`] by default. It is
    /// checked before forking, so a missing directory is reported by the starting command.
    /// `None` keeps the default.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().working_directory("/var/lib/worker");
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn working_directory(mut self, path: impl PathValue) -> Daemon {
        let path = path.into_path();
        self.working_directory_set = path.is_some();
        self.working_directory = path.unwrap_or_else(|| PathBuf::from(DEFAULT_WORKING_DIRECTORY));
        self
    }

    /// The daemon's file mode creation mask, [`DEFAULT_UMASK`] by default; `0` is allowed but
    /// makes the files the daemon creates world-writable. Above `0o777` is an error.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().umask(0o027); // no access for others
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn umask(mut self, umask: u32) -> Daemon {
        self.umask = umask;
        self
    }

    /// Descriptors the daemon keeps open besides 0, 1 and 2 (a listening socket bound before
    /// daemonizing, say). Every other inherited descriptor is closed.
    ///
    /// Any file or socket opened before [`Daemon::start`] and not listed here is closed under
    /// its owner: drop it first, or list it.
    ///
    /// ```no_run
    /// let listener = std::net::TcpListener::bind("127.0.0.1:7007")?;
    /// let running = daemon_rt::Daemon::new()
    ///     .preserve_fds([&listener]) // bound before the fork: "in use" reaches the user
    ///     .start()
    ///     .unwrap_or_else(|e| e.exit());
    /// for stream in listener.incoming() {
    ///     drop(stream?);
    /// }
    /// # drop(running);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn preserve_fds<F: AsFd>(mut self, fds: impl IntoIterator<Item = F>) -> Daemon {
        self.preserve_fds
            .extend(fds.into_iter().map(|fd| fd.as_fd().as_raw_fd()));
        self
    }

    /// Runs `hook` in the starting process once the daemon is up, just before that process
    /// exits 0: to print the daemon's PID, say. It does not run when the start fails, and a
    /// panic in it does not change the exit status: the daemon is running.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new()
    ///     .on_started(|started| eprintln!("started as PID {}", started.pid()));
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn on_started(mut self, hook: impl FnOnce(&Started) + 'static) -> Daemon {
        self.on_started = Some(Box::new(hook));
        self
    }

    /// Runs in the foreground when `yes`: no fork, no new session, and standard streams that
    /// were not given a file stay where they are (the terminal, or the service manager's
    /// journal). Every other step still happens, the PID file included. For a tool's
    /// `--foreground` switch (daemon(7): daemonizing must be optional) and systemd's
    /// `Type=simple`.
    ///
    /// The process also stays in the foreground, whatever this says, when a service manager
    /// shows that it wants no fork: `$NOTIFY_SOCKET` is set (systemd `Type=notify`,
    /// `start-stop-daemon --notify-await`), or `$LISTEN_PID` is this process's PID (socket
    /// activation). Nothing else is guessed; in particular not the parent's PID.
    ///
    /// ```no_run
    /// let foreground = std::env::args().any(|a| a == "--foreground");
    /// let daemon = daemon_rt::Daemon::new().foreground(foreground);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn foreground(mut self, yes: bool) -> Daemon {
        self.foreground = yes;
        self
    }

    /// When the daemon counts as up, [`Ready::Started`] by default.
    ///
    /// ```no_run
    /// let running = daemon_rt::Daemon::new()
    ///     .ready(daemon_rt::Ready::Manual)
    ///     .start()
    ///     .unwrap_or_else(|e| e.exit());
    /// let listener = std::net::TcpListener::bind("127.0.0.1:7007")?; // may fail the start
    /// daemon_rt::ready(); // the starting command exits 0 now
    /// # drop((running, listener));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// A program that cannot say when it is ready is up if it still runs after a while:
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let daemon = daemon_rt::Daemon::new().ready(daemon_rt::Ready::After(Duration::from_millis(500)));
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn ready(mut self, when: Ready) -> Daemon {
        self.ready = when;
        self
    }

    /// How long the starting command waits for [`Ready::Manual`]'s
    /// [`ready`](crate::ready), [`DEFAULT_READY_TIMEOUT`] by default. On timeout it stops
    /// the daemon (SIGTERM, then SIGKILL after 5 s), says so, and exits with
    /// [`ErrorKind::Timeout`]'s status. A service manager applies its own timeout instead.
    /// It is also the longest [`Ready::After`] time: a longer one fails the start with
    /// [`ErrorKind::InvalidConfig`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let daemon = daemon_rt::Daemon::new()
    ///     .ready(daemon_rt::Ready::Manual)
    ///     .ready_timeout(Duration::from_secs(30));
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn ready_timeout(mut self, timeout: Duration) -> Daemon {
        self.ready_timeout = timeout;
        self
    }

    /// The signal that makes the daemon reopen its `stdout` and `stderr` files by path,
    /// SIGHUP by default; `None` reopens nothing. For logrotate's rename-then-signal
    /// rotation: `postrotate kill -HUP $(cat /run/name.pid)`. It applies only to streams
    /// that were given a file. The signal, and SIGHUP whatever this says, is also a reload
    /// request ([`reload_requested`](crate::reload_requested)): it never ends the daemon.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new()
    ///     .stdout("/var/log/worker.log")
    ///     .reopen_logs(daemon_rt::Signal::SIGUSR1);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn reopen_logs(mut self, signal: impl SignalValue) -> Daemon {
        self.reopen_logs = signal.into_signal();
        self
    }

    /// The user the daemon runs as, by name or numeric ID. Its supplementary groups are
    /// set from the group database and its group is the user's primary group, unless
    /// [`Daemon::group`] says otherwise. The PID file and the log files are opened first,
    /// as the starting user, and the PID file is never handed to the new user. `None` keeps
    /// the starting process's. After the drop, `USER`, `LOGNAME`, `HOME` and `SHELL` are set
    /// from the user's entry (an empty shell is `/bin/sh`, an empty home `/`); a numeric ID
    /// the user database does not know sets `USER` and `LOGNAME` to the number, `HOME` to
    /// `/` and `SHELL` to `/bin/sh`, so that the daemon does not keep the starting user's.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().user("www-data");
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn user(mut self, user: impl IdValue) -> Daemon {
        self.user = user.into_id();
        self
    }

    /// The group the daemon runs as, by name or numeric ID. `None` keeps the user's primary
    /// group (or the starting process's, without [`Daemon::user`]).
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().user("www-data").group("adm");
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn group(mut self, group: impl IdValue) -> Daemon {
        self.group = group.into_id();
        self
    }

    /// A directory the daemon `chroot(2)`s into before changing to its working directory,
    /// which is then inside it. The PID file and the log files are opened before, by their
    /// outside paths; log reopening then opens the same paths inside the chroot, and the PID
    /// file is left behind, unlocked, when the daemon exits.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().chroot("/var/empty").user("nobody");
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn chroot(mut self, path: impl PathValue) -> Daemon {
        self.chroot = path.into_path();
        self
    }

    /// Makes [`Daemon::start`] answer the program's first argument, the way an init script
    /// does: `start`, `stop`, `status`, `restart` or `reload`. Needs a PID file.
    ///
    /// ```no_run
    /// // `worker stop`, `worker status`, ... answer and exit; `worker start` goes on.
    /// let running = daemon_rt::Daemon::new()
    ///     .pidfile("/run/worker.pid")
    ///     .control(true)
    ///     .start()
    ///     .unwrap_or_else(|e| e.exit());
    /// # drop(running);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn control(mut self, yes: bool) -> Daemon {
        self.control = yes;
        self
    }

    /// Makes the starting command print the daemon's PID and a newline on standard output
    /// once the daemon is up. A standard output that cannot be written (a closed pipe) does
    /// not fail the start: the daemon is up.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().print_pid(true); // for `pid=$(worker)`
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn print_pid(mut self, yes: bool) -> Daemon {
        self.print_pid = yes;
        self
    }

    /// Whether a start run as root refuses a PID-file or log path that another user could
    /// have planted or can change; `true` by default.
    ///
    /// As root, every directory on the way to the PID file and the log files must be one only
    /// root can change: owned by root, writable by no other user and no group but root's (the
    /// rule of OpenSSH's `StrictModes`). A sticky directory such as `/tmp` may be passed
    /// through to an entry root owns, but the file's own directory must be root's alone, and
    /// a symbolic link on the way must be root's. Otherwise the start fails with
    /// [`ErrorKind::PermissionDenied`], naming the directory: another user could replace a
    /// component with a link, and root would then truncate, write or delete a file of their
    /// choosing (`O_NOFOLLOW` protects only the last component). A start run as another user
    /// is not checked: it can only be tricked into writing its own files.
    ///
    /// `false` turns the check off, for a directory the daemon's own user owns (a log
    /// directory handed to the service's user, say) when that user is trusted as much as
    /// root.
    ///
    /// ```no_run
    /// // /var/log/worker belongs to the user `worker`, trusted as much as root.
    /// let daemon = daemon_rt::Daemon::new()
    ///     .stdout("/var/log/worker/worker.log")
    ///     .user("worker")
    ///     .strict_paths(false);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn strict_paths(mut self, yes: bool) -> Daemon {
        self.strict_paths = yes;
        self
    }

    /// Whether the start forks: [`Fork::Auto`] by default, which forks unless
    /// [`Daemon::foreground`] is `true`, `$NOTIFY_SOCKET` is set or sockets are passed by
    /// socket activation. [`Fork::Always`] forks even with `$NOTIFY_SOCKET`, for a systemd
    /// `Type=forking` unit with `WatchdogSec=` or `NotifyAccess=` (systemd sets the variable
    /// for those too, and waits for the starting command to exit): the daemon keeps the
    /// socket and sends `MAINPID=<its PID>` with `READY=1`. [`Fork::Never`] is
    /// `foreground(true)`. `Fork::Always` with `foreground(true)`, with socket activation or
    /// as PID 1 fails the start with [`ErrorKind::InvalidConfig`]. As PID 1 the process never
    /// forks away: it stays the init of its PID namespace (see the crate's *In a container*).
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new()
    ///     .pidfile("/run/worker.pid")
    ///     .fork(daemon_rt::Fork::Always); // Type=forking, PIDFile=, WatchdogSec=
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn fork(mut self, fork: Fork) -> Daemon {
        self.fork = fork;
        self
    }

    /// The descriptor number on which the supervisor waits for readiness (s6: the number in
    /// the service's `notification-fd` file; dinit `pipefd`; OpenRC `notify=fd:N`), or `None`.
    /// It is kept open through the start, gets one newline when the daemon is ready (at once,
    /// or at [`ready`](crate::ready) with [`Ready::Manual`]), and is then closed; a daemon
    /// that fails first closes it without a newline. It must be open for writing and at least
    /// 3 (0, 1 and 2 carry the daemon's own input and output), or the start fails with
    /// [`ErrorKind::InvalidConfig`].
    ///
    /// A number, not an `AsFd`: the program did not open the descriptor, the supervisor's
    /// configuration names it, and the start checks that it is open.
    ///
    /// ```no_run
    /// // s6: echo 3 > /run/service/worker/notification-fd
    /// let daemon = daemon_rt::Daemon::new().notify_fd(3);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn notify_fd(mut self, fd: impl Into<Option<RawFd>>) -> Daemon {
        self.notify_fd = fd.into();
        self
    }

    /// Clears the daemon's environment but for the variables named here (daemon(7) step 4),
    /// so that it does not depend on whoever started it. Without this option the environment
    /// is inherited. `PATH`, when not kept (or not set), becomes
    /// `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, what systemd gives
    /// services. The variables [`Daemon::user`] sets are set after the clearing.
    /// `$LISTEN_PID`, `$LISTEN_FDS` and `$LISTEN_FDNAMES` stay when they pass sockets to
    /// this process (socket activation), listed or not; `$NOTIFY_SOCKET`, `$WATCHDOG_USEC`
    /// and `$WATCHDOG_PID` were taken out at the start whatever this says. An empty list
    /// keeps nothing. A name the environment holds twice keeps one copy, the first, which is
    /// the one `getenv(3)` reads. A name that is empty or holds `=` or a NUL byte fails the start with
    /// [`ErrorKind::InvalidConfig`].
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().keep_env(["PATH", "LANG", "TZ"]);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn keep_env<S: AsRef<OsStr>>(mut self, names: impl IntoIterator<Item = S>) -> Daemon {
        self.keep_env = Some(
            names
                .into_iter()
                .map(|name| name.as_ref().to_owned())
                .collect(),
        );
        self
    }

    /// Makes the daemon dump no core (python-daemon's `prevent_core`): its `RLIMIT_CORE`,
    /// soft and hard, is 0, so a crash does not write its memory (keys, passwords) to a file.
    /// The same as `limit_core(0)`; with another `limit_core`, the start fails with
    /// [`ErrorKind::InvalidConfig`]. A `core_pattern` that pipes to a program
    /// (systemd-coredump, apport) is not bound by the limit: the kernel runs the program,
    /// which is told the limit and decides. `PR_SET_DUMPABLE` is left alone: clearing it
    /// would also give `/proc/<pid>` to root and forbid the user's own `ptrace`.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().prevent_core(true);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn prevent_core(mut self, yes: bool) -> Daemon {
        self.limits.set_prevent_core(yes);
        self
    }

    /// The daemon's `RLIMIT_NOFILE`, the number of descriptors it may open (systemd's
    /// `LimitNOFILE=`): a number for soft and hard, `"soft:hard"`, `"infinity"`, a
    /// [`Limit`](crate::Limit), or `None` to inherit it. Set in the daemon before the
    /// privilege drop, so root may raise the hard limit; raising it without the privilege
    /// fails the start with [`ErrorKind::PermissionDenied`], naming the limit and the value.
    /// Linux refuses a hard limit above `fs.nr_open` (1048576 by default) even to root, so
    /// `"infinity"` there and any value above it fail the start with
    /// [`ErrorKind::InvalidConfig`], naming the ceiling. So does a soft limit at or below the
    /// lowest free descriptor (`0`, or `3` with only 0, 1 and 2 open): the daemon could open
    /// nothing.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().limit_nofile(65536);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn limit_nofile(mut self, limit: impl LimitValue) -> Daemon {
        self.limits.set(Resource::Nofile, limit.into_limit());
        self
    }

    /// The daemon's `RLIMIT_CORE`, the largest core dump in bytes (`LimitCORE=`); as
    /// [`Daemon::limit_nofile`]. `0` is [`Daemon::prevent_core`].
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().limit_core("0:infinity"); // none unless raised
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn limit_core(mut self, limit: impl LimitValue) -> Daemon {
        self.limits.set(Resource::Core, limit.into_limit());
        self
    }

    /// The daemon's `RLIMIT_NPROC`, the processes its user may have (`LimitNPROC=`); as
    /// [`Daemon::limit_nofile`]. Linux counts them per real user ID, across the system.
    /// illumos has no such limit: there, the start fails with [`ErrorKind::InvalidConfig`].
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().user("worker").limit_nproc(64);
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn limit_nproc(mut self, limit: impl LimitValue) -> Daemon {
        self.limits.set(Resource::Nproc, limit.into_limit());
        self
    }

    /// The daemon's `RLIMIT_MEMLOCK`, the bytes it may lock into memory (`LimitMEMLOCK=`);
    /// as [`Daemon::limit_nofile`]. illumos has no such limit: there, the start fails with
    /// [`ErrorKind::InvalidConfig`].
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().limit_memlock("infinity");
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn limit_memlock(mut self, limit: impl LimitValue) -> Daemon {
        self.limits.set(Resource::Memlock, limit.into_limit());
        self
    }

    /// The daemon's `RLIMIT_AS`, its address space in bytes (`LimitAS=`); as
    /// [`Daemon::limit_nofile`]. FreeBSD calls it `RLIMIT_VMEM` too. The kernel takes a
    /// limit below what the daemon already uses; the daemon then fails at its next
    /// allocation, after it reported that it is up, and a program [`Daemon::exec`] runs is
    /// killed (SIGSEGV) by its `exec` just after the readiness pipe said it succeeded. Give
    /// such a start [`Ready::After`] to see it.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().limit_as(4u64 << 30); // 4 GiB
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn limit_as(mut self, limit: impl LimitValue) -> Daemon {
        self.limits.set(Resource::As, limit.into_limit());
        self
    }

    /// The daemon's nice value, -20 (first served) to 19 (last), or `None` to inherit it
    /// (systemd's `Nice=`): absolute, not added to the starting process's. Set in the daemon
    /// before the privilege drop. A value outside -20..=19 fails the start with
    /// [`ErrorKind::InvalidConfig`]; one below the current value without the privilege to
    /// (root, `CAP_SYS_NICE` or Linux's `RLIMIT_NICE`) with [`ErrorKind::PermissionDenied`].
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().nice(10); // a batch job, behind interactive work
    /// # drop(daemon);
    /// ```
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn nice(mut self, nice: impl Into<Option<i32>>) -> Daemon {
        self.limits.set_nice(nice.into());
        self
    }

    /// Daemonizes: returns in the daemon, after every step succeeded and the starting process
    /// was told so. The starting process does not return from a successful start: it exits
    /// with status 0 once the daemon reported that it is up.
    ///
    /// The sequence (systemd's daemon(7), PEP 3143): answer the control command, if
    /// [`Daemon::control`] asks; check that the process is single-threaded; refuse option
    /// values that can never work; take `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` out of the environment; look up the user and group; open and lock
    /// the PID file, open the stdio files and check the working directory, all in the
    /// starting process; make the readiness pipe; fork, `setsid`, fork again (the daemon is not
    /// a session leader, so it can never get a controlling terminal); in the daemon, reset
    /// every signal disposition and the signal mask (SIGPIPE and the terminal signals SIGTSTP,
    /// SIGTTIN, SIGTTOU stay ignored; SIGTERM and SIGINT stop the daemon cleanly; SIGHUP
    /// is a reload request that reopens the log files), move stdio onto its files, close every other inherited
    /// descriptor, set the umask, `chroot` and change directory, write the PID file, drop
    /// privileges; then report success through the pipe, or wait for the body's
    /// [`ready`](crate::ready).
    ///
    /// In the foreground ([`Daemon::foreground`]) the forks and `setsid` are skipped, and so
    /// are the standard streams that were given no file; readiness goes to the service
    /// manager, if there is one.
    ///
    /// # Errors
    ///
    /// Only in the starting process, and then no daemon is running: the step that failed,
    /// in the starting process or in the daemon (reported through the pipe), or the daemon
    /// ending before it reported. [`Error::exit`] prints it as one line and exits with the
    /// status of its [`ErrorKind`].
    ///
    /// ```no_run
    /// match daemon_rt::Daemon::new().pidfile("/run/worker.pid").start() {
    ///     Ok(running) => {
    ///         // the daemon: work until asked to stop
    ///         daemon_rt::wait_for_stop();
    ///         drop(running); // removes the PID file
    ///     }
    ///     Err(e) => e.exit(), // one line on stderr, the documented status
    /// }
    /// ```
    pub fn start(self) -> Result<Running, Error> {
        if self.control {
            let reload = self.reopen_logs.unwrap_or(Signal::SIGHUP);
            if let control::Next::Exit(code) = control::answer(self.pidfile.as_deref(), reload) {
                let _ = std::io::stdout().flush();
                std::process::exit(code);
            }
        }
        crate::timing::mark("start");
        let single = match threads::ensure_single_threaded() {
            Ok(single) => single,
            Err(err) => {
                if let Ok(Some(_)) = notify::connect_leaving_env() {
                    notify::send_failure(&format!("{err:#}"), Some(notify::errno_for(&err)));
                }
                return Err(err);
            }
        };
        crate::timing::mark("threads counted");
        if let Err(err) = self.check() {
            // A manager that waits for `READY=1` (`start-stop-daemon --notify-await`) must
            // hear why it will never come, or it waits for its whole timeout.
            if let Ok(Some(_)) = notify::connect_from_env(&single) {
                notify::send_failure(&format!("{err:#}"), Some(notify::errno_for(&err)));
            }
            return Err(err);
        }
        // Read before anything else so that the variable is gone from the environment even
        // when the start fails, and before the sockets that must stay open are counted.
        let notify = notify::connect_from_env(&single)?;
        if let Err(err) = crate::watchdog::from_env(&single) {
            notify::send_failure(&format!("{err:#}"), Some(notify::errno_for(&err)));
            return Err(err);
        }
        let activated = match activation::from_env() {
            Ok(activated) => activated,
            // Socket activation was meant: the service manager waits for this process.
            Err(err) => {
                notify::send_failure(&format!("{err:#}"), Some(notify::errno_for(&err)));
                return Err(err);
            }
        };
        let pid1 = std::process::id() == 1;
        let context = fork::Context {
            foreground: self.foreground,
            notify: notify.is_some(),
            activated: !activated.is_empty(),
            pid1,
        };
        let foreground = match fork::foreground(self.fork, &context) {
            Ok(foreground) => foreground,
            Err(err) => {
                notify::send_failure(&format!("{err:#}"), Some(notify::errno_for(&err)));
                return Err(err);
            }
        };
        if let Some(fd) = self.notify_fd {
            notify_fd::arm(fd);
        }
        crate::timing::mark("environment read");
        if pid1 {
            // Returns in the child, which goes on as the daemon; PID 1 stays the init.
            init::become_init(&single)?;
        }
        let result = self.start_with(single, notify, activated, foreground);
        if result.is_ok() {
            threads::mark_started();
        }
        // Forked with `Fork::Always`, the starting process tells the service manager too.
        if (foreground || notify.is_some())
            && let Err(err) = &result
        {
            // Debug is the one-line message `Error::exit` prints.
            notify::send_failure(&format!("{err:#}"), Some(notify::errno_for(err)));
        }
        result
    }

    fn start_with(
        self,
        single: SingleThreaded,
        notify: Option<RawFd>,
        activated: Vec<RawFd>,
        foreground: bool,
    ) -> Result<Running, Error> {
        let Daemon {
            pidfile,
            stdin,
            stdout,
            stderr,
            stdout_sink,
            stderr_sink,
            working_directory,
            umask,
            preserve_fds,
            on_started,
            foreground: _,
            ready,
            ready_timeout,
            reopen_logs,
            user,
            group,
            chroot,
            control: _,
            print_pid,
            strict_paths,
            fork: _,
            notify_fd: _,
            working_directory_set,
            exec,
            keep_env,
            limits,
        } = self;

        // The path options' values, which the start resolves itself: not warned about as
        // relative arguments. Only gathered when the warning may be given.
        let warn_relative = !working_directory_set && chroot.is_none();
        // Borrowed, not copied: nothing is allocated for them on the default start path.
        let named = [&pidfile, &stdin, &stdout, &stderr].map(Option::as_deref);
        // Everything that can fail for a reason the user can fix fails here, in the process
        // whose stderr the user sees, and before anything is created.
        let credentials = privileges::resolve(user.as_deref(), group.as_deref())?;
        let environment = Environment::new(
            keep_env,
            credentials.as_ref().and_then(|c| match c.account() {
                Some(account) => Some(account.clone()),
                None => user.as_deref().and_then(environment::Account::numeric),
            }),
            !activated.is_empty(),
        );
        check_root_and_directory(chroot.as_deref(), &working_directory)?;
        let logs = Logs::new(reopen_logs, stdout.as_deref(), stderr.as_deref())?;
        crate::timing::mark("credentials, directories");
        let mut pidfile = pidfile
            .as_deref()
            .map(|path| Pidfile::acquire(path, strict_paths))
            .transpose()?;
        crate::timing::mark("pidfile locked");
        let mut stdio = Stdio::open(
            stdin.as_deref(),
            stdout.as_deref(),
            stderr.as_deref(),
            foreground,
            strict_paths,
        )
        .map_err(|e| abandon(pidfile.as_ref(), &[], e))?;
        let created = stdio.created();
        crate::timing::mark("stdio opened");
        // Syslog or the journal: pipes whose lines a forked process sends.
        let forward = Forwarder::pipes(stdout_sink, stderr_sink)
            .map_err(|e| abandon(pidfile.as_ref(), &created, e))?
            .map(|pipes| {
                stdio.forward(pipes.stdout, pipes.stderr);
                pipes.forwarder
            });
        // Only once no two roles share a file is the PID file emptied: a log or an input
        // named as the PID file is refused, not truncated.
        stdio
            .check_distinct(pidfile.as_ref().map(Pidfile::identity))
            .and_then(|()| pidfile.as_mut().map_or(Ok(()), Pidfile::claim))
            .map_err(|e| abandon(pidfile.as_ref(), &created, e))?;
        let log = stdio.log_mark();
        let mut keep = preserve_fds;
        keep.extend(activated);
        keep.extend(notify);
        keep.extend(notify_fd::kept());
        keep.extend(forward.iter().flat_map(Forwarder::fds));
        // What the daemon arms, made here: an allocation in the daemon writes to heap pages
        // it shares with the starting process, and each costs a copy-on-write fault on the
        // start's critical path.
        let cleanup = pidfile.as_ref().map(Pidfile::cleanup_path);
        if cleanup.is_some() {
            sys::register_pidfile_cleanup();
        }
        let mut created_paths = stdio.created_paths().into_iter();
        let mut steps = Steps {
            cleanup,
            created: [created_paths.next(), created_paths.next()],
            stdio: Some(stdio),
            umask,
            chroot,
            working_directory,
            logs,
            credentials,
            forward,
            limits: (!limits.is_empty()).then_some(limits),
            environment,
        };
        let manual = ready == Ready::Manual;
        let after = match ready {
            Ready::After(period) => Some(period),
            _ => None,
        };
        // Relative arguments of the program's own name files here, not in `/`: said once,
        // before the daemon leaves this directory. Nothing to look at when it stays.
        if warn_relative {
            let program = exec.as_ref().map(|plan| plan.arguments.as_slice());
            crate::relative::warn_about_arguments(&named, program);
        }
        crate::timing::mark("pidfile claimed");

        let execs = exec.is_some();
        if foreground {
            // The daemon's steps close its socket (not kept): no second close.
            drop(exec);
            let pid = std::process::id();
            keep.extend(pidfile.iter().flat_map(Pidfile::fds));
            // The manager's reload or stop signal during the steps (they reset every
            // disposition) waits for the handlers, which the steps install before they
            // clear the mask: it never meets the default action halfway.
            let blocked = sys::block_interrupts().ok();
            // The streams as they were, for a failed step: its line goes to the user's
            // stderr, not to the log, and a log this start created is no longer held open.
            let saved = crate::stdio::Saved::take(&mut keep);
            return match steps.run(pidfile.as_mut(), &mut keep, pid, &single) {
                Ok(()) => {
                    // An `exec` that fails still has a line to print to the user.
                    match execs {
                        true => saved.hold(),
                        false => drop(saved),
                    }
                    lifecycle::started(pid, None, manual);
                    Ok(Running { pid, pidfile })
                }
                Err(err) => {
                    saved.restore();
                    if let Some(mask) = &blocked {
                        sys::restore_mask(mask);
                    }
                    Err(abandon(pidfile.as_ref(), &created, err))
                }
            };
        }

        let (mut waiter, mut reporter) =
            readiness::channel().map_err(|e| abandon(pidfile.as_ref(), &created, e))?;
        // The daemon's list, grown here for the same reason as `cleanup` above.
        keep.push(reporter.fd());
        keep.extend(pidfile.iter().flat_map(Pidfile::fds));
        fds::normalize(&mut keep);
        // Waiting for `ready()` may take long: an operator's Ctrl-C must not leave the unready
        // daemon running, since only this process enforces the timeout. What can fail (the
        // pipe) is made before the fork, and the interrupts are blocked from before the fork
        // until their handlers are in place, so that none ends this process in between.
        let interrupts = match manual || after.is_some() {
            true => Some(
                waiter
                    .prepare_interrupts()
                    .map_err(|e| abandon(pidfile.as_ref(), &created, e))?,
            ),
            false => None,
        };
        // Output buffered now would otherwise be written again by the daemon.
        let _ = std::io::stdout().flush();
        // With `Ready::After`, the daemon becomes this process's child once the intermediate
        // child has exited, so that its end can be reaped and told.
        let subreaper = after.map(|_| readiness::adopt_orphans(true));
        if let Some(plan) = &exec {
            plan.before_fork();
        }
        crate::timing::mark("fork");
        let forked = sys::fork(&single).context(Step::Fork, None);
        let forked = forked.map_err(|e| {
            if let Some(mask) = &interrupts {
                sys::restore_mask(mask);
            }
            if let Some(was) = subreaper {
                readiness::adopt_orphans(was);
            }
            abandon(pidfile.as_ref(), &created, e)
        })?;
        match forked {
            ForkResult::Parent { child } => {
                crate::timing::mark("starter forked");
                drop(reporter);
                // The daemon's files are its own: this process's copies are closed, so that a
                // failed start can tell whether anyone else opened a log it created.
                drop(steps);
                if let Some(mask) = &interrupts {
                    waiter.catch_interrupts();
                    sys::restore_mask(mask);
                }
                let outcome = waiter.wait(manual.then_some(ready_timeout));
                crate::timing::mark("starter woken");
                sys::reap(child);
                crate::timing::mark("starter reaped");
                // The intermediate child has exited: if the time ran out before its message
                // naming the daemon was read, it is in the pipe now. If it was killed before
                // it could say it, the daemon is the one process of its session.
                let outcome = match outcome {
                    Outcome::Interrupted(signo, None) => {
                        let pid = match waiter.daemon() {
                            Forked::Named(pid) => Some(pid),
                            Forked::None => None,
                            Forked::Unnamed => readiness::in_session(child.as_raw() as u32),
                        };
                        Outcome::Interrupted(signo, pid)
                    }
                    Outcome::TimedOut(None) => match waiter.daemon() {
                        Forked::Named(pid) => Outcome::TimedOut(Some(pid)),
                        Forked::None => Outcome::TimedOut(None),
                        Forked::Unnamed => match readiness::in_session(child.as_raw() as u32) {
                            Some(pid) => Outcome::TimedOut(Some(pid)),
                            None => Outcome::Unnamed,
                        },
                    },
                    outcome => outcome,
                };
                let outcome = exec::after_wait(exec, outcome, ready_timeout, &waiter);
                let outcome = match (outcome, after) {
                    (Outcome::Ready(pid), Some(period)) => {
                        waiter.probation(pid, period, log.as_ref())
                    }
                    (outcome, _) => outcome,
                };
                // A program that failed to start may have forked: what it left in its
                // process group would hold the PID file's lock after the file is gone.
                if execs && !matches!(outcome, Outcome::Ready(_)) {
                    exec::stop_group(child.as_raw() as u32);
                }
                if let Some(was) = subreaper {
                    readiness::adopt_orphans(was);
                }
                let finish = Finish {
                    on_started,
                    print_pid,
                    timeout: ready_timeout,
                    after,
                    log,
                };
                return finish.run(outcome, pidfile, &created);
            }
            ForkResult::Child => {
                crate::timing::mark("intermediate runs");
                waiter.leave();
                // Not dropped: no heap writes before the daemon is ready. Its socket is
                // closed with every descriptor not kept; only the starter removes its path.
                std::mem::forget(exec);
            }
        }

        // The intermediate child: a new session, then the fork that leaves the daemon
        // outside the session leader's role.
        let second = nix::unistd::setsid()
            .context(Step::CreateSession, None)
            .and_then(|_| sys::fork(&single).context(Step::Fork, None));
        match second {
            Ok(ForkResult::Child) => {}
            Ok(ForkResult::Parent { child }) => {
                // A starter that waits for `ready()` may give up before the daemon reports:
                // it must know whom to stop. Said here, off the daemon's path.
                if manual || after.is_some() {
                    reporter.daemon(child.as_raw() as u32);
                }
                crate::timing::mark("intermediate forked");
                crate::timing::flush("intermediate");
                sys::exit_now(0)
            }
            Err(err) => {
                reporter.fail(&err);
                sys::exit_now(1)
            }
        }

        // The daemon.
        crate::timing::mark("daemon runs");
        let pid = std::process::id();
        if notify.is_some() {
            // Forked with `Fork::Always`: systemd learns the main PID from the daemon.
            notify::forked(pid);
        }
        match steps.run(pidfile.as_mut(), &mut keep, pid, &single) {
            Ok(()) if execs => {
                // The starting process hears of readiness from the `exec`, through the pipe
                // `Daemon::exec` keeps; a service manager and a supervisor's descriptor as in
                // the foreground.
                lifecycle::started(pid, None, manual);
                exec::hold(reporter);
                Ok(Running { pid, pidfile })
            }
            Ok(()) => {
                match after {
                    Some(_) => lifecycle::on_probation(pid, reporter),
                    None => lifecycle::started(pid, Some(reporter), manual),
                }
                crate::timing::mark("daemon reported ready");
                crate::timing::flush("daemon");
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
        let invalid = |reason: String| Err(Error::invalid_config(reason));
        let paths = [
            ("pidfile", self.pidfile.as_deref()),
            ("stdin", self.stdin.as_deref()),
            ("stdout", self.stdout.as_deref()),
            ("stderr", self.stderr.as_deref()),
            ("working_directory", Some(self.working_directory.as_path())),
            ("chroot", self.chroot.as_deref()),
        ];
        for (option, path) in paths {
            let Some(path) = path.map(Path::as_os_str) else {
                continue;
            };
            if path.is_empty() {
                return invalid(format!("`{option}` is an empty path"));
            }
            if path.as_bytes().contains(&0) {
                return invalid(format!(
                    "`{option}` `{}` contains a NUL byte",
                    Escaped(path)
                ));
            }
        }
        for (option, name) in [("user", &self.user), ("group", &self.group)] {
            if let Some(name) = name
                && name.contains('\0')
            {
                return invalid(format!(
                    "`{option}` `{}` contains a NUL byte",
                    Escaped(OsStr::new(name))
                ));
            }
        }
        if self.umask > 0o777 {
            return invalid(format!("`umask` {:#o} is above 0o777", self.umask));
        }
        for &fd in &self.preserve_fds {
            if fd < 0 {
                return invalid(format!(
                    "`preserve_fds` lists {fd}, which is not a descriptor number"
                ));
            }
            if fd <= 2 {
                return invalid(format!(
                    "`preserve_fds` lists {fd}, a standard stream; use `stdin`, `stdout` or `stderr`"
                ));
            }
            if !sys::is_open(fd) {
                return invalid(format!("`preserve_fds` lists {fd}, which is not open"));
            }
        }
        if let Some(signal) = self.reopen_logs
            && matches!(
                signal,
                Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGTERM | Signal::SIGINT
            )
        {
            return invalid(format!(
                "`reopen_logs` cannot be {signal}, which {}",
                if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
                    "cannot be caught"
                } else {
                    "stops the daemon"
                }
            ));
        }
        if self.ready_timeout.is_zero() {
            return invalid("`ready_timeout` is zero".to_owned());
        }
        if let Ready::After(period) = self.ready {
            if period.is_zero() {
                return invalid("`ready` waits zero seconds".to_owned());
            }
            if period > self.ready_timeout {
                return invalid(format!(
                    "`ready` waits {} s, longer than `ready_timeout` ({} s)",
                    period.as_secs_f64(),
                    self.ready_timeout.as_secs_f64()
                ));
            }
        }
        if let Some(fd) = self.notify_fd {
            notify_fd::check(fd)?;
        }
        if let Some(names) = &self.keep_env {
            environment::check(names)?;
        }
        self.limits.check()?;
        Ok(())
    }
}

/// The daemon's own steps, after the second fork (or at once, in the foreground).
///
/// [`Steps::run`] takes what it uses and leaves the rest to be dropped once the daemon
/// reported ready: freeing memory in the daemon before that is a copy-on-write fault on the
/// start's critical path.
struct Steps {
    /// The PID file's path for its removal at exit, copied before the fork.
    cleanup: Option<CString>,
    /// The absolute paths of the logs this start created, made before the fork.
    created: [Option<CString>; 2],
    stdio: Option<Stdio>,
    umask: u32,
    chroot: Option<PathBuf>,
    working_directory: PathBuf,
    logs: Logs,
    credentials: Option<Credentials>,
    forward: Option<Forwarder>,
    /// `None` unless a limit, `prevent_core` or `nice` was given.
    limits: Option<Limits>,
    /// `None` unless `keep_env` or `user` was given.
    environment: Option<Environment>,
}

impl Steps {
    fn run(
        &mut self,
        pidfile: Option<&mut Pidfile>,
        keep: &mut Vec<RawFd>,
        pid: u32,
        single: &SingleThreaded,
    ) -> Result<(), Error> {
        if let (Some(pidfile), Some(path)) = (&pidfile, self.cleanup.take()) {
            pidfile.arm_cleanup(path);
        }
        // A stop signal before the start is done removes the empty logs it created, as a
        // failed start does (absolute: the directory changes below).
        sys::arm_created_logs(std::mem::take(&mut self.created));
        crate::timing::mark("cleanup armed");
        sys::reset_dispositions().context(Step::ResetSignals, None)?;
        crate::timing::mark("signals reset");
        sys::install_stop_handlers().context(Step::ResetSignals, None)?;
        if let Some(stdio) = &mut self.stdio {
            stdio.redirect()?;
        }
        crate::timing::mark("stdio redirected");
        fds::close_inherited(keep)?;
        nix::sys::stat::umask(Mode::from_bits_truncate(self.umask as nix::libc::mode_t));
        let directory = match &self.chroot {
            Some(root) => {
                nix::unistd::chroot(root.as_path()).context(Step::ChangeRoot, Some(root))?;
                // `chroot` leaves the working directory outside the new root: a relative
                // path would be resolved there, out of the jail. Inside it, from its `/`.
                std::borrow::Cow::Owned(Path::new("/").join(&self.working_directory))
            }
            None => std::borrow::Cow::Borrowed(self.working_directory.as_path()),
        };
        nix::unistd::chdir(&*directory).context(Step::ChangeDirectory, Some(&directory))?;
        crate::timing::mark("fds, umask, chdir");
        if let Some(pidfile) = pidfile {
            pidfile.write_pid(pid)?;
        }
        crate::timing::mark("pid written");
        self.logs.install()?;
        // Only now, with every handler in place: a signal blocked until here (PID 1 blocks
        // those it forwards before it forks; a start waiting for `ready()` its interrupts)
        // meets its handler, never the default action halfway through the steps.
        sys::clear_signal_mask().context(Step::ResetSignals, None)?;
        // Before the privilege drop: root may raise a hard limit and lower the nice value.
        if let Some(limits) = &self.limits {
            limits.apply()?;
        }
        if let Some(credentials) = &self.credentials {
            credentials.apply()?;
        }
        if let Some(environment) = &self.environment {
            environment.apply(single);
        }
        // Last, so that the forwarding process has the daemon's root, directory and IDs.
        if let Some(forward) = self.forward.take() {
            forward.spawn(pid)?;
        }
        Ok(())
    }
}

/// The log files [`Daemon::reopen_logs`] reopens, by absolute path, and on which signal.
struct Logs {
    signal: Option<Signal>,
    stdout: Option<CString>,
    stderr: Option<CString>,
}

impl Logs {
    fn new(
        signal: Option<Signal>,
        stdout: Option<&Path>,
        stderr: Option<&Path>,
    ) -> Result<Logs, Error> {
        let absolute = |path: Option<&Path>, step: Step| -> Result<Option<CString>, Error> {
            let Some(path) = path.filter(|_| signal.is_some()) else {
                return Ok(None);
            };
            let absolute = std::path::absolute(path).context(step, Some(path))?;
            CString::new(absolute.into_os_string().into_vec())
                .map(Some)
                .map_err(|_| {
                    Error::new(
                        step,
                        ErrorKind::InvalidConfig,
                        Some(path),
                        "the path contains a NUL byte",
                    )
                })
        };
        Ok(Logs {
            signal,
            stdout: absolute(stdout, Step::OpenStdout)?,
            stderr: absolute(stderr, Step::OpenStderr)?,
        })
    }

    /// The reload handler goes on SIGHUP and the `reopen_logs` signal even without files to
    /// reopen: every supervisor's reload command sends SIGHUP, whose default action would end
    /// the daemon.
    fn install(&self) -> Result<(), Error> {
        sys::reopen_logs_on(
            self.signal.unwrap_or(Signal::SIGHUP).as_raw(),
            self.stdout.as_deref(),
            self.stderr.as_deref(),
        )
        .context(Step::ResetSignals, None)
    }
}

/// What the starting process does once the daemon reported (or vanished, or timed out).
struct Finish {
    on_started: Option<StartedHook>,
    print_pid: bool,
    timeout: Duration,
    /// `Ready::After`'s time.
    after: Option<Duration>,
    /// The daemon's stderr (or stdout) file, which a failure before ready points at.
    log: Option<crate::logtail::LogMark>,
}

impl Finish {
    fn run(
        self,
        outcome: Outcome,
        pidfile: Option<Pidfile>,
        created: &[Created],
    ) -> Result<Running, Error> {
        let err = match outcome {
            Outcome::Ready(pid) => {
                // The daemon is up whatever happens to this output: a closed pipe or a full
                // disk must not turn the start into a failure (`println!` would panic).
                if self.print_pid {
                    let _ = writeln!(std::io::stdout(), "{pid}");
                }
                if let Some(hook) = self.on_started {
                    let started = Started {
                        pid,
                        pidfile: pidfile.as_ref().map(|p| p.path().to_path_buf()),
                    };
                    // The daemon is up whatever the hook does: a panic (printing to a closed
                    // pipe, say) is reported by the panic hook but does not make the start fail.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&started)));
                }
                let _ = std::io::stdout().flush();
                crate::timing::mark("starter exits");
                crate::timing::flush("starter");
                std::process::exit(0);
            }
            Outcome::Failed(err) if err.step() == Step::Initialize => self.pointed(err),
            Outcome::Failed(err) => err,
            Outcome::Vanished => self.pointed(Error::new(
                Step::AwaitReadiness,
                ErrorKind::DiedBeforeReady,
                None,
                "the daemon exited before it reported that it is up",
            )),
            Outcome::Exited(ended, left) => {
                let how = readiness::how(ended);
                let secs = self.after.unwrap_or_default().as_secs_f64();
                let left =
                    readiness::left_note(&left).map_or_else(String::new, |n| format!("; {n}"));
                self.pointed(Error::new(
                    Step::AwaitReadiness,
                    ErrorKind::DiedBeforeReady,
                    None,
                    format!("the daemon {how} within the {secs} s it had to stay up{left}"),
                ))
            }
            Outcome::TimedOut(pid) => {
                let secs = self.timeout.as_secs_f64();
                let late = format!("it did not call `daemon_rt::ready()` within {secs} s");
                // `None`: the intermediate child ended without naming a daemon, so none was
                // forked.
                let stopped = pid.is_none_or(readiness::stop_unready);
                let err =
                    |what: String| Error::new(Step::AwaitReadiness, ErrorKind::Timeout, None, what);
                match pid {
                    Some(pid) if !stopped => {
                        // It still holds the PID file: removing the file would let a second
                        // instance start beside it.
                        return Err(err(format!(
                            "{late}, and PID {pid} still runs after SIGKILL; its PID file is left"
                        )));
                    }
                    Some(pid) => err(format!("{late}; stopped it (PID {pid})")),
                    None => err(late),
                }
            }
            Outcome::Interrupted(signo, pid) => {
                let name = Signal::from_raw(signo)
                    .map_or_else(|| format!("signal {signo}"), |s| s.to_string());
                let stopped = pid.is_none_or(readiness::stop_unready);
                let what = match pid {
                    Some(pid) if stopped => format!("; stopped it (PID {pid})"),
                    Some(pid) => format!("; PID {pid} still runs after SIGKILL"),
                    None => String::new(),
                };
                let err = Error::new(
                    Step::AwaitReadiness,
                    ErrorKind::DiedBeforeReady,
                    None,
                    format!(
                        "the start was interrupted by {name} before the daemon was ready{what}"
                    ),
                );
                if stopped {
                    undo(pidfile.as_ref(), created);
                }
                // One line, then the end the signal asked for.
                let _ = writeln!(
                    std::io::stderr(),
                    "{}: {err:#}",
                    crate::error::program_name()
                );
                sys::die_by(signo)
            }
            Outcome::Unnamed => {
                let secs = self.timeout.as_secs_f64();
                // A process holds the pipe, and so the PID file: it is left to it.
                return Err(Error::new(
                    Step::AwaitReadiness,
                    ErrorKind::Timeout,
                    None,
                    format!(
                        "it did not call `daemon_rt::ready()` within {secs} s, and a daemon \
                         whose PID is unknown may still run; its PID file is left"
                    ),
                ));
            }
        };
        Err(abandon(pidfile.as_ref(), created, err))
    }
}

impl Finish {
    /// A failure of the daemon before it was ready, pointing at its log file if it has one.
    fn pointed(&self, err: Error) -> Error {
        match &self.log {
            Some(log) => {
                let note = log.note(&format!("{err:#}"));
                err.with_note(&note)
            }
            None => err,
        }
    }
}

/// A start that failed: remove the PID file it created or took over (the lock is still held
/// through this process's descriptor, so the file is ours) and the log files it created that
/// are still empty, so that the start leaves the filesystem as it found it.
fn abandon(pidfile: Option<&Pidfile>, created: &[Created], err: Error) -> Error {
    undo(pidfile, created);
    err
}

/// What [`abandon`] takes back.
fn undo(pidfile: Option<&Pidfile>, created: &[Created]) {
    if let Some(pidfile) = pidfile {
        pidfile.abandon();
    }
    created.iter().for_each(Created::remove);
}

/// Checks the `chroot` directory, and the working directory inside it.
fn check_root_and_directory(root: Option<&Path>, directory: &Path) -> Result<(), Error> {
    match root {
        Some(root) => {
            check_directory(root, Step::ChangeRoot)?;
            let inside = directory.strip_prefix("/").unwrap_or(directory);
            check_directory(&root.join(inside), Step::CheckWorkingDirectory)
        }
        // `/` is the process's root, a directory that every lookup starts from: its stat
        // cannot fail, so the default working directory costs no call.
        None if directory == Path::new("/") => Ok(()),
        None => check_directory(directory, Step::CheckWorkingDirectory),
    }
}

fn check_directory(path: &Path, step: Step) -> Result<(), Error> {
    let meta = std::fs::metadata(path).context(step, Some(path))?;
    if !meta.is_dir() {
        let not_dir = std::io::Error::from_raw_os_error(nix::libc::ENOTDIR);
        return Err(Error::os(step, Some(path), not_dir));
    }
    Ok(())
}

/// What the starting process knows once the daemon is up; given to [`Daemon::on_started`].
///
/// ```no_run
/// let daemon = daemon_rt::Daemon::new()
///     .pidfile("/run/worker.pid")
///     .on_started(|started: &daemon_rt::Started| {
///         println!("worker {} (PID file {:?})", started.pid(), started.pidfile());
///     });
/// # drop(daemon);
/// ```
#[derive(Debug, Clone)]
pub struct Started {
    pid: u32,
    pidfile: Option<PathBuf>,
}

impl Started {
    /// The daemon's PID.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new().on_started(|s| println!("{}", s.pid()));
    /// # drop(daemon);
    /// ```
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The PID file's absolute path, if there is one.
    ///
    /// ```no_run
    /// let daemon = daemon_rt::Daemon::new()
    ///     .pidfile("/run/worker.pid")
    ///     .on_started(|s| println!("stop it with: kill $(cat {})", s.pidfile().unwrap().display()));
    /// # drop(daemon);
    /// ```
    #[must_use]
    pub fn pidfile(&self) -> Option<&Path> {
        self.pidfile.as_deref()
    }
}

/// The running daemon, returned by [`Daemon::start`] in the daemon process.
///
/// It owns the PID file's lock. Dropping it (the end of `main`, an error returned from
/// `main`) removes the PID file; so do `std::process::exit`, SIGTERM and SIGINT. After
/// SIGKILL the file stays, unlocked, and the next start takes it over.
///
/// ```no_run
/// let running = daemon_rt::Daemon::new()
///     .pidfile("/run/worker.pid")
///     .start()
///     .unwrap_or_else(|e| e.exit());
/// eprintln!("daemon {} holds {:?}", running.pid(), running.pidfile());
/// daemon_rt::wait_for_stop();
/// // `running` is dropped at the end of `main`: the PID file is removed.
/// ```
#[derive(Debug)]
#[must_use = "dropping `Running` removes the PID file; keep it for the daemon's life"]
pub struct Running {
    pid: u32,
    pidfile: Option<Pidfile>,
}

impl Running {
    /// The daemon's PID, as written in the PID file.
    ///
    /// ```no_run
    /// let running = daemon_rt::Daemon::new().start().unwrap_or_else(|e| e.exit());
    /// assert_eq!(running.pid(), std::process::id());
    /// ```
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The PID file's absolute path, if there is one.
    ///
    /// ```no_run
    /// let running = daemon_rt::Daemon::new().pidfile("run/w.pid").start().unwrap_or_else(|e| e.exit());
    /// assert!(running.pidfile().unwrap().is_absolute());
    /// ```
    pub fn pidfile(&self) -> Option<&Path> {
        self.pidfile.as_ref().map(Pidfile::path)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        lifecycle::ending();
        if self.pidfile.is_some() {
            sys::remove_armed_pidfile();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(daemon: Daemon) -> String {
        let err = daemon.check().unwrap_err();
        assert_eq!(err.exit_code(), 78, "{err:?}");
        format!("{err:#}")
    }

    #[test]
    fn a_nul_byte_in_any_path_or_name_is_a_configuration_error() {
        let nul = "/run/a\0b";
        for (option, daemon) in [
            ("pidfile", Daemon::new().pidfile(nul)),
            ("stdin", Daemon::new().stdin(nul)),
            ("stdout", Daemon::new().stdout(nul)),
            ("stderr", Daemon::new().stderr(nul)),
            ("working_directory", Daemon::new().working_directory(nul)),
            ("chroot", Daemon::new().chroot(nul)),
            ("user", Daemon::new().user("a\0b")),
            ("group", Daemon::new().group("a\0b")),
        ] {
            let message = refused(daemon);
            assert!(message.contains(&format!("`{option}` `")), "{message}");
            assert!(
                message.ends_with("\\x00b` contains a NUL byte"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_negative_descriptor_is_not_called_a_standard_stream() {
        // The API takes descriptors (`AsFd`), which cannot be negative; the check stays for
        // what a raw number could still be.
        let mut daemon = Daemon::new();
        daemon.preserve_fds.push(-1);
        let message = refused(daemon);
        assert!(
            message.ends_with("`preserve_fds` lists -1, which is not a descriptor number"),
            "{message}"
        );
    }
}
