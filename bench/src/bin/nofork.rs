//! The baseline: the job of the other programs without daemonizing. It writes the PID file,
//! appends the log line and exits at once, unless `--linger` is given, as the benchmark does
//! to read its threads, descriptors and memory next to the daemons'.

use daemon_bench::{append_log, job, linger, write_pidfile};

fn main() {
    let job = job();
    write_pidfile(&job.pidfile);
    append_log(&job.log);
    if job.linger.is_some() {
        linger();
    }
}
