//! The job with `fork::checked_daemon`, as its example shows it: the starting command waits
//! until the daemon calls `notify_ready`, which it does once the PID file is written.

use std::time::Duration;

use daemon_bench::{append_log, fail, job, linger, write_pidfile};
use fork::{CheckedDaemon, DaemonOptions, checked_daemon};

/// How long the starting command waits for the daemon to report.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    let job = job();
    let mut options = DaemonOptions::new();
    if let Err(e) = options
        .current_directory("/")
        .and_then(|options| options.redirect_standard_io_to_null())
    {
        fail(&format!("preparing the daemon options: {e}"));
    }
    match checked_daemon(options, STARTUP_TIMEOUT) {
        Ok(CheckedDaemon::Parent(_)) => {}
        Ok(CheckedDaemon::Daemon(notifier)) => {
            write_pidfile(&job.pidfile);
            if let Err(e) = notifier.notify_ready() {
                fail(&format!("notifying the starting command: {e}"));
            }
            append_log(&job.log);
            linger();
        }
        Err(e) => fail(&format!("daemonizing: {e}")),
    }
}
