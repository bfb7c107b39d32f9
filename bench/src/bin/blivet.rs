//! The job with `blivet`, as its README shows it: the starting command waits until the daemon
//! calls `notify_parent`, which it does once blivet has written and locked the PID file.

use blivet::{DaemonConfig, daemonize};
use daemon_bench::{fail, job, linger, log_line};

fn main() {
    let job = job();
    let mut config = DaemonConfig::new();
    config.pidfile(&job.pidfile).stdout(&job.log).append(true);
    let mut context = daemonize(&config).unwrap_or_else(|e| fail(&format!("daemonizing: {e}")));
    if let Err(e) = context.notify_parent() {
        fail(&format!("notifying the starting command: {e}"));
    }
    print!("{}", log_line());
    linger();
}
