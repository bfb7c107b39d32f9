//! PID 1: a container's entrypoint, or the first process of `unshare --pid --fork`.
//!
//! When PID 1 exits, the kernel kills every process of its PID namespace; every orphan of
//! the namespace is re-parented to it and stays a zombie until it reaps it; and the kernel
//! delivers it only the signals it has handlers for (or, as here, blocks and waits for). So
//! as PID 1 the start never forks away. It forks once: the child goes on with the start and
//! runs the body, as the daemon; PID 1 stays behind as the namespace's init, as tini
//! (`docker run --init`) does: it reaps every child, forwards the signals a supervisor or an
//! operator sends to the daemon, and when the daemon ends, exits with its status (128 plus
//! the signal's number for a daemon killed by a signal).
//!
//! The PID file names the daemon, not PID 1: the daemon holds its lock, `control` signals
//! only the holder, and a signal sent to the daemon's PID reaches the body directly.

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::error::{Context as _, Error, Step};
use crate::threads::SingleThreaded;
use crate::{notify_fd, sys};

/// The signals PID 1 passes on to the daemon: those a supervisor, a container runtime or an
/// operator sends (`docker stop`, `docker kill -s`, a terminal's ^C and resize). The ones the
/// kernel raises for a fault of PID 1 itself are not among them.
fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGALRM,
        Signal::SIGCONT,
        Signal::SIGIO,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Signal::SIGPWR,
    ] {
        set.add(signal);
    }
    set
}

/// Forks the daemon off PID 1 and returns in it (with the signals PID 1 waits for still
/// blocked until step 8 clears the mask). PID 1 never returns: it supervises the daemon and
/// exits with its status.
///
/// # Errors
///
/// `sigprocmask` or `fork` failed; nothing was started.
pub(crate) fn become_init(single: &SingleThreaded) -> Result<(), Error> {
    let mut waited = forwarded();
    waited.add(Signal::SIGCHLD);
    // Blocked before the fork, so that no signal sent in between is lost: a blocked signal is
    // kept pending for PID 1 even without a handler.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), None).context(Step::ResetSignals, None)?;
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    match sys::fork(single).context(Step::Fork, None)? {
        ForkResult::Child => Ok(()),
        ForkResult::Parent { child } => {
            // The daemon writes the newline; PID 1 must not keep the supervisor's pipe open.
            notify_fd::forget();
            sys::exit_now(supervise(child, &waited))
        }
    }
}

/// Waits for signals: forwards each to `child`, reaps every child on SIGCHLD, and returns the
/// exit status once `child` has ended.
fn supervise(child: Pid, waited: &SigSet) -> i32 {
    loop {
        match waited.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            // The daemon may be gone already; its status is collected below.
            Ok(signal) => drop(kill(child, signal)),
        }
        if let Some(status) = reap_all(child) {
            return status;
        }
    }
}

/// Reaps every child that has ended; the status `child` ended with, if it has.
fn reap_all(child: Pid) -> Option<i32> {
    let mut status = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => status = Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                status = Some(128 + signal as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return status,
            Err(Errno::EINTR) | Ok(_) => {}
            Err(_) => return status,
        }
    }
}
