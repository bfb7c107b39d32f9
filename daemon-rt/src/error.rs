//! The one error type: which step failed, on which path, and the OS error behind it.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The step of the daemon(7) sequence that failed.
///
/// Each step names what was being done, so an [`Error`] reads as "cannot `<step>` `<path>`".
///
/// ```
/// use daemon_rt::{Daemon, Step};
///
/// let err = Daemon::new().umask(0o1000).start().unwrap_err();
/// assert_eq!(err.step(), Step::CheckConfig);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Checking that the process is still single-threaded.
    CheckThreads,
    /// Checking the configuration before anything is done.
    CheckConfig,
    /// Opening (and creating) the PID file.
    OpenPidfile,
    /// Taking the PID file's lock.
    LockPidfile,
    /// Writing the daemon's PID into the PID file.
    WritePidfile,
    /// Opening the file that becomes standard input.
    OpenStdin,
    /// Opening the file that becomes standard output.
    OpenStdout,
    /// Opening the file that becomes standard error.
    OpenStderr,
    /// Checking that the working directory exists and is a directory.
    CheckWorkingDirectory,
    /// Making the pipe that carries the daemon's result back to the starting process.
    CreatePipe,
    /// `fork(2)`.
    Fork,
    /// `setsid(2)`.
    CreateSession,
    /// Resetting signal dispositions and the signal mask.
    ResetSignals,
    /// Moving stdin, stdout and stderr onto their files.
    RedirectStdio,
    /// Closing inherited file descriptors.
    CloseFds,
    /// `chdir(2)` into the working directory.
    ChangeDirectory,
    /// Waiting for the daemon to report that it is up.
    AwaitReadiness,
    /// Looking up the user named by the `user` option.
    ResolveUser,
    /// Looking up the group named by the `group` option.
    ResolveGroup,
    /// `chroot(2)` into the `chroot` directory.
    ChangeRoot,
    /// Setting the supplementary groups, group and user IDs, and checking they cannot be
    /// regained.
    DropPrivileges,
    /// Reaching the service manager through `$NOTIFY_SOCKET`.
    Notify,
    /// The daemon's own initialisation, between the start and `daemon_rt::ready()`.
    Initialize,
    /// Reading the PID file of a daemon to control it.
    ReadPidfile,
    /// Sending a signal to the daemon that holds a PID file.
    SignalDaemon,
    /// Stopping the daemon that holds a PID file.
    StopDaemon,
    /// Taking over the sockets passed by socket activation (`$LISTEN_FDS`).
    Activation,
    /// `execve(2)` of the program a daemon becomes ([`Daemon::exec`](crate::Daemon::exec)).
    Exec,
    /// Setting a resource limit (`limit_nofile`, `prevent_core`, ...).
    SetLimit,
    /// Setting the nice value (`nice`).
    SetNice,
}

