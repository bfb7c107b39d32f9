//! A daemon for the integration tests, written with `#[daemon]` and configured from its own
//! arguments, the way a tool converted to a daemon takes its PID file path from its CLI.
//!
//! `fixture [--pidfile P] [--stdout P] [--stderr P] [--stdin P] [--workdir D] [--umask OCTAL]
//!  [--preserve-fd N]... [--spawn-thread] [--print-before TEXT] [--exit-after-ms N]
//!  [--chain-sigterm] [--panic-on-started] [--fail] [--gate-fd N] [--tag ANY]`
//!
//! The body prints one line to stdout and one to stderr, then sleeps until it is signalled
//! or `--exit-after-ms` has passed. `--chain-sigterm` makes the body install its own SIGTERM
//! handler that chains to the one it replaces, as signal-hook and tokio do, and return from
//! `main` when it fires. `--panic-on-started` makes the `on_started` hook panic. `--fail` makes `main` return an
//! error once `--exit-after-ms` has passed. `--spawn-thread` and `--print-before` act while the
//! arguments are read, which is before daemonizing; so does `--gate-fd`, which blocks until the
//! inherited descriptor N (a pipe's read end) reaches end of file, so that the soak can hold
//! many starts there and release them into the PID file's lock at once. `--tag` is ignored:
//! tests put their temporary directory there so they can find any process of theirs by its
//! command line.
//!
//! A path may hold any byte but NUL, as any program's argument may; `\0` in a path stands
//! for a NUL byte, so the tests can pass one (see `cli.rs`).

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{FromRawFd as _, RawFd};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

#[path = "../cli.rs"]
mod cli;

/// The parsed command line.
struct Opts {
    pidfile: Option<PathBuf>,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
    stdin: Option<PathBuf>,
    workdir: Option<PathBuf>,
    umask: u32,
    preserve_fds: Vec<i32>,
    exit_after: Option<Duration>,
    chain_sigterm: bool,
    panic_on_started: bool,
    fail: bool,
}

/// The command line, read once, on first use: in the attribute's arguments.
fn opts() -> &'static Opts {
    static OPTS: OnceLock<Opts> = OnceLock::new();
    OPTS.get_or_init(parse)
}

fn parse() -> Opts {
    let mut opts = Opts {
        pidfile: None,
        stdout: None,
        stderr: None,
        stdin: None,
        workdir: None,
        umask: daemon_rt::DEFAULT_UMASK,
        preserve_fds: Vec::new(),
        exit_after: None,
        chain_sigterm: false,
        panic_on_started: false,
        fail: false,
    };
    let mut args = std::env::args_os().skip(1).map(cli::decode);
    while let Some(arg) = args.next() {
        let arg = cli::text(arg);
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--pidfile" => opts.pidfile = Some(value().into()),
            "--stdout" => opts.stdout = Some(value().into()),
            "--stderr" => opts.stderr = Some(value().into()),
            "--stdin" => opts.stdin = Some(value().into()),
            "--workdir" => opts.workdir = Some(value().into()),
            "--umask" => {
                opts.umask = u32::from_str_radix(&cli::text(value()), 8).expect("octal umask")
            }
            "--preserve-fd" => opts
                .preserve_fds
                .push(cli::text(value()).parse().expect("fd number")),
            "--spawn-thread" => {
                std::thread::spawn(|| std::thread::sleep(Duration::from_secs(60)));
            }
            "--print-before" => print!("{}", cli::text(value())),
            "--exit-after-ms" => {
                let ms = cli::text(value()).parse().expect("milliseconds");
                opts.exit_after = Some(Duration::from_millis(ms));
            }
            "--chain-sigterm" => opts.chain_sigterm = true,
            "--panic-on-started" => opts.panic_on_started = true,
            "--fail" => opts.fail = true,
            "--gate-fd" => wait_at_gate(cli::text(value()).parse().expect("fd number")),
            "--tag" => drop(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    opts
}

#[daemon_rt::daemon(
    pidfile = &opts().pidfile,
    stdout = &opts().stdout,
    stderr = &opts().stderr,
    stdin = &opts().stdin,
    working_directory = &opts().workdir,
    umask = opts().umask,
    preserve_fds = opts().preserve_fds.iter().map(|&fd| descriptor(fd)),
    on_started = |_| assert!(!opts().panic_on_started, "on_started hook panics as asked"),
)]
fn main() -> Result<(), String> {
    let pid = std::process::id();
    println!("daemon stdout pid={pid}");
    eprintln!("daemon stderr pid={pid}");
    let _ = std::io::stdout().flush();
    if opts().chain_sigterm {
        chain_sigterm();
        println!("sigterm handler installed");
        let _ = std::io::stdout().flush();
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        println!("graceful stop");
        return Ok(());
    }
    match opts().exit_after {
        Some(after) => std::thread::sleep(after),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    if opts().fail {
        return Err("asked to fail".to_owned());
    }
    Ok(())
}

/// Reads the inherited descriptor `fd` until end of file, that is until every copy of the
/// pipe's write end is closed, then closes it.
fn wait_at_gate(fd: RawFd) {
    // SAFETY: `--gate-fd` names a descriptor this process inherited for this purpose only and
    // uses nowhere else; the `File` owns it from here and closes it when dropped.
    let mut gate = unsafe { File::from_raw_fd(fd) };
    std::io::copy(&mut gate, &mut std::io::sink()).expect("read the gate descriptor");
}

/// Set by the chained SIGTERM handler.
static STOP: AtomicBool = AtomicBool::new(false);
/// The handler `chain_sigterm` replaced, which its own handler calls first.
static PREVIOUS: OnceLock<SigHandler> = OnceLock::new();

extern "C" fn on_sigterm(signo: i32) {
    if let Some(SigHandler::Handler(previous)) = PREVIOUS.get() {
        previous(signo);
    }
    STOP.store(true, Ordering::SeqCst);
}

/// Installs a SIGTERM handler that calls the previous one, then asks the body to stop.
fn chain_sigterm() {
    let action = SigAction::new(
        SigHandler::Handler(on_sigterm),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: `on_sigterm` only calls the previous handler (async-signal-safe by contract)
    // and stores to an atomic; PREVIOUS is set right after, before any SIGTERM is sent.
    let previous = unsafe { sigaction(Signal::SIGTERM, &action) }.expect("install SIGTERM handler");
    let _ = PREVIOUS.set(previous.handler());
}

/// The descriptor `--preserve-fd` names, as the API takes it.
fn descriptor(fd: i32) -> std::os::fd::BorrowedFd<'static> {
    assert!(fd >= 0, "--preserve-fd takes a descriptor number, not {fd}");
    // SAFETY: the number stays open for the process's life, as far as this fixture is
    // concerned: it closes nothing. The tests also pass numbers that are not open, on
    // purpose, to see the start refuse them; nothing here uses such a descriptor.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}
