//! The hostile soak campaign: the fixture daemons started by the hundred on one PID file,
//! started and stopped a thousand times, killed at random moments of their start, and stormed
//! with SIGHUP while their log is renamed under them. Each campaign checks one invariant on
//! every try and counts the tries that held it and those that lost it.
//!
//! `cargo test --release -p daemon-tests --test soak` runs it all and prints one Markdown
//! table on stdout (progress on stderr), with the losses below it; it exits with status 1 if
//! any try lost. The target is `test = false`, so `cargo test --workspace` neither builds nor
//! runs it. `RELIABILITY.md` says what each campaign does and holds the table of a real run.
//!
//! - `SOAK_SCALE` (default 1): multiplies the number of tries of every campaign (at least one
//!   each); `0.1` gives a run of a few seconds.
//! - `SOAK_ONLY` (default: all): comma-separated campaign keys, of `race`, `takeover`,
//!   `cycle`, `kill`, `hup`.
//! - `SOAK_SEED` (default: from the clock): the seed of the random choices, printed first so
//!   that a run can be repeated.
//! - `SOAK_BUDGET` (default 600): the seconds each campaign may take; a campaign out of time
//!   stops early, and its row shows the tries it made.
//!
//! Every process it starts is ended by PID, never by name: the soak is a child subreaper, so
//! the daemons become its children, and [`procs::Procs`] kills what is left when the soak
//! ends, also on a panic or on SIGINT/SIGTERM (which end the campaign in progress first).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

mod campaigns;
mod procs;

use procs::Procs;

/// How long a starting command may take before it counts as hung.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to exit once signalled.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Set by SIGINT or SIGTERM: the campaign in progress stops at the end of its try.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: i32) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// One campaign: its key for `SOAK_ONLY`, its row, and what one try is and checks.
struct Campaign {
    key: &'static str,
    name: &'static str,
    /// Tries at `SOAK_SCALE=1`.
    tries: usize,
    invariant: &'static str,
    run: fn(&mut Soak, usize) -> Outcome,
}

const CAMPAIGNS: &[Campaign] = &[
    Campaign {
        key: "race",
        name: "1. start race: 100 starts at once on one PID file",
        tries: 10,
        invariant: "exactly one start exits 0, the 99 others 75 with one line; one daemon with the \
                    tag, holding the PID file's lock, its PID in the file; after SIGTERM: reaped, \
                    file gone, no process left",
        run: |soak, tries| campaigns::race(soak, tries, false),
    },
    Campaign {
        key: "takeover",
        name: "1b. start race while the holder stops: SIGTERM to it ±0.2 ms from the release",
        tries: 50,
        invariant: "every start exits 0 or 75 with one line, at most one 0; the old daemon ends \
                    by SIGTERM; as many daemons as starts that exited 0, the winner holding the \
                    PID file; after SIGTERM: file gone, no process left",
        run: |soak, tries| campaigns::race(soak, tries, true),
    },
    Campaign {
        key: "cycle",
        name: "2. start/stop cycles",
        tries: 1000,
        invariant: "the start exits 0; the PID file holds the PID of a live daemon that holds its \
                    lock; SIGTERM ends it by that signal, it is reaped, the file is gone, no \
                    process with the tag is left",
        run: campaigns::cycle,
    },
    Campaign {
        key: "kill",
        name: "3. SIGKILL 0-3 ms into a start (starting command or daemon, half each)",
        tries: 600,
        invariant: "the killed start returns or dies within 20 s; what is left settles to no \
                    process or one daemon holding the PID file (then stopped by SIGTERM); a fresh \
                    start exits 0, one daemon holds the file; after SIGTERM: file gone, no \
                    process left",
        run: campaigns::kill,
    },
    Campaign {
        key: "hup",
        name: "4. SIGHUP storm: 1000 SIGHUP, the log renamed before every 5th",
        tries: 10,
        invariant: "the daemon lives on with the same PID, still in the PID file; `line N` \
                    numbers across log.1 ... log.200 and the log are 1, 2, 3, ... with no gap or \
                    repeat; lines written after the last rename are in the new log; SIGTERM \
                    ends it with status 0",
        run: campaigns::hup,
    },
];

