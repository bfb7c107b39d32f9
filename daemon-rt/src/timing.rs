//! Timestamps of the start's steps, for the per-step breakdown in `BENCHMARKS.md`.
//!
//! Only a build with `RUSTFLAGS="--cfg daemon_rt_timing"` records anything: everywhere else
//! [`mark`] and [`flush`] are empty and vanish from the start. In the instrumented build each
//! mark keeps its label and the time since the first mark (`Instant`, `CLOCK_MONOTONIC`), which
//! the forked processes inherit, so that the marks of the starting command, the intermediate
//! child and the daemon share one origin. [`flush`] appends them to the file named by
//! `$DAEMON_RT_TIMING` (if set) in one write: `<role> <pid> <label> <nanoseconds>` lines.
//! A mark costs a `clock_gettime` through the vDSO, no system call.

#[cfg(daemon_rt_timing)]
mod imp {
    use std::io::Write as _;
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::Instant;

    const MAX: usize = 64;

    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    static MARKS: Mutex<([(&str, u64); MAX], usize)> = Mutex::new(([("", 0); MAX], 0));

    pub(crate) fn mark(label: &'static str) {
        let ns = ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64;
        let mut marks = MARKS.lock().unwrap_or_else(PoisonError::into_inner);
        let (list, len) = &mut *marks;
        if *len < MAX {
            list[*len] = (label, ns);
            *len += 1;
        }
    }

    pub(crate) fn flush(role: &str) {
        let Some(path) = std::env::var_os("DAEMON_RT_TIMING") else {
            return;
        };
        let marks = MARKS.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        let mut text = String::new();
        for (label, ns) in &marks.0[..marks.1] {
            text.push_str(&format!("{role} {pid} {label} {ns}\n"));
        }
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = file.write_all(text.as_bytes());
        }
    }
}

#[cfg(daemon_rt_timing)]
pub(crate) use imp::{flush, mark};

/// Records that the start reached `label` (instrumented builds only).
#[cfg(not(daemon_rt_timing))]
#[inline(always)]
pub(crate) fn mark(_label: &'static str) {}

/// Writes this process's marks out as `role` (instrumented builds only).
#[cfg(not(daemon_rt_timing))]
#[inline(always)]
pub(crate) fn flush(_role: &str) {}
