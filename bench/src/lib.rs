//! The job every program of the benchmark does, and the little they share to do it.
//!
//! Each program takes `--pidfile PATH --log PATH [--linger SECONDS]` and:
//!
//! 1. daemonizes with one crate (`nofork`, the baseline, does not);
//! 2. has its PID and a newline written to the PID file, by the crate where it writes PID
//!    files, else by [`write_pidfile`];
//! 3. where the crate has a readiness handshake, tells the starting command it is ready;
//! 4. appends one line, `<pid> started`, to the log: through stdout where the crate redirects
//!    it to a file, else with [`append_log`];
//! 5. sleeps `--linger` seconds (default 10) and exits. The benchmark ends it sooner, by PID,
//!    with SIGTERM; the linger only bounds how long a daemon can outlive a failed benchmark.
//!
//! The benchmark's harness, `benches/compare`, starts them and measures from outside.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The mode of the PID file: what daemon-rt, daemonize and blivet create it with.
const PIDFILE_MODE: u32 = 0o644;

/// The mode of the log, before the umask.
const LOG_MODE: u32 = 0o640;

/// How long a program sleeps after its job unless `--linger` says otherwise.
const DEFAULT_LINGER: Duration = Duration::from_secs(10);

/// The command line of a benchmark program.
#[derive(Debug)]
pub struct Job {
    /// `--pidfile`: where the daemon's PID goes.
    pub pidfile: PathBuf,
    /// `--log`: the file the `<pid> started` line is appended to.
    pub log: PathBuf,
    /// `--linger`: how long the program sleeps after its job, if given.
    pub linger: Option<Duration>,
}

/// The command line, parsed on first use. A bad one ends the program with status 1 and one
/// line on stderr; the starting process parses it before daemonizing.
pub fn job() -> &'static Job {
    static JOB: OnceLock<Job> = OnceLock::new();
    JOB.get_or_init(|| parse().unwrap_or_else(|message| fail(&message)))
}

fn parse() -> Result<Job, String> {
    let (mut pidfile, mut log, mut linger) = (None, None, None);
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{} needs a value", arg.display()))?;
        match arg.to_str() {
            Some("--pidfile") => pidfile = Some(PathBuf::from(value)),
            Some("--log") => log = Some(PathBuf::from(value)),
            Some("--linger") => {
                let seconds = value
                    .to_str()
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| {
                        format!("--linger {}: not a number of seconds", value.display())
                    })?;
                linger = Some(Duration::from_secs(seconds));
            }
            _ => return Err(format!("unknown argument {}", arg.display())),
        }
    }
    Ok(Job {
        pidfile: pidfile.ok_or("--pidfile is required")?,
        log: log.ok_or("--log is required")?,
        linger,
    })
}

/// The line a program appends to its log: its PID and `started`, with a newline.
pub fn log_line() -> String {
    format!("{} started\n", std::process::id())
}

/// Writes this process's PID and a newline to `path`, created with mode 0644 or emptied, in
/// one `write`: what a program does whose crate writes no PID file.
pub fn write_pidfile(path: &Path) {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PIDFILE_MODE)
        .open(path)
        .and_then(|mut file| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .unwrap_or_else(|e| fail(&format!("writing {}: {e}", path.display())));
}

/// Appends [`log_line`] to `path`, created with mode 0640 if missing, in one `write`.
pub fn append_log(path: &Path) {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_MODE)
        .open(path)
        .and_then(|mut file| file.write_all(log_line().as_bytes()))
        .unwrap_or_else(|e| fail(&format!("appending to {}: {e}", path.display())));
}

/// Sleeps for `--linger` (10 s if not given), then returns: the program exits.
pub fn linger() {
    std::thread::sleep(job().linger.unwrap_or(DEFAULT_LINGER));
}

/// Ends the program with status 1 after one line on stderr that names it. In a daemon whose
/// stderr is `/dev/null` the line is lost, and the benchmark reports the missing PID file.
pub fn fail(message: &str) -> ! {
    let program = std::env::args().next().unwrap_or_default();
    let name = Path::new(&program)
        .file_name()
        .map_or("daemon-bench".into(), |name| name.to_string_lossy());
    eprintln!("{name}: {message}");
    std::process::exit(1)
}
