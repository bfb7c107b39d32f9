//! The campaigns. Each makes its tries, checks its invariant on every one, and ends what a
//! lost try left behind before the next.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill as signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::procs::{Gate, alive, nice, tagged, wchan};
use crate::{
    EXIT_TIMEOUT, Outcome, START_TIMEOUT, Soak, check_holds, describe, locked, read, read_pid,
};

/// The daemon of the start races, the cycles and the kills (`#[daemon]`, ready once started).
const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture");
/// The daemon of the SIGHUP storm, which writes numbered lines to its log.
const SERVICE: &str = env!("CARGO_BIN_EXE_service");

/// Starts released at once in each start race.
const STARTS: usize = 100;
/// How long, in µs, before or after the gate opens the holder gets SIGTERM in a takeover.
const TAKEOVER_SPREAD: u64 = 200;
/// SIGHUPs sent to each daemon of the storm.
const HUPS: usize = 1000;
/// The log is renamed before every `RENAME_EVERY`th SIGHUP.
const RENAME_EVERY: usize = 5;
/// How long what a killed start left may take to settle, and a reopened log to appear.
const SETTLE: Duration = Duration::from_secs(2);

/// How often each outcome was seen, in order.
#[derive(Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }

    fn show(&self) -> String {
        if self.0.is_empty() {
            return "none".to_owned();
        }
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        parts.join(", ")
    }
}

/// The problems of one try as its loss, or success if there are none.
fn verdict(problems: Vec<String>) -> Result<(), String> {
    match problems.len() {
        0 => Ok(()),
        1..=3 => Err(problems.join("; ")),
        n => Err(format!("{}; and {} more", problems[..3].join("; "), n - 3)),
    }
}

/// A path as an argument (the soak's paths are its own, in UTF-8).
fn arg(path: &Path) -> &str {
    path.to_str().expect("the soak's paths are UTF-8")
}

/// A one-line error message, as a failed start must print.
fn one_line(text: &str) -> bool {
    text.ends_with('\n') && text.lines().count() == 1
}

/// Waits up to `timeout` for `ready`; whether it came.
fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn ended_by_sigterm(status: WaitStatus) -> bool {
    matches!(status, WaitStatus::Signaled(_, Signal::SIGTERM, _))
}

// 1. Start races.

#[derive(Default)]
struct RaceStats {
    ends: Tally,
    /// The messages of the starts that neither won nor lost with 75, the try's directory
    /// replaced by `<dir>`.
    odd: Tally,
    not_at_gate: usize,
    no_winner: usize,
}

/// 100 starts held at a gate and released into the PID file's lock at once, `tries` times;
/// with `takeover`, a daemon already holds the file and gets SIGTERM from 0.2 ms before the
/// gate opens to 0.2 ms after.
pub fn race(soak: &mut Soak, tries: usize, takeover: bool) -> Outcome {
    let mut out = Outcome::default();
    let mut stats = RaceStats::default();
    let key = if takeover { "takeover" } else { "race" };
    for n in 1..=tries {
        if !soak.go() {
            break;
        }
        soak.procs.new_try();
        let dir = soak.dir(&format!("{key}-{n}"));
        let result = race_once(soak, &dir, takeover, &mut stats);
        if result.is_err() {
            soak.procs.kill_tagged(&dir);
        }
        out.record(n, result);
    }
    out.notes.push(format!(
        "{} starts: {}",
        out.tried * STARTS,
        stats.ends.show()
    ));
    if !stats.odd.0.is_empty() {
        out.notes
            .push(format!("other endings, as printed: {}", stats.odd.show()));
    }
    if takeover {
        out.notes.push(format!(
            "races where every start lost to the stopping daemon (allowed): {}",
            stats.no_winner
        ));
    }
    if stats.not_at_gate > 0 {
        out.notes.push(format!(
            "starts not yet blocked at the gate when it opened (raced a little later): {}",
            stats.not_at_gate
        ));
    }
    out
}

