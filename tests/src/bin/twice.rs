//! A tool that calls its `#[daemon]` function twice in one process, as a loop or two
//! subcommands would, for the test that the second start is refused: a process daemonizes
//! once.
//!
//! `twice PIDFILE LOG [--foreground] [--tag ANY]`: calls `serve` twice; each call writes
//! `round N as PID` to the log (its stderr), then returns.

use std::path::PathBuf;

#[daemon_rt::daemon(pidfile = pidfile, stderr = log, foreground = foreground)]
fn serve(pidfile: PathBuf, log: PathBuf, foreground: bool, round: u32) {
    let _ = (&pidfile, &log, foreground);
    eprintln!("round {round} as {}", std::process::id());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let foreground = args.iter().any(|a| a == "--foreground");
    for round in 0..2 {
        serve(
            PathBuf::from(&args[1]),
            PathBuf::from(&args[2]),
            foreground,
            round,
        );
    }
}
