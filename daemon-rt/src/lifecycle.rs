//! The daemon's life after the start: when it is ready, what it tells its service manager, and
//! how a failure before it was ready reaches whoever started it.
//!
//! With [`Ready::Manual`], the start keeps the readiness pipe open and the body calls
//! [`ready`]. A failure before that (an `Err` returned from `main`, a panic on the main
//! thread, an exit) is sent instead: through the pipe as an [`Error`] the starting command
//! prints, and to the service manager as `STATUS=` and `ERRNO=`.

use std::io;
use std::sync::{Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::thread::ThreadId;

use crate::error::{Error, ErrorKind, Step};
use crate::notify as manager;
use crate::readiness::Reporter;
use crate::sys;

/// Where the daemon is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No start happened in this process (or it runs in the starting process).
    Idle,
    /// Started with [`Ready::Manual`]; `ready()` not called yet.
    Starting,
    /// Ready was reported.
    Ready,
    /// A failure before ready was reported; nothing more is sent.
    Failed,
    /// Started with [`Ready::After`](crate::Ready::After): up as far as the daemon knows,
    /// while the starting command watches that it stays up. A failure of the body is still
    /// sent through the pipe, with its message; an exit is seen by the starting command.
    Probation,
}

struct State {
    phase: Phase,
    pid: u32,
    /// The readiness pipe, while the starting command waits on it.
    reporter: Option<Reporter>,
}

/// The thread that runs `main`: only its panics end the daemon.
static MAIN_THREAD: OnceLock<ThreadId> = OnceLock::new();

static STATE: Mutex<State> = Mutex::new(State {
    phase: Phase::Idle,
    pid: 0,
    reporter: None,
});

fn state() -> MutexGuard<'static, State> {
    // A panic while the lock was held leaves plain data behind: keep using it.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The start succeeded in the daemon with `pid`. With `manual`, readiness waits for
/// [`ready`]; otherwise it is reported now, through `reporter` and the service manager.
pub(crate) fn started(pid: u32, reporter: Option<Reporter>, manual: bool) {
    if !manual {
        // The start is done: the logs it created are the daemon's now.
        sys::disarm_created_logs();
        if let Some(reporter) = reporter {
            reporter.ready(pid);
        }
        announce_ready();
        state().phase = Phase::Ready;
        return;
    }
    {
        let mut state = state();
        state.phase = Phase::Starting;
        state.pid = pid;
        state.reporter = reporter;
    }
    let _ = MAIN_THREAD.set(std::thread::current().id());
    report_panics();
    static ATEXIT: Once = Once::new();
    sys::at_exit(&ATEXIT, on_exit);
}

/// The start succeeded in the daemon with `pid`, started with
/// [`Ready::After`](crate::Ready::After): the starting command learns the PID now and counts
/// the daemon as up if it still runs after the duration; the service manager hears `READY=1`
/// now. Until the process ends, a failure of the body goes through `reporter`, whose reader
/// is gone once the duration has passed.
pub(crate) fn on_probation(pid: u32, mut reporter: Reporter) {
    sys::disarm_created_logs();
    reporter.probation(pid);
    announce_ready();
    {
        let mut state = state();
        state.phase = Phase::Probation;
        state.pid = pid;
        state.reporter = Some(reporter);
    }
    let _ = MAIN_THREAD.set(std::thread::current().id());
    report_panics();
}

/// Tells whoever started the daemon that it is ready: the starting command exits 0, a
/// service manager gets `READY=1`. Call it once the daemon can serve (its socket bound, its
/// configuration loaded) when it was started with `ready = "manual"`
/// ([`Ready::Manual`](crate::Ready::Manual)).
///
/// Calling it again, or in a daemon whose readiness is automatic, or in a process that did not
/// daemonize, does nothing. A starting command that is gone (killed while it waited) is not
/// an error: the daemon runs on.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/echo.pid", ready = "manual")]
/// fn main() -> std::io::Result<()> {
///     let listener = std::net::TcpListener::bind("127.0.0.1:7007")?; // a failure here fails the start
///     daemon_rt::ready();
///     for stream in listener.incoming() {
///         drop(stream?);
///     }
///     Ok(())
/// }
/// ```
pub fn ready() {
    let reporter = {
        let mut state = state();
        if state.phase != Phase::Starting {
            return;
        }
        state.phase = Phase::Ready;
        state.reporter.take().map(|r| (r, state.pid))
    };
    sys::disarm_created_logs();
    if let Some((reporter, pid)) = reporter {
        reporter.ready(pid);
    }
    announce_ready();
}

