//! The baseline of the `startup` benchmark: the file work the fixture daemon does, without
//! forking.
//!
//! `nofork [--pidfile P] [--stdout P] [--stderr P] [--tag ANY]`
//!
//! It opens the PID file (created if missing, mode `0o644`, never through a symbolic link),
//! locks it, writes its own PID and a newline, appends the fixture's stdout line to the stdout
//! log and its stderr line to the stderr log, removes the PID file and exits 0. What the
//! fixture's start costs beyond this is the cost of daemonizing: the two forks, the readiness
//! pipe, the signal reset and the descriptor cleanup. `--tag` is ignored, as by the fixture.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The mode of the PID file, as daemon-rt creates it.
const PIDFILE_MODE: u32 = 0o644;

/// The mode of a log file, as daemon-rt creates it (before the umask).
const LOG_MODE: u32 = 0o640;

/// The files named on the command line.
#[derive(Debug, Default)]
struct Args {
    pidfile: Option<PathBuf>,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nofork: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let pid = std::process::id();
    let pidfile = match &args.pidfile {
        Some(path) => Some((path, lock_pidfile(path, pid)?)),
        None => None,
    };
    if let Some(path) = &args.stdout {
        append_line(path, &format!("daemon stdout pid={pid}"))?;
    }
    if let Some(path) = &args.stderr {
        append_line(path, &format!("daemon stderr pid={pid}"))?;
    }
    // Removed while the lock is still held, as the daemon does when it ends.
    if let Some((path, file)) = pidfile {
        std::fs::remove_file(path).map_err(|e| format!("removing {}: {e}", path.display()))?;
        drop(file);
    }
    Ok(())
}

/// Reads the fixture's flags that name files; any other flag is refused.
fn parse_args() -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{} needs a value", arg.display()))?;
        match arg.to_str() {
            Some("--pidfile") => parsed.pidfile = Some(value.into()),
            Some("--stdout") => parsed.stdout = Some(value.into()),
            Some("--stderr") => parsed.stderr = Some(value.into()),
            Some("--tag") => {}
            _ => return Err(format!("unknown argument {}", arg.display())),
        }
    }
    Ok(parsed)
}

/// Opens and locks the PID file at `path`, then writes `pid` and a newline into it.
fn lock_pidfile(path: &Path, pid: u32) -> Result<File, String> {
    let context = |what: &str, e: &dyn std::fmt::Display| {
        format!("{what} the PID file {}: {e}", path.display())
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        // Not truncated on open: a file another process holds locked is not ours to empty.
        .truncate(false)
        .mode(PIDFILE_MODE)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| context("opening", &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(context("locking", &"locked by another")),
        Err(TryLockError::Error(e)) => return Err(context("locking", &e)),
    }
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{pid}\n").as_bytes()))
        .map_err(|e| context("writing", &e))?;
    Ok(file)
}

/// Appends `line` and a newline to the log file at `path`, creating it if missing.
fn append_line(path: &Path, line: &str) -> Result<(), String> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_MODE)
        .open(path)
        .and_then(|mut file| writeln!(file, "{line}"))
        .map_err(|e| format!("appending to {}: {e}", path.display()))
}
