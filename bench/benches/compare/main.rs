//! daemon-rt next to the daemonization crates people use today, doing the same job: daemonize,
//! write the PID file, append one log line, then sleep until ended (see the `daemon-bench`
//! library for the job, and `src/bin/` for the programs).
//!
//! `cargo bench -p daemon-bench` runs it all and prints one Markdown table. Every time is also
//! given as a ratio to `nofork`, a program doing the same file work without daemonizing,
//! measured in the same run; the build figures are given as a ratio to the `daemonize` crate.
//!
//! - `BENCH_RUNS` (default 200): starts of each program at each descriptor limit.
//! - `BENCH_HOLDINGS_RUNS` (default 30): starts of each program whose daemon's threads,
//!   descriptors and memory are read.
//! - `BUILD_RUNS` (default 3; 0 leaves the build rows out): clean builds of each test crate.
//! - `BENCH_ONLY` (default: all): comma-separated parts of program names, to start only those
//!   programs and the baseline, as when looking into one of them.
//!
//! Starts alternate between the programs (a, b, c, ..., a, b, c, ...), so that all see the
//! same machine load. The soft `RLIMIT_NOFILE` is set in this process and inherited: first
//! 1024, the usual default, then the highest allowed, because closing inherited descriptors is
//! the step whose cost can grow with it.

use std::process::ExitCode;
use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};

mod build;
mod common;
mod startup;

use common::{Context, Result, Summary, WorkDir, runs};
use startup::{Bench, Holdings, Program, Run};

/// Starts of each program at each limit unless `BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 200;

/// Starts whose holdings are read unless `BENCH_HOLDINGS_RUNS` says otherwise.
const DEFAULT_HOLDINGS_RUNS: usize = 30;

/// Clean builds of each crate unless `BUILD_RUNS` says otherwise.
const DEFAULT_BUILD_RUNS: usize = 3;

/// The low `RLIMIT_NOFILE` soft limit: the usual default.
const LOW_LIMIT: rlim_t = 1024;

/// The workspace's lock file, which says which version of each peer is measured.
const LOCKFILE: &str = include_str!("../../../Cargo.lock");

