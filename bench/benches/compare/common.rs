//! What the benchmark needs: error messages that say what was being done, the run count
//! from the environment, a temporary directory of its own, and median/min/max summaries.

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

pub type Result<T> = std::result::Result<T, String>;

/// Turns an error into a message that says what was being done.
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| format!("{}: {e}", what()))
    }
}

/// The number of runs: the environment variable `var`, or `default`.
pub fn runs(var: &str, default: usize) -> Result<usize> {
    match std::env::var(var) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse() {
            Ok(0) | Err(_) => Err(format!("{var}={text:?} is not a positive number")),
            Ok(n) => Ok(n),
        },
    }
}

/// The temporary directory of one bench run, named with its PID; removed by [`WorkDir::remove`].
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn create(prefix: &str) -> Result<WorkDir> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir(path))
    }

    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.0).with_context(|| format!("removing {}", self.0.display()))
    }
}

/// Median, minimum and maximum of a sample.
pub struct Summary<T> {
    pub median: T,
    pub min: T,
    pub max: T,
}

impl Summary<Duration> {
    /// Summarizes `sample`, which is not empty (there is at least one run).
    pub fn of(sample: &[Duration]) -> Summary<Duration> {
        Summary::sorted(sample, |a, b| (a + b) / 2)
    }
}

impl Summary<u64> {
    /// Summarizes `sample`, which is not empty.
    pub fn of(sample: &[u64]) -> Summary<u64> {
        Summary::sorted(sample, |a, b| a.midpoint(b))
    }
}

impl<T: Copy + Ord> Summary<T> {
    /// Summarizes `sample`, which is not empty; `mean` gives the median of an even count.
    fn sorted(sample: &[T], mean: impl Fn(T, T) -> T) -> Summary<T> {
        let mut sorted = sample.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let median = if n.is_multiple_of(2) {
            mean(sorted[n / 2 - 1], sorted[n / 2])
        } else {
            sorted[n / 2]
        };
        Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}
