//! `daemon-rt [OPTIONS] -- PROGRAM ARGS...`: runs any program as a daemon, with every option of
//! the `#[daemon]` attribute as a flag of the same name; `daemon-rt status|stop|reload
//! --pidfile P` act on the PID file.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use daemon_rt::control::{self, Status};
use daemon_rt::{Daemon, Fork, Ready, Signal};

/// Runs PROGRAM as a daemon: double fork, new session, a locked PID file that holds the
/// program's PID, standard streams on files or /dev/null, and an exit status that says
/// whether the program is up.
#[derive(Debug, Parser)]
#[command(
    name = "daemon-rt",
    version,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit status: 0 once the program is up; 127 no such program, 126 not executable; \
                  the others are daemon-rt's (75 already running, 78 a bad option value, 124 \
                  not ready in time, ...); 2 a usage error."
)]
struct Cli {
    #[command(subcommand)]
    control: Option<Control>,
    #[command(flatten)]
    options: Options,
    /// The program to run and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "PROGRAM ARGS")]
    program: Vec<OsString>,
}

/// The options of the `#[daemon]` attribute, by the same names.
#[derive(Debug, Args)]
struct Options {
    /// The PID file: locked for the program's life, holding its PID.
    #[arg(long, value_name = "PATH")]
    pidfile: Option<PathBuf>,
    /// The file standard input reads from [default: /dev/null].
    #[arg(long, value_name = "PATH")]
    stdin: Option<PathBuf>,
    /// The file standard output appends to [default: /dev/null].
    #[arg(long, value_name = "PATH")]
    stdout: Option<PathBuf>,
    /// The file standard error appends to [default: /dev/null].
    #[arg(long, value_name = "PATH")]
    stderr: Option<PathBuf>,
    /// The program's working directory [default: /].
    #[arg(long, value_name = "PATH")]
    working_directory: Option<PathBuf>,
    /// The file mode creation mask, in octal [default: 022].
    #[arg(long, value_name = "OCTAL", value_parser = octal)]
    umask: Option<u32>,
    /// Descriptors kept open for the program besides 0, 1 and 2.
    #[arg(long, value_name = "FD", value_delimiter = ',')]
    preserve_fds: Vec<i32>,
    /// No fork: exec the program in this process, the PID file still locked.
    #[arg(long)]
    foreground: bool,
    /// When the program is up: `started` (its exec succeeded), `notify` (it sent READY=1 to
    /// $NOTIFY_SOCKET), or a duration it must stay alive.
    #[arg(long, value_name = "WHEN", value_parser = ready, default_value = "started")]
    ready: ReadyArg,
    /// How long to wait for READY=1: seconds, or a number with ms, s, m or h [default: 90s].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    ready_timeout: Option<Duration>,
    /// The signal the PID file's `reload` sends, or `none` [default: SIGHUP].
    #[arg(long, value_name = "SIGNAL", value_parser = signal_or_none)]
    reopen_logs: Option<Option<Signal>>,
    /// The user the program runs as (root only).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// The group the program runs as (root only).
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// A directory to chroot(2) into before the working directory.
    #[arg(long, value_name = "PATH")]
    chroot: Option<PathBuf>,
    /// As root, refuse PID-file and log paths another user can change [default: true].
    #[arg(long, value_name = "BOOL")]
    strict_paths: Option<bool>,
    /// Whether to fork: `auto`, `always` or `never` [default: auto].
    #[arg(long, value_name = "WHEN", value_parser = fork)]
    fork: Option<Fork>,
    /// A supervisor's readiness descriptor: one newline when the program is up.
    #[arg(long, value_name = "FD")]
    notify_fd: Option<i32>,
    /// Print the program's PID once it is up.
    #[arg(long)]
    print_pid: bool,
    /// Clear the environment but these names (comma-separated; none: keep nothing).
    #[arg(long, value_name = "NAME", value_delimiter = ',', num_args = 0..)]
    keep_env: Option<Vec<String>>,
    /// No core dumps: RLIMIT_CORE 0.
    #[arg(long)]
    prevent_core: bool,
    /// The nice value, -20..=19.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    nice: Option<i32>,
    /// RLIMIT_NOFILE: a number, `soft:hard` or `infinity`.
    #[arg(long, value_name = "LIMIT")]
    limit_nofile: Option<String>,
    /// RLIMIT_CORE: a number, `soft:hard` or `infinity`.
    #[arg(long, value_name = "LIMIT")]
    limit_core: Option<String>,
    /// RLIMIT_NPROC: a number, `soft:hard` or `infinity`.
    #[arg(long, value_name = "LIMIT")]
    limit_nproc: Option<String>,
    /// RLIMIT_MEMLOCK: a number, `soft:hard` or `infinity`.
    #[arg(long, value_name = "LIMIT")]
    limit_memlock: Option<String>,
    /// RLIMIT_AS: a number, `soft:hard` or `infinity`.
    #[arg(long, value_name = "LIMIT")]
    limit_as: Option<String>,
}

