//! Startup benchmark: how long the starting command of a daemon-rt daemon (the `fixture`)
//! takes to return, next to `nofork`, which does the same file work without forking.
//!
//! `cargo bench -p daemon-tests --bench startup`; `BENCH_RUNS` sets the runs per program and
//! descriptor limit (default 200).
//!
//! Both programs run at a low `RLIMIT_NOFILE` soft limit and at the highest one allowed,
//! because closing the inherited descriptors is the step whose cost could grow with the
//! limit. The limit is set in this process and inherited by the children. Runs alternate
//! (fixture, nofork, fixture, ...) so that both programs see the same machine load.
//!
//! This process is a child subreaper: a daemon re-parents to it when its intermediate parent
//! exits, so the daemon is found among this process's children, ended by PID with SIGTERM
//! and reaped with `waitpid`. Nothing is ever signalled by name.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

mod common;
use common::{Context, Result, Summary, WorkDir, runs};

const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture");
const NOFORK: &str = env!("CARGO_BIN_EXE_nofork");

/// Runs of each program at each limit unless `BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 200;

/// The low `RLIMIT_NOFILE` soft limit: the usual default.
const LOW_LIMIT: rlim_t = 1024;

fn main() -> ExitCode {
    let outcome = WorkDir::create("daemon-rt-startup").and_then(|dir| {
        let mut daemons = Daemons::default();
        let result = bench(&dir, &mut daemons);
        // After a failure some daemons may still run: end them before removing their files.
        // After a success there are none left.
        daemons.kill_all();
        result.and(dir.remove())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("startup bench failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Measures both programs at both limits and prints the table.
fn bench(dir: &WorkDir, daemons: &mut Daemons) -> Result<()> {
    let runs = runs("BENCH_RUNS", DEFAULT_RUNS)?;
    nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper")?;
    let low = measure(low_limit()?, runs, dir, daemons)?;
    let high = measure(highest_limit()?, runs, dir, daemons)?;
    print_table(runs, &low, &high);
    Ok(())
}

/// Sets the soft `RLIMIT_NOFILE` to [`LOW_LIMIT`] (or the hard limit, if that is lower).
fn low_limit() -> Result<rlim_t> {
    let (_, hard) = nofile_limit()?;
    set_soft_limit(LOW_LIMIT.min(hard), hard)
}

/// Sets the soft `RLIMIT_NOFILE` to the hard limit, after trying to raise the hard limit to
/// the kernel's maximum, `/proc/sys/fs/nr_open`.
fn highest_limit() -> Result<rlim_t> {
    let (soft, hard) = nofile_limit()?;
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse::<rlim_t>().ok());
    if let Some(max) = nr_open.filter(|&max| max > hard) {
        // Only root (CAP_SYS_RESOURCE) may raise the hard limit; anyone else gets EPERM and
        // keeps the current one, which is then the highest allowed.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, soft, max);
    }
    let (_, hard) = nofile_limit()?;
    set_soft_limit(hard, hard)
}

fn nofile_limit() -> Result<(rlim_t, rlim_t)> {
    getrlimit(Resource::RLIMIT_NOFILE).context("reading RLIMIT_NOFILE")
}

/// Sets `RLIMIT_NOFILE` in this process, which the programs it starts inherit.
fn set_soft_limit(soft: rlim_t, hard: rlim_t) -> Result<rlim_t> {
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard)
        .with_context(|| format!("setting RLIMIT_NOFILE to {soft} (hard {hard})"))?;
    Ok(soft)
}

/// The timings at one descriptor limit.
struct Measurement {
    limit: rlim_t,
    fixture: Vec<Duration>,
    nofork: Vec<Duration>,
    /// Runs in which the PID file held the daemon's PID when the starting command returned.
    pid_held: usize,
}

/// Runs both programs `runs` times each, alternating, with the limit already set.
fn measure(
    limit: rlim_t,
    runs: usize,
    dir: &WorkDir,
    daemons: &mut Daemons,
) -> Result<Measurement> {
    let mut m = Measurement {
        limit,
        fixture: Vec::with_capacity(runs),
        nofork: Vec::with_capacity(runs),
        pid_held: 0,
    };
    for run in 1..=runs {
        let fixture = run_fixture(&files(dir, "fixture"), daemons)
            .map_err(|e| format!("fixture run {run} at RLIMIT_NOFILE {limit}: {e}"))?;
        m.fixture.push(fixture.elapsed);
        m.pid_held += usize::from(fixture.pid_held);
        let nofork = run_nofork(&files(dir, "nofork"))
            .map_err(|e| format!("nofork run {run} at RLIMIT_NOFILE {limit}: {e}"))?;
        m.nofork.push(nofork);
    }
    Ok(m)
}

/// What one fixture run measured and saw.
struct FixtureRun {
    elapsed: Duration,
    pid_held: bool,
}

/// Starts the fixture, checks its daemon and PID file, then ends the daemon.
fn run_fixture(files: &Files, daemons: &mut Daemons) -> Result<FixtureRun> {
    let (elapsed, status) = time_run(FIXTURE, files)?;
    // Whatever the status, any daemon that started is now a child of ours: record it first,
    // so that a failure below still ends it.
    let new = daemons.adopt_children()?;
    if !status.success() {
        return Err(format!("the starting command ended with {status}"));
    }
    let daemon = match new.as_slice() {
        [pid] => *pid,
        _ => return Err(format!("expected one new daemon, found {new:?}")),
    };
    let pid_held = pidfile_pid(&files.pidfile)? == daemon;
    daemons.end(daemon)?;
    if files.pidfile.symlink_metadata().is_ok() {
        return Err(format!(
            "the daemon {daemon} ended but {} is still there",
            files.pidfile.display()
        ));
    }
    Ok(FixtureRun { elapsed, pid_held })
}

/// Runs the baseline once and returns its time.
fn run_nofork(files: &Files) -> Result<Duration> {
    let (elapsed, status) = time_run(NOFORK, files)?;
    if !status.success() {
        return Err(format!("it ended with {status}"));
    }
    Ok(elapsed)
}

/// Runs `program` on `files`: the time from `spawn` until the process has exited and been
/// reaped, and its exit status.
fn time_run(program: &str, files: &Files) -> Result<(Duration, ExitStatus)> {
    let mut command = Command::new(program);
    command
        .arg("--pidfile")
        .arg(&files.pidfile)
        .arg("--stdout")
        .arg(&files.stdout)
        .arg("--stderr")
        .arg(&files.stderr)
        .arg("--tag")
        .arg(&files.tag);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let status = child
        .wait()
        .with_context(|| format!("waiting for {program}"))?;
    Ok((start.elapsed(), status))
}

/// The PID in the PID file at `path`, which must be a live process.
fn pidfile_pid(path: &Path) -> Result<Pid> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let pid = text
        .strip_suffix('\n')
        .and_then(|line| line.parse().ok())
        .filter(|&pid| pid > 0)
        .map(Pid::from_raw)
        .ok_or_else(|| format!("{} holds {text:?}, not a PID and a newline", path.display()))?;
    // Signal 0 checks that the process exists without touching it.
    kill(pid, None).map_err(|e| {
        format!(
            "{} holds {pid}, which is not a live process: {e}",
            path.display()
        )
    })?;
    Ok(pid)
}

/// The daemons started and not yet reaped.
///
/// They are children of this process (the subreaper) until reaped, so their PIDs cannot be
/// reused by another process meanwhile: signalling them never hits anything else.
#[derive(Debug, Default)]
struct Daemons(Vec<Pid>);

impl Daemons {
    /// Records this process's children that are not recorded yet, and returns them.
    ///
    /// Every program the bench starts has been reaped by the time this is called, so every
    /// child left is a daemon that re-parented to the bench.
    fn adopt_children(&mut self) -> Result<Vec<Pid>> {
        let new: Vec<Pid> = children()?
            .into_iter()
            .filter(|pid| !self.0.contains(pid))
            .collect();
        self.0.extend(&new);
        Ok(new)
    }

    /// Ends the daemon `pid` with SIGTERM and reaps it; it must die of that signal, as the
    /// fixture does once it has removed its PID file.
    fn end(&mut self, pid: Pid) -> Result<()> {
        kill(pid, Signal::SIGTERM).with_context(|| format!("signalling {pid}"))?;
        let status = reap(pid);
        self.0.retain(|&p| p != pid);
        match status? {
            WaitStatus::Signaled(_, Signal::SIGTERM, _) => Ok(()),
            other => Err(format!(
                "the daemon {pid} ended with {other:?}, not by SIGTERM"
            )),
        }
    }

    /// Kills and reaps every recorded daemon, after a failure.
    fn kill_all(&mut self) {
        for pid in self.0.drain(..) {
            if let Err(e) = kill(pid, Signal::SIGKILL).map_err(Errno::desc) {
                eprintln!("killing the daemon {pid}: {e}");
            }
            let _ = reap(pid);
        }
    }
}

/// Waits for the child `pid` to end, retrying on `EINTR`.
fn reap(pid: Pid) -> Result<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => return other.with_context(|| format!("waiting for {pid}")),
        }
    }
}

