//! Graceful stop: SIGTERM and SIGINT as a request the program can see.
//!
//! Until the program asks, through any function here, the start's handler ends the process on
//! those signals, with its PID file removed. From the first call on, the handler only records
//! the request: a flag, and a pipe that becomes readable and stays so, which any event loop
//! can wait on. The pipe is never drained, so every waiter sees it.

use std::os::fd::{AsFd as _, BorrowedFd, IntoRawFd as _, OwnedFd};
use std::sync::OnceLock;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::sys;

/// The read end of the stop pipe, made on first use.
static READ_END: OnceLock<OwnedFd> = OnceLock::new();

/// Makes stop signals a request from now on, and returns the pipe's read end.
fn listen() -> BorrowedFd<'static> {
    READ_END
        .get_or_init(|| {
            let (read, write) = sys::pipe(true).expect("cannot create the stop pipe");
            // The write end lives as long as the process: the signal handler writes to it.
            sys::listen_for_stop(write.into_raw_fd());
            // A process that did not daemonize with this crate gets the handlers now. The
            // signals are valid and catchable, so installing cannot fail.
            let _ = sys::ensure_stop_handlers();
            read
        })
        .as_fd()
}

/// Whether SIGTERM or SIGINT asked the daemon to stop. The first call makes those signals a
/// request: from then on they no longer end the process by themselves, and the program must
/// stop on its own (return from `main`, which removes the PID file).
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     while !daemon_rt::stop_requested() {
///         // one unit of work
/// #       std::thread::sleep(std::time::Duration::from_millis(100));
///     }
///     // flush, close, say goodbye; the PID file is removed when `main` returns
/// }
/// ```
///
/// # Panics
///
/// On the first call of the three, if the process cannot make the pipe behind them: it is
/// out of descriptors (`EMFILE`, `ENFILE`).
#[must_use]
pub fn stop_requested() -> bool {
    listen();
    sys::stop_requested()
}

/// Blocks until SIGTERM or SIGINT asks the daemon to stop, or returns at once if one already
/// did. Like [`stop_requested`], the first call makes those signals a request.
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid")]
/// fn main() {
///     std::thread::spawn(|| { /* the work */ });
///     daemon_rt::wait_for_stop(); // SIGTERM or SIGINT
///     // flush, close; the PID file is removed when `main` returns
/// }
/// ```
///
/// # Panics
///
/// On the first call of the three, if the process cannot make the pipe behind them: it is
/// out of descriptors (`EMFILE`, `ENFILE`).
pub fn wait_for_stop() {
    let fd = listen();
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(n) if n > 0 => return,
            _ => continue,
        }
    }
}

/// A descriptor that becomes readable when SIGTERM or SIGINT asks the daemon to stop, and
/// stays readable: for an event loop (`poll`, `epoll`, tokio's `AsyncFd`) to wait on. It is
/// open for the life of the process; do not read from it or close it. Like
/// [`stop_requested`], the first call makes those signals a request. The `echo` example
/// waits on it with tokio:
///
/// ```ignore
/// # async fn serve() {}
/// #[daemon_rt::daemon(pidfile = "/run/web.pid")]
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     // SAFETY: the descriptor stays open for the life of the process.
///     let stop = unsafe { tokio::io::unix::AsyncFd::register(daemon_rt::stop_fd()) }
///         .map_err(|e| e.into_parts().1)?;
///     tokio::select! {
///         _ = serve() => {}
///         _ = stop.readable() => {} // SIGTERM or SIGINT
///     }
///     Ok(())
/// }
/// ```
///
/// # Panics
///
/// On the first call of the three, if the process cannot make the pipe behind them: it is
/// out of descriptors (`EMFILE`, `ENFILE`).
#[must_use]
pub fn stop_fd() -> BorrowedFd<'static> {
    listen()
}
