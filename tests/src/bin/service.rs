//! A daemon for the tests of life under a service manager, written with `#[daemon]` and
//! `ready = "manual"`: it reports ready only when its body says so.
//!
//! `service [start|stop|status|restart|reload] [--pidfile P] [--stdout P] [--stderr P]
//!  [--workdir D] [--foreground] [--user U] [--group G] [--chroot D] [--ready-timeout-ms N|max]
//!  [--reopen-on none|usr1|term|int|kill|stop] [--control] [--print-pid] [--before-ready ACTION] [--status TEXT]
//!  [--try-setuid0] [--child-env] [--listen poll|wait|fd] [--lines] [--exit-after-ms N]
//!  [--stdin P] [--lax-paths] [--errno-watch] [--fork auto|always|never] [--notify-fd N]
//!  [--orphan] [--tag ANY] [--reload poll|wait|fd] [--reload-delay-ms N] [--pings N]
//!  [--extend-ms N]`
//!
//! The body prints `service pid=N`, then does ACTION before calling `daemon_rt::ready()`:
//! `fail` (returns an error), `panic`, `exit` (`process::exit(3)`), `hang` (never ready),
//! `sleep:MS`, or `bind:ADDR` (binds a TCP listener, failing if the address is taken).
//! After ready it sets `--status`, reports whether `setuid(0)` works with `--try-setuid0`,
//! runs a shell child that prints `child NOTIFY_SOCKET=<value or unset>` with `--child-env`,
//! then waits. With `--listen`, it asks for stop requests (`stop_requested` polled, `wait_for_stop`,
//! or `poll(2)` on `stop_fd`), prints `stop requested` and returns; `--lines` writes numbered
//! lines to stdout (`line 1`, `line 2`, ...) while it waits. Without `--listen`, it sleeps
//! until a signal ends it or `--exit-after-ms` passes. The first argument may be a control
//! command, for `--control`. `--lax-paths` is `strict_paths = false`. `--errno-watch` sets
//! `errno` after ready and watches it until a stop is requested, then prints on stderr how
//! often a signal handler changed it. `--fork` is the `fork` argument, `--notify-fd` the
//! `notify_fd` one. `--orphan` (after ready) runs `sh -c 'sleep 0.1 &'`, which leaves an
//! orphan behind, waits a second, and prints `zombies=N`, the number of zombie processes in
//! `/proc`. `--tag` is ignored (the tests find their processes by
//! it).
//!
//! `--extend-ms` calls `extend_timeout` before ready. After ready, `--pings N` prints
//! `watchdog=<interval in µs, or none>` and calls `watchdog_ping` N times, 10 ms apart.
//! `--reload` asks for reload requests (`reload_requested` polled, `wait_for_reload`, or
//! `poll(2)` on `reload_fd` and `stop_fd`): for each it prints `reload N`, sleeps
//! `--reload-delay-ms`, calls `reloaded`, prints `reloaded N`; on a stop request it prints
//! `stop requested` and returns.
//!
//! A path may hold any byte but NUL, as any program's argument may; `\0` in a path, a user or
//! a group stands for a NUL byte, so the tests can pass one (see `cli.rs`).

use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

#[path = "../cli.rs"]
mod cli;

/// The parsed command line.
#[derive(Default)]
struct Opts {
    pidfile: Option<PathBuf>,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
    workdir: Option<PathBuf>,
    foreground: bool,
    user: Option<String>,
    group: Option<String>,
    chroot: Option<PathBuf>,
    ready_timeout: Option<Duration>,
    reopen_on: Option<Option<daemon_rt::Signal>>,
    control: bool,
    print_pid: bool,
    before_ready: Option<String>,
    status: Option<String>,
    try_setuid0: bool,
    child_env: bool,
    listen: Option<String>,
    lines: bool,
    exit_after: Option<Duration>,
    stdin: Option<PathBuf>,
    lax_paths: bool,
    errno_watch: bool,
    fork: Option<daemon_rt::Fork>,
    notify_fd: Option<i32>,
    orphan: bool,
    reload: Option<String>,
    reload_delay: Option<Duration>,
    pings: Option<u32>,
    extend: Option<Duration>,
}

/// The command line, read once, in the attribute's arguments.
fn opts() -> &'static Opts {
    static OPTS: OnceLock<Opts> = OnceLock::new();
    OPTS.get_or_init(parse)
}

