//! A daemon for the log-target tests: `logs STDOUT STDERR PIDFILE [--tag ANY]`, where STDOUT
//! and STDERR are `syslog`, `journal` or a path (a path named `syslog` is written `./syslog`).
//!
//! The body writes the lines the tests expect, in the ways programs write them: std's
//! `println!` (one `write` per line: std's stdout is line-buffered), a line in two `print!`s,
//! `daemon_rt::println!`, two lines in one `write`, a line longer than one message, an empty
//! line, and `eprintln!` lines. Then it waits for SIGTERM, and writes a last line without its
//! newline before it returns.

use std::io::Write as _;
use std::path::PathBuf;

use daemon_rt::Output;

fn arg(n: usize) -> String {
    std::env::args().nth(n).expect("logs STDOUT STDERR PIDFILE")
}

fn output(n: usize) -> Output {
    match arg(n).as_str() {
        "syslog" => Output::Syslog,
        "journal" => Output::Journal,
        path => Output::File(PathBuf::from(path)),
    }
}

#[daemon_rt::daemon(pidfile = arg(3), stdout = output(1), stderr = output(2))]
fn main() {
    println!("std println");
    print!("one line ");
    print!("in two print!s\n");
    daemon_rt::println!("daemon_rt println");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(b"two lines\nin one write\n");
    let _ = writeln!(out, "{}", "x".repeat(9000));
    let _ = writeln!(out);
    let _ = out.flush();
    drop(out);
    eprintln!("std eprintln");
    daemon_rt::eprintln!("daemon_rt eprintln");
    daemon_rt::wait_for_stop();
    print!("last words, no newline");
    let _ = std::io::stdout().flush();
}
