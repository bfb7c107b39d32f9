//! Readiness by descriptor: s6's `notification-fd`, dinit's `pipefd`, OpenRC's `notify=fd:N`.
//!
//! The supervisor opens a pipe on a descriptor number it documents (s6: the number in the
//! service directory's `notification-fd` file) and starts the daemon with it. The daemon
//! writes one newline to it when it is ready, and closes it; a daemon that dies first closes
//! it without the newline. The start keeps the descriptor through step 10 (which would
//! otherwise close it: skarnet/s6 issue 20), makes it close-on-exec so the daemon's own
//! children do not hold it, and writes the newline where `READY=1` is sent.
//!
//! The option takes a number, not an `AsFd`: the program did not open the descriptor, only
//! the supervisor's configuration names it, and turning that number into a `BorrowedFd` would
//! take `unsafe` code in every program. The start checks it instead: open, writable, and
//! not 0, 1 or 2, whose newlines would be the daemon's own output.

use std::io::Write as _;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;

use crate::error::Error;
use crate::sys;

/// The descriptor to write the newline to, or -1.
static FD: AtomicI32 = AtomicI32::new(-1);

/// Refuses a number that can never carry the newline.
pub(crate) fn check(fd: RawFd) -> Result<(), Error> {
    let invalid = |why: String| Err(Error::invalid_config(format!("`notify_fd` {fd} {why}")));
    match fd {
        ..0 => return invalid("is not a descriptor number".to_owned()),
        0..=2 => {
            let stream = ["standard input", "standard output", "standard error"][fd as usize];
            return invalid(format!(
                "is {stream}; a supervisor's notification descriptor is 3 or above, so that \
                 the daemon's own output cannot read as ready"
            ));
        }
        _ => {}
    }
    match sys::access_mode(fd) {
        Err(_) => invalid("is not open; is the supervisor configured to pass it?".to_owned()),
        Ok(libc::O_RDONLY) => invalid("is open for reading only".to_owned()),
        Ok(_) => Ok(()),
    }
}

/// Keeps `fd` (checked) for [`announce`]: close-on-exec from now on.
pub(crate) fn arm(fd: RawFd) {
    let _ = sys::set_cloexec(fd);
    FD.store(fd, Ordering::SeqCst);
}

/// The daemon is ready: one newline to the descriptor, which is then closed. Only the first
/// call does anything. A supervisor that is gone (`EPIPE`) is no error: the daemon runs on.
pub(crate) fn announce() {
    let fd = FD.swap(-1, Ordering::SeqCst);
    if fd >= 0 {
        // What makes `sys::own` sound: the start checked `fd` open and keeps it; the swap
        // above hands it out once, and no other object of this crate owns it.
        let mut file = std::fs::File::from(sys::own(fd));
        // Never waited for: a supervisor that does not read its pipe (full) must not hold
        // the daemon in `ready()`; the newline is then lost, not the daemon.
        let _ = sys::set_nonblocking(&file);
        let _ = file.write_all(b"\n");
    }
}

/// Closes this process's copy without a newline: for PID 1, which leaves readiness to the
/// daemon it forked.
pub(crate) fn forget() {
    let fd = FD.swap(-1, Ordering::SeqCst);
    if fd >= 0 {
        drop(sys::own(fd));
    }
}

/// The descriptor the start keeps, if any.
pub(crate) fn kept() -> Option<RawFd> {
    Some(FD.load(Ordering::SeqCst)).filter(|fd| *fd >= 0)
}
