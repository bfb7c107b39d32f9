//! The job with daemon-rt and every common option on: a drop to `nobody`, a `chroot` into an
//! empty directory, manual readiness (the body calls `ready()` at once), stdout and stderr to
//! log files, and an s6-style readiness descriptor. The row shows what the options cost next
//! to the plain attribute. It needs root (for `user` and `chroot`); the harness leaves it out
//! otherwise.
//!
//! The chroot is the directory `root` beside the PID files' directory, made by the harness.
//! The readiness descriptor is the write end of a pipe this program makes and never reads.

use std::os::fd::IntoRawFd as _;
use std::path::PathBuf;

use daemon_bench::{fail, job, linger, log_line};

#[daemon_rt::daemon(
    pidfile = job().pidfile.clone(),
    stdout = job().log.clone(),
    stderr = job().log.clone(),
    user = "nobody",
    chroot = root(),
    ready = "manual",
    notify_fd = readiness_pipe(),
)]
fn main() {
    daemon_rt::ready();
    print!("{}", log_line());
    linger();
}

/// `root` beside the directory of the PID file.
fn root() -> PathBuf {
    job()
        .pidfile
        .parent()
        .and_then(|pids| pids.parent())
        .map(|dir| dir.join("root"))
        .unwrap_or_else(|| fail("the PID file has no parent directory"))
}

/// The write end of a pipe whose read end stays open in this process and so in the daemon's
/// starting command until it returns.
fn readiness_pipe() -> i32 {
    let (reader, writer) =
        nix::unistd::pipe().unwrap_or_else(|e| fail(&format!("creating the pipe: {e}")));
    std::mem::forget(reader);
    writer.into_raw_fd()
}
