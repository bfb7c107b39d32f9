//! A daemon that cannot call `ready()`, for the tests of `ready = "300ms"`
//! (`Ready::After`): the start succeeds if it still runs 300 ms after its steps.
//!
//! `after [--pidfile P] [--stdout P] [--stderr P] [--workdir D] [--ready-timeout-ms N]
//!  [--then ACTION] [--tag ANY] [ANYTHING...]`
//!
//! The body prints `after pid=N` on stdout, then does ACTION: `wait` (the default: until a
//! stop is requested), `exit:N` (prints `exiting with N` on stderr and exits with N), `fail`
//! (returns an error from `main`), `abort` (`process::abort`), or `exec:CMD` (replaces itself
//! with `/bin/sh -c CMD`, keeping its PID, as a command-line daemonizer does). Any other
//! argument, and `--x=y`, is ignored: the tests of relative arguments pass their own.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Default)]
struct Opts {
    pidfile: Option<PathBuf>,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
    workdir: Option<PathBuf>,
    ready_timeout: Option<Duration>,
    then: Option<String>,
}

fn opts() -> &'static Opts {
    static OPTS: OnceLock<Opts> = OnceLock::new();
    OPTS.get_or_init(|| {
        let mut opts = Opts::default();
        let mut args = std::env::args_os().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().expect("a value");
            match arg.to_str().unwrap_or("") {
                "--pidfile" => opts.pidfile = Some(value().into()),
                "--stdout" => opts.stdout = Some(value().into()),
                "--stderr" => opts.stderr = Some(value().into()),
                "--workdir" => opts.workdir = Some(value().into()),
                "--ready-timeout-ms" => {
                    let ms = value()
                        .into_string()
                        .unwrap()
                        .parse()
                        .expect("milliseconds");
                    opts.ready_timeout = Some(Duration::from_millis(ms));
                }
                "--then" => opts.then = Some(value().into_string().unwrap()),
                "--tag" => drop(value()),
                _ => {}
            }
        }
        opts
    })
}

#[daemon_rt::daemon(
    pidfile = &opts().pidfile,
    stdout = &opts().stdout,
    stderr = &opts().stderr,
    working_directory = &opts().workdir,
    ready = "300ms",
    ready_timeout = opts().ready_timeout.unwrap_or(daemon_rt::DEFAULT_READY_TIMEOUT),
)]
fn main() -> Result<(), String> {
    daemon_rt::println!("after pid={}", std::process::id());
    match opts().then.as_deref().unwrap_or("wait") {
        "wait" => daemon_rt::wait_for_stop(),
        "fail" => return Err("cannot listen on 127.0.0.1:7: Address already in use".to_owned()),
        "abort" => std::process::abort(),
        other => {
            if let Some(code) = other.strip_prefix("exit:") {
                daemon_rt::eprintln!("exiting with {code}");
                std::process::exit(code.parse().expect("a status"));
            }
            if let Some(cmd) = other.strip_prefix("exec:") {
                use std::os::unix::process::CommandExt as _;
                let err = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(cmd)
                    .exec();
                return Err(format!("exec failed: {err}"));
            }
            panic!("unknown --then {other}");
        }
    }
    Ok(())
}
