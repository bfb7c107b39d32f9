//! The job with `fork::daemon`: both parents exit at once, so the starting command returns
//! before the daemon exists; the program writes the PID file itself.

use daemon_bench::{append_log, fail, job, linger, write_pidfile};
use fork::{Fork, daemon};

fn main() {
    let job = job();
    match daemon(false, false) {
        Ok(Fork::Child) => {
            write_pidfile(&job.pidfile);
            append_log(&job.log);
            linger();
        }
        Ok(Fork::Parent(_)) => unreachable!("fork::daemon exits both parents"),
        Err(e) => fail(&format!("daemonizing: {e}")),
    }
}