impl Step {
    fn describe(self) -> &'static str {
        match self {
            Step::CheckThreads => "cannot daemonize",
            Step::CheckConfig => "invalid configuration",
            Step::OpenPidfile => "cannot open pidfile",
            Step::LockPidfile => "cannot lock pidfile",
            Step::WritePidfile => "cannot write pidfile",
            Step::OpenStdin => "cannot open stdin file",
            Step::OpenStdout => "cannot open stdout file",
            Step::OpenStderr => "cannot open stderr file",
            Step::CheckWorkingDirectory => "cannot use working directory",
            Step::CreatePipe => "cannot create the readiness pipe",
            Step::Fork => "cannot fork",
            Step::CreateSession => "cannot create a new session",
            Step::ResetSignals => "cannot reset signals",
            Step::RedirectStdio => "cannot redirect standard streams",
            Step::CloseFds => "cannot close inherited file descriptors",
            Step::ChangeDirectory => "cannot change directory to",
            Step::AwaitReadiness => "daemon did not start",
            Step::ResolveUser => "unknown user",
            Step::ResolveGroup => "unknown group",
            Step::ChangeRoot => "cannot change root to",
            Step::DropPrivileges => "cannot drop privileges",
            Step::Notify => "cannot notify the service manager at",
            Step::Initialize => "daemon failed before it was ready",
            Step::ReadPidfile => "cannot read pidfile",
            Step::SignalDaemon => "cannot signal the daemon of pidfile",
            Step::StopDaemon => "cannot stop the daemon of pidfile",
            Step::Activation => "cannot take the sockets passed by socket activation",
            Step::Exec => "exec failed",
            Step::SetLimit => "cannot set resource limit",
            Step::SetNice => "cannot set the nice value",
        }
    }

    /// Every step, in the order of the table used to send a step over the readiness pipe.
    pub(crate) const ALL: [Step; 30] = [
        Step::CheckThreads,
        Step::CheckConfig,
        Step::OpenPidfile,
        Step::LockPidfile,
        Step::WritePidfile,
        Step::OpenStdin,
        Step::OpenStdout,
        Step::OpenStderr,
        Step::CheckWorkingDirectory,
        Step::CreatePipe,
        Step::Fork,
        Step::CreateSession,
        Step::ResetSignals,
        Step::RedirectStdio,
        Step::CloseFds,
        Step::ChangeDirectory,
        Step::AwaitReadiness,
        Step::ResolveUser,
        Step::ResolveGroup,
        Step::ChangeRoot,
        Step::DropPrivileges,
        Step::Notify,
        Step::Initialize,
        Step::ReadPidfile,
        Step::SignalDaemon,
        Step::StopDaemon,
        Step::Activation,
        Step::Exec,
        Step::SetLimit,
        Step::SetNice,
    ];
}

/// The class of a failure; each class has its own exit status (see [`Error::exit_code`]).
///
/// ```
/// use daemon_rt::{Daemon, ErrorKind};
///
/// let err = Daemon::new().pidfile("").start().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidConfig);
/// assert_eq!(err.kind().exit_code(), 78);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Another instance holds the PID file's lock. Exit status 75 (`EX_TEMPFAIL`).
    AlreadyRunning,
    /// An option has a value that can never work (an empty path, a umask above `0o777`).
    /// Exit status 78 (`EX_CONFIG`).
    InvalidConfig,
    /// The process already runs more than one thread. Exit status 70 (`EX_SOFTWARE`).
    Threads,
    /// The working directory, the `chroot` directory or the stdin file does not exist. Exit
    /// status 66 (`EX_NOINPUT`).
    NotFound,
    /// The OS refused access (`EACCES`, `EPERM`), or a process that is not root asked for
    /// another user or group. Exit status 77 (`EX_NOPERM`).
    PermissionDenied,
    /// The PID file or a log file cannot be created or used. Exit status 73 (`EX_CANTCREAT`).
    CannotCreate,
    /// Writing the PID file failed. Exit status 74 (`EX_IOERR`).
    Io,
    /// A system call of the sequence itself failed (`fork`, `setsid`, ...). Exit status 71
    /// (`EX_OSERR`).
    Os,
    /// The daemon ended before it reported that it is up. Exit status 69 (`EX_UNAVAILABLE`).
    DiedBeforeReady,
    /// The `user` or `group` does not exist. Exit status 67 (`EX_NOUSER`).
    UnknownUser,
    /// No daemon holds the PID file's lock (a control command). Exit status 7, LSB's
    /// "program is not running".
    NotRunning,
    /// The daemon did not report ready, or did not stop, in time. Exit status 124, as
    /// `timeout(1)`.
    Timeout,
    /// The program to `exec` was not found. Exit status 127, as a shell's.
    ProgramNotFound,
    /// The program to `exec` was found but could not be executed (not executable, not a
    /// program). Exit status 126, as a shell's.
    CannotExecute,
}

