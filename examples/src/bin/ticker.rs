//! The smallest useful daemon: writes a numbered line to its log every second.
//!
//! `cargo run -p daemon-examples --bin ticker [DIR]` starts it with its PID file and log in
//! DIR (by default `daemon-rt-ticker` under the temporary directory), prints where they are
//! and how to stop it, and returns once the daemon is up.

use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("daemon-rt-ticker"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("ticker: cannot create directory `{}`: {e}", dir.display());
        std::process::exit(73);
    }
    let pidfile = dir.join("ticker.pid");
    let log = dir.join("ticker.log");

    let shown_log = log.clone();
    let running = daemon_rt::Daemon::new()
        .pidfile(&pidfile)
        .stdout(&log)
        .stderr(&log)
        .on_started(move |started| {
            let pid = started.pid();
            let pidfile = started
                .pidfile()
                .expect("a PID file was configured")
                .display();
            let log = shown_log.display();
            println!("ticker: running as PID {pid}");
            println!("  PID file  {pidfile}");
            println!("  log       {log}");
            println!("  look      ps -o pid,ppid,pgid,sid,tty,stat,cmd -p {pid}; tail -f {log}");
            println!("  stop      kill $(cat {pidfile})");
        })
        .start()
        .unwrap_or_else(|e| e.exit());

    println!("ticker {} started", running.pid());
    for n in 1.. {
        println!("tick {n}");
        std::thread::sleep(Duration::from_secs(1));
    }
}