fn main() -> ExitCode {
    let outcome = WorkDir::create("daemon-bench").and_then(|dir| {
        let result = Bench::new(&dir).and_then(|bench| {
            let result = run(&dir, &bench);
            // After a failure some daemons may still run: end them before removing their
            // files. After a success there are none left.
            bench.kill_all();
            result
        });
        result.and(dir.remove())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("daemon-bench failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The programs, the baseline first and the limit second. The one with every option of
/// daemon-rt drops privileges and changes root, which only root can do: it is left out, with a
/// note, otherwise.
fn programs() -> Vec<Program> {
    let program = |name: String, exe, forks| Program { name, exe, forks };
    let options = env!("CARGO_BIN_EXE_daemon-rt-options");
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("not root: the row of daemon-rt with every common option is left out");
    }
    let all = vec![
        program(
            "nofork (baseline)".into(),
            env!("CARGO_BIN_EXE_nofork"),
            false,
        ),
        program(
            "limit: 2 forks, setsid, pipe".into(),
            env!("CARGO_BIN_EXE_limit"),
            true,
        ),
        program(
            format!("daemon-rt {}", env!("CARGO_PKG_VERSION")),
            env!("CARGO_BIN_EXE_daemon-rt-bench"),
            true,
        ),
        program(
            format!(
                "daemon-rt {}, every common option",
                env!("CARGO_PKG_VERSION")
            ),
            options,
            true,
        ),
        program(
            format!("daemonize {}", version("daemonize")),
            env!("CARGO_BIN_EXE_daemonize"),
            true,
        ),
        program(
            format!("fork {} daemon", version("fork")),
            env!("CARGO_BIN_EXE_fork-daemon"),
            true,
        ),
        program(
            format!("fork {} checked_daemon", version("fork")),
            env!("CARGO_BIN_EXE_fork-checked"),
            true,
        ),
        program(
            format!("nix {} daemon", version("nix")),
            env!("CARGO_BIN_EXE_nix-daemon"),
            true,
        ),
        program(
            format!("blivet {}", version("blivet")),
            env!("CARGO_BIN_EXE_blivet"),
            true,
        ),
    ];
    all.into_iter()
        .filter(|program| root || program.exe != options)
        .collect()
}

/// The programs whose name contains one of the comma-separated words of `BENCH_ONLY`, and the
/// baseline; all of them if it is unset.
fn selected(programs: Vec<Program>) -> Result<Vec<Program>> {
    let Ok(only) = std::env::var("BENCH_ONLY") else {
        return Ok(programs);
    };
    let words: Vec<&str> = only.split(',').map(str::trim).collect();
    let chosen: Vec<Program> = programs
        .into_iter()
        .enumerate()
        .filter(|(i, program)| *i == 0 || words.iter().any(|w| program.name.contains(w)))
        .map(|(_, program)| program)
        .collect();
    if chosen.len() < 2 {
        return Err(format!("BENCH_ONLY={only:?} names no program"));
    }
    Ok(chosen)
}

/// The version of `package` in the workspace's lock file.
fn version(package: &str) -> &'static str {
    let entry = format!("name = \"{package}\"\nversion = \"");
    LOCKFILE
        .split_once(&entry)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("?", |(version, _)| version)
}

/// The starts of all programs at one descriptor limit.
struct AtLimit {
    limit: rlim_t,
    /// One list of runs per program, in the order of [`programs`].
    runs: Vec<Vec<Run>>,
}

fn run(dir: &WorkDir, bench: &Bench) -> Result<()> {
    let runs = runs("BENCH_RUNS", DEFAULT_RUNS)?;
    let holdings_runs = runs_or_zero("BENCH_HOLDINGS_RUNS", DEFAULT_HOLDINGS_RUNS)?;
    let build_runs = runs_or_zero("BUILD_RUNS", DEFAULT_BUILD_RUNS)?;
    let programs = selected(programs())?;
    let machine = machine()?;

    let mut limits = Vec::new();
    for limit in [low_limit()?, highest_limit()?] {
        eprintln!("{runs} starts of each program at RLIMIT_NOFILE {limit}");
        let mut measured: Vec<Vec<Run>> = programs.iter().map(|_| Vec::new()).collect();
        for run in 1..=runs {
            for (program, measured) in programs.iter().zip(&mut measured) {
                let (one, _) = bench
                    .run(program, false)
                    .map_err(|e| format!("run {run} at RLIMIT_NOFILE {limit}: {e}"))?;
                measured.push(one);
            }
        }
        limits.push(AtLimit {
            limit,
            runs: measured,
        });
    }

    let limit = low_limit()?;
    eprintln!("{holdings_runs} starts of each program to read what it holds");
    let mut holdings: Vec<Vec<Holdings>> = programs.iter().map(|_| Vec::new()).collect();
    for run in 1..=holdings_runs {
        for (program, held) in programs.iter().zip(&mut holdings) {
            let one = if program.forks {
                bench.run(program, true).map(|(_, holdings)| holdings)
            } else {
                bench.baseline_holdings(program).map(Some)
            };
            let one = one.map_err(|e| format!("holdings run {run} at {limit}: {e}"))?;
            held.extend(one);
        }
    }

    let builds = if build_runs == 0 {
        Vec::new()
    } else {
        eprintln!("{build_runs} clean builds of each test crate");
        build::measure(dir, build_runs)?
    };

    let rustc = build::rustc_version()?;
    print_table(&Header {
        machine: &machine,
        rustc: &rustc,
        runs,
        holdings_runs,
        build_runs,
    });
    print_startup_rows(&programs, &limits);
    print_holdings_rows(&programs, &holdings, limit);
    print_inherited_rows(&programs, &holdings);
    print_build_rows(&builds);
    Ok(())
}

/// Like [`runs`], but 0 is allowed: the measurement is left out.
fn runs_or_zero(var: &str, default: usize) -> Result<usize> {
    match std::env::var(var).map(|text| text.trim() == "0") {
        Ok(true) => Ok(0),
        _ => runs(var, default),
    }
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
        // Only root (CAP_SYS_RESOURCE) may raise the hard limit, and a container may forbid
        // it; then the current one is the highest allowed.
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

/// The kernel, the processor and the number of cores.
fn machine() -> Result<String> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .context("reading /proc/sys/kernel/osrelease")?;
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown processor", |(_, model)| model.trim());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    Ok(format!("Linux {}, {cpu}, {cores} cores", kernel.trim()))
}

struct Header<'a> {
    machine: &'a str,
    rustc: &'a str,
    runs: usize,
    holdings_runs: usize,
    build_runs: usize,
}

fn print_table(header: &Header<'_>) {
    println!("$ cargo bench -p daemon-bench");
    println!("{}; {}", header.machine, header.rustc);
    println!(
        "{} starts of each program at each RLIMIT_NOFILE, {} more to read threads, fds and RSS, \
         {} clean builds of each crate. Times and sizes: median, min, max. Ratio: median / \
         median of nofork in the same run (build rows: of daemonize).",
        header.runs, header.holdings_runs, header.build_runs
    );
    println!();
    println!("| figure | program | median | min | max | ratio |");
    println!("|---|---|--:|--:|--:|--:|");
}

fn print_row(figure: &str, program: &str, cells: [String; 3], ratio: Option<f64>) {
    let [median, min, max] = cells;
    let ratio = ratio.map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}x"));
    println!("| {figure} | {program} | {median} | {min} | {max} | {ratio} |");
}