impl ErrorKind {
    /// Every kind, in the order of the table used to send a kind over the readiness pipe.
    pub(crate) const ALL: [ErrorKind; 14] = [
        ErrorKind::AlreadyRunning,
        ErrorKind::InvalidConfig,
        ErrorKind::Threads,
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::CannotCreate,
        ErrorKind::Io,
        ErrorKind::Os,
        ErrorKind::DiedBeforeReady,
        ErrorKind::UnknownUser,
        ErrorKind::NotRunning,
        ErrorKind::Timeout,
        ErrorKind::ProgramNotFound,
        ErrorKind::CannotExecute,
    ];

    /// The exit status the starting process ends with for this kind (sysexits.h values).
    ///
    /// ```
    /// assert_eq!(daemon_rt::ErrorKind::AlreadyRunning.exit_code(), 75); // EX_TEMPFAIL
    /// ```
    #[must_use]
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::AlreadyRunning => 75,
            ErrorKind::InvalidConfig => 78,
            ErrorKind::Threads => 70,
            ErrorKind::NotFound => 66,
            ErrorKind::PermissionDenied => 77,
            ErrorKind::CannotCreate => 73,
            ErrorKind::Io => 74,
            ErrorKind::Os => 71,
            ErrorKind::DiedBeforeReady => 69,
            ErrorKind::UnknownUser => 67,
            ErrorKind::NotRunning => 7,
            ErrorKind::Timeout => 124,
            ErrorKind::ProgramNotFound => 127,
            ErrorKind::CannotExecute => 126,
        }
    }

    /// The kind for an OS error raised by `step`: what the errno says first (access refused,
    /// resources exhausted, a value that cannot be a path), then what the step was doing.
    fn classify(step: Step, err: &io::Error) -> ErrorKind {
        use nix::libc;
        if err.kind() == io::ErrorKind::PermissionDenied {
            return ErrorKind::PermissionDenied;
        }
        match err.raw_os_error() {
            // Out of descriptors, memory or processes: nothing about the path is wrong.
            Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN) => {
                return ErrorKind::Os;
            }
            // std refuses a path with a NUL byte before any system call.
            None if err.kind() == io::ErrorKind::InvalidInput => {
                return ErrorKind::InvalidConfig;
            }
            _ => {}
        }
        match step {
            Step::OpenPidfile | Step::LockPidfile | Step::OpenStdout | Step::OpenStderr => {
                ErrorKind::CannotCreate
            }
            Step::OpenStdin | Step::CheckWorkingDirectory | Step::ChangeDirectory => {
                ErrorKind::NotFound
            }
            Step::WritePidfile => ErrorKind::Io,
            Step::CheckThreads => ErrorKind::Threads,
            Step::CheckConfig => ErrorKind::InvalidConfig,
            Step::AwaitReadiness | Step::Initialize => ErrorKind::DiedBeforeReady,
            Step::ResolveUser | Step::ResolveGroup => ErrorKind::UnknownUser,
            Step::ChangeRoot => ErrorKind::NotFound,
            Step::ReadPidfile => ErrorKind::Io,
            Step::CreatePipe
            | Step::Fork
            | Step::CreateSession
            | Step::ResetSignals
            | Step::RedirectStdio
            | Step::CloseFds
            | Step::DropPrivileges
            | Step::Notify
            | Step::SignalDaemon
            | Step::StopDaemon
            | Step::SetLimit
            | Step::SetNice => ErrorKind::Os,
            Step::Activation => ErrorKind::InvalidConfig,
            Step::Exec => match err.kind() {
                io::ErrorKind::NotFound => ErrorKind::ProgramNotFound,
                _ => ErrorKind::CannotExecute,
            },
        }
    }
}

/// A failure to daemonize: the step that failed, the path it was working on, and the
/// underlying OS error as [`source()`](std::error::Error::source).
///
/// [`Display`](fmt::Display) gives this layer's message only, such as
/// ``cannot lock pidfile `/run/ticker.pid` ``; the reason (the OS error, or "already running
/// as PID 1234") is the source. [`Error::exit`] prints both on one line, the way the starting
/// command reports a failed start.
///
/// ```
/// let err = daemon_rt::Daemon::new().stdin("/nonexistent/input").start().unwrap_err();
/// assert_eq!(err.to_string(), "cannot open stdin file `/nonexistent/input`");
/// assert_eq!(
///     format!("{err:#}"),
///     "cannot open stdin file `/nonexistent/input`: No such file or directory (os error 2)"
/// );
/// assert_eq!(err.exit_code(), 66);
/// ```
pub struct Error {
    step: Step,
    kind: ErrorKind,
    path: Option<PathBuf>,
    pid: Option<u32>,
    source: io::Error,
}

