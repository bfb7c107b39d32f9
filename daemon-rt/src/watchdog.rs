//! The service manager's watchdog (`sd_watchdog_enabled(3)`): `$WATCHDOG_USEC` is the interval
//! within which the daemon must send `WATCHDOG=1`, `$WATCHDOG_PID` the process meant to send
//! it. Also `EXTEND_TIMEOUT_USEC=`, for a start or stop that needs more time.
//!
//! Both variables are read and removed from the environment at the start, with
//! `$NOTIFY_SOCKET`, while the process is single-threaded, so the daemon's own children never
//! ping on its behalf.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Step};
use crate::notify as manager;
use crate::sys;
use crate::threads::SingleThreaded;

/// The environment variables of the watchdog.
const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// The interval, if the watchdog is meant for this process: `$WATCHDOG_PID` unset, or naming
/// the process that read it at the start. The daemon that process forks is the same program
/// going on (it tells the manager `MAINPID=`, or the PID file does), so it keeps the watchdog.
static WATCHDOG: OnceLock<Option<Duration>> = OnceLock::new();

/// Takes `$WATCHDOG_USEC` and `$WATCHDOG_PID` out of the environment and records them.
///
/// # Errors
///
/// A value that is not a positive number: the manager would kill a daemon that cannot know
/// how often to ping.
pub(crate) fn from_env(single: &SingleThreaded) -> Result<(), Error> {
    let usec = std::env::var_os(WATCHDOG_USEC);
    let pid = std::env::var_os(WATCHDOG_PID);
    sys::remove_env(single, WATCHDOG_USEC);
    sys::remove_env(single, WATCHDOG_PID);
    let Some(usec) = usec else {
        return Ok(());
    };
    let number = |name: &str, value: &std::ffi::OsStr| {
        value
            .to_str()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Error::new(
                    Step::Notify,
                    ErrorKind::InvalidConfig,
                    Some(Path::new(value)),
                    format!("`${name}` is not a positive number"),
                )
            })
    };
    let interval = Duration::from_micros(number(WATCHDOG_USEC, &usec)?);
    let pid = match pid {
        Some(pid) => Some(u32::try_from(number(WATCHDOG_PID, &pid)?).map_err(|_| {
            Error::new(
                Step::Notify,
                ErrorKind::InvalidConfig,
                Some(Path::new(&pid)),
                "`$WATCHDOG_PID` is not a process ID",
            )
        })?),
        None => None,
    };
    let mine = pid.is_none_or(|pid| pid == std::process::id());
    let _ = WATCHDOG.set(mine.then_some(interval));
    Ok(())
}

/// The interval of the service manager's watchdog, if it watches this process: systemd's
/// `WatchdogSec=`, given as `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, when set, naming the
/// process the manager started, which the daemon it forks continues). Within each interval
/// the daemon must call [`watchdog_ping`], or the manager kills it (SIGABRT) and applies its
/// restart policy. `None` without a watchdog, or when the watchdog is meant for another
/// process.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     // ping at half the interval, as systemd advises
///     let period = daemon_rt::watchdog_interval().map(|i| i / 2);
///     while !daemon_rt::stop_requested() {
///         // one unit of work, shorter than the period
/// #       std::thread::sleep(std::time::Duration::from_millis(100));
///         if period.is_some() {
///             daemon_rt::watchdog_ping();
///         }
///     }
/// }
/// ```
#[must_use]
pub fn watchdog_interval() -> Option<Duration> {
    *WATCHDOG.get()?
}

/// Tells the service manager's watchdog that the daemon is alive: `WATCHDOG=1`. Call it from
/// the loop whose liveness it proves, at about half of [`watchdog_interval`]; never from a
/// thread of its own, which would keep pinging while the work is stuck. Does nothing when no
/// watchdog watches this process.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     while !daemon_rt::stop_requested() {
///         // one unit of work
/// #       std::thread::sleep(std::time::Duration::from_millis(100));
///         daemon_rt::watchdog_ping();
///     }
/// }
/// ```
pub fn watchdog_ping() {
    if watchdog_interval().is_some() {
        let _ = manager::send("WATCHDOG=1");
    }
}

/// Asks the service manager for `by` more time before it gives up on the start, the stop, or
/// a reload in progress: `EXTEND_TIMEOUT_USEC=` of `sd_notify(3)`. Repeat it before that time
/// runs out for a longer extension. Does nothing without a service manager.
///
/// ```no_run
/// use std::time::Duration;
///
/// #[daemon_rt::daemon(pidfile = "/run/db.pid", ready = "manual")]
/// fn main() {
///     for step in 0..10 {
///         daemon_rt::extend_timeout(Duration::from_secs(60)); // each step takes up to a minute
///         // migrate step `step`
/// #       let _ = step;
///     }
///     daemon_rt::ready();
/// }
/// ```
pub fn extend_timeout(by: Duration) {
    // A longer time than a u64 of microseconds holds is "as long as can be said".
    let usec = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
    let _ = manager::send(&format!("EXTEND_TIMEOUT_USEC={usec}"));
}
