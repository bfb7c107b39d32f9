//! The service manager's notification protocol (`sd_notify(3)`): datagrams of `KEY=value`
//! lines sent to the socket named by `$NOTIFY_SOCKET`.
//!
//! The variable is read and removed from the environment at the start, while the process is
//! single-threaded, so the daemon's own children never notify on its behalf. The socket is
//! connected once and kept (close-on-exec) for the life of the process, so `STOPPING=1` can be
//! sent from a signal handler.

use std::io;
use std::os::fd::{AsRawFd as _, RawFd};
#[cfg(target_os = "linux")]
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Context as _, Error, ErrorKind, Step};
use crate::sys;
use crate::threads::SingleThreaded;

/// The environment variable that names the service manager's socket.
pub(crate) const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// The connected socket, once the start found one.
static SOCKET: OnceLock<UnixDatagram> = OnceLock::new();

/// `$NOTIFY_SOCKET` as the start found it: for a program the daemon `exec`s in the foreground
/// that declares its readiness itself.
static ADDRESS: OnceLock<std::ffi::OsString> = OnceLock::new();

/// The service manager's socket address, as `$NOTIFY_SOCKET` gave it at the start.
pub(crate) fn address() -> Option<&'static std::ffi::OsStr> {
    ADDRESS.get().map(std::ffi::OsString::as_os_str)
}

/// Takes `$NOTIFY_SOCKET` out of the environment and connects to it. `Ok(None)` when the
/// variable is not set: no service manager waits for notifications.
///
/// # Errors
///
/// An address that is neither a path nor an abstract (`@`) name, or a socket that cannot be
/// reached: the service manager would wait for a `READY=1` that can never come. Abstract
/// socket names exist only on Linux; elsewhere an `@` address is an error too.
pub(crate) fn connect_from_env(single: &SingleThreaded) -> Result<Option<RawFd>, Error> {
    let Some(value) = std::env::var_os(NOTIFY_SOCKET) else {
        return Ok(None);
    };
    sys::remove_env(single, NOTIFY_SOCKET);
    connect(&value).map(Some)
}

/// Connects to `$NOTIFY_SOCKET` and leaves the variable in the environment: for a start that
/// fails because other threads run, which may read the environment, so that the manager still
/// hears why. `Ok(None)` when the variable is not set.
///
/// # Errors
///
/// As [`connect_from_env`].
pub(crate) fn connect_leaving_env() -> Result<Option<RawFd>, Error> {
    let Some(value) = std::env::var_os(NOTIFY_SOCKET) else {
        return Ok(None);
    };
    connect(&value).map(Some)
}

/// Connects to the socket `value` names, and keeps it for [`send`] and the signal handlers.
fn connect(value: &std::ffi::OsStr) -> Result<RawFd, Error> {
    let shown = Path::new(value);
    let bytes = value.as_bytes();
    let invalid = |why: &str| {
        Err(Error::new(
            Step::Notify,
            ErrorKind::InvalidConfig,
            Some(shown),
            format!("`$NOTIFY_SOCKET` {why}"),
        ))
    };
    if bytes == b"@" {
        return invalid("names an abstract socket without a name");
    }
    // `sun_path` holds 108 bytes, with a path's terminating NUL.
    if bytes.len() >= 108 {
        return invalid("is longer than a socket address can be (107 bytes)");
    }
    let address = match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(shown),
        #[cfg(target_os = "linux")]
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        #[cfg(not(target_os = "linux"))]
        Some(b'@') => {
            return Err(Error::new(
                Step::Notify,
                ErrorKind::InvalidConfig,
                Some(shown),
                "`$NOTIFY_SOCKET` names an abstract socket (`@name`); those exist only on Linux",
            ));
        }
        _ => {
            return Err(Error::new(
                Step::Notify,
                ErrorKind::InvalidConfig,
                Some(shown),
                "`$NOTIFY_SOCKET` is neither a path nor an abstract socket name (`@name`)",
            ));
        }
    }
    .context(Step::Notify, Some(shown))?;
    let socket = UnixDatagram::unbound().context(Step::Notify, Some(shown))?;
    socket
        .connect_addr(&address)
        .context(Step::Notify, Some(shown))?;
    // Never waited for: a service manager whose queue is full must not hold the daemon in
    // `ready()` or `set_status`; the datagram is lost instead (`EAGAIN`).
    socket
        .set_nonblocking(true)
        .context(Step::Notify, Some(shown))?;
    let fd = socket.as_raw_fd();
    sys::set_notify_socket(fd);
    // For a manager that binds its socket again (a restart): connected again on refusal.
    sys::set_notify_address(bytes);
    let _ = ADDRESS.set(value.to_owned());
    // A second start in one process cannot happen (the PID file and fork forbid it), but if
    // it did, the first socket stays in use.
    let _ = SOCKET.set(socket);
    Ok(fd)
}