fn parse() -> Opts {
    let mut opts = Opts::default();
    let mut args = std::env::args_os().skip(1).map(cli::decode).peekable();
    let commands = ["start", "stop", "status", "restart", "reload", "bogus"];
    if args
        .peek()
        .is_some_and(|a| commands.iter().any(|c| a.as_os_str() == *c))
    {
        args.next();
    }
    // `max`: `Duration::MAX`, the "wait forever" a program may pass.
    let ms = |v: String| match v.as_str() {
        "max" => Duration::MAX,
        _ => Duration::from_millis(v.parse().expect("milliseconds")),
    };
    while let Some(arg) = args.next() {
        let arg = cli::text(arg);
        let mut raw = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--pidfile" => opts.pidfile = Some(raw().into()),
            "--stdout" => opts.stdout = Some(raw().into()),
            "--stderr" => opts.stderr = Some(raw().into()),
            "--workdir" => opts.workdir = Some(raw().into()),
            "--foreground" => opts.foreground = true,
            "--user" => opts.user = Some(cli::text(raw())),
            "--group" => opts.group = Some(cli::text(raw())),
            "--chroot" => opts.chroot = Some(raw().into()),
            "--ready-timeout-ms" => opts.ready_timeout = Some(ms(cli::text(raw()))),
            "--reopen-on" => {
                // The last four are refused by the start: the tests check that they are.
                use daemon_rt::Signal as S;
                opts.reopen_on = Some(match cli::text(raw()).as_str() {
                    "none" => None,
                    "usr1" => Some(S::SIGUSR1),
                    "term" => Some(S::SIGTERM),
                    "int" => Some(S::SIGINT),
                    "kill" => Some(S::SIGKILL),
                    "stop" => Some(S::SIGSTOP),
                    other => panic!("unknown signal {other}"),
                })
            }
            "--control" => opts.control = true,
            "--print-pid" => opts.print_pid = true,
            "--before-ready" => opts.before_ready = Some(cli::text(raw())),
            "--status" => opts.status = Some(cli::text(raw())),
            "--try-setuid0" => opts.try_setuid0 = true,
            "--child-env" => opts.child_env = true,
            "--listen" => opts.listen = Some(cli::text(raw())),
            "--lines" => opts.lines = true,
            "--exit-after-ms" => opts.exit_after = Some(ms(cli::text(raw()))),
            "--stdin" => opts.stdin = Some(raw().into()),
            "--lax-paths" => opts.lax_paths = true,
            "--errno-watch" => opts.errno_watch = true,
            "--fork" => {
                opts.fork = Some(match cli::text(raw()).as_str() {
                    "auto" => daemon_rt::Fork::Auto,
                    "always" => daemon_rt::Fork::Always,
                    "never" => daemon_rt::Fork::Never,
                    other => panic!("unknown --fork {other}"),
                })
            }
            "--notify-fd" => opts.notify_fd = Some(cli::text(raw()).parse().expect("a number")),
            "--orphan" => opts.orphan = true,
            "--tag" => drop(raw()),
            "--reload" => opts.reload = Some(cli::text(raw())),
            "--reload-delay-ms" => opts.reload_delay = Some(ms(cli::text(raw()))),
            "--pings" => opts.pings = Some(cli::text(raw()).parse().expect("a count")),
            "--extend-ms" => opts.extend = Some(ms(cli::text(raw()))),
            other => panic!("unknown argument {other}"),
        }
    }
    opts
}

/// The `reopen_logs` value: SIGHUP unless `--reopen-on` says otherwise.
fn reopen_on() -> Option<daemon_rt::Signal> {
    opts().reopen_on.unwrap_or(Some(daemon_rt::Signal::SIGHUP))
}