fn race_once(
    soak: &mut Soak,
    dir: &Path,
    takeover: bool,
    stats: &mut RaceStats,
) -> Result<(), String> {
    let pidfile = dir.join("d.pid");
    let old = if takeover {
        let pid = soak.start_ok(FIXTURE, &["--pidfile", arg(&pidfile)], dir, &pidfile)?;
        check_holds(&pidfile, pid).map_err(|e| format!("the first daemon: {e}"))?;
        Some(pid)
    } else {
        None
    };

    let mut gate = Gate::new()?;
    let fd = gate.fd().to_string();
    let mut starters = Vec::with_capacity(STARTS);
    for i in 0..STARTS {
        let err = dir.join(format!("start-{i}.err"));
        let args = ["--pidfile", arg(&pidfile), "--gate-fd", &fd];
        starters.push(soak.procs.spawn_with(FIXTURE, &args, dir, &err, nice)?);
    }
    let mut at_gate = 0;
    wait_until(SETTLE, || {
        at_gate = starters
            .iter()
            .filter(|&&pid| wchan(pid).contains("pipe_read"))
            .count();
        at_gate == STARTS
    });
    stats.not_at_gate += STARTS - at_gate;
    match old {
        None => gate.open(),
        Some(old) => {
            // SIGTERM from TAKEOVER_SPREAD before the gate opens to as long after, so that the
            // old daemon's exit (unlink, unlock) falls anywhere in the first moments of the
            // race. The starts run at nice 10: the soak's pause and the old daemon's handler
            // are not delayed behind a hundred of them.
            let offset = soak.rng.below(2 * TAKEOVER_SPREAD + 1) as i64 - TAKEOVER_SPREAD as i64;
            let pause = Duration::from_micros(offset.unsigned_abs());
            let term = || signal(old, Signal::SIGTERM).map_err(|e| format!("SIGTERM: {e}"));
            if offset < 0 {
                term()?;
                std::thread::sleep(pause);
                gate.open();
            } else {
                gate.open();
                std::thread::sleep(pause);
                term()?;
            }
        }
    }
    drop(gate);

    let mut problems = Vec::new();
    let mut winners = 0;
    let deadline = Instant::now() + START_TIMEOUT;
    for (i, &pid) in starters.iter().enumerate() {
        let Some(status) = soak
            .procs
            .wait(pid, deadline.saturating_duration_since(Instant::now()))
        else {
            soak.procs.kill_and_wait(pid);
            stats.ends.add("no return");
            problems.push(format!("start {i} did not return within {START_TIMEOUT:?}"));
            continue;
        };
        let err = read(&dir.join(format!("start-{i}.err")));
        stats.ends.add(describe(status));
        match status {
            WaitStatus::Exited(_, 0) => winners += 1,
            WaitStatus::Exited(_, 75) if one_line(&err) => {}
            _ => {
                let text = err.trim_end().replace(arg(dir), "<dir>");
                stats.odd.add(format!("{} {text:?}", describe(status)));
                problems.push(format!(
                    "start {i} ended with {}: {err:?}",
                    describe(status)
                ));
            }
        }
    }
    if let Some(old) = old {
        match soak.procs.wait(old, EXIT_TIMEOUT) {
            Some(status) if ended_by_sigterm(status) => {}
            Some(status) => problems.push(format!(
                "the first daemon {old} ended with {}",
                describe(status)
            )),
            None => {
                soak.procs.kill_and_wait(old);
                problems.push(format!("the first daemon {old} outlived SIGTERM"));
            }
        }
    }

    soak.procs.reap();
    let daemons = tagged(dir);
    if takeover && winners == 0 {
        stats.no_winner += 1;
    }
    if winners != 1 && !(takeover && winners == 0) {
        problems.push(format!("{winners} starts exited 0"));
    }
    if daemons.len() != winners {
        problems.push(format!(
            "{} processes with the tag after the race ({daemons:?}), {winners} starts exited 0",
            daemons.len()
        ));
    }
    if let [daemon] = daemons[..]
        && let Err(e) = check_holds(&pidfile, daemon)
    {
        problems.push(e);
    }
    for &daemon in &daemons {
        if let Err(e) = soak.stop(daemon, &pidfile, ended_by_sigterm) {
            problems.push(e);
        }
    }
    if daemons.is_empty() && pidfile.exists() {
        problems.push(format!(
            "PID file left with no daemon running, holding {:?}",
            read(&pidfile)
        ));
    }
    soak.procs.reap();
    let left = tagged(dir);
    if !left.is_empty() {
        problems.push(format!("processes left with the tag: {left:?}"));
    }
    verdict(problems)
}

