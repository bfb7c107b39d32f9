//! Step 0: refuse to fork a process that already runs more than one thread.
//!
//! `fork` copies only the calling thread. A lock held by any other thread (the allocator's,
//! stdout's, an async runtime's) stays locked forever in the child, and the runtime's worker
//! threads simply do not exist there. A daemon never execs, so it must fork while it is still
//! single-threaded: before `#[tokio::main]` or any `thread::spawn`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, ErrorKind, Step};

/// Set once a start returned in the daemon (or in the foreground). A second start in the
/// same process, such as a `#[daemon]` function called in a loop or from two subcommands,
/// would fork the running daemon again: its PID would change under the service manager and
/// the PID file, and its body would run twice. It is refused instead.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Records that this process has daemonized; later starts fail.
pub(crate) fn mark_started() {
    STARTED.store(true, Ordering::Relaxed);
}

/// Proof that the process had one thread when it was checked; [`crate::sys::fork`] takes it.
///
/// Only [`ensure_single_threaded`] makes one, and the crate starts no thread of its own.
pub(crate) struct SingleThreaded {
    _private: (),
}

/// Counts the threads of this process and fails unless there is exactly one.
///
/// Linux: the entries of `/proc/self/task`, one per thread. macOS: `proc_pidinfo`'s
/// `pti_threadnum`. FreeBSD: `ki_numthreads` from `sysctl` `kern.proc.pid`. NetBSD:
/// `p_nlwps` from `sysctl` `kern.proc2`. illumos and Solaris: `pr_nlwp` in
/// `/proc/self/psinfo`. Where `/proc` is not mounted on Linux (some containers and chroots),
/// the count cannot be read and the check passes: there is no other way to count a Linux
/// process's threads. On the Unixes not named here (OpenBSD, DragonFly) the count is not
/// read, and the check passes too. A process that has daemonized already fails too.
pub(crate) fn ensure_single_threaded() -> Result<SingleThreaded, Error> {
    if STARTED.load(Ordering::Relaxed) {
        return Err(Error::new(
            Step::CheckThreads,
            ErrorKind::Threads,
            None,
            "this process has daemonized already; a process daemonizes once".to_owned(),
        ));
    }
    match count() {
        Some(n) if n > 1 => Err(Error::new(
            Step::CheckThreads,
            ErrorKind::Threads,
            None,
            format!(
                "the process already runs {n} threads; daemonizing must happen before any \
                 thread or async runtime starts"
            ),
        )),
        _ => Ok(SingleThreaded { _private: () }),
    }
}

#[cfg(target_os = "linux")]
fn count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

#[cfg(any(target_os = "macos", target_os = "freebsd", target_os = "netbsd"))]
fn count() -> Option<usize> {
    crate::sys::thread_count()
}

/// `pr_nlwp`, the number of live LWPs, from `struct psinfo` (proc(5) of illumos): the second
/// `int` of the file, after `pr_flag`, in the byte order of the machine.
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
fn count() -> Option<usize> {
    use std::io::Read as _;
    let mut head = [0u8; 8];
    std::fs::File::open("/proc/self/psinfo")
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    let nlwp = i32::from_ne_bytes(head[4..8].try_into().ok()?);
    usize::try_from(nlwp).ok()
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "illumos",
    target_os = "solaris"
)))]
fn count() -> Option<usize> {
    None
}

#[cfg(all(
    test,
    any(
        target_os = "linux",
        target_os = "macos",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "illumos",
        target_os = "solaris"
    )
))]
mod tests {
    #[test]
    fn refuses_when_a_second_thread_runs() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(super::count().unwrap() >= 2);
        let err = super::ensure_single_threaded().err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::Threads);
        drop(tx);
        let _ = t.join();
    }
}
