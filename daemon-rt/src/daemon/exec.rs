//! A daemon that becomes another program: every step, then `execve(2)` in the daemon.
//!
//! The PID file's lock survives the `exec` (its descriptor stays open, close-on-exec
//! cleared), so the program holds it under the PID the file names. Every other descriptor of
//! this crate is close-on-exec. Readiness is the `exec`'s: the daemon sends `X` through the
//! readiness pipe just before it, and the pipe's end (close-on-exec) without a failure after
//! it means that the program runs. With [`Ready::Manual`], the starting process then waits
//! for `READY=1` on a notify socket of its own, which the program finds in `$NOTIFY_SOCKET`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsFd as _;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{Daemon, Ready, Running};
use crate::error::{Error, ErrorKind, Escaped, Step};
use crate::readiness::{self, Outcome, Reporter, Waiter};
use crate::sys;

/// What [`Daemon::exec`] adds to a start.
#[derive(Debug)]
pub(super) struct Plan {
    /// With [`Ready::Manual`]: the socket the program sends `READY=1` to.
    notify: Option<NotifySocket>,
    /// The program's arguments, which the relative-path warning looks at.
    pub(super) arguments: Vec<std::ffi::OsString>,
    /// Whether the starting process was a child subreaper before [`Plan::before_fork`]
    /// made it one, to restore once the wait for `READY=1` is over.
    subreaper_was: std::sync::OnceLock<bool>,
}

/// The readiness pipe, kept by the daemon from the end of its steps to the `exec`.
static REPORTER: Mutex<Option<Reporter>> = Mutex::new(None);

/// The daemon's steps succeeded: keep the pipe for the `exec`.
pub(super) fn hold(reporter: Reporter) {
    *REPORTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reporter);
}

