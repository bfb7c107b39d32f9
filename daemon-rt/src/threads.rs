//! Step 0: refuse to fork a process that already runs more than one thread.
//!
//! `fork` copies only the calling thread. A lock held by any other thread (the allocator's,
//! stdout's, an async runtime's) stays locked forever in the child, and the runtime's worker
//! threads simply do not exist there. A daemon never execs, so it must fork while it is still
//! single-threaded: before `#[tokio::main]` or any `thread::spawn`.

use crate::error::{Error, ErrorKind, Step};

/// Proof that the process had one thread when it was checked; [`crate::sys::fork`] takes it.
///
/// Only [`ensure_single_threaded`] makes one, and the crate starts no thread of its own.
pub(crate) struct SingleThreaded {
    _private: (),
}

/// Counts the threads of this process and fails unless there is exactly one.
///
/// Linux: the entries of `/proc/self/task`, one per thread. Where `/proc` is not mounted
/// (some containers and chroots), the count cannot be read and the check passes: there is no
/// other portable way to count a process's threads.
pub(crate) fn ensure_single_threaded() -> Result<SingleThreaded, Error> {
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

#[cfg(not(target_os = "linux"))]
fn count() -> Option<usize> {
    None
}

#[cfg(all(test, target_os = "linux"))]
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