/// `--ready`.
#[derive(Debug, Clone, Copy)]
enum ReadyArg {
    Started,
    Notify,
    After(Duration),
}

/// The control commands, on the PID file.
#[derive(Debug, Subcommand)]
enum Control {
    /// Tells whether the daemon runs: exit 0 running, 1 stale PID file, 3 not running, 4
    /// cannot tell.
    Status {
        /// The daemon's PID file.
        #[arg(long, value_name = "PATH")]
        pidfile: PathBuf,
    },
    /// Stops the daemon: SIGTERM, up to 10 s, then SIGKILL. Exit 0, also when it was not
    /// running; 1 on failure.
    Stop {
        /// The daemon's PID file.
        #[arg(long, value_name = "PATH")]
        pidfile: PathBuf,
    },
    /// Sends the daemon SIGHUP (or `--signal`). Exit 0, 7 not running, 1 on another failure.
    Reload {
        /// The daemon's PID file.
        #[arg(long, value_name = "PATH")]
        pidfile: PathBuf,
        /// The signal to send.
        #[arg(long, value_name = "SIGNAL", value_parser = signal, default_value = "SIGHUP")]
        signal: Signal,
    },
}

/// Usage errors: clap's own status.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version, and the help of a bare `daemon-rt` (status 2).
        Err(err)
            if !err.use_stderr()
                || err.kind()
                    == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            err.exit()
        }
        Err(err) => return usage(&err),
    };
    if let Some(control) = cli.control {
        return answer(control);
    }
    let chroot = cli.options.chroot.is_some();
    let daemon = builder(cli.options);
    let mut program = cli.program.into_iter();
    let Some(name) = program.next() else {
        return ExitCode::from(USAGE);
    };
    let mut command = Command::new(program_path(name, chroot));
    command.args(program);
    let err = daemon.exec(&mut command);
    let line = format!("{err:#}");
    // An invalid value is named by its flag; any other line may still advise a setting
    // (`strict_paths = false`), which becomes the flag as it is typed.
    let line = match err.kind() {
        daemon_rt::ErrorKind::InvalidConfig => as_flags(&line),
        _ => settings_as_flags(&line),
    };
    say_err(&line);
    ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(1))
}

/// The attribute's arguments that the runtime's messages name.
const ARGUMENTS: &[&str] = &[
    "pidfile",
    "stdin",
    "stdout",
    "stderr",
    "working_directory",
    "umask",
    "preserve_fds",
    "foreground",
    "ready",
    "ready_timeout",
    "reopen_logs",
    "user",
    "group",
    "chroot",
    "strict_paths",
    "fork",
    "notify_fd",
    "print_pid",
    "keep_env",
    "prevent_core",
    "nice",
    "limit_nofile",
    "limit_core",
    "limit_nproc",
    "limit_memlock",
    "limit_as",
];

/// An invalid-configuration line with the attribute's argument names made flags, as the
/// operator wrote them: `` `ready_timeout` `` and `` `limit_nofile = 1:2` `` become
/// `` `--ready-timeout` `` and `` `--limit-nofile 1:2` ``.
fn as_flags(line: &str) -> String {
    ARGUMENTS
        .iter()
        .fold(settings_as_flags(line), |line, name| {
            let flag = format!("--{}", name.replace('_', "-"));
            line.replace(&format!("`{name}`"), &format!("`{flag}`"))
        })
}

/// Only the settings written out in a line, `` `strict_paths = false` `` as
/// `` `--strict-paths false` ``: a bare `` `name` `` in a line of another kind may be a path.
fn settings_as_flags(line: &str) -> String {
    ARGUMENTS.iter().fold(line.to_owned(), |line, name| {
        let flag = format!("--{}", name.replace('_', "-"));
        line.replace(&format!("`{name} = "), &format!("`{flag} "))
    })
}