impl Daemon {
    /// Daemonizes, then replaces the daemon with `command`'s program (`execve(2)`): a
    /// daemonizer for any program, as FreeBSD's `daemon(8)` or `start-stop-daemon
    /// --background`, with every step and option of [`Daemon::start`].
    ///
    /// The program keeps the daemon's PID, so the PID file names it, and it inherits the PID
    /// file's lock: the file is locked for as long as the program runs. Every other
    /// descriptor of this crate is closed by the `exec`. Sockets passed by socket activation
    /// (`$LISTEN_FDS`, which keeps the process in the foreground) stay open for the program,
    /// with the variables that name them. The program starts with every signal
    /// at its default disposition (SIGPIPE too) and an empty signal mask, and with the
    /// standard streams, working directory, umask and user of the options.
    ///
    /// The starting process exits 0 once the program is up:
    ///
    /// - [`Ready::Started`] (the default): once the `exec` succeeded.
    /// - [`Ready::Manual`]: once the program (or one of its children) sent `READY=1` to the
    ///   socket named by `$NOTIFY_SOCKET` (`sd_notify(3)`, `systemd-notify --ready`), which the
    ///   starting process makes for it: on Linux an abstract socket with a random name,
    ///   which hears only root, the starting process's user and the program's user. A
    ///   program that exits first fails the start, with its exit status in the message
    ///   ([`ErrorKind::DiedBeforeReady`]), and its last `STATUS=` and `ERRNO=` too, as
    ///   `systemctl status` shows them; one that says nothing within
    ///   [`Daemon::ready_timeout`] is stopped (SIGTERM, then SIGKILL), and the start fails
    ///   with [`ErrorKind::Timeout`].
    ///
    /// In the foreground ([`Daemon::foreground`]) the process `exec`s the program itself, the
    /// PID file still locked. Under a service manager (`$NOTIFY_SOCKET`), `READY=1` is sent
    /// just before the `exec`; with [`Ready::Manual`] it is not, and the program gets the
    /// manager's `$NOTIFY_SOCKET` to send it itself. Under a manager's watchdog
    /// (`WatchdogSec=`) the program gets `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and
    /// `$WATCHDOG_PID` (its own PID) to send `WATCHDOG=1`: it keeps the PID being watched.
    ///
    /// # Errors
    ///
    /// Returns only on failure, and only in the process that can tell the user: the starting
    /// process, or the process itself in the foreground. The errors of [`Daemon::start`],
    /// and [`Step::Exec`] when the `exec` failed: [`ErrorKind::ProgramNotFound`] (exit status
    /// 127) when there is no such program, [`ErrorKind::CannotExecute`] (126) otherwise. A
    /// failed start leaves nothing behind: no process, no PID file it created.
    ///
    /// ```no_run
    /// let mut command = std::process::Command::new("sleep");
    /// command.arg("60");
    /// let err = daemon_rt::Daemon::new().pidfile("/run/sleep.pid").exec(&mut command);
    /// err.exit() // `daemon: exec failed: sleep: No such file or directory`, status 127
    /// ```
    pub fn exec(mut self, command: &mut Command) -> Error {
        let notify = match self.ready {
            Ready::Manual => match NotifySocket::bind() {
                Ok(socket) => Some(socket),
                Err(err) => return Error::os(Step::Notify, None, err),
            },
            _ => None,
        };
        let address = notify.as_ref().map(|n| n.address.clone());
        let arguments = command.get_args().map(ToOwned::to_owned).collect();
        self.exec = Some(Plan {
            notify,
            arguments,
            subreaper_was: std::sync::OnceLock::new(),
        });
        let chroot = self.chroot.clone();
        let running = match self.start() {
            Ok(running) => running,
            Err(err) => return err,
        };
        let reporter = REPORTER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        // In the foreground the program keeps the PID the manager's watchdog watches.
        let watchdog = crate::watchdog::watchdog_interval().filter(|_| reporter.is_none());
        let manager = crate::notify::address().filter(|_| address.is_some() || watchdog.is_some());
        match (&reporter, address, manager) {
            // Forked: the starting process listens there.
            (Some(_), Some(address), _) => command.env("NOTIFY_SOCKET", address),
            // In the foreground under a service manager, a program that declares its
            // readiness, or must ping the watchdog, tells the manager itself.
            (None, _, Some(manager)) => command.env("NOTIFY_SOCKET", manager),
            _ => command.env_remove("NOTIFY_SOCKET"),
        };
        if let (Some(interval), Some(_)) = (watchdog, manager) {
            command.env("WATCHDOG_USEC", interval.as_micros().to_string());
            command.env("WATCHDOG_PID", std::process::id().to_string());
        }
        become_program(running, reporter, command, chroot.as_deref())
    }

    /// Keeps the descriptors numbered `fds` open besides 0, 1 and 2, as
    /// [`Daemon::preserve_fds`] does, for a program that gets them by number (a command
    /// line's `--preserve-fds 3`). Each must be open and above 2, or the start fails with
    /// [`ErrorKind::InvalidConfig`].
    #[doc(hidden)]
    #[must_use = "a `Daemon` does nothing until `start` is called"]
    pub fn preserve_fd_numbers(mut self, fds: impl IntoIterator<Item = i32>) -> Daemon {
        self.preserve_fds.extend(fds);
        self
    }
}

/// In the daemon (or the foreground process): the `exec`. Returns only in the foreground,
/// on failure; a forked daemon reports its failure through the pipe and exits.
fn become_program(
    running: Running,
    mut reporter: Option<Reporter>,
    command: &mut Command,
    chroot: Option<&std::path::Path>,
) -> Error {
    // The sockets of socket activation too: `$LISTEN_FDS` and `$LISTEN_PID` stay in the
    // environment and name them for the program, which keeps the PID (no fork then).
    let activated = crate::activation::from_env().unwrap_or_default();
    let prepared = running
        .pidfile
        .iter()
        .flat_map(super::Pidfile::fds)
        .chain(activated)
        .try_for_each(sys::clear_cloexec)
        .and_then(|()| sys::default_dispositions());
    let err = match prepared {
        Ok(()) => {
            if let Some(reporter) = &mut reporter {
                reporter.exec(running.pid);
            }
            // std clears the signal mask and execs; it returns only on failure.
            let err = command.exec();
            exec_failed(command.get_program(), &err, chroot)
        }
        Err(err) => Error::os(Step::Exec, None, err),
    };
    match reporter {
        Some(mut reporter) => {
            reporter.fail(&err);
            sys::exit_now(err.exit_code())
        }
        None => {
            drop(running); // removes the PID file
            // The line goes to the user's stderr, not to the log the steps moved there.
            crate::stdio::Saved::restore_held();
            err
        }
    }
}