fn print_startup_rows(programs: &[Program], limits: &[AtLimit]) {
    type Pick = fn(&Run) -> Duration;
    let times: [(&str, Pick); 2] = [
        ("starting command returned", |run| run.returned),
        ("PID file holds the daemon's PID", |run| run.pidfile),
    ];
    for at in limits {
        for (what, pick) in times {
            let figure = format!("{what}, NOFILE {}", at.limit);
            let baseline = duration_summary(&at.runs[0], pick).median;
            for (program, runs) in programs.iter().zip(&at.runs) {
                let summary = duration_summary(runs, pick);
                print_row(
                    &figure,
                    &program.name,
                    [summary.median, summary.min, summary.max].map(millis),
                    Some(ratio(summary.median, baseline)),
                );
            }
        }
    }
    if let [low, high] = limits {
        for (what, pick) in times {
            let figure = format!("{what}: NOFILE {} / NOFILE {}", high.limit, low.limit);
            for (i, program) in programs.iter().enumerate() {
                let low = duration_summary(&low.runs[i], pick).median;
                let high = duration_summary(&high.runs[i], pick).median;
                print_row(
                    &figure,
                    &program.name,
                    [format!("{:.2}x", ratio(high, low)), "-".into(), "-".into()],
                    None,
                );
            }
        }
    }
    type Count = fn(&Run) -> bool;
    let counts: [(&str, Count); 2] = [
        ("PID file held the daemon's PID at return", |run| run.held),
        ("a process was left in the starter's group", |run| {
            run.in_group
        }),
    ];
    for (what, count) in counts {
        for (i, program) in programs.iter().enumerate() {
            let cells: Vec<String> = limits
                .iter()
                .map(|at| {
                    let runs = &at.runs[i];
                    let n = runs.iter().filter(|run| count(run)).count();
                    format!("{n}/{} at {}", runs.len(), at.limit)
                })
                .collect();
            print_row(
                what,
                &program.name,
                [cells.join(", "), "-".into(), "-".into()],
                None,
            );
        }
    }
}

fn print_holdings_rows(programs: &[Program], holdings: &[Vec<Holdings>], limit: rlim_t) {
    if holdings.iter().all(Vec::is_empty) {
        return;
    }
    type Pick = fn(&Holdings) -> u64;
    type Show = fn(u64) -> String;
    let figures: [(&str, Pick, Show); 3] = [
        ("threads", |h| h.threads, |n| n.to_string()),
        ("open descriptors", |h| h.fds, |n| n.to_string()),
        ("RSS", |h| h.rss_kib, |kib| format!("{kib} KiB")),
    ];
    for (what, pick, show) in figures {
        let figure = format!("daemon's {what}, NOFILE {limit}");
        let baseline = Summary::<u64>::of(&holdings[0].iter().map(pick).collect::<Vec<_>>());
        for (program, held) in programs.iter().zip(holdings) {
            let summary = Summary::<u64>::of(&held.iter().map(pick).collect::<Vec<_>>());
            print_row(
                &figure,
                &program.name,
                [summary.median, summary.min, summary.max].map(show),
                Some(summary.median as f64 / baseline.median as f64),
            );
        }
    }
}

fn print_inherited_rows(programs: &[Program], holdings: &[Vec<Holdings>]) {
    for (program, held) in programs.iter().zip(holdings) {
        if held.is_empty() {
            continue;
        }
        let open = held.iter().filter(|h| h.inherited).count();
        print_row(
            "descriptor inherited from the bench still open",
            &program.name,
            [format!("{open}/{}", held.len()), "-".into(), "-".into()],
            None,
        );
    }
}

fn print_build_rows(builds: &[build::Measurement]) {
    let Some(baseline) = builds.first() else {
        return;
    };
    let base_clean = Summary::<Duration>::of(&baseline.clean).median;
    for m in builds {
        let clean = Summary::<Duration>::of(&m.clean);
        print_row(
            "clean release build, -j2",
            m.variant.name,
            [clean.median, clean.min, clean.max].map(|d| format!("{:.2} s", d.as_secs_f64())),
            Some(ratio(clean.median, base_clean)),
        );
    }
    type Pick = fn(&build::Measurement) -> &Vec<u64>;
    let sizes: [(&str, Pick); 2] = [
        ("binary size", |m| &m.size),
        ("binary size after strip", |m| &m.stripped),
    ];
    for (what, pick) in sizes {
        if pick(baseline).is_empty() {
            continue;
        }
        let base = Summary::<u64>::of(pick(baseline)).median;
        for m in builds {
            let size = Summary::<u64>::of(pick(m));
            print_row(
                what,
                m.variant.name,
                [size.median, size.min, size.max].map(|bytes| format!("{} KiB", bytes / 1024)),
                Some(size.median as f64 / base as f64),
            );
        }
    }
}

fn duration_summary(runs: &[Run], pick: fn(&Run) -> Duration) -> Summary<Duration> {
    Summary::<Duration>::of(&runs.iter().map(pick).collect::<Vec<_>>())
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
