//! A tokio daemon that logs the time every half second and stops gracefully on SIGTERM.
//!
//! `cargo run -p daemon-examples --bin clock [DIR]` starts it with `clock.pid` and
//! `clock.log` in DIR (by default `daemon-rt-clock` under the temporary directory).
//!
//! Here `#[tokio::main]` sits above `#[daemon_rt::daemon]`: tokio turns the `async fn` into a
//! plain `main` that builds its runtime, and `#[daemon]` daemonizes at the top of that `main`,
//! before the runtime and its threads exist. (`examples/echo` shows the other order.)
//!
//! SIGTERM is handled by the program itself, through `tokio::signal`: it logs that it stops
//! and returns from `main`, which removes the PID file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// Lines to the log that never panic: a full disk loses lines, counted, not the daemon.
use daemon_rt::{eprintln, println};

use tokio::signal::unix::{SignalKind, signal};

/// DIR, made absolute and created on first use, in the attribute's arguments.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::args_os()
            .nth(1)
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("daemon-rt-clock"));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("clock: cannot create directory `{}`: {e}", dir.display());
            std::process::exit(73); // EX_CANTCREAT
        }
        std::path::absolute(&dir).unwrap_or(dir)
    })
}

#[tokio::main]
#[daemon_rt::daemon(
    pidfile = dir().join("clock.pid"),
    stdout = dir().join("clock.log"),
    stderr = dir().join("clock.log"),
    on_started = |started| {
        let pidfile = started.pidfile().map(Path::display);
        println!("clock: running as PID {}; stop it with: kill $(cat {})", started.pid(), pidfile.unwrap());
    },
)]
async fn main() -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut every = tokio::time::interval(Duration::from_millis(500));
    println!("clock {} started", std::process::id());
    loop {
        tokio::select! {
            _ = every.tick() => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                println!("time {}", now.as_secs());
            }
            _ = terminate.recv() => {
                println!("SIGTERM: stopping");
                return Ok(());
            }
        }
    }
}
