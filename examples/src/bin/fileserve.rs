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
//! line and a non-zero status. GET and HEAD are answered; a path with a `..` component, or
//! that leads out of DIR through a link, is refused (403); only regular files are sent, and a
//! directory is its `index.html`. The request line is read up to 8 KiB (414 beyond) and the
//! headers up to 64 KiB (431 beyond), within 10 s in all, so a client can neither grow the
//! server nor keep a thread by sending a byte at a time; a link swapped between the check
//! and the open by someone who can write in DIR is not defended against.
//! `status` and `stop` answer from the PID file and never daemonize: `status` exits 0
//! running, 1 stale PID file, 3 not running, 4 unknown; `stop` exits 0 once the server is
//! gone, 1 on failure.
//!
//! What the daemon needs from the command line goes through the attribute, which reads
//! `serve`'s parameter before the fork; the body then gets the same `ServeArgs` whole. No
//! `static`, no `OnceLock`, no `Clone`. A relative DIR works because it is the daemon's
//! working directory (`working_directory = args.dir`, resolved where the command was started),
//! and the files are served from there.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    // The working directory is DIR; links are resolved against its real path.
    let root: std::sync::Arc<Path> = std::env::current_dir()
        .and_then(|dir| dir.canonicalize())
        .context("cannot resolve the directory served")?
        .into();
    println!("serving {} on http://{addr}", args.dir.display());
    daemon_rt::ready();
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                // Out of threads, the connection is dropped, and the server goes on.
                let root = root.clone();
                let spawned = std::thread::Builder::new().spawn(move || {
                    if let Err(e) = answer(stream, &root) {
                        eprintln!("fileserve: {e}");
                    }
                });
                if let Err(e) = spawned {
                    eprintln!("fileserve: cannot answer: {e}");
                }
            }
            Err(e) => eprintln!("fileserve: accept: {e}"),
        }
    }
    Ok(())
}

/// The longest request line read, and the most bytes of request line and headers together:
/// a client cannot make the server hold more than this for one request.
const MAX_LINE: u64 = 8 * 1024;
const MAX_HEAD: u64 = 64 * 1024;

/// Answers one request: the file its path names under `root`, the directory served.
fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    // A client that stops reading does not hold its thread for ever.
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let peer = stream.peer_addr()?;
    let mut reader = BufReader::new(Deadline {
        stream: &stream,
        until: Instant::now() + HEAD_TIME,
    });
    let mut line = Vec::new();
    (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)?;
    let head = if line.last() != Some(&b'\n') {
        Err((414, "URI Too Long"))
    } else {
        read_headers(&mut reader, MAX_HEAD.saturating_sub(line.len() as u64))
    };
    let line = String::from_utf8_lossy(&line);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let reply = match head {
        Err(error) => Reply::Error(error),
        Ok(()) if target.is_empty() => Reply::Error((400, "Bad Request")),
        Ok(()) if method != "GET" && method != "HEAD" => Reply::Error((405, "Method Not Allowed")),
        Ok(()) => match local_path(target) {
            Err(error) => Reply::Error(error),
            Ok(path) => open_beneath(root, &path),
        },
    };
    let code = match &reply {
        Reply::File(..) => 200,
        Reply::Error((code, _)) => *code,
    };
    println!(
        "{peer} {} {} {code}",
        method.escape_debug(),
        target.escape_debug()
    );
    let finished = match reply {
        Reply::File(mut file, len) => {
            write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            )?;
            if method == "GET" {
                std::io::copy(&mut file, &mut stream)?;
            }
            code
        }
        Reply::Error((code, reason)) => {
            write!(
                stream,
                "HTTP/1.0 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            code
        }
    };
    if finished == 414 || finished == 431 {
        // The client is still sending what was not read: closing now would reset the
        // connection and lose the answer. Stop writing, then read a bounded amount more.
        stream.shutdown(std::net::Shutdown::Write)?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        let _ = std::io::copy(&mut (&stream).take(1 << 20), &mut std::io::sink());
    }
    Ok(())
}

/// How long a client has to send its request line and headers, in all: a timeout on each
/// read alone lets a client that sends a byte at a time keep its thread for hours.
const HEAD_TIME: Duration = Duration::from_secs(10);

/// The connection, read until a deadline for all the reads together.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
}

impl std::io::Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&mut &*self.stream).read(buf)
    }
}

/// A file to send with its length, or an error status and its reason.
enum Reply {
    File(std::fs::File, u64),
    Error((u16, &'static str)),
}

/// Reads the headers up to the empty line that ends them, at most `limit` bytes; they are not
/// used, but a connection closed with unread bytes is reset and the answer lost.
fn read_headers(reader: &mut impl BufRead, limit: u64) -> Result<(), (u16, &'static str)> {
    let too_large = (431, "Request Header Fields Too Large");
    let mut left = limit;
    loop {
        let mut header = Vec::new();
        let n = reader
            .take(left)
            .read_until(b'\n', &mut header)
            .map_err(|_| (400, "Bad Request"))?;
        if n == 0 {
            // The client closed its side: a request without headers.
            return Ok(());
        }
        if header.last() != Some(&b'\n') {
            return Err(too_large);
        }
        left -= n as u64;
        if header == b"\r\n" || header == b"\n" {
            return Ok(());
        }
    }
}

/// The file a request's path names, relative to the directory served; an error for a path
/// that would leave it (a `..` component), that no file can have (a NUL byte), or that is
/// not a path at all (an absolute-form `http://...` target).
fn local_path(target: &str) -> Result<PathBuf, (u16, &'static str)> {
    let bad = (400, "Bad Request");
    let path = target
        .split(['?', '#'])
        .next()
        .and_then(|p| p.strip_prefix('/'))
        .ok_or(bad)?;
    let path = percent_decode(path).ok_or(bad)?;
    let mut local = PathBuf::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err((403, "Forbidden")),
            _ if part.contains(&0) => return Err(bad),
            _ => local.push(std::ffi::OsStr::from_bytes(part)),
        }
    }
    Ok(local)
}

/// Opens `path` under `root` if, links resolved, it is a regular file beneath `root`: a link
/// inside DIR that leads out of it is refused (403) as `..` is, so that a server run by root
/// never hands out a file a user linked to. A directory is its `index.html`.
fn open_beneath(root: &Path, path: &Path) -> Reply {
    let mut local = root.join(path);
    if local.is_dir() {
        local.push("index.html");
    }
    let real = match local.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Reply::Error((404, "Not Found"));
        }
        Err(_) => return Reply::Error((403, "Forbidden")),
    };
    if !real.starts_with(root) {
        return Reply::Error((403, "Forbidden"));
    }
    // Only regular files: a FIFO or a device under DIR would block or act when opened.
    match std::fs::metadata(&real) {
        Ok(meta) if meta.is_file() => match std::fs::File::open(&real) {
            Ok(file) => Reply::File(file, meta.len()),
            Err(_) => Reply::Error((403, "Forbidden")),
        },
        Ok(_) | Err(_) => Reply::Error((403, "Forbidden")),
    }
}

/// `%2e` and the like, decoded to bytes; `None` for an escape that is not two hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
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
    Some(out)
}

/// `fileserve status`: the LSB statuses of an init script's `status`.
fn status(pidfile: &Path) -> i32 {
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
fn stop(pidfile: &Path) -> i32 {
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
