//! A daemon for `broken3.rs`: `lines3 PIDFILE [--tag ANY]`, standard output to syslog.
//!
//! It writes a line of exactly 8 KiB in two writes (the bytes, then a while later the
//! newline, as `print!` in parts or a `LineWriter` writing a long line does), then `after`,
//! then `tick` every 100 ms until SIGTERM. Before that it writes into `PIDFILE.children`
//! whether it has a child process at all (`waitpid(-1, WNOHANG)`): it started none.

use std::io::Write as _;
use std::time::Duration;

fn pidfile() -> String {
    std::env::args().nth(1).expect("lines3 PIDFILE")
}

#[daemon_rt::daemon(pidfile = pidfile(), stdout = daemon_rt::Output::Syslog)]
fn main() {
    let children = match nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        Err(nix::errno::Errno::ECHILD) => "none".to_owned(),
        other => format!("some: {other:?}"),
    };
    let _ = std::fs::write(format!("{}.children", pidfile()), children);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&[b'a'; 8192]);
    let _ = out.flush();
    drop(out);
    std::thread::sleep(Duration::from_millis(300));
    println!();
    println!("after");
    while !daemon_rt::stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
        println!("tick");
    }
}