/// `exec failed: <program>: No such file or directory`, 127 for a missing program and 126
/// for any other failure, as a shell says it. Inside a chroot, the program was looked for
/// there, which the message says.
fn exec_failed(program: &OsStr, err: &io::Error, chroot: Option<&std::path::Path>) -> Error {
    let kind = match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::ProgramNotFound,
        _ => ErrorKind::CannotExecute,
    };
    let reason = match err.raw_os_error() {
        // Linux's one EAGAIN of `execve`: `setuid` to a user over its RLIMIT_NPROC succeeds,
        // and the next `execve` fails. strerror's "Try again" would not say which limit.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(nix::libc::EAGAIN) => {
            "its user has reached its process limit (RLIMIT_NPROC, `limit_nproc`)".to_owned()
        }
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_owned(),
        None => err.to_string(),
    };
    let inside = chroot.map_or(String::new(), |root| {
        format!(" (inside chroot `{}`)", Escaped(root.as_os_str()))
    });
    Error::new(
        Step::Exec,
        kind,
        None,
        format!("{}: {reason}{inside}", Escaped(program)),
    )
}

impl Plan {
    /// In the starting process, before the first fork: with a notify socket, become the
    /// daemon's subreaper, so that the daemon is its child once the intermediate one has
    /// exited and a program that exits before `READY=1` is seen with its status.
    pub(super) fn before_fork(&self) {
        if self.notify.is_some() {
            let _ = self.subreaper_was.set(readiness::adopt_orphans(true));
        }
    }
}

/// In the starting process, after a failed start: stops the processes the program left in
/// its process group, `group` (the session's, made by the intermediate child; the group's
/// number is not reused while it has members). SIGTERM, then SIGKILL after
/// [`readiness::STOP_GRACE`]; those this process adopted as a subreaper are reaped. A
/// process that made a session of its own is out of reach.
pub(super) fn stop_group(group: u32) {
    use nix::sys::signal::killpg;
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let group = nix::unistd::Pid::from_raw(group as i32);
    let reap = || {
        let negative = nix::unistd::Pid::from_raw(-group.as_raw());
        while waitpid(negative, Some(WaitPidFlag::WNOHANG))
            .is_ok_and(|s| s != nix::sys::wait::WaitStatus::StillAlive)
        {}
    };
    readiness::terminate(
        |signal| killpg(group, signal).is_ok(),
        || {
            reap();
            killpg(group, None).is_err()
        },
    );
    reap();
}

/// In the starting process, once the pipe said the `exec` succeeded: with a notify socket,
/// wait for `READY=1`. The subreaper setting [`Plan::before_fork`] changed is put back
/// whatever the outcome.
pub(super) fn after_wait(
    plan: Option<Plan>,
    outcome: Outcome,
    timeout: Duration,
    waiter: &Waiter,
) -> Outcome {
    let Some(Plan {
        notify: Some(socket),
        subreaper_was,
        ..
    }) = plan
    else {
        return outcome;
    };
    let outcome = match outcome {
        Outcome::Ready(pid) => socket.await_ready(pid, timeout, waiter),
        outcome => outcome,
    };
    // The program never writes a supervisor's newline (`notify_fd`), and the daemon's copy
    // closed at the `exec`: this process's copy carries it.
    if let Outcome::Ready(_) = outcome {
        crate::notify_fd::announce();
    }
    if let Some(&was) = subreaper_was.get() {
        readiness::adopt_orphans(was);
    }
    outcome
}