/// The builder for the options: one line each.
fn builder(o: Options) -> Daemon {
    let mut d = Daemon::new();
    d = d.pidfile(o.pidfile);
    d = d.stdin(o.stdin);
    d = d.stdout(o.stdout);
    d = d.stderr(o.stderr);
    d = d.working_directory(o.working_directory);
    d = set(d, o.umask, Daemon::umask);
    d = d.preserve_fd_numbers(o.preserve_fds);
    d = d.foreground(o.foreground);
    d = match o.ready {
        ReadyArg::Started => d.ready(Ready::Started),
        ReadyArg::Notify => d.ready(Ready::Manual),
        ReadyArg::After(after) => d.ready(Ready::After(after)),
    };
    d = set(d, o.ready_timeout, Daemon::ready_timeout);
    d = set(d, o.reopen_logs, |d, signal| d.reopen_logs(signal));
    d = d.user(o.user);
    d = d.group(o.group);
    d = d.chroot(o.chroot);
    d = set(d, o.strict_paths, Daemon::strict_paths);
    d = set(d, o.fork, Daemon::fork);
    d = d.notify_fd(o.notify_fd);
    d = d.print_pid(o.print_pid);
    d = set(d, o.keep_env, |d, names| d.keep_env(names));
    d = d.prevent_core(o.prevent_core);
    d = d.nice(o.nice);
    d = d.limit_nofile(o.limit_nofile);
    d = d.limit_core(o.limit_core);
    d = d.limit_nproc(o.limit_nproc);
    d = d.limit_memlock(o.limit_memlock);
    d.limit_as(o.limit_as)
}

/// `method(d, value)` when the flag was given.
fn set<T>(d: Daemon, value: Option<T>, method: impl FnOnce(Daemon, T) -> Daemon) -> Daemon {
    match value {
        Some(value) => method(d, value),
        None => d,
    }
}

/// A relative program path with a `/` (`./server`) names a file in the starting directory,
/// which the daemon leaves for `/`: made absolute now. A bare name is searched in `$PATH`;
/// inside a `chroot` a path is the chroot's.
fn program_path(name: OsString, chroot: bool) -> OsString {
    let path = PathBuf::from(&name);
    let has_slash = name.as_encoded_bytes().contains(&b'/');
    if chroot || !has_slash || path.is_absolute() {
        return name;
    }
    std::path::absolute(&path).map_or(name, PathBuf::into_os_string)
}

/// `daemon-rt status|stop|reload --pidfile P`, with the statuses of an init script.
fn answer(control: Control) -> ExitCode {
    match control {
        Control::Status { pidfile } => match control::status(&pidfile) {
            Ok(Status::Running { pid: Some(pid) }) => say(0, &format!("running as PID {pid}")),
            // The holder could not be confirmed: the file names no PID, the PID named does
            // not have it open, or its descriptors are another user's to see.
            Ok(Status::Running { pid: None }) => {
                let named = std::fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|text| text.trim().parse::<u32>().ok())
                    .filter(|&pid| pid > 0);
                let line = match named {
                    Some(pid) => format!(
                        "running (the file says PID {pid}; not confirmed as the lock's holder)"
                    ),
                    None => "running (locked, but the file names no PID)".to_owned(),
                };
                say(0, &line)
            }
            Ok(Status::Stale { pid }) => {
                let pid = pid.map_or(String::new(), |pid| format!(", PID {pid}"));
                say(
                    1,
                    &format!(
                        "not running, but PID file `{}` exists (stale{pid})",
                        pidfile.display()
                    ),
                )
            }
            Ok(Status::NotRunning) => say(3, "not running"),
            Err(e) => complain(4, &format!("{e:#}")),
        },
        Control::Stop { pidfile } => {
            let secs = Duration::from_secs;
            match control::stop(&pidfile, secs(10), Some(secs(5))) {
                Ok(s) => match (
                    s.pid().inspect(|&pid| remove_stale(&pidfile, pid)),
                    s.killed(),
                ) {
                    (Some(pid), true) => say(0, &format!("stopped (PID {pid}, killed by SIGKILL)")),
                    (Some(pid), false) => say(0, &format!("stopped (PID {pid})")),
                    (None, _) => say(0, "not running"),
                },
                Err(e) => complain(1, &format!("{e:#}")),
            }
        }
        Control::Reload { pidfile, signal } => match control::signal(&pidfile, signal) {
            Ok(pid) => say(0, &format!("sent {signal} to PID {pid}")),
            Err(e) if e.kind() == daemon_rt::ErrorKind::NotRunning => {
                complain(7, &format!("{e:#}"))
            }
            Err(e) => complain(1, &format!("{e:#}")),
        },
    }
}