/// The service manager and a supervisor's descriptor hear `READY=1`. Reloads are announced from then on: marked
/// before `READY=1` (a manager that has it may send the reload signal at once), with every
/// signal blocked across the two, so that no RELOADING=1 comes first.
fn announce_ready() {
    let blocked = sys::block_all_signals();
    sys::mark_ready();
    let _ = manager::send_ready();
    if let Some(mask) = &blocked {
        sys::restore_mask(mask);
    }
    crate::notify_fd::announce();
}

/// Sets the status line a service manager shows for the daemon (`STATUS=` of `sd_notify(3)`;
/// `systemctl status` prints it). Does nothing without a service manager.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     daemon_rt::set_status("warming the cache");
///     // ...
///     daemon_rt::set_status("serving");
/// }
/// ```
pub fn set_status(status: &str) {
    let _ = manager::send(&format!("STATUS={}", status.replace('\n', " ")));
}

/// Sends `state`, newline-separated `KEY=value` lines such as `WATCHDOG=1` or `RELOADING=1`,
/// to the service manager (`sd_notify(3)`). Returns `Ok(false)` when the process was not
/// started by one (`$NOTIFY_SOCKET` was not set at the start).
///
/// # Errors
///
/// The socket refused the datagram.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() -> std::io::Result<()> {
///     // a slow migration: ask systemd for 5 more minutes before it gives up on the start
///     daemon_rt::notify("EXTEND_TIMEOUT_USEC=300000000")?;
///     Ok(())
/// }
/// ```
pub fn notify(state: &str) -> io::Result<bool> {
    manager::send(state)
}

/// The daemon failed before it was ready: tell whoever started it, once.
pub(crate) fn failed(message: &str, errno: Option<i32>) {
    {
        let mut state = state();
        // On probation the manager has heard `READY=1`: only the starting command, if it
        // still watches, learns why.
        let probation = state.phase == Phase::Probation;
        if !probation && state.phase != Phase::Starting {
            return;
        }
        state.phase = Phase::Failed;
        // The reporter stays in the state, its pipe open until the process exits: the
        // starting command returns only once this process is gone.
        if let Some(reporter) = &mut state.reporter {
            reporter.fail(&Error::new(
                Step::Initialize,
                ErrorKind::DiedBeforeReady,
                None,
                message,
            ));
        }
        if probation {
            return;
        }
    }
    manager::send_failure(message, errno);
}

/// Why the start failed when the daemon ended without calling [`ready`] or saying why.
const EXITED_UNREADY: &str = "the daemon exited before it called `daemon_rt::ready()`";

/// The body of `main` ended (returned, or `Running` was dropped): if it never called
/// [`ready`], that is a failure to start. Then `STOPPING=1`.
pub(crate) fn ending() {
    exited_unready();
    sys::notify_stopping();
}

extern "C" fn on_exit() {
    exited_unready();
}

/// An end before [`ready`]; on probation, the starting command sees the exit and its status
/// by itself, which says more than this.
fn exited_unready() {
    if state().phase != Phase::Probation {
        failed(EXITED_UNREADY, None);
    }
}

/// A panic on the main thread before [`ready`] fails the start with the panic's message.
/// Panics on other threads do not end the process, so they do not count.
fn report_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if MAIN_THREAD.get() != Some(&std::thread::current().id()) {
            return;
        }
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("Box<dyn Any>");
        let message = match info.location() {
            Some(at) => format!("panicked at {at}: {payload}"),
            None => format!("panicked: {payload}"),
        };
        failed(&message, None);
    }));
}
