//! The job with daemon-rt: one attribute. The starting command returns once the PID file
//! holds the daemon's PID and the daemon reported ready (by default, as the body starts).

use daemon_bench::{job, linger, log_line};

#[daemon_rt::daemon(pidfile = job().pidfile.clone(), stdout = job().log.clone())]
fn main() {
    print!("{}", log_line());
    linger();
}