// 2. Start/stop cycles.

/// Start, check, SIGTERM, check, `tries` times on one PID file.
pub fn cycle(soak: &mut Soak, tries: usize) -> Outcome {
    let mut out = Outcome::default();
    let dir = soak.dir("cycle");
    let pidfile = dir.join("d.pid");
    let mut leftovers = 0;
    for n in 1..=tries {
        if !soak.go() {
            break;
        }
        soak.procs.new_try();
        let result = cycle_once(soak, &dir, &pidfile, &mut leftovers);
        if result.is_err() {
            soak.procs.kill_tagged(&dir);
            let _ = std::fs::remove_file(&pidfile);
        }
        out.record(n, result);
    }
    out.notes
        .push(format!("processes left over after a cycle: {leftovers}"));
    out
}

fn cycle_once(
    soak: &mut Soak,
    dir: &Path,
    pidfile: &Path,
    leftovers: &mut usize,
) -> Result<(), String> {
    let daemon = soak.start_ok(FIXTURE, &["--pidfile", arg(pidfile)], dir, pidfile)?;
    check_holds(pidfile, daemon)?;
    soak.stop(daemon, pidfile, ended_by_sigterm)?;
    soak.procs.reap();
    let left = tagged(dir);
    if !left.is_empty() {
        *leftovers += left.len();
        return Err(format!("processes left with the tag: {left:?}"));
    }
    Ok(())
}

// 3. SIGKILL at random moments of a start.

#[derive(Default)]
struct KillStats {
    /// How the starting command ended, when it was the one killed.
    starter_killed: Tally,
    /// How the starting command ended, when the daemon (or its first parent) was killed.
    daemon_killed: Tally,
    /// Tries of the daemon half where no process but the starting command existed yet.
    missed: usize,
    /// Daemons that lived on after the kill (then stopped by SIGTERM): in the starting
    /// command's half and in the daemon's (where the kill came too early or too late).
    survivors: [usize; 2],
}

/// A start SIGKILLed 0-3 ms after its spawn, the starting command in odd tries and the daemon
/// in even ones; then a fresh start.
pub fn kill(soak: &mut Soak, tries: usize) -> Outcome {
    let mut out = Outcome::default();
    let mut stats = KillStats::default();
    let dir = soak.dir("kill");
    let pidfile = dir.join("d.pid");
    for n in 1..=tries {
        if !soak.go() {
            break;
        }
        soak.procs.new_try();
        let daemon_half = n % 2 == 0;
        let delay = Duration::from_micros(soak.rng.below(3001));
        let result = kill_once(soak, &dir, &pidfile, daemon_half, delay, &mut stats).map_err(|e| {
            let whom = if daemon_half {
                "daemon"
            } else {
                "starting command"
            };
            format!("{whom} killed {} µs after spawn: {e}", delay.as_micros())
        });
        if result.is_err() {
            soak.procs.kill_tagged(&dir);
            let _ = std::fs::remove_file(&pidfile);
        }
        out.record(n, result);
    }
    out.notes.push(format!(
        "starting command killed: it ended with {}; a daemon lived on (then stopped) {} times",
        stats.starter_killed.show(),
        stats.survivors[0]
    ));
    out.notes.push(format!(
        "daemon killed: the starting command ended with {}; no process but it to kill {} \
         times; a daemon lived on (then stopped) {} times",
        stats.daemon_killed.show(),
        stats.missed,
        stats.survivors[1]
    ));
    out
}

