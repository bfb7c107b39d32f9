//! A daemon for the integration tests, configured from its arguments so that each test can
//! ask for one option and check the result from outside the process.
//!
//! `fixture [--pidfile P] [--stdout P] [--stderr P] [--stdin P] [--workdir D] [--umask OCTAL]
//!  [--preserve-fd N]... [--spawn-thread] [--print-before TEXT] [--exit-after-ms N]
//!  [--tag ANY]`
//!
//! The body prints one line to stdout and one to stderr, then sleeps until it is signalled
//! or `--exit-after-ms` has passed. `--tag` is ignored: tests put their temporary directory
//! there so they can find any process of theirs by its command line.

use std::io::Write as _;
use std::time::Duration;

fn main() {
    let mut daemon = daemon_rt::Daemon::new();
    let mut exit_after = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        daemon = match arg.as_str() {
            "--pidfile" => daemon.pidfile(value()),
            "--stdout" => daemon.stdout(value()),
            "--stderr" => daemon.stderr(value()),
            "--stdin" => daemon.stdin(value()),
            "--workdir" => daemon.working_directory(value()),
            "--umask" => daemon.umask(u32::from_str_radix(&value(), 8).expect("octal umask")),
            "--preserve-fd" => daemon.preserve_fds([value().parse().expect("fd number")]),
            "--spawn-thread" => {
                std::thread::spawn(|| std::thread::sleep(Duration::from_secs(60)));
                daemon
            }
            "--print-before" => {
                print!("{}", value());
                daemon
            }
            "--exit-after-ms" => {
                exit_after = Some(Duration::from_millis(
                    value().parse().expect("milliseconds"),
                ));
                daemon
            }
            "--tag" => {
                value();
                daemon
            }
            other => panic!("unknown argument {other}"),
        };
    }

    let running = daemon.start().unwrap_or_else(|e| e.exit());

    println!("daemon stdout pid={}", running.pid());
    eprintln!("daemon stderr pid={}", running.pid());
    let _ = std::io::stdout().flush();
    match exit_after {
        Some(after) => std::thread::sleep(after),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
}
