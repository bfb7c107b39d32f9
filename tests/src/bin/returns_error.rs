//! A daemon whose `main` returns a `daemon_rt::Error` through `?`, for the test that it ends
//! with that error's one line and documented status, as a failed start does.
//!
//! `returns_error PIDFILE [--tag ANY]`: runs in the foreground with PID file PIDFILE, then
//! asks `control::signal` about a PID file that does not exist, whose error (`NotRunning`,
//! status 7) it returns.

#[daemon_rt::daemon(pidfile = std::env::args_os().nth(1), foreground = true)]
fn main() -> Result<(), daemon_rt::Error> {
    daemon_rt::control::signal("/nonexistent/daemon.pid", daemon_rt::Signal::SIGHUP)?;
    Ok(())
}
