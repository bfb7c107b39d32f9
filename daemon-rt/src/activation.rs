//! Socket activation (`sd_listen_fds(3)`): sockets a service manager opened for the daemon,
//! passed as descriptors 3, 4, ... with `$LISTEN_FDS` counting them and `$LISTEN_PID`
//! naming the process they are for.
//!
//! A process they are passed to stays in the foreground (the service manager supervises it,
//! and `$LISTEN_PID` would no longer name it after a fork), and the start never closes them.
//! The variables stay in the environment for libraries that read them.
//!
//! The variables are checked as `sd_listen_fds` checks them: a count that is not a number,
//! or that names a descriptor that is not open, fails the start rather than handing the
//! program a number that is no socket of its own.

use std::os::fd::{OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, ErrorKind, Escaped, Step};
use crate::sys;

/// The first passed descriptor (`SD_LISTEN_FDS_START`).
const FIRST: RawFd = 3;

/// The descriptors passed to this process, as found at the start, until the program takes
/// them; `None` until they were looked for.
static PASSED: Mutex<Option<Vec<RawFd>>> = Mutex::new(None);

/// The descriptors `$LISTEN_PID` and `$LISTEN_FDS` pass to this process, if any, made
/// close-on-exec as `sd_listen_fds(3)` makes them.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when `$LISTEN_PID` names this process and `$LISTEN_FDS` is
/// not a count of open descriptors.
pub(crate) fn from_env() -> Result<Vec<RawFd>, Error> {
    let fds = passed()?;
    *PASSED.lock().unwrap_or_else(PoisonError::into_inner) = Some(fds.clone());
    Ok(fds)
}

/// Takes the sockets a service manager passed to the daemon by socket activation
/// (descriptors 3 and up, `sd_listen_fds(3)`), in order; empty when none were.
///
/// They stay open through the start whatever `preserve_fds` says. The first call takes
/// them: each is returned once, as the [`OwnedFd`] that closes it, and later calls return
/// none. No `unsafe` is needed to make a listener of one:
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/web.pid")]
/// fn main() -> std::io::Result<()> {
///     let listener = match daemon_rt::listen_fds().into_iter().next() {
///         Some(fd) => std::net::TcpListener::from(fd), // systemd's .socket unit
///         None => std::net::TcpListener::bind("127.0.0.1:8080")?,
///     };
///     for stream in listener.incoming() {
///         drop(stream?);
///     }
///     Ok(())
/// }
/// ```
#[must_use = "the descriptors are handed out once: dropping them closes the sockets"]
pub fn listen_fds() -> Vec<OwnedFd> {
    let mut passed = PASSED.lock().unwrap_or_else(PoisonError::into_inner);
    // Without a start, the variables are read now; invalid ones count as none.
    let fds = passed.get_or_insert_with(passed_or_none);
    // What makes `sys::own` sound: each number was checked open at the start (or just now), was
    // passed to this process for it to own, is kept open by the start, and leaves this list
    // as it is handed out, so no other owner exists.
    std::mem::take(fds).into_iter().map(sys::own).collect()
}

fn passed_or_none() -> Vec<RawFd> {
    passed().unwrap_or_default()
}

fn passed() -> Result<Vec<RawFd>, Error> {
    let for_us = std::env::var_os("LISTEN_PID")
        .and_then(|pid| pid.to_str()?.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    if !for_us {
        return Ok(Vec::new());
    }
    let Some(value) = std::env::var_os("LISTEN_FDS") else {
        return Ok(Vec::new());
    };
    let invalid = |why: String| {
        Err(Error::new(
            Step::Activation,
            ErrorKind::InvalidConfig,
            None,
            format!("`$LISTEN_FDS` is `{}`: {why}", Escaped(&value)),
        ))
    };
    // Digits only: no sign, no space, as `sd_listen_fds` parses it.
    let count = match value
        .to_str()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    {
        Some(v) => v.parse::<RawFd>().ok(),
        None => return invalid("not a count of descriptors".to_owned()),
    };
    let Some(count) = count.filter(|n| *n <= RawFd::MAX - FIRST) else {
        return invalid("more descriptors than a process can have".to_owned());
    };
    // Checked one by one, so that an absurd count fails at its first closed descriptor
    // instead of allocating for it.
    let mut fds = Vec::new();
    for fd in FIRST..FIRST + count {
        if sys::set_cloexec(fd).is_err() {
            return invalid(format!("descriptor {fd} is not open"));
        }
        fds.push(fd);
    }
    Ok(fds)
}
