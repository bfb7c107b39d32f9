//! A TCP echo server on a loopback address, run by tokio inside the daemon.
//!
//! `cargo run -p daemon-examples --bin echo [ADDR] [DIR]` listens on ADDR (by default
//! `127.0.0.1:7007`; only loopback addresses are accepted) with its PID file `echo.pid` and
//! its log `echo.log` in DIR (by default `daemon-rt-echo` under the temporary directory),
//! prints where they are and how to stop it, and returns once the daemon is up. Every
//! connection gets back the bytes it sends, until it closes its side.
//!
//! `#[daemon_rt::daemon]` sits above `#[tokio::main]`: it daemonizes first, and the runtime
//! and its worker threads start in the daemon (a process must fork while it has one thread).
//!
//! SIGTERM or SIGINT stop it gracefully: `daemon_rt::stop_fd()` becomes readable, which tokio
//! awaits with `AsyncFd`, and `main` returns, removing the PID file.
//!
//! The socket is bound in the attribute's arguments, before daemonizing, and kept open across
//! it with `preserve_fds`: an address in use is then reported by the starting command, on the
//! user's terminal, instead of a start that succeeds and a daemon that dies at once.
//!
//! Under socket activation (a systemd `.socket` unit, or `systemd-socket-activate -l
//! 127.0.0.1:7007 echo`) it serves the first passed socket instead, checked to be a listening
//! TCP socket, and ADDR is not bound; the passed socket keeps the process in the foreground,
//! supervised by whoever passed it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

// Lines to the log that never panic: a full disk loses lines, counted, not the daemon.
use daemon_rt::{eprintln, println};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The address used without an ADDR argument.
const DEFAULT_ADDR: &str = "127.0.0.1:7007";

/// The command line, checked, and the socket bound on ADDR.
struct Config {
    dir: PathBuf,
    /// Bound before daemonizing, kept by the daemon (`preserve_fds`), served by its body; or
    /// the socket passed by socket activation.
    listener: std::net::TcpListener,
    /// Whether `listener` was passed by socket activation.
    activated: bool,
}

/// Reads the command line once, on first use: in the attribute's arguments, before
/// daemonizing. Any problem is one line on stderr and a non-zero exit.
fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut args = std::env::args().skip(1);
        let addr = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = loopback(&addr).unwrap_or_else(|reason| {
            eprintln!("echo: {reason}");
            std::process::exit(64); // EX_USAGE
        });
        let dir = args
            .next()
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("daemon-rt-echo"));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("echo: cannot create directory `{}`: {e}", dir.display());
            std::process::exit(73); // EX_CANTCREAT
        }
        // Absolute, so the paths printed for the user agree with the PID file's.
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        // A passed socket of another kind is one line and exit status 78, as a failed start.
        let passed = daemon_rt::activation::tcp_listener(0).unwrap_or_else(|e| e.exit());
        if let Some(listener) = passed {
            return Config {
                dir,
                listener,
                activated: true,
            };
        }
        let listener = std::net::TcpListener::bind(addr).unwrap_or_else(|e| {
            eprintln!("echo: cannot listen on {addr}: {e}");
            std::process::exit(match e.kind() {
                std::io::ErrorKind::AddrInUse => 75,        // EX_TEMPFAIL
                std::io::ErrorKind::PermissionDenied => 77, // EX_NOPERM
                _ => 71,                                    // EX_OSERR
            });
        });
        Config {
            dir,
            listener,
            activated: false,
        }
    })
}

/// ADDR as a socket address, if it is one on a loopback interface.
fn loopback(addr: &str) -> Result<SocketAddr, String> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an address such as {DEFAULT_ADDR}"))?;
    if !parsed.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {parsed}: not a loopback address (use 127.0.0.1:PORT or [::1]:PORT)"
        ));
    }
    Ok(parsed)
}

fn dir() -> &'static Path {
    &config().dir
}

fn pidfile() -> PathBuf {
    dir().join("echo.pid")
}

fn log() -> PathBuf {
    dir().join("echo.log")
}

/// Runs in the starting process once the daemon is up: where it is and how to stop it.
///
/// The daemon is up whatever happens to this output, so a failed write (stdout a closed pipe)
/// is ignored: `println!` would panic, and the start would end with status 101.
fn announce(started: &daemon_rt::Started) {
    let _ = write_announcement(&mut std::io::stdout().lock(), started);
}

fn write_announcement(out: &mut impl Write, started: &daemon_rt::Started) -> std::io::Result<()> {
    let pid = started.pid();
    let pidfile = started.pidfile().map_or_else(pidfile, Path::to_path_buf);
    let pidfile = pidfile.display();
    let log = log();
    let log = log.display();
    let addr = config().listener.local_addr().ok();
    writeln!(out, "echo: running as PID {pid}")?;
    if let Some(addr) = addr {
        writeln!(out, "  address   {addr}")?;
    }
    writeln!(out, "  PID file  {pidfile}")?;
    writeln!(out, "  log       {log}")?;
    writeln!(
        out,
        "  look      ps -o pid,ppid,pgid,sid,tty,stat,cmd -p {pid}; tail -f {log}"
    )?;
    writeln!(out, "  stop      kill $(cat {pidfile})")?;
    out.flush()
}

#[daemon_rt::daemon(
    pidfile = pidfile(),
    stdout = log(),
    stderr = log(),
    preserve_fds = [&config().listener],
    on_started = announce,
)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    // tokio takes a listener of its own: a second descriptor of the same socket.
    let std_listener = config().listener.try_clone()?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    if config().activated {
        println!("serving the socket passed by socket activation");
    }
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    // SIGTERM and SIGINT make this descriptor readable: tokio waits on it like on a socket.
    // SAFETY: `stop_fd()` is open for the life of the process and never closed or replaced,
    // which is what `register` asks of the descriptor.
    let stop = unsafe { tokio::io::unix::AsyncFd::register(daemon_rt::stop_fd()) }
        .map_err(|e| e.into_parts().1)?;

    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.readable() => {
                println!("stop requested: no new connections");
                return Ok(());
            }
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // A connection that failed before it was accepted, or the descriptor limit: the
            // listener itself is fine. Pause (only this loop: connections run on the workers)
            // so that a lasting error such as EMFILE does not spin.
            Err(e) => {
                eprintln!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = echo(stream).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

/// Writes back every byte read from `stream` until the peer closes its side.
async fn echo(mut stream: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}
