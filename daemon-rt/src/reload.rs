//! Reload: SIGHUP (and the `reopen_logs` signal) as a request the program can see.
//!
//! A started daemon always catches SIGHUP: every supervisor's reload command sends it
//! (`systemctl reload`, `sv hup`, `s6-svc -h`, `svc -h`, `supervisorctl signal HUP`), and its
//! default action ends the process. The handler reopens the log files, tells a service manager
//! `RELOADING=1` with `MONOTONIC_USEC=` (systemd's `Type=notify-reload` protocol), and records
//! the request. Until the program asks for requests, through [`reload_requested`],
//! [`wait_for_reload`] or [`reload_fd`], the handler also sends the reload's `READY=1` at
//! once: reopening the logs was the whole reload. From the first call on, the program reloads
//! itself and calls [`reloaded`] when done.
//!
//! Requests that arrive before the program looks are merged into one: a reload reads the
//! newest configuration anyway.

use std::os::fd::{AsFd as _, BorrowedFd, IntoRawFd as _, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::notify as manager;
use crate::sys;

/// The read end of the reload pipe, made on first use.
static READ_END: OnceLock<OwnedFd> = OnceLock::new();
/// How many reload signals the program has seen.
static SEEN: AtomicUsize = AtomicUsize::new(0);

/// Makes reload signals a request from now on, and returns the pipe's read end.
fn listen() -> BorrowedFd<'static> {
    READ_END
        .get_or_init(|| {
            let (read, write) = sys::pipe(true).expect("cannot create the reload pipe");
            // The write end lives as long as the process: the signal handler writes to it.
            sys::listen_for_reload(write.into_raw_fd());
            // A process that did not daemonize with this crate gets the handler now. SIGHUP
            // is valid and catchable, so installing cannot fail.
            let _ = sys::ensure_reload_handlers();
            read
        })
        .as_fd()
}

/// Whether SIGHUP (or the `reopen_logs` signal) asked the daemon to reload since the last
/// call: `true` once per request, several requests that arrived in between counting as one.
/// The log files are already reopened when it returns `true`; the program reloads the rest
/// (its configuration, its certificates) and then calls [`reloaded`].
///
/// The first call of the three functions here makes the signal a request the program
/// answers: from then on a service manager waits for [`reloaded`] to end each reload.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     while !daemon_rt::stop_requested() {
///         if daemon_rt::reload_requested() {
///             // read the configuration again
///             daemon_rt::reloaded();
///         }
///         // one unit of work
/// #       std::thread::sleep(std::time::Duration::from_millis(100));
///     }
/// }
/// ```
///
/// # Panics
///
/// On the first call of the three, if the process cannot make the pipe behind them: it is
/// out of descriptors (`EMFILE`, `ENFILE`).
#[must_use]
pub fn reload_requested() -> bool {
    let fd = listen();
    // Emptied before the count is read: a signal after the read leaves a byte behind, so a
    // waiter wakes for it; one before is in the count.
    let mut buf = [0u8; 64];
    while matches!(nix::unistd::read(fd, &mut buf), Ok(n) if n > 0) {}
    let count = sys::reload_count();
    SEEN.swap(count, Ordering::SeqCst) != count
}

/// Blocks until SIGHUP (or the `reopen_logs` signal) asks the daemon to reload, or returns at
/// once if a request came since the last look; then the request counts as seen. Like
/// [`reload_requested`], the first call makes the signal a request the program answers with
/// [`reloaded`].
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     std::thread::spawn(|| { /* the work */ });
///     loop {
///         daemon_rt::wait_for_reload();
///         // read the configuration again
///         daemon_rt::reloaded();
///     }
/// }
/// ```
///
/// # Panics
///
/// On the first call of the three, if the process cannot make the pipe behind them: it is
/// out of descriptors (`EMFILE`, `ENFILE`).
pub fn wait_for_reload() {
    let fd = listen();
    while !reload_requested() {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::NONE);
    }
}

/// A descriptor that becomes readable when SIGHUP (or the `reopen_logs` signal) asks the
/// daemon to reload: for an event loop (`poll`, `epoll`, tokio's `AsyncFd`) to wait on. When
/// it is readable, call [`reload_requested`], which empties it and says whether the request
/// is new (a wake-up may be one already seen). It is open for the life of the process; do not
/// read from it or close it. Like [`reload_requested`], the first call makes the signal a
/// request the program answers with [`reloaded`].
///
/// ```no_run
/// use std::os::fd::AsFd as _;
/// use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
///
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     let (reload, stop) = (daemon_rt::reload_fd(), daemon_rt::stop_fd());
///     loop {
///         let mut fds = [PollFd::new(reload, PollFlags::POLLIN), PollFd::new(stop, PollFlags::POLLIN)];
///         let _ = poll(&mut fds, PollTimeout::NONE);
///         if daemon_rt::stop_requested() {
///             break;
///         }
///         if daemon_rt::reload_requested() {
///             // read the configuration again
///             daemon_rt::reloaded();
///         }
///     }
/// }
/// ```
///
/// # Panics
///
/// On the first call of the three, if the process cannot make the pipe behind them: it is
/// out of descriptors (`EMFILE`, `ENFILE`).
#[must_use]
pub fn reload_fd() -> BorrowedFd<'static> {
    listen()
}

/// Tells the service manager that the reload is done: `READY=1`, which ends the reload
/// `systemctl reload` waits for (`Type=notify-reload`). Call it after each request
/// [`reload_requested`] or [`wait_for_reload`] returned. Without a service manager, or when no
/// reload was announced to it, it does nothing.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     loop {
///         daemon_rt::wait_for_reload();
///         // read the configuration again
///         daemon_rt::reloaded();
///     }
/// }
/// ```
pub fn reloaded() {
    // A request that came during this reload is not done: its `READY=1` stays owed until the
    // body has seen it and calls this again.
    if sys::reload_count() != SEEN.load(Ordering::SeqCst) {
        return;
    }
    if sys::take_reloading() {
        let _ = manager::send("READY=1");
    }
}
