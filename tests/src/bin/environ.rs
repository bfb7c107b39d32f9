//! A daemon for the tests of what it inherits from its environment, built with the `Daemon`
//! builder so that each option can be left out.
//!
//! `environ [--pidfile P] [--stdout P] [--stderr P] [--keep-env NAMES] [--user U]
//!  [--group G] [--exec PROGRAM] [--prevent-core] [--limit RESOURCE=VALUE]... [--nice N] [--foreground] [--env-out F] [--tag ANY]`
//!
//! `--keep-env` takes names separated by commas (empty for none; `\0` stands for a NUL byte,
//! see `cli.rs`). `--limit nofile=1024:2048` is `limit_nofile("1024:2048")`, and so on for
//! `core`, `nproc`, `memlock` and `as`. With `--env-out`, the body runs `/usr/bin/env -0`
//! and writes what it printed, the environment the daemon's children inherit, to F (through a
//! rename, so F appears whole). With `--exec`, the daemon becomes PROGRAM
//! (`Daemon::exec`). `/proc/<pid>/environ` would not do: it shows the environment
//! the process was executed with, not the one it changed since. The body then prints
//! `environ pid=N` on stdout and waits for a stop request. `--tag` is ignored (the tests find their processes by it).

#[path = "../cli.rs"]
mod cli;
#[path = "../env_out.rs"]
mod env_out;

fn main() {
    let mut daemon = daemon_rt::Daemon::new();
    let mut env_out = None;
    let mut exec = None;
    let mut args = std::env::args_os().skip(1).map(cli::decode);
    while let Some(arg) = args.next() {
        let arg = cli::text(arg);
        let mut raw = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        daemon = match arg.as_str() {
            "--pidfile" => daemon.pidfile(raw()),
            "--stdout" => daemon.stdout(raw()),
            "--stderr" => daemon.stderr(raw()),
            "--keep-env" => {
                let names = raw();
                let names: Vec<&[u8]> = match names.as_encoded_bytes() {
                    b"" => Vec::new(),
                    bytes => bytes.split(|b| *b == b',').collect(),
                };
                let names: Vec<std::ffi::OsString> = names
                    .into_iter()
                    .map(|n| {
                        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(n).to_owned()
                    })
                    .collect();
                daemon.keep_env(names)
            }
            "--user" => daemon.user(cli::text(raw())),
            "--group" => daemon.group(cli::text(raw())),
            "--prevent-core" => daemon.prevent_core(true),
            "--limit" => {
                let value = cli::text(raw());
                let (resource, limit) = value.split_once('=').expect("RESOURCE=VALUE");
                match resource {
                    "nofile" => daemon.limit_nofile(limit),
                    "core" => daemon.limit_core(limit),
                    "nproc" => daemon.limit_nproc(limit),
                    "memlock" => daemon.limit_memlock(limit),
                    "as" => daemon.limit_as(limit),
                    other => panic!("unknown resource {other}"),
                }
            }
            "--nice" => daemon.nice(cli::text(raw()).parse::<i32>().expect("a number")),
            "--foreground" => daemon.foreground(true),
            "--exec" => {
                exec = Some(raw());
                daemon
            }
            "--env-out" => {
                env_out = Some(std::path::PathBuf::from(raw()));
                daemon
            }
            "--tag" => {
                raw();
                daemon
            }
            other => panic!("unknown argument {other}"),
        };
    }
    if let Some(program) = exec {
        daemon.exec(&mut std::process::Command::new(program)).exit();
    }
    let running = daemon.start().unwrap_or_else(|e| e.exit());
    if let Some(path) = env_out {
        env_out::write_env(&path);
    }
    daemon_rt::println!("environ pid={}", std::process::id());
    daemon_rt::wait_for_stop();
    drop(running);
}