/// What one campaign found.
#[derive(Default)]
pub struct Outcome {
    pub tried: usize,
    /// One line per lost try, saying which and why.
    pub losses: Vec<String>,
    /// Figures printed under the table.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn record(&mut self, n: usize, result: Result<(), String>) {
        self.tried += 1;
        if let Err(why) = result {
            eprintln!("  try {n} lost: {why}");
            self.losses.push(format!("try {n}: {why}"));
        }
    }
}

/// What every campaign uses: the processes, the soak's directory, the random choices, and
/// the campaign's deadline.
pub struct Soak {
    /// Declared first, so dropped first: the processes die before their files are removed.
    pub procs: Procs,
    root: TempDir,
    pub rng: Rng,
    deadline: Instant,
}

impl Soak {
    /// Whether the campaign may make another try: not interrupted and within its budget.
    pub fn go(&self) -> bool {
        !INTERRUPTED.load(Ordering::SeqCst) && Instant::now() < self.deadline
    }

    /// A new directory for one try (or one campaign) under the soak's own; its path is the tag
    /// of every process started for it.
    pub fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.0.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a directory in the soak's own");
        dir
    }

    /// Runs `program` with `args` tagged with `dir`, waits for it, and expects exit 0 and a PID
    /// in `pidfile`: returns that PID.
    pub fn start_ok(
        &mut self,
        program: &str,
        args: &[&str],
        dir: &Path,
        pidfile: &Path,
    ) -> Result<Pid, String> {
        let err = dir.join("start.err");
        let pid = self.procs.spawn(program, args, dir, &err)?;
        match self.procs.wait(pid, START_TIMEOUT) {
            Some(WaitStatus::Exited(_, 0)) => {}
            Some(status) => {
                return Err(format!(
                    "start ended with {}: {:?}",
                    describe(status),
                    read(&err)
                ));
            }
            None => {
                self.procs.kill_and_wait(pid);
                return Err(format!("start did not return within {START_TIMEOUT:?}"));
            }
        }
        read_pid(pidfile)
            .ok_or_else(|| format!("start exited 0 but the PID file holds {:?}", read(pidfile)))
    }

    /// Sends SIGTERM to `pid`, waits for it to be reaped and checks how it ended (`expect`)
    /// and that `pidfile` is gone.
    pub fn stop(
        &mut self,
        pid: Pid,
        pidfile: &Path,
        expect: impl Fn(WaitStatus) -> bool,
    ) -> Result<(), String> {
        kill(pid, Signal::SIGTERM).map_err(|e| format!("SIGTERM to daemon {pid}: {e}"))?;
        match self.procs.wait(pid, EXIT_TIMEOUT) {
            Some(status) if expect(status) => {}
            Some(status) => return Err(format!("daemon {pid} ended with {}", describe(status))),
            None => {
                self.procs.kill_and_wait(pid);
                return Err(format!(
                    "daemon {pid} still running {EXIT_TIMEOUT:?} after SIGTERM"
                ));
            }
        }
        if pidfile.exists() {
            return Err(format!(
                "PID file left after daemon {pid} was stopped, holding {:?}",
                read(pidfile)
            ));
        }
        Ok(())
    }
}

/// The soak's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A xorshift64* generator: enough to pick delays, and repeatable from its seed.
pub struct Rng(u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// `WaitStatus` in words: `exit 75`, `signal SIGKILL`.
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit {code}"),
        WaitStatus::Signaled(_, signal, _) => format!("signal {signal}"),
        other => format!("{other:?}"),
    }
}

/// A file's text, or an empty string.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The PID in a PID file, as written: digits and a newline.
pub fn read_pid(pidfile: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let pid: i32 = text.strip_suffix('\n')?.parse().ok()?;
    Some(Pid::from_raw(pid))
}

/// Checks that `pidfile` holds `pid`, a live process with a descriptor on that file, and that
/// the file's lock is held.
pub fn check_holds(pidfile: &Path, pid: Pid) -> Result<(), String> {
    match read_pid(pidfile) {
        Some(written) if written == pid => {}
        _ => {
            return Err(format!(
                "the PID file holds {:?}, the daemon is {pid}",
                read(pidfile)
            ));
        }
    }
    if !procs::alive(pid) {
        return Err(format!("daemon {pid}, in the PID file, is not alive"));
    }
    let fds =
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| format!("/proc/{pid}/fd: {e}"))?;
    if !fds
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == pidfile))
    {
        return Err(format!("daemon {pid} has no descriptor on the PID file"));
    }
    let file = std::fs::File::open(pidfile).map_err(|e| format!("open the PID file: {e}"))?;
    match file.try_lock_shared() {
        Err(std::fs::TryLockError::WouldBlock) => Ok(()),
        Ok(()) => Err(format!("nobody holds the PID file's lock (daemon {pid})")),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("flock on the PID file: {e}")),
    }
}

