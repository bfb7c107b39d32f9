//! [`Signal`]: a signal number, this crate's own type, so that no dependency's type is part of
//! the public API.

use std::fmt;

use nix::libc;

/// A signal, for [`Daemon::reopen_logs`](crate::Daemon::reopen_logs) and
/// [`control::signal`](crate::control::signal).
///
/// The usual signals are constants with their C names (`Signal::SIGHUP`); any other valid
/// number, a real-time signal say, comes from [`Signal::from_raw`]. It displays as its name
/// (`SIGHUP`, `SIGRTMIN+2`).
///
/// ```
/// use daemon_rt::Signal;
///
/// assert_eq!(Signal::SIGHUP.to_string(), "SIGHUP");
/// assert_eq!(Signal::from_raw(Signal::SIGUSR1.as_raw()), Some(Signal::SIGUSR1));
/// assert_eq!(Signal::from_raw(0), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

impl Signal {
    /// Hangup: a terminal closed, or by convention "reload" (reopens the log files by default).
    pub const SIGHUP: Signal = Signal(libc::SIGHUP);
    /// Interrupt (Ctrl-C): stops the daemon cleanly, as SIGTERM does.
    pub const SIGINT: Signal = Signal(libc::SIGINT);
    /// Quit, with a core dump by default.
    pub const SIGQUIT: Signal = Signal(libc::SIGQUIT);
    /// Abort: what systemd's watchdog sends to a daemon that stopped pinging.
    pub const SIGABRT: Signal = Signal(libc::SIGABRT);
    /// Kill: cannot be caught or ignored.
    pub const SIGKILL: Signal = Signal(libc::SIGKILL);
    /// User-defined signal 1.
    pub const SIGUSR1: Signal = Signal(libc::SIGUSR1);
    /// User-defined signal 2.
    pub const SIGUSR2: Signal = Signal(libc::SIGUSR2);
    /// Broken pipe: ignored in a daemon, so that writes fail with `EPIPE` instead.
    pub const SIGPIPE: Signal = Signal(libc::SIGPIPE);
    /// Alarm clock.
    pub const SIGALRM: Signal = Signal(libc::SIGALRM);
    /// Termination: stops the daemon cleanly.
    pub const SIGTERM: Signal = Signal(libc::SIGTERM);
    /// A child stopped or ended.
    pub const SIGCHLD: Signal = Signal(libc::SIGCHLD);
    /// Continue a stopped process.
    pub const SIGCONT: Signal = Signal(libc::SIGCONT);
    /// Stop: cannot be caught or ignored.
    pub const SIGSTOP: Signal = Signal(libc::SIGSTOP);
    /// Terminal stop (Ctrl-Z): ignored in a daemon.
    pub const SIGTSTP: Signal = Signal(libc::SIGTSTP);
    /// Background read from the terminal: ignored in a daemon.
    pub const SIGTTIN: Signal = Signal(libc::SIGTTIN);
    /// Background write to the terminal: ignored in a daemon.
    pub const SIGTTOU: Signal = Signal(libc::SIGTTOU);
    /// Window size change.
    pub const SIGWINCH: Signal = Signal(libc::SIGWINCH);
    /// I/O is possible on a descriptor.
    pub const SIGIO: Signal = Signal(libc::SIGIO);
    /// Power failure. Linux and illumos only.
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "illumos",
        target_os = "solaris"
    ))]
    pub const SIGPWR: Signal = Signal(libc::SIGPWR);

    /// The signal with number `signo`, if the system has one.
    ///
    /// ```
    /// use daemon_rt::Signal;
    ///
    /// assert_eq!(Signal::from_raw(15), Some(Signal::SIGTERM)); // on every Unix
    /// assert_eq!(Signal::from_raw(-1), None);
    /// ```
    #[must_use]
    pub fn from_raw(signo: i32) -> Option<Signal> {
        let known = nix::sys::signal::Signal::try_from(signo).is_ok();
        (known || realtime_offset(signo).is_some()).then_some(Signal(signo))
    }

    /// The signal's number, as `kill(2)` takes it.
    ///
    /// ```
    /// assert_eq!(daemon_rt::Signal::SIGKILL.as_raw(), 9);
    /// ```
    #[must_use]
    pub fn as_raw(self) -> i32 {
        self.0
    }

    /// The signal's name, such as `SIGHUP`; `None` for a real-time signal, whose name
    /// ([`Display`](fmt::Display)) is relative to `SIGRTMIN`.
    ///
    /// ```
    /// assert_eq!(daemon_rt::Signal::SIGUSR2.name(), Some("SIGUSR2"));
    /// ```
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        nix::sys::signal::Signal::try_from(self.0)
            .ok()
            .map(nix::sys::signal::Signal::as_str)
    }
}

/// `signo - SIGRTMIN` for a real-time signal, where the system has them.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn realtime_offset(signo: i32) -> Option<i32> {
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&signo)
        .then(|| signo - libc::SIGRTMIN())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn realtime_offset(_signo: i32) -> Option<i32> {
    None
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), realtime_offset(self.0)) {
            (Some(name), _) => f.write_str(name),
            (None, Some(0)) => f.write_str("SIGRTMIN"),
            (None, Some(n)) => write!(f, "SIGRTMIN+{n}"),
            (None, None) => write!(f, "signal {}", self.0),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<Signal> for i32 {
    /// The signal's number.
    fn from(signal: Signal) -> i32 {
        signal.0
    }
}

impl TryFrom<i32> for Signal {
    type Error = InvalidSignal;

    /// [`Signal::from_raw`], with an error for a number that is no signal.
    fn try_from(signo: i32) -> Result<Signal, InvalidSignal> {
        Signal::from_raw(signo).ok_or(InvalidSignal(signo))
    }
}

/// A number that is no signal of this system, from [`Signal::try_from`].
///
/// ```
/// use daemon_rt::Signal;
///
/// let err = Signal::try_from(0).unwrap_err();
/// assert_eq!(err.to_string(), "0 is not a signal number");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSignal(i32);

impl fmt::Display for InvalidSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a signal number", self.0)
    }
}

impl std::error::Error for InvalidSignal {}