/// Sends `state` (newline-separated `KEY=value` lines) to the service manager. `Ok(false)`
/// when there is none.
pub(crate) fn send(state: &str) -> io::Result<bool> {
    let Some(socket) = SOCKET.get() else {
        return Ok(false);
    };
    sys::notify_send(socket.as_raw_fd(), state.as_bytes())?;
    Ok(true)
}

/// The `ERRNO=` for `err`: its OS error, or the errno nearest to its kind. A manager shows
/// only the errno's text (`start-stop-daemon --notify-await` prints `strerror(ERRNO)`,
/// `systemctl status` an `Error:` line), so it must not say something else than the message.
pub(crate) fn errno_for(err: &Error) -> i32 {
    use nix::libc;
    if let Some(errno) = err.raw_os_error().filter(|&e| e > 0) {
        return errno;
    }
    match err.kind() {
        // "Operation already in progress": another instance holds the PID file.
        ErrorKind::AlreadyRunning => libc::EALREADY,
        // A value that can never work, an unknown user or group, a path that cannot be the
        // PID file or a log (a link, not a regular file): "Invalid argument".
        ErrorKind::InvalidConfig | ErrorKind::UnknownUser | ErrorKind::CannotCreate => libc::EINVAL,
        // Forking a multi-threaded process is not supported.
        ErrorKind::Threads => libc::ENOTSUP,
        ErrorKind::NotFound => libc::ENOENT,
        // A process that is not root asked for another user: "Operation not permitted".
        ErrorKind::PermissionDenied => libc::EPERM,
        ErrorKind::NotRunning => libc::ESRCH,
        ErrorKind::Timeout => libc::ETIMEDOUT,
        // The program to exec is missing, or is not one.
        ErrorKind::ProgramNotFound => libc::ENOENT,
        ErrorKind::CannotExecute => libc::ENOEXEC,
        // An I/O or system call failed without saying how, or the body's own initialisation
        // failed (an `Err` from `main`, a panic, an exit before `ready()`) for a reason only
        // it knows, which `STATUS=` carries: "Input/output error", the generic failure.
        // Not "Operation canceled": nobody canceled the start.
        ErrorKind::Io | ErrorKind::Os | ErrorKind::DiedBeforeReady => libc::EIO,
    }
}

/// The daemon's PID when it forked with `$NOTIFY_SOCKET` set (`Fork::Always`), else 0.
static FORKED_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The daemon forked away from the process the service manager started: `READY=1` comes
/// with `MAINPID=<pid>`, so that systemd (with `NotifyAccess=all`) knows its main process.
pub(crate) fn forked(pid: u32) {
    FORKED_PID.store(pid, std::sync::atomic::Ordering::Relaxed);
}

/// Sends `READY=1`, after `MAINPID=` in the same datagram if the daemon forked.
pub(crate) fn send_ready() -> io::Result<bool> {
    match FORKED_PID.load(std::sync::atomic::Ordering::Relaxed) {
        0 => send("READY=1"),
        pid => send(&format!("MAINPID={pid}\nREADY=1")),
    }
}

/// Tells the service manager why the start failed: `STATUS=` with the message, and `ERRNO=`
/// with `errno` ([`errno_for`] of an [`Error`]), or `EIO` when there is none: the body's
/// initialisation failed without an OS error (see [`errno_for`]). `start-stop-daemon
/// --notify-await` fails at once on `ERRNO=`, where otherwise it would wait for its whole
/// timeout.
pub(crate) fn send_failure(message: &str, errno: Option<i32>) {
    let errno = errno.unwrap_or(nix::libc::EIO);
    let status = message.replace('\n', " ");
    let _ = send(&format!("STATUS={status}\nERRNO={errno}"));
}
