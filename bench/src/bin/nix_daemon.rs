//! The job with `nix::unistd::daemon`, the C library's daemon(3): one fork, after which the
//! parent exits at once, and `setsid`; the program writes the PID file itself.

use daemon_bench::{append_log, fail, job, linger, write_pidfile};

fn main() {
    let job = job();
    if let Err(e) = nix::unistd::daemon(false, false) {
        fail(&format!("daemonizing: {e}"));
    }
    write_pidfile(&job.pidfile);
    append_log(&job.log);
    linger();
}