fn kill_once(
    soak: &mut Soak,
    dir: &Path,
    pidfile: &Path,
    daemon_half: bool,
    delay: Duration,
    stats: &mut KillStats,
) -> Result<(), String> {
    let args = ["--pidfile", arg(pidfile)];
    let starter = soak
        .procs
        .spawn(FIXTURE, &args, dir, &dir.join("start.err"))?;
    std::thread::sleep(delay);
    if daemon_half {
        // The daemon by the PID file if it is written, else whatever this start has forked:
        // the first child or the daemon. Only processes with the tag, never another's PID.
        let mine = tagged(dir);
        let victims: Vec<Pid> = match read_pid(pidfile) {
            Some(pid) if pid != starter && mine.contains(&pid) => vec![pid],
            _ => mine.into_iter().filter(|&pid| pid != starter).collect(),
        };
        if victims.is_empty() {
            stats.missed += 1;
        }
        for &pid in &victims {
            let _ = signal(pid, Signal::SIGKILL);
        }
        // SIGKILL takes effect a moment later: until then the victim still looks alive, and
        // would be taken for a daemon that lived on.
        wait_until(SETTLE, || victims.iter().all(|&pid| !alive(pid)));
    } else {
        let _ = signal(starter, Signal::SIGKILL);
    }
    let Some(status) = soak.procs.wait(starter, START_TIMEOUT) else {
        soak.procs.kill_and_wait(starter);
        return Err(format!(
            "the starting command did not return within {START_TIMEOUT:?}"
        ));
    };
    let tally = if daemon_half {
        &mut stats.daemon_killed
    } else {
        &mut stats.starter_killed
    };
    tally.add(describe(status));

    // What is left must settle, soon, to nothing or to one daemon holding the PID file.
    // Nothing means no process found twice in a row and the lock free: a scan of /proc can
    // miss a process forked while it runs, when PIDs wrap around (pid_max is often 32768).
    let mut left = vec![Pid::this()];
    let mut survivor = None;
    let settled = wait_until(SETTLE, || {
        soak.procs.reap();
        let before = std::mem::replace(&mut left, tagged(dir));
        match left[..] {
            [] => before.is_empty() && !locked(pidfile),
            [pid] if check_holds(pidfile, pid).is_ok() => {
                survivor = Some(pid);
                true
            }
            _ => false,
        }
    });
    if !settled {
        return Err(format!(
            "{SETTLE:?} after the kill, processes with the tag {left:?} and none holding the \
             PID file ({:?})",
            read(pidfile)
        ));
    }
    if let Some(pid) = survivor {
        stats.survivors[usize::from(daemon_half)] += 1;
        soak.stop(pid, pidfile, ended_by_sigterm)
            .map_err(|e| format!("the daemon that lived on: {e}"))?;
    }

    let daemon = soak
        .start_ok(FIXTURE, &args, dir, pidfile)
        .map_err(|e| format!("fresh start: {e}"))?;
    soak.procs.reap();
    let left = tagged(dir);
    if left != [daemon] {
        return Err(format!(
            "after the fresh start, processes with the tag {left:?}, daemon {daemon}"
        ));
    }
    check_holds(pidfile, daemon).map_err(|e| format!("after the fresh start: {e}"))?;
    soak.stop(daemon, pidfile, ended_by_sigterm)?;
    soak.procs.reap();
    let left = tagged(dir);
    if !left.is_empty() {
        return Err(format!("processes left with the tag: {left:?}"));
    }
    Ok(())
}

// 4. SIGHUP storms with log rotation.

#[derive(Default)]
struct HupStats {
    signals: usize,
    renames: usize,
    lines: usize,
}

/// A daemon writing numbered lines, its log renamed and SIGHUP sent, `HUPS` times per try.
pub fn hup(soak: &mut Soak, tries: usize) -> Outcome {
    let mut out = Outcome::default();
    let mut stats = HupStats::default();
    for n in 1..=tries {
        if !soak.go() {
            break;
        }
        soak.procs.new_try();
        let dir = soak.dir(&format!("hup-{n}"));
        let result = hup_once(soak, &dir, &mut stats);
        soak.procs.kill_tagged(&dir);
        if result.is_ok() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        out.record(n, result);
    }
    out.notes.push(format!(
        "{} SIGHUP sent, {} renames, {} numbered lines checked",
        stats.signals, stats.renames, stats.lines
    ));
    out
}