impl Error {
    /// An OS error raised by `step` on `path`; its kind follows from the step and the errno.
    pub(crate) fn os(step: Step, path: Option<&Path>, source: io::Error) -> Error {
        Error {
            step,
            kind: ErrorKind::classify(step, &source),
            path: path.map(Path::to_path_buf),
            pid: None,
            source,
        }
    }

    /// An option's value that can never work, refused before anything is touched
    /// ([`ErrorKind::InvalidConfig`], exit 78).
    pub(crate) fn invalid_config(reason: impl Into<String>) -> Error {
        Error::new(Step::CheckConfig, ErrorKind::InvalidConfig, None, reason)
    }

    /// A failure that is not an OS error: `reason` becomes the source's message.
    pub(crate) fn new(
        step: Step,
        kind: ErrorKind,
        path: Option<&Path>,
        reason: impl Into<String>,
    ) -> Error {
        Error {
            step,
            kind,
            path: path.map(Path::to_path_buf),
            pid: None,
            source: io::Error::other(reason.into()),
        }
    }

    /// The PID file at `path` is locked by another instance, `pid` if it has written it.
    pub(crate) fn already_running(path: &Path, pid: Option<u32>) -> Error {
        let reason = match pid {
            Some(pid) => format!("already running as PID {pid}"),
            None => "already running (locked by a process whose PID is not in the file)".to_owned(),
        };
        Error {
            pid,
            ..Error::new(
                Step::LockPidfile,
                ErrorKind::AlreadyRunning,
                Some(path),
                reason,
            )
        }
    }

    /// The same failure with `note` after its reason: where to look for more. An OS error
    /// keeps its errno and gets no note.
    pub(crate) fn with_note(mut self, note: &str) -> Error {
        if self.source.raw_os_error().is_none() {
            self.source = io::Error::other(format!("{}; {note}", self.source));
        }
        self
    }

    /// The step that failed.
    ///
    /// ```
    /// let err = daemon_rt::Daemon::new().working_directory("/nonexistent").start().unwrap_err();
    /// assert_eq!(err.step(), daemon_rt::Step::CheckWorkingDirectory);
    /// ```
    #[must_use]
    pub fn step(&self) -> Step {
        self.step
    }

    /// The class of the failure, which decides the exit status.
    ///
    /// ```
    /// let err = daemon_rt::Daemon::new().working_directory("/nonexistent").start().unwrap_err();
    /// assert_eq!(err.kind(), daemon_rt::ErrorKind::NotFound);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The path the failed step was working on, if any.
    ///
    /// ```
    /// let err = daemon_rt::Daemon::new().working_directory("/nonexistent").start().unwrap_err();
    /// assert_eq!(err.path(), Some(std::path::Path::new("/nonexistent")));
    /// ```
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// For [`ErrorKind::AlreadyRunning`]: the PID of the instance that holds the lock, as it
    /// wrote it into the PID file, and only once that process is seen to hold the file open;
    /// `None` when the process that holds the lock cannot be named.
    ///
    /// ```no_run
    /// match daemon_rt::Daemon::new().pidfile("/run/worker.pid").start() {
    ///     Err(e) if e.running_pid().is_some() => eprintln!("already running as {:?}", e.running_pid()),
    ///     Err(e) => e.exit(),
    ///     Ok(running) => drop(running),
    /// }
    /// ```
    #[must_use]
    pub fn running_pid(&self) -> Option<u32> {
        self.pid
    }

