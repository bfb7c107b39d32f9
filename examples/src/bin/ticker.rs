//! The smallest useful daemon: writes a numbered line to its log every second.
//!
//! `cargo run -p daemon-examples --bin ticker [--foreground] [--logs LOGDIR] [DIR]` starts it
//! with its PID file and log in DIR (by default `daemon-rt-ticker` under the temporary
//! directory), prints where they are and how to stop it, and returns once the daemon is up.
//! `--logs` puts the log in LOGDIR instead: under systemd, `RuntimeDirectory=` (DIR) is
//! deleted at every stop, `LogsDirectory=` is kept. `--foreground` runs
//! it without forking (systemd's `Type=simple`), writing to the terminal instead of the log;
//! under systemd's `Type=notify` it stays in the foreground by itself. SIGTERM or SIGINT
//! make it finish the current tick and stop, with its PID file removed. SIGHUP reopens its
//! log. Each tick pings systemd's watchdog, if the unit has one. The unit files
//! beside this example (`examples/systemd/`) run it under systemd.
//!
//! Everything the attribute needs comes from the small functions below, called in its
//! arguments: they run in the starting process, before daemonizing, so a directory that
//! cannot be created is reported on the user's terminal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

// Lines to the log that never panic: a full disk loses lines, counted, not the daemon.
use daemon_rt::{eprintln, println};

/// DIR, created if missing, made absolute; on failure, one line on stderr and exit status 73
/// (`EX_CANTCREAT`), the status `daemon-rt` gives a PID file or log it cannot create.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut args = std::env::args_os().skip(1);
        let mut dir = None;
        while let Some(arg) = args.next() {
            match arg.to_str() {
                Some("--foreground") => {}
                Some("--logs") => drop(args.next()),
                _ => dir = dir.or(Some(PathBuf::from(arg))),
            }
        }
        created(dir.unwrap_or_else(|| std::env::temp_dir().join("daemon-rt-ticker")))
    })
}

/// LOGDIR of `--logs`, created if missing, made absolute; DIR without it.
fn log_dir() -> &'static Path {
    static LOGS: OnceLock<Option<PathBuf>> = OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let mut args = std::env::args_os().skip_while(|a| a != "--logs");
        args.nth(1).map(|logs| created(logs.into()))
    });
    logs.as_deref().unwrap_or_else(dir)
}

/// `dir`, created if missing and made absolute; on failure, one line on stderr and exit 73.
fn created(dir: PathBuf) -> PathBuf {
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("ticker: cannot create directory `{}`: {e}", dir.display());
        std::process::exit(73);
    }
    // Absolute, so the paths printed for the user agree with the PID file's.
    std::path::absolute(&dir).unwrap_or(dir)
}

fn pidfile() -> PathBuf {
    dir().join("ticker.pid")
}

fn log() -> PathBuf {
    log_dir().join("ticker.log")
}

fn foreground() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--foreground")
}

/// The log, unless `--foreground` keeps the output on the terminal.
fn output() -> Option<PathBuf> {
    (!foreground()).then(log)
}

/// Runs in the starting process once the daemon is up: where it is and how to stop it.
///
/// The daemon is up whatever happens to this output, so a failed write (stdout a closed pipe)
/// is ignored: `println!` would panic, and the start would end with status 101.
fn announce(started: &daemon_rt::Started) {
    let _ = write_announcement(&mut std::io::stdout().lock(), started);
}

fn write_announcement(out: &mut impl Write, started: &daemon_rt::Started) -> std::io::Result<()> {
    let pid = started.pid();
    let pidfile = started.pidfile().map_or_else(pidfile, Path::to_path_buf);
    let pidfile = pidfile.display();
    let log = log();
    let log = log.display();
    writeln!(out, "ticker: running as PID {pid}")?;
    writeln!(out, "  PID file  {pidfile}")?;
    writeln!(out, "  log       {log}")?;
    writeln!(
        out,
        "  look      ps -o pid,ppid,pgid,sid,tty,stat,cmd -p {pid}; tail -f {log}"
    )?;
    writeln!(out, "  stop      kill $(cat {pidfile})")?;
    writeln!(
        out,
        "  rotate    mv {log} {log}.1; kill -HUP $(cat {pidfile})"
    )?;
    out.flush()
}

#[daemon_rt::daemon(
    pidfile = pidfile(),
    stdout = output(),
    stderr = output(),
    foreground = foreground(),
    on_started = announce,
)]
fn main() {
    println!("ticker {} started", std::process::id());
    let mut n = 0;
    while !daemon_rt::stop_requested() {
        n += 1;
        println!("tick {n}");
        // Under systemd's `WatchdogSec=`: this loop is alive. Nothing is sent without one.
        daemon_rt::watchdog_ping();
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("ticker: stopping after {n} ticks");
}
