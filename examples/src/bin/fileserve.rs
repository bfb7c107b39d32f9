//! A small HTTP/1.0 file server: an ordinary clap tool, daemonized with the attribute on its
//! `serve` subcommand.
//!
//! ```text
//! fileserve serve [--pidfile P] [--log L] [--port N] [--foreground] [DIR]
//! fileserve status --pidfile P
//! fileserve stop --pidfile P
//! ```
//!
//! `serve` serves the files under DIR (by default `.`, the directory it is started in) on
//! `127.0.0.1:N` (by default 8080), one thread per connection, and returns once the port is
//! bound and the daemon is up; a port already taken fails the start with the bind error, one
//! line and a non-zero status. A path with a `..` component is refused (403). `status` and
//! `stop` answer from the PID file and never daemonize: `status` exits 0 running, 1 stale PID
//! file, 3 not running, 4 unknown; `stop` exits 0 once the server is gone, 1 on failure.
//!
//! What the daemon needs from the command line goes through the attribute, which reads
//! `serve`'s parameter before the fork; the body then gets the same `ServeArgs` whole. No
//! `static`, no `OnceLock`, no `Clone`. A relative DIR works because it is the daemon's
//! working directory (`working_directory = args.dir`, resolved where the command was started),
//! and the files are served from there.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
// Lines to the log that never panic when the disk is full.
use daemon_rt::{eprintln, println};

#[derive(Parser)]
#[command(about = "Serves a directory over HTTP/1.0 on 127.0.0.1")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves DIR, in the background unless `--foreground`.
    Serve(ServeArgs),
    /// Tells whether the server of the PID file runs: 0 running, 1 stale, 3 not running.
    Status {
        #[arg(long)]
        pidfile: PathBuf,
    },
    /// Stops the server of the PID file.
    Stop {
        #[arg(long)]
        pidfile: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// The PID file, locked while the server runs.
    #[arg(long)]
    pidfile: Option<PathBuf>,
    /// Where the server's output goes (one line per request); none by default.
    #[arg(long)]
    log: Option<PathBuf>,
    /// The port on 127.0.0.1; 0 for any free one (the log says which).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Stays attached to the terminal.
    #[arg(long)]
    foreground: bool,
    /// The directory to serve.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Status { pidfile } => std::process::exit(status(&pidfile)),
        Command::Stop { pidfile } => std::process::exit(stop(&pidfile)),
    }
}

#[daemon_rt::daemon(
    pidfile = args.pidfile,
    stdout = args.log,
    stderr = args.log,
    foreground = args.foreground,
    working_directory = args.dir,
    ready = "manual",
)]
fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // In the daemon, in DIR. An error before `ready()` fails the start with its message.
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    println!("serving {} on http://{addr}", args.dir.display());
    daemon_rt::ready();
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || {
                    if let Err(e) = answer(stream) {
                        eprintln!("fileserve: {e}");
                    }
                });
            }
            Err(e) => eprintln!("fileserve: accept: {e}"),
        }
    }
    Ok(())
}

/// Answers one request: the file its path names under the working directory.
fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (code, reason, body) = if method != "GET" {
        (405, "Method Not Allowed", Vec::new())
    } else {
        match local_path(target) {
            None => (403, "Forbidden", Vec::new()),
            Some(path) => match std::fs::read(&path) {
                Ok(bytes) => (200, "OK", bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (404, "Not Found", Vec::new())
                }
                Err(_) => (403, "Forbidden", Vec::new()),
            },
        }
    };
    let peer = stream.peer_addr()?;
    println!("{peer} {method} {target} {code}");
    write!(
        stream,
        "HTTP/1.0 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

/// The file a request's path names, relative to the working directory; `None` for a path that
/// would leave it (a `..` component) or that no file can have.
fn local_path(target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?.strip_prefix('/')?;
    let path = percent_decode(path)?;
    let mut local = PathBuf::from(".");
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            _ if part.contains('\0') => return None,
            _ => local.push(part),
        }
    }
    if local.is_dir() {
        local.push("index.html");
    }
    Some(local)
}

/// `%2e` and the like, decoded; `None` for an escape that is not two hex digits or text that
/// is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `fileserve status`: the LSB statuses of an init script's `status`.
fn status(pidfile: &std::path::Path) -> i32 {
    match daemon_rt::control::status(pidfile) {
        Ok(daemon_rt::control::Status::Running { pid }) => {
            match pid {
                Some(pid) => println!("running as PID {pid}"),
                None => println!("running"),
            }
            0
        }
        Ok(daemon_rt::control::Status::Stale { .. }) => {
            println!("not running, stale PID file `{}`", pidfile.display());
            1
        }
        Ok(daemon_rt::control::Status::NotRunning) => {
            println!("not running");
            3
        }
        Err(e) => {
            eprintln!("fileserve: {e}");
            4
        }
    }
}

/// `fileserve stop`: SIGTERM, then SIGKILL after 10 s; 0 also when it was not running.
fn stop(pidfile: &std::path::Path) -> i32 {
    let secs = Duration::from_secs;
    match daemon_rt::control::stop(pidfile, secs(10), Some(secs(5))) {
        Ok(stopped) => {
            match stopped.pid() {
                Some(pid) => println!("stopped PID {pid}"),
                None => println!("not running"),
            }
            0
        }
        Err(e) => {
            eprintln!("fileserve: {e}");
            1
        }
    }
}