/// Removes the PID file the stopped program left (it is no daemon-rt program, which would
/// remove it): only while holding its lock, and only if it still names `pid`, the way a
/// daemon removes its own, so that a start at the same moment starts over on a new file.
fn remove_stale(pidfile: &std::path::Path, pid: u32) {
    let Ok(file) = std::fs::File::open(pidfile) else {
        return;
    };
    if file.try_lock().is_err() {
        return;
    }
    let named = std::fs::read_to_string(pidfile).is_ok_and(|s| s.trim() == pid.to_string());
    if named {
        let _ = std::fs::remove_file(pidfile);
    }
}

fn say(code: u8, line: &str) -> ExitCode {
    let _ = writeln!(std::io::stdout(), "daemon-rt: {line}");
    ExitCode::from(code)
}

fn complain(code: u8, line: &str) -> ExitCode {
    say_err(line);
    ExitCode::from(code)
}

fn say_err(line: &str) {
    let _ = writeln!(std::io::stderr(), "daemon-rt: {line}");
}

/// A usage error as one line: clap's message, with the list that follows a colon (the
/// missing arguments), and its tip, if it has one.
fn usage(err: &clap::Error) -> ExitCode {
    let text = err.render().to_string();
    let mut lines = text.lines().map(str::trim);
    let first = lines.next().unwrap_or("usage error");
    let mut first = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    if first.ends_with(':') {
        for item in lines.by_ref().take_while(|l| !l.is_empty()) {
            first.push(' ');
            first.push_str(item);
        }
    }
    let mut tip = lines
        .find_map(|l| l.strip_prefix("tip: "))
        .map_or(String::new(), |tip| format!("; {tip}"));
    // A program named without `--` before it reads as a stray argument.
    if err.kind() == clap::error::ErrorKind::UnknownArgument
        && let Some(clap::error::ContextValue::String(arg)) =
            err.get(clap::error::ContextKind::InvalidArg)
        && !arg.starts_with('-')
    {
        tip = "; the program and its arguments go after `--`: daemon-rt [OPTIONS] -- PROGRAM \
               ARGS..."
            .to_owned();
    }
    say_err(&format!("{first}{tip} (see `daemon-rt --help`)"));
    ExitCode::from(USAGE)
}

fn octal(value: &str) -> Result<u32, String> {
    let digits = value.strip_prefix("0o").unwrap_or(value);
    u32::from_str_radix(digits, 8).map_err(|_| format!("`{value}` is not an octal number"))
}

/// `90`, `1.5`, `500ms`, `2s`, `5m`, `1h`.
fn duration(value: &str) -> Result<Duration, String> {
    let bad = || format!("`{value}` is not a duration (such as 500ms, 2s, 1.5, 5m)");
    let split = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(number * scale).map_err(|_| bad())
}

fn ready(value: &str) -> Result<ReadyArg, String> {
    match value {
        "started" => Ok(ReadyArg::Started),
        "notify" => Ok(ReadyArg::Notify),
        _ => duration(value)
            .map(ReadyArg::After)
            .map_err(|_| format!("`{value}` is not `started`, `notify` or a duration")),
    }
}

fn fork(value: &str) -> Result<Fork, String> {
    match value {
        "auto" => Ok(Fork::Auto),
        "always" => Ok(Fork::Always),
        "never" => Ok(Fork::Never),
        _ => Err(format!("`{value}` is not `auto`, `always` or `never`")),
    }
}

/// A signal by name, with or without `SIG`, or by number.
fn signal(value: &str) -> Result<Signal, String> {
    let name = value.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let found = match value.parse::<i32>() {
        Ok(number) => Signal::from_raw(number),
        Err(_) => (1..=64)
            .filter_map(Signal::from_raw)
            .find(|s| s.to_string().strip_prefix("SIG") == Some(name)),
    };
    found.ok_or_else(|| format!("`{value}` is not a signal"))
}

fn signal_or_none(value: &str) -> Result<Option<Signal>, String> {
    match value {
        "none" => Ok(None),
        _ => signal(value).map(Some),
    }
}