fn hup_once(soak: &mut Soak, dir: &Path, stats: &mut HupStats) -> Result<(), String> {
    let pidfile = dir.join("d.pid");
    let log = dir.join("out.log");
    let errlog = dir.join("err.log");
    let args = [
        "--pidfile",
        arg(&pidfile),
        "--stdout",
        arg(&log),
        "--stderr",
        arg(&errlog),
        "--listen",
        "poll",
        "--lines",
    ];
    let daemon = soak.start_ok(SERVICE, &args, dir, &pidfile)?;
    // Why the daemon is gone, if it is: how it ended and the end of its stderr.
    let gone = |soak: &mut Soak| -> Option<String> {
        if alive(daemon) {
            return None;
        }
        let status = soak.procs.wait(daemon, Duration::from_secs(1));
        let err = read(&errlog);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        Some(format!(
            "daemon {daemon} ended with {}; its stderr ends {tail:?}",
            status.map_or_else(|| "?".to_owned(), describe)
        ))
    };
    if !wait_until(SETTLE, || count_lines(&log) >= 10) {
        return Err("fewer than 10 lines in the log 2 s after the start".to_owned());
    }

    let mut files: Vec<PathBuf> = Vec::new();
    for i in 0..HUPS {
        if i % RENAME_EVERY == 0 {
            if let Some(why) = gone(soak) {
                return Err(format!("after {i} SIGHUP: {why}"));
            }
            // The last SIGHUP's reopen creates the log again.
            if !wait_until(SETTLE, || log.exists()) {
                return Err(format!("after {i} SIGHUP, no new log within {SETTLE:?}"));
            }
            let rotated = dir.join(format!("out.log.{}", files.len() + 1));
            std::fs::rename(&log, &rotated).map_err(|e| format!("rename the log: {e}"))?;
            files.push(rotated);
            stats.renames += 1;
        }
        signal(daemon, Signal::SIGHUP).map_err(|e| format!("SIGHUP {i}: {e}"))?;
        stats.signals += 1;
        std::thread::sleep(Duration::from_micros(soak.rng.below(200)));
    }
    // Lines written after the last rename go to the new log.
    if !wait_until(SETTLE, || count_lines(&log) >= 5) {
        return Err(match gone(soak) {
            Some(why) => format!("after the storm: {why}"),
            None => format!("no lines in the new log {SETTLE:?} after the last rename"),
        });
    }
    if let Some(why) = gone(soak) {
        return Err(format!("after the storm: {why}"));
    }
    check_holds(&pidfile, daemon).map_err(|e| format!("after the storm: {e}"))?;
    soak.stop(daemon, &pidfile, |s| matches!(s, WaitStatus::Exited(_, 0)))?;

    files.push(log.clone());
    let mut numbers: Vec<(u64, usize)> = Vec::new();
    for (k, file) in files.iter().enumerate() {
        numbers.extend(line_numbers(file)?.into_iter().map(|n| (n, k)));
    }
    stats.lines += numbers.len();
    if !read(&log).ends_with("stop requested\n") {
        return Err("the last log does not end with `stop requested`".to_owned());
    }
    if let Some(at) = (0..numbers.len()).find(|&i| numbers[i].0 != i as u64 + 1) {
        let around: Vec<String> = numbers[at.saturating_sub(2)..(at + 3).min(numbers.len())]
            .iter()
            .map(|(n, k)| format!("line {n} in {}", name(&files[*k])))
            .collect();
        return Err(format!("line {} expected, found {around:?}", at as u64 + 1));
    }
    Ok(())
}

/// The numbers of the `line N` lines of `path`, in order; any line that is neither one nor
/// the daemon's first or last line is an error.
fn line_numbers(path: &Path) -> Result<Vec<u64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", name(path)))?;
    let mut numbers = Vec::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("line ") {
            let n = n
                .parse()
                .map_err(|_| format!("garbled line {line:?} in {}", name(path)))?;
            numbers.push(n);
        } else if !(line.starts_with("service pid=") || line == "stop requested") {
            return Err(format!("unexpected line {line:?} in {}", name(path)));
        }
    }
    Ok(numbers)
}

/// How many `line N` lines `path` holds so far (0 if it does not exist).
fn count_lines(path: &Path) -> usize {
    read(path).matches("line ").count()
}

fn name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}
