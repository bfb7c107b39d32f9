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
    /// descriptor of this crate is closed by the `exec`. The program starts with every signal
    /// at its default disposition (SIGPIPE too) and an empty signal mask, and with the
    /// standard streams, working directory, umask and user of the options.
    ///
    /// The starting process exits 0 once the program is up:
    ///
    /// - [`Ready::Started`] (the default): once the `exec` succeeded.
    /// - [`Ready::Manual`]: once the program (or one of its children) sent `READY=1` to the
    ///   socket named by `$NOTIFY_SOCKET` (`sd_notify(3)`, `systemd-notify --ready`), which the
    ///   starting process makes for it: on Linux an abstract socket with a random name. A
    ///   program that exits first fails the start, with its exit status in the message
    ///   ([`ErrorKind::DiedBeforeReady`]); one that says nothing within
    ///   [`Daemon::ready_timeout`] is stopped (SIGTERM, then SIGKILL), and the start fails
    ///   with [`ErrorKind::Timeout`].
    ///
    /// In the foreground ([`Daemon::foreground`]) the process `exec`s the program itself, the
    /// PID file still locked. Under a service manager (`$NOTIFY_SOCKET`), `READY=1` is sent
    /// just before the `exec`; with [`Ready::Manual`] it is not, and the program gets the
    /// manager's `$NOTIFY_SOCKET` to send it itself.
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
        self.exec = Some(Plan { notify, arguments });
        let running = match self.start() {
            Ok(running) => running,
            Err(err) => return err,
        };
        let reporter = REPORTER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let manager = crate::notify::address().filter(|_| address.is_some());
        match (&reporter, address, manager) {
            // Forked: the starting process listens there.
            (Some(_), Some(address), _) => command.env("NOTIFY_SOCKET", address),
            // In the foreground under a service manager, a program that declares its
            // readiness tells the manager itself.
            (None, Some(_), Some(manager)) => command.env("NOTIFY_SOCKET", manager),
            _ => command.env_remove("NOTIFY_SOCKET"),
        };
        become_program(running, reporter, command)
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
) -> Error {
    let prepared = running
        .pidfile
        .iter()
        .flat_map(super::Pidfile::fds)
        .try_for_each(sys::clear_cloexec)
        .and_then(|()| sys::default_dispositions());
    let err = match prepared {
        Ok(()) => {
            if let Some(reporter) = &mut reporter {
                reporter.exec(running.pid);
            }
            // std clears the signal mask and execs; it returns only on failure.
            let err = command.exec();
            exec_failed(command.get_program(), &err)
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
/// for any other failure, as a shell says it.
fn exec_failed(program: &OsStr, err: &io::Error) -> Error {
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
    Error::new(
        Step::Exec,
        kind,
        None,
        format!("{}: {reason}", Escaped(program)),
    )
}

impl Plan {
    /// In the starting process, before the first fork: with a notify socket, become the
    /// daemon's subreaper, so that the daemon is its child once the intermediate one has
    /// exited and a program that exits before `READY=1` is seen with its status.
    pub(super) fn before_fork(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.notify.is_some() {
            let _ = nix::sys::prctl::set_child_subreaper(true);
        }
    }
}

/// In the starting process, once the pipe said the `exec` succeeded: with a notify socket,
/// wait for `READY=1`.
pub(super) fn after_wait(
    plan: Option<Plan>,
    outcome: Outcome,
    timeout: Duration,
    waiter: &Waiter,
) -> Outcome {
    let Some(Plan {
        notify: Some(socket),
        ..
    }) = plan
    else {
        return outcome;
    };
    let Outcome::Ready(pid) = outcome else {
        return outcome;
    };
    let outcome = socket.await_ready(pid, timeout, waiter);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = nix::sys::prctl::set_child_subreaper(false);
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
        Ok(NotifySocket {
            socket,
            address: format!("@{name}"),
        })
    }

    /// A datagram socket in a fresh directory that only this user can enter (mode 0700).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn bind() -> io::Result<NotifySocket> {
        use std::os::unix::fs::DirBuilderExt as _;
        let name = random_name().replace('/', "-");
        let directory = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&directory)?;
        let path = directory.join("notify");
        let socket = UnixDatagram::bind(&path).inspect_err(|_| {
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

    /// Waits for `READY=1` from the program with `pid`, for at most `timeout`; watches it
    /// exit, and the starting process's interrupts.
    fn await_ready(&self, pid: u32, timeout: Duration, waiter: &Waiter) -> Outcome {
        let deadline = Instant::now().checked_add(timeout);
        let mut buf = [0u8; 4096];
        loop {
            loop {
                match self.socket.recv(&mut buf) {
                    Ok(n) if says_ready(&buf[..n]) => return Outcome::Ready(pid),
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
                    format!("the program {status} before it sent READY=1"),
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
                    format!("the program did not send READY=1 within {secs} s; {what}"),
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

/// Whether a notify datagram has the line `READY=1`.
fn says_ready(datagram: &[u8]) -> bool {
    datagram
        .split(|&b| b == b'\n')
        .any(|line| line == b"READY=1")
}

/// How the program ended, if it did: "exited with status 3", "was killed by SIGKILL". As its
/// subreaper this process reaps it; elsewhere it can only see that it is gone.
fn exited(pid: u32) -> Option<String> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let target = nix::unistd::Pid::from_raw(pid as i32);
    match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(format!("exited with status {code}")),
        Ok(WaitStatus::Signaled(_, signal, _)) => Some(format!("was killed by {signal}")),
        Ok(_) => None,
        Err(_) => match nix::sys::signal::kill(target, None) {
            Err(nix::errno::Errno::ESRCH) => Some("exited".to_owned()),
            _ => None,
        },
    }
}
