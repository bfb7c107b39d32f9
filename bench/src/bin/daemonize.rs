//! The job with `daemonize`, as its README shows it. The starting command returns once the
//! intermediate process has exited, which happens before the daemon writes its PID file.

use std::fs::OpenOptions;

use daemon_bench::{fail, job, linger, log_line};
use daemonize::Daemonize;

fn main() {
    let job = job();
    let log = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&job.log)
        .unwrap_or_else(|e| fail(&format!("opening {}: {e}", job.log.display())));
    let stderr = log
        .try_clone()
        .unwrap_or_else(|e| fail(&format!("duplicating the log descriptor: {e}")));
    let started = Daemonize::new()
        .pid_file(&job.pidfile)
        .working_directory("/")
        .stdout(log)
        .stderr(stderr)
        .start();
    if let Err(e) = started {
        fail(&format!("daemonizing: {e}"));
    }
    print!("{}", log_line());
    linger();
}