#[daemon_rt::daemon(
    pidfile = &opts().pidfile,
    stdout = &opts().stdout,
    stderr = &opts().stderr,
    working_directory = &opts().workdir,
    foreground = opts().foreground,
    user = &opts().user,
    group = &opts().group,
    chroot = &opts().chroot,
    ready = "manual",
    ready_timeout = opts().ready_timeout.unwrap_or(daemon_rt::DEFAULT_READY_TIMEOUT),
    reopen_logs = reopen_on(),
    control = opts().control,
    print_pid = opts().print_pid,
    stdin = &opts().stdin,
    strict_paths = !opts().lax_paths,
    fork = opts().fork.unwrap_or_default(),
    notify_fd = opts().notify_fd,
)]
fn main() -> Result<(), String> {
    say(&format!("service pid={}", std::process::id()));
    if let Some(by) = opts().extend {
        daemon_rt::extend_timeout(by);
    }
    match opts().before_ready.as_deref() {
        None => {}
        Some("fail") => return Err("cannot load the configuration: line 3 is broken".to_owned()),
        Some("panic") => panic!("the configuration is missing"),
        Some("exit") => std::process::exit(3),
        Some("hang") => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        Some(other) => {
            if let Some(ms) = other.strip_prefix("sleep:") {
                std::thread::sleep(Duration::from_millis(ms.parse().expect("milliseconds")));
            } else if let Some(addr) = other.strip_prefix("bind:") {
                let listener = std::net::TcpListener::bind(addr)
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                std::mem::forget(listener);
            } else {
                panic!("unknown --before-ready {other}");
            }
        }
    }
    daemon_rt::ready();
    if let Some(status) = &opts().status {
        daemon_rt::set_status(status);
    }
    if opts().try_setuid0 {
        match nix::unistd::setuid(nix::unistd::Uid::from_raw(0)) {
            Ok(()) => say("setuid(0) succeeded"),
            Err(e) => say(&format!("setuid(0) failed: {e:?}")),
        }
    }
    if opts().child_env {
        let script = "echo \"child NOTIFY_SOCKET=${NOTIFY_SOCKET-unset}\"; \
            echo \"child WATCHDOG_USEC=${WATCHDOG_USEC-unset} WATCHDOG_PID=${WATCHDOG_PID-unset}\"";
        let ran = std::process::Command::new("/bin/sh")
            .args(["-c", script])
            .status();
        ran.map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    }
    if opts().orphan {
        orphan()?;
    }
    if let Some(n) = opts().pings {
        match daemon_rt::watchdog_interval() {
            Some(interval) => say(&format!("watchdog={}", interval.as_micros())),
            None => say("watchdog=none"),
        }
        for _ in 0..n {
            daemon_rt::watchdog_ping();
            std::thread::sleep(Duration::from_millis(10));
        }
        say("pings sent");
    }
    if let Some(mode) = &opts().reload {
        reload_loop(mode);
        say("stop requested");
        return Ok(());
    }
    if opts().errno_watch {
        errno_watch();
        return Ok(());
    }
    match opts().listen.as_deref() {
        None => match opts().exit_after {
            Some(after) => std::thread::sleep(after),
            None => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
        },
        Some("poll") => {
            let mut n = 0u64;
            while !daemon_rt::stop_requested() {
                if opts().lines {
                    n += 1;
                    say(&format!("line {n}"));
                    std::thread::sleep(Duration::from_micros(200));
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        Some("wait") => {
            say("waiting for stop");
            daemon_rt::wait_for_stop();
        }
        Some("fd") => {
            let fd = daemon_rt::stop_fd();
            say("polling the stop fd");
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            while poll(&mut fds, PollTimeout::NONE) != Ok(1) {}
        }
        Some(other) => panic!("unknown --listen {other}"),
    }
    say("stop requested");
    Ok(())
}

/// Answers reload requests the way `--reload` says until a stop is requested.
fn reload_loop(mode: &str) {
    let mut n = 0u64;
    let mut answer = || {
        n += 1;
        say(&format!("reload {n}"));
        if let Some(delay) = opts().reload_delay {
            std::thread::sleep(delay);
        }
        daemon_rt::reloaded();
        say(&format!("reloaded {n}"));
    };
    match mode {
        "poll" => {
            let _ = daemon_rt::reload_requested();
            say("polling for reload");
            while !daemon_rt::stop_requested() {
                if daemon_rt::reload_requested() {
                    answer();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        "wait" => {
            // A stop keeps its default: SIGTERM ends the process.
            say("waiting for reload");
            loop {
                daemon_rt::wait_for_reload();
                answer();
            }
        }
        "fd" => {
            let (reload, stop) = (daemon_rt::reload_fd(), daemon_rt::stop_fd());
            say("polling the reload fd");
            loop {
                let mut fds = [
                    PollFd::new(reload, PollFlags::POLLIN),
                    PollFd::new(stop, PollFlags::POLLIN),
                ];
                let _ = poll(&mut fds, PollTimeout::NONE);
                if daemon_rt::stop_requested() {
                    return;
                }
                if daemon_rt::reload_requested() {
                    answer();
                }
            }
        }
        other => panic!("unknown --reload {other}"),
    }
}

/// Leaves an orphan (a `sleep` whose shell has exited) and, a second later, counts the
/// zombies in `/proc`: none where an init reaps them.
fn orphan() -> Result<(), String> {
    let ran = std::process::Command::new("/bin/sh")
        .args(["-c", "sleep 0.1 &"])
        .status();
    ran.map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    std::thread::sleep(Duration::from_secs(1));
    let zombies = std::fs::read_dir("/proc")
        .map_err(|e| format!("cannot read /proc: {e}"))?
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .count();
    say(&format!("zombies={zombies}"));
    Ok(())
}

/// Prints one line to stdout, at once, as a daemon should: never panicking on a full disk.
fn say(line: &str) {
    daemon_rt::println!("{line}");
}

/// Sets `errno` once and watches it until a stop is requested: a signal handler that
/// changes it is seen at the next look. Prints on stderr how often it changed.
fn errno_watch() {
    use nix::errno::Errno;
    const MARK: i32 = 4242;
    let _ = daemon_rt::stop_requested(); // listens now: later calls are one atomic load
    say("watching errno");
    let (mut looks, mut changed) = (0u64, 0u64);
    Errno::set_raw(MARK);
    while !daemon_rt::stop_requested() {
        for _ in 0..10_000 {
            looks += 1;
            if Errno::last_raw() != MARK {
                changed += 1;
                Errno::set_raw(MARK);
            }
        }
    }
    daemon_rt::eprintln!("errno changed {changed} times in {looks} looks");
}