    /// The OS error number behind the failure, if there is one.
    ///
    /// ```
    /// let err = daemon_rt::Daemon::new().working_directory("/nonexistent").start().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(2)); // ENOENT
    /// ```
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// The exit status for this failure: [`ErrorKind::exit_code`] of [`Error::kind`].
    ///
    /// ```
    /// let err = daemon_rt::Daemon::new().working_directory("/nonexistent").start().unwrap_err();
    /// assert_eq!(err.exit_code(), 66); // EX_NOINPUT
    /// ```
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    /// Prints `<program>: <what failed> <path>: <reason>` on one line to stderr and exits the
    /// process with [`Error::exit_code`].
    ///
    /// This is what a starting command does with the error [`Daemon::start`] returns.
    ///
    /// [`Daemon::start`]: crate::Daemon::start
    ///
    /// ```no_run
    /// let running = daemon_rt::Daemon::new().start().unwrap_or_else(|e| e.exit());
    /// # drop(running);
    /// ```
    pub fn exit(&self) -> ! {
        use std::io::Write as _;
        let line = format!("{}: {self:#}\n", program_name());
        let _ = io::stderr().write_all(line.as_bytes());
        std::process::exit(self.exit_code())
    }

    /// The parts sent over the readiness pipe, see [`crate::readiness`].
    pub(crate) fn to_wire(&self) -> (usize, usize, i32, u32, &[u8], String) {
        use std::os::unix::ffi::OsStrExt as _;
        let step = Step::ALL.iter().position(|s| *s == self.step).unwrap_or(0);
        let kind = ErrorKind::ALL
            .iter()
            .position(|k| *k == self.kind)
            .unwrap_or(0);
        let errno = self.source.raw_os_error().unwrap_or(0);
        let path = self
            .path
            .as_deref()
            .map_or(&[][..], |p| p.as_os_str().as_bytes());
        let reason = if errno == 0 {
            self.source.to_string()
        } else {
            String::new()
        };
        (step, kind, errno, self.pid.unwrap_or(0), path, reason)
    }

    /// Rebuilds an error from the parts [`Error::to_wire`] gave, in the starting process.
    pub(crate) fn from_wire(
        step: usize,
        kind: usize,
        errno: i32,
        pid: u32,
        path: &[u8],
        reason: String,
    ) -> Error {
        use std::os::unix::ffi::OsStrExt as _;
        Error {
            step: Step::ALL.get(step).copied().unwrap_or(Step::AwaitReadiness),
            kind: ErrorKind::ALL.get(kind).copied().unwrap_or(ErrorKind::Os),
            path: (!path.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(path))),
            pid: (pid != 0).then_some(pid),
            source: if errno != 0 {
                io::Error::from_raw_os_error(errno)
            } else {
                io::Error::other(reason)
            },
        }
    }
}

/// This layer's message, `` cannot lock pidfile `/run/x.pid` ``; with `{:#}`, the whole
/// one-line report [`Error::exit`] prints, reason included:
/// `` cannot lock pidfile `/run/x.pid`: already running as PID 42 ``. Paths and reasons are
/// escaped (a newline prints as `\n`), so either is one line, safe for a terminal.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.step.describe())?;
        if let Some(path) = &self.path {
            write!(f, " `{}`", Escaped(path.as_os_str()))?;
        }
        if f.alternate() {
            let reason = self.source.to_string();
            write!(f, ": {}", Escaped(OsStr::new(&reason)))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("step", &self.step)
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("pid", &self.pid)
            .field("source", &self.source)
            .finish()
    }
}