/// Whether some process holds the lock of `pidfile` (false if there is no file).
pub fn locked(pidfile: &Path) -> bool {
    std::fs::File::open(pidfile).is_ok_and(|file| {
        matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    })
}

/// A positive number from the environment variable `var`, or `default`.
fn env_number(var: &str, default: f64) -> Result<f64, String> {
    match std::env::var(var) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Ok(n),
            _ => Err(format!("{var}={text:?} is not a positive number")),
        },
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("soak failed: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs the campaigns; `Ok(false)` if a try lost.
fn run() -> Result<bool, String> {
    let scale = env_number("SOAK_SCALE", 1.0)?;
    let budget = Duration::from_secs_f64(env_number("SOAK_BUDGET", 600.0)?);
    let seed = match std::env::var("SOAK_SEED") {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("SOAK_SEED={text:?} is not a number"))?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    };
    let only: Option<Vec<String>> = std::env::var("SOAK_ONLY")
        .ok()
        .map(|s| s.split(',').map(|k| k.trim().to_owned()).collect());
    if let Some(only) = &only
        && let Some(bad) = only
            .iter()
            .find(|k| !CAMPAIGNS.iter().any(|c| c.key == k.as_str()))
    {
        return Err(format!("SOAK_ONLY: no campaign {bad:?}"));
    }

    let handler = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: `on_interrupt` only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &handler) }.map_err(|e| format!("sigaction: {e}"))?;
    }

    // Canonical, so that the links of /proc/<pid>/fd compare equal to the paths built here.
    let tmp = std::fs::canonicalize(std::env::temp_dir())
        .map_err(|e| format!("canonicalize the temporary directory: {e}"))?;
    let root = tmp.join(format!("daemon-rt-soak-{}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let root = TempDir(root);
    let mut soak = Soak {
        procs: Procs::new(&root.0)?,
        root,
        rng: Rng(seed | 1),
        deadline: Instant::now(),
    };

    println!("{}", machine());
    println!();
    println!("SOAK_SCALE={scale} SOAK_SEED={seed}");
    println!();
    let mut table = String::from(
        "| campaign | tried | held | lost | seconds | invariant checked on each try |\n\
         |---|--:|--:|--:|--:|---|\n",
    );
    let mut below = String::new();
    let mut all_held = true;
    for campaign in CAMPAIGNS {
        if only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|k| k == campaign.key))
        {
            continue;
        }
        let tries = ((campaign.tries as f64 * scale).round() as usize).max(1);
        eprintln!("{} ({tries} tries)", campaign.name);
        let began = Instant::now();
        soak.deadline = began + budget;
        let outcome = (campaign.run)(&mut soak, tries);
        let seconds = began.elapsed().as_secs_f64();
        let lost = outcome.losses.len();
        all_held &= lost == 0;
        let _ = writeln!(
            table,
            "| {} | {} | {} | {lost} | {seconds:.1} | {} |",
            campaign.name,
            outcome.tried,
            outcome.tried - lost,
            campaign.invariant
        );
        if outcome.tried < tries {
            let _ = writeln!(
                below,
                "- {}: stopped after {} of {tries} tries (out of time or interrupted)",
                campaign.key, outcome.tried
            );
        }
        for note in &outcome.notes {
            let _ = writeln!(below, "- {}: {note}", campaign.key);
        }
        for loss in outcome.losses.iter().take(10) {
            let _ = writeln!(below, "- {} LOST {loss}", campaign.key);
        }
        if lost > 10 {
            let _ = writeln!(below, "- {}: {} more losses", campaign.key, lost - 10);
        }
    }
    print!("{table}");
    println!();
    print!("{below}");
    drop(soak);
    Ok(all_held && !INTERRUPTED.load(Ordering::SeqCst))
}

/// The kernel, the CPU, the cores and the commit, for the report.
fn machine() -> String {
    let kernel = read(Path::new("/proc/sys/kernel/osrelease"));
    let cpuinfo = read(Path::new("/proc/cpuinfo"));
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=7"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    format!(
        "Linux {}, {cpu}, {cores} cores; commit {commit}",
        kernel.trim()
    )
}
