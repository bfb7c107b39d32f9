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
/// Linux: the link count of `/proc/self/task`, or `num_threads` in `/proc/self/stat`.
/// macOS: `proc_pidinfo`'s `pti_threadnum`. FreeBSD: `ki_numthreads` from `sysctl` `kern.proc.pid`. NetBSD:
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

/// The link count of `/proc/self/task`: one `statx`, which Linux answers with 2 + the number
/// of threads (`proc_task_getattr` in fs/proc/base.c), without generating any text. Where the
/// count is not of that form (below 3, as a `/proc` that does not add the threads would give),
/// [`stat_count`] reads it from `/proc/self/stat` instead.
#[cfg(target_os = "linux")]
fn count() -> Option<usize> {
    use std::os::unix::fs::MetadataExt as _;
    let links = std::fs::metadata("/proc/self/task").ok()?.nlink();
    match usize::try_from(links) {
        Ok(links) if links >= 3 => Some(links - 2),
        _ => stat_count(),
    }
}

/// `num_threads`, the 20th field of `/proc/self/stat`: one `read` of a short line, where
/// listing `/proc/self/task` takes two `getdents` and a 32 KiB buffer.
#[cfg(target_os = "linux")]
fn stat_count() -> Option<usize> {
    use std::io::Read as _;
    // The line is under 400 bytes; `comm` alone is at most 64 (in parentheses).
    let mut line = [0u8; 1024];
    let mut file = std::fs::File::open("/proc/self/stat").ok()?;
    let mut len = 0;
    loop {
        match file.read(&mut line[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if line[..len].ends_with(b"\n") || len == line.len() {
            break;
        }
    }
    num_threads(&line[..len])
}

/// The 20th field of a `/proc/<pid>/stat` line. The second, `comm`, is in parentheses and may
/// itself hold spaces and parentheses: the fields are counted from the last `)`.
#[cfg(target_os = "linux")]
fn num_threads(line: &[u8]) -> Option<usize> {
    let after = &line[line.iter().rposition(|&b| b == b')')? + 1..];
    let field = std::str::from_utf8(after)
        .ok()?
        .split_ascii_whitespace()
        .nth(17)?;
    field.parse().ok()
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
    #[cfg(target_os = "linux")]
    #[test]
    fn counts_from_after_the_last_parenthesis() {
        let line = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 5 1 1 \n";
        assert_eq!(super::num_threads(line), Some(3));
        assert_eq!(super::num_threads(b"42 (x) S 1"), None);
    }

    /// The link count of `/proc/self/task` counts the threads as `num_threads` does. Other
    /// tests run in threads of their own, so only what this test holds is certain: itself
    /// and the three threads it started.
    #[cfg(target_os = "linux")]
    #[test]
    fn link_count_counts_the_threads() {
        use std::os::unix::fs::MetadataExt as _;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let rx = std::sync::Arc::clone(&rx);
                std::thread::spawn(move || rx.lock().unwrap().recv())
            })
            .collect();
        let links = std::fs::metadata("/proc/self/task").unwrap().nlink();
        assert!(
            links >= 6,
            "`/proc/self/task` has {links} links, 2 + 4 threads at least"
        );
        assert!(super::count().unwrap() >= 4);
        assert!(super::stat_count().unwrap() >= 4);
        drop(tx);
        for t in threads {
            let _ = t.join();
        }
    }

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