/// Text as it is safe to print on one line of a terminal: control characters (a newline, an
/// ANSI escape, a NUL byte), the invisible characters that reorder or hide text (U+202E),
/// backslashes and bytes that are not UTF-8 are written as escapes (`\n`, `\x1b`,
/// `\u{202e}`, `\xff`, `\\`); everything else, non-ASCII letters included, as it is.
pub(crate) struct Escaped<'a>(pub(crate) &'a OsStr);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::fmt::Write as _;
        use std::os::unix::ffi::OsStrExt as _;
        for chunk in self.0.as_bytes().utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    '\r' => f.write_str("\\r")?,
                    c if c.is_ascii_control() => write!(f, "\\x{:02x}", c as u32)?,
                    c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c if invisible(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// Characters that are not control characters but change what a terminal shows around them
/// without showing themselves: the bidirectional overrides, embeddings and isolates, which
/// reorder the rest of the line, the zero-width ones and the line and paragraph separators.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The program's name for messages: the file name of `argv[0]`, `daemon` without one.
pub(crate) fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| Escaped(n).to_string()))
        .unwrap_or_else(|| "daemon".to_owned())
}

/// Attaches a step and a path to an OS error, the one place errno becomes an [`Error`].
pub(crate) trait Context<T> {
    fn context(self, step: Step, path: Option<&Path>) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, step: Step, path: Option<&Path>) -> Result<T, Error> {
        self.map_err(|e| Error::os(step, path, e))
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn context(self, step: Step, path: Option<&Path>) -> Result<T, Error> {
        self.map_err(|e| Error::os(step, path, io::Error::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_step_and_path_and_keeps_the_os_error_as_source() {
        let err = Error::os(
            Step::OpenPidfile,
            Some(Path::new("/run/x.pid")),
            io::Error::from_raw_os_error(nix::libc::ELOOP),
        );
        assert_eq!(err.to_string(), "cannot open pidfile `/run/x.pid`");
        assert_eq!(err.kind(), ErrorKind::CannotCreate);
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("symbolic links"), "{source}");
    }

    #[test]
    fn wire_round_trip_keeps_every_field() {
        let err = Error::already_running(Path::new("/tmp/a b.pid"), Some(4242));
        let (s, k, e, p, path, reason) = err.to_wire();
        let back = Error::from_wire(s, k, e, p, path, reason);
        assert_eq!(back.step(), Step::LockPidfile);
        assert_eq!(back.kind(), ErrorKind::AlreadyRunning);
        assert_eq!(back.running_pid(), Some(4242));
        assert_eq!(back.path(), Some(Path::new("/tmp/a b.pid")));
        assert_eq!(format!("{back:?}"), format!("{err:?}"));

        let err = Error::os(Step::ChangeDirectory, None, io::Error::from_raw_os_error(2));
        let (s, k, e, p, path, reason) = err.to_wire();
        let back = Error::from_wire(s, k, e, p, path, reason);
        assert_eq!(back.raw_os_error(), Some(2));
        assert_eq!(back.kind(), ErrorKind::NotFound);
        assert_eq!(back.exit_code(), 66);
    }

    #[test]
    fn paths_and_reasons_print_on_one_safe_line() {
        use std::os::unix::ffi::OsStrExt as _;
        let path = OsStr::from_bytes(b"/run/a\nb\x1b[31m\\\xff\x00\xc2\x85d\xc3\xa9.pid");
        let err = Error::new(
            Step::OpenPidfile,
            ErrorKind::CannotCreate,
            Some(Path::new(path)),
            "two\nlines",
        );
        assert_eq!(
            format!("{err:#}"),
            "cannot open pidfile `/run/a\\nb\\x1b[31m\\\\\\xff\\x00\\u{85}d\u{e9}.pid`: two\\nlines"
        );
    }

    #[test]
    fn resource_errors_are_os_errors_whatever_the_step() {
        for errno in [nix::libc::EMFILE, nix::libc::ENFILE, nix::libc::ENOMEM] {
            for step in [Step::OpenStdin, Step::OpenPidfile, Step::OpenStdout] {
                let err = Error::os(step, None, io::Error::from_raw_os_error(errno));
                assert_eq!(err.exit_code(), 71, "{step:?} {errno}");
            }
        }
        let nul = std::fs::File::open("a\0b").unwrap_err();
        assert_eq!(Error::os(Step::OpenStdin, None, nul).exit_code(), 78);
    }

    #[test]
    fn every_kind_has_its_own_exit_code() {
        let mut codes: Vec<i32> = ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
    }
}