/// The starting process's notify socket.
#[derive(Debug)]
struct NotifySocket {
    socket: UnixDatagram,
    /// `$NOTIFY_SOCKET` for the program: `@name`, or a path.
    address: String,
    /// The private directory of the socket, where there are no abstract sockets.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    directory: std::path::PathBuf,
    /// The process that made it, the only one to remove it.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    owner: u32,
}

/// A name no other process can guess: std's randomly keyed hasher, seeded by the OS.
fn random_name() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!(
        "daemon-rt/notify/{}/{:016x}",
        std::process::id(),
        hasher.finish()
    )
}

impl NotifySocket {
    /// An abstract datagram socket with a random name.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn bind() -> io::Result<NotifySocket> {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt as _;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt as _;
        let name = random_name();
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let socket = UnixDatagram::bind_addr(&address)?;
        socket.set_nonblocking(true)?;
        // Every datagram carries its sender's credentials, which the kernel checks.
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::PassCred, &true)?;
        Ok(NotifySocket {
            socket,
            address: format!("@{name}"),
        })
    }

    /// One datagram, and the user that sent it.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn receive(&self, buf: &mut [u8]) -> io::Result<(usize, Option<u32>)> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg};
        use std::os::fd::AsRawFd as _;
        let mut iov = [io::IoSliceMut::new(buf)];
        let mut space = nix::cmsg_space!(UnixCredentials);
        let msg = recvmsg::<()>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )?;
        let sender = msg.cmsgs().ok().and_then(|mut cmsgs| {
            cmsgs.find_map(|cmsg| match cmsg {
                ControlMessageOwned::ScmCredentials(creds) => Some(creds.uid()),
                _ => None,
            })
        });
        Ok((msg.bytes, sender))
    }

    /// A datagram socket in a fresh directory with a random name that no other user can list
    /// (mode 0711): a program that runs as another `user` can still send to the path it is
    /// given, which is the only place the name is said.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn bind() -> io::Result<NotifySocket> {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        let name = random_name().replace('/', "-");
        let directory = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new().mode(0o711).create(&directory)?;
        let path = directory.join("notify");
        // The BSDs and macOS check write permission on the socket file at `sendto`.
        let socket = UnixDatagram::bind(&path)
            .and_then(|socket| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
                Ok(socket)
            })
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_dir(&directory);
            })?;
        socket.set_nonblocking(true)?;
        let address = path.to_string_lossy().into_owned();
        Ok(NotifySocket {
            socket,
            address,
            directory,
            owner: std::process::id(),
        })
    }

    /// One datagram; only who was given the socket's random path can reach it.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn receive(&self, buf: &mut [u8]) -> io::Result<(usize, Option<u32>)> {
        self.socket.recv(buf).map(|n| (n, None))
    }

    /// Waits for `READY=1` from the program with `pid`, for at most `timeout`; watches it
    /// exit, and the starting process's interrupts.
    fn await_ready(&self, pid: u32, timeout: Duration, waiter: &Waiter) -> Outcome {
        let deadline = Instant::now().checked_add(timeout);
        let mut buf = [0u8; 4096];
        let mut said = Said::default();
        loop {
            loop {
                match self.receive(&mut buf) {
                    Ok((n, sender)) if trusted(sender, pid) => {
                        if said.read(&buf[..n]) {
                            return Outcome::Ready(pid);
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            if let Some(status) = exited(pid) {
                return Outcome::Failed(Error::new(
                    Step::AwaitReadiness,
                    ErrorKind::DiedBeforeReady,
                    None,
                    format!("the program {status} before it sent READY=1{said}"),
                ));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                let secs = timeout.as_secs_f64();
                let what = match readiness::stop_unready(pid) {
                    true => format!("stopped it (PID {pid})"),
                    false => format!("PID {pid} still runs after SIGKILL"),
                };
                let _ = exited(pid);
                return Outcome::Failed(Error::new(
                    Step::AwaitReadiness,
                    ErrorKind::Timeout,
                    None,
                    format!("the program did not send READY=1 within {secs} s{said}; {what}"),
                ));
            }
            // A tick, to see the program exit even when this process is not its parent.
            let tick = left.map_or(TICK, |l| l.min(TICK));
            let ms = u16::try_from(tick.as_millis().max(1)).unwrap_or(u16::MAX);
            let interrupt = waiter.interrupt();
            let mut fds = vec![PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
            if let Some(interrupt) = interrupt {
                fds.push(PollFd::new(interrupt.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, PollTimeout::from(ms));
            let signalled = fds
                .get(1)
                .and_then(PollFd::revents)
                .is_some_and(|r| r.contains(PollFlags::POLLIN));
            if let (true, Some(mut interrupt)) = (signalled, interrupt) {
                let mut signo = [0u8; 1];
                if io::Read::read(&mut interrupt, &mut signo).is_ok_and(|n| n == 1) {
                    return Outcome::Interrupted(i32::from(signo[0]), Some(pid));
                }
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl Drop for NotifySocket {
    fn drop(&mut self) {
        // Only the process that made it: a forked child drops its copy too.
        if self.owner == std::process::id() {
            let _ = std::fs::remove_file(self.directory.join("notify"));
            let _ = std::fs::remove_dir(&self.directory);
        }
    }
}

/// How often the program's end is checked while no datagram comes.
const TICK: Duration = Duration::from_millis(50);

/// What the program said before `READY=1`: its last `STATUS=` and `ERRNO=`, which a failed
/// start quotes, as `systemctl status` shows them.
#[derive(Debug, Default)]
struct Said {
    status: Option<String>,
    errno: Option<i32>,
}

/// The longest `STATUS=` text quoted, in characters.
const STATUS_MAX: usize = 200;

impl Said {
    /// Notes a datagram's `STATUS=` and `ERRNO=` lines; returns whether it has `READY=1`.
    fn read(&mut self, datagram: &[u8]) -> bool {
        let mut ready = false;
        for line in datagram.split(|&b| b == b'\n') {
            if line == b"READY=1" {
                ready = true;
            } else if let Some(text) = line.strip_prefix(b"STATUS=") {
                // One line of printable text, however the program wrote it.
                let text: String = String::from_utf8_lossy(text)
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(STATUS_MAX)
                    .collect();
                self.status = Some(text);
            } else if let Some(number) = line.strip_prefix(b"ERRNO=") {
                self.errno = std::str::from_utf8(number)
                    .ok()
                    .and_then(|n| n.trim().parse().ok())
                    .filter(|&n: &i32| n > 0);
            }
        }
        ready
    }
}

/// `; it said "STATUS" (errno N: description)`, or nothing when the program said neither.
impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status.is_none() && self.errno.is_none() {
            return Ok(());
        }
        f.write_str("; it said")?;
        if let Some(status) = self.status.as_deref().filter(|s| !s.is_empty()) {
            write!(f, " {status:?}")?;
        }
        if let Some(errno) = self.errno {
            let desc = nix::errno::Errno::from_raw(errno).desc();
            write!(f, " (errno {errno}: {desc})")?;
        }
        Ok(())
    }
}

/// Whether a datagram from the user `sender` may speak for the program `pid`. An abstract
/// socket's name is listed in `/proc/net/unix` for every user to read, and anyone can send to
/// it: only root, the starting process's user and the program's user are heard. Elsewhere
/// the socket's directory already keeps other users out.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn trusted(sender: Option<u32>, pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Some(sender) = sender else {
        return false;
    };
    sender == 0
        || sender == nix::unistd::geteuid().as_raw()
        || std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == sender)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn trusted(_sender: Option<u32>, _pid: u32) -> bool {
    true
}

/// How the program ended, if it did: "exited with status 3", "was killed by SIGKILL". As its
/// subreaper this process reaps it; elsewhere it can only see that it is gone.
fn exited(pid: u32) -> Option<String> {
    readiness::ended(pid).map(readiness::how)
}
