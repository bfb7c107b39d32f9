//! The limit: the least a starting command can do and still return only once the daemon's
//! PID file is written. Two forks, `setsid`, and a pipe on which the daemon writes one byte
//! after the PID file; the starting command exits when it reads it. Nothing else of
//! daemon(7): no signal reset, no descriptor cleanup, no stdio redirection, no lock.

use std::io::{Read as _, Write as _};

use daemon_bench::{append_log, fail, job, linger, write_pidfile};
use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, fork, pipe2, setsid};

fn main() {
    let job = job();
    let (reader, writer) =
        pipe2(OFlag::O_CLOEXEC).unwrap_or_else(|e| fail(&format!("creating the pipe: {e}")));
    // SAFETY: the process has one thread, so the child can run any code.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {
            drop(writer);
            let mut byte = [0];
            match std::fs::File::from(reader).read(&mut byte) {
                Ok(1) => {}
                _ => fail("the daemon ended before writing its PID file"),
            }
        }
        Ok(ForkResult::Child) => {
            drop(reader);
            if let Err(e) = setsid() {
                fail(&format!("setsid: {e}"));
            }
            // SAFETY: as above; the child of a one-thread process has one thread.
            match unsafe { fork() } {
                Ok(ForkResult::Parent { .. }) => {}
                Ok(ForkResult::Child) => {
                    write_pidfile(&job.pidfile);
                    if std::fs::File::from(writer).write_all(b"R").is_err() {
                        fail("the starting command is gone");
                    }
                    append_log(&job.log);
                    linger();
                }
                Err(e) => fail(&format!("the second fork: {e}")),
            }
        }
        Err(e) => fail(&format!("the first fork: {e}")),
    }
}