/// This process's children, from `/proc`. The bench runs on one thread, whose ID is the
/// process ID, and the kernel re-parents orphans to that thread.
fn children() -> Result<Vec<Pid>> {
    let path = format!("/proc/self/task/{}/children", std::process::id());
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.split_whitespace()
        .map(|pid| {
            pid.parse()
                .map(Pid::from_raw)
                .map_err(|e| format!("{path} lists {pid:?}: {e}"))
        })
        .collect()
}

/// The paths one program is given.
struct Files {
    pidfile: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    tag: PathBuf,
}

/// The files of `program`, the same for each of its runs: the PID file is gone after each,
/// and the logs grow by a line or two.
fn files(dir: &WorkDir, program: &str) -> Files {
    Files {
        pidfile: dir.0.join(format!("{program}.pid")),
        stdout: dir.0.join(format!("{program}.out")),
        stderr: dir.0.join(format!("{program}.err")),
        tag: dir.0.clone(),
    }
}

fn print_table(runs: usize, low: &Measurement, high: &Measurement) {
    println!(
        "startup: time from spawn to the starting command's return \
         ({runs} runs each, median [min .. max])"
    );
    println!(
        "{:<14} {:<22} {:>10} {:>10} {:>10} {:>16}",
        "RLIMIT_NOFILE", "program", "median", "min", "max", "ratio to nofork"
    );
    let (mut fixture_medians, mut nofork_medians) = (Vec::new(), Vec::new());
    for m in [low, high] {
        let fixture = Summary::<Duration>::of(&m.fixture);
        let nofork = Summary::<Duration>::of(&m.nofork);
        print_row(m.limit, "fixture (daemon-rt)", &fixture, &nofork);
        print_row(m.limit, "nofork (baseline)", &nofork, &nofork);
        fixture_medians.push(fixture.median);
        nofork_medians.push(nofork.median);
    }
    println!(
        "pidfile held the daemon's PID at return: {}/{runs} (low), {}/{runs} (high)",
        low.pid_held, high.pid_held
    );
    println!(
        "growth with the fd limit (median at {} / at {}): fixture {:.2}x, nofork {:.2}x",
        high.limit,
        low.limit,
        ratio(fixture_medians[1], fixture_medians[0]),
        ratio(nofork_medians[1], nofork_medians[0]),
    );
}

fn print_row(
    limit: rlim_t,
    program: &str,
    summary: &Summary<Duration>,
    baseline: &Summary<Duration>,
) {
    println!(
        "{limit:<14} {program:<22} {:>10} {:>10} {:>10} {:>15.2}x",
        millis(summary.median),
        millis(summary.min),
        millis(summary.max),
        ratio(summary.median, baseline.median),
    );
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
