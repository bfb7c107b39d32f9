//! The examples run as their users run them: the starting command under a watchdog, the
//! daemon checked from outside (`/proc`, its PID file, its log, its socket on 127.0.0.1),
//! ended by the PID in its PID file and reaped by this process, the child subreaper.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

const ECHO: &str = env!("CARGO_BIN_EXE_echo");
const TICKER: &str = env!("CARGO_BIN_EXE_ticker");
const CLOCK: &str = env!("CARGO_BIN_EXE_clock");
const FILESERVE: &str = env!("CARGO_BIN_EXE_fileserve");
const PROXY: &str = env!("CARGO_BIN_EXE_proxy");

/// How long a starting command may take before the watchdog kills it.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the log may take to show what the test waits for.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a daemon may take to exit once signalled.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes this process the child subreaper, once: the daemons re-parent to it, so a test can
/// reap the daemon it ended and know that it is gone.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER"));
}

/// One test's directory and the processes it started. Dropped at the end of the test, pass or
/// fail: every process still recorded, and any process whose command line names the
/// directory, is killed by its PID and reaped; then the directory is removed.
struct Guard {
    dir: PathBuf,
    pids: Vec<Pid>,
}

impl Guard {
    fn new(name: &str) -> Guard {
        become_subreaper();
        let dir = std::env::temp_dir().join(format!(
            "daemon-examples-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        Guard {
            dir,
            pids: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `program` with `args` and the directory as its last argument; returns once it has
    /// exited, killing it (by PID) and failing the test if that takes over [`START_TIMEOUT`].
    fn run(&mut self, program: &str, args: &[&str]) -> Output {
        let mut command = Command::new(program);
        command.args(args).arg(&self.dir);
        self.run_command(command, program, args)
    }

    /// Runs `program` with `args` only, started in the directory, as a user runs a tool with
    /// relative paths; as [`run`](Self::run) otherwise.
    fn run_here(&mut self, program: &str, args: &[&str]) -> Output {
        let mut command = Command::new(program);
        command.args(args).current_dir(&self.dir);
        self.run_command(command, program, args)
    }

    fn run_command(&mut self, mut command: Command, program: &str, args: &[&str]) -> Output {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the starting command");
        let pid = pid_of(child.id());
        self.pids.push(pid);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        let out = match rx.recv_timeout(START_TIMEOUT) {
            Ok(out) => out.expect("wait for the starting command"),
            Err(_) => {
                let _ = kill(pid, Signal::SIGKILL);
                panic!("{program} {args:?}: no return within {START_TIMEOUT:?}");
            }
        };
        // `wait_with_output` reaped it.
        self.pids.retain(|p| *p != pid);
        out
    }

    /// Runs a starting command that must succeed; returns its output and the daemon's PID,
    /// read from `pidfile` (which must hold it by then), recorded for the guard.
    fn start(&mut self, program: &str, args: &[&str], pidfile: &Path) -> (Output, Pid) {
        let out = self.run(program, args);
        assert_eq!(out.status.code(), Some(0), "start failed: {out:?}");
        let text = std::fs::read_to_string(pidfile)
            .unwrap_or_else(|e| panic!("no PID file {pidfile:?} when the start returned: {e}"));
        let pid = text
            .strip_suffix('\n')
            .and_then(|t| t.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("PID file {pidfile:?} holds {text:?}"));
        let pid = pid_of(pid);
        self.pids.push(pid);
        (out, pid)
    }

    /// Sends SIGTERM to `pid` and reaps it; returns how it ended.
    fn terminate(&mut self, pid: Pid) -> WaitStatus {
        kill(pid, Signal::SIGTERM).expect("signal the daemon");
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
                Ok(status) => {
                    self.pids.retain(|p| *p != pid);
                    return status;
                }
                Err(e) => panic!("waitpid({pid}): {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "daemon {pid} did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Running processes whose command line names this test's directory.
    fn leftovers(&self) -> Vec<Pid> {
        self.tagged()
            .into_iter()
            .filter(|pid| !zombie(*pid))
            .collect()
    }

    /// Processes, zombies included, whose command line names this test's directory: the
    /// daemons do not exec, so theirs still holds the directory given to the starting command.
    fn tagged(&self) -> Vec<Pid> {
        let tag = self.dir.as_os_str().as_encoded_bytes();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            // One whole argument: a test whose directory extends this one's name (`ticker`
            // and `ticker-full`) is another test.
            // Or a path inside it (`--pidfile DIR/x.pid`).
            let inside = |arg: &[u8]| arg.strip_prefix(tag).is_some_and(|r| r.starts_with(b"/"));
            if cmdline
                .split(|&b| b == 0)
                .any(|arg| arg == tag || inside(arg))
            {
                found.push(pid_of(pid));
            }
        }
        found
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut pids = std::mem::take(&mut self.pids);
        pids.extend(self.tagged());
        pids.sort();
        pids.dedup();
        for pid in pids {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pid_of(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).expect("a PID fits in i32"))
}

fn zombie(pid: Pid) -> bool {
    stat(pid).is_some_and(|s| s.state == 'Z')
}

/// The fields of `/proc/<pid>/stat` the tests look at.
#[derive(Debug)]
struct Stat {
    state: char,
    session: i32,
    tty_nr: i32,
}

fn stat(pid: Pid) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(Stat {
        state: f[0].chars().next()?,
        session: f[3].parse().ok()?,
        tty_nr: f[4].parse().ok()?,
    })
}

/// Waits until the file at `path` holds a line for which `find` returns something.
fn wait_for_line<T>(path: &Path, mut find: impl FnMut(&str) -> Option<T>) -> T {
    let deadline = Instant::now() + LOG_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(found) = text.lines().find_map(&mut find) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{path:?} did not get the expected line in {LOG_TIMEOUT:?}; it holds {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn echo_serves_loopback_from_a_daemon_running_tokio() {
    let mut guard = Guard::new("echo");
    let pidfile = guard.path("echo.pid");
    let log = guard.path("echo.log");
    let (out, pid) = guard.start(ECHO, &["127.0.0.1:0"], &pidfile);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("running as PID {pid}")),
        "{stdout}"
    );

    let port: u16 = wait_for_line(&log, |line| {
        line.strip_prefix("listening on 127.0.0.1:")?.parse().ok()
    });
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for message in ["hello\n", "daemon-rt echo", "\0\u{1}binary\u{ff}", "bye"] {
        stream.write_all(message.as_bytes()).expect("write");
        let mut back = vec![0; message.len()];
        stream.read_exact(&mut back).expect("read the echo");
        assert_eq!(back, message.as_bytes());
    }
    // Closing our side ends the echo: the server shuts its side down too.
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("read to EOF");
    assert!(rest.is_empty(), "unexpected bytes after EOF: {rest:?}");

    // The runtime runs in the daemon, which is no session leader and has no terminal.
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("read /proc/<pid>/task")
        .count();
    assert!(threads > 1, "the daemon runs {threads} thread(s)");
    let stat = stat(pid).expect("read /proc/<pid>/stat");
    assert_ne!(stat.session, pid.as_raw(), "the daemon leads its session");
    assert_eq!(stat.tty_nr, 0, "the daemon has a controlling terminal");

    // SIGTERM makes `stop_fd()` readable; the accept loop sees it and `main` returns.
    let status = guard.terminate(pid);
    assert_eq!(status, WaitStatus::Exited(pid, 0));
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.ends_with("stop requested: no new connections\n"),
        "{text}"
    );
}

#[test]
fn echo_refuses_an_address_that_is_not_loopback() {
    let mut guard = Guard::new("refused");
    let out = guard.run(ECHO, &["10.1.2.3:7"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("10.1.2.3:7"), "{stderr:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(!guard.path("echo.pid").exists(), "a PID file was left");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

#[test]
fn echo_reports_an_address_in_use_from_the_starting_command() {
    let mut guard = Guard::new("in-use");
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = taken.local_addr().unwrap().to_string();
    let out = guard.run(ECHO, &[&addr]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains(&addr), "{stderr:?}");
    assert!(!guard.path("echo.pid").exists(), "a PID file was left");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

#[test]
fn ticker_starts_ticks_and_stops_on_sigterm() {
    let mut guard = Guard::new("ticker");
    let pidfile = guard.path("ticker.pid");
    let log = guard.path("ticker.log");
    let (out, pid) = guard.start(TICKER, &[], &pidfile);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("running as PID {pid}")),
        "{stdout}"
    );
    let stop = format!("kill $(cat {})", pidfile.display());
    assert!(
        stdout.lines().any(|l| l.trim_end().ends_with(&stop)),
        "{stdout}"
    );

    wait_for_line(&log, |line| {
        (line == format!("ticker {pid} started")).then_some(())
    });
    wait_for_line(&log, |line| (line == "tick 2").then_some(()));

    // SIGTERM is a stop request the loop sees: it finishes its tick and returns from main.
    let status = guard.terminate(pid);
    assert_eq!(status, WaitStatus::Exited(pid, 0));
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("ticker: stopping after "), "{text}");
}

#[test]
fn ticker_survives_a_full_log_disk_and_says_what_it_lost() {
    let mut guard = Guard::new("ticker-full");
    let pidfile = guard.path("ticker.pid");
    let log = guard.path("ticker.log");
    // Every write to the log fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    let (_, pid) = guard.start(TICKER, &[], &pidfile);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !zombie(pid) && stat(pid).is_some(),
        "the ticker died of a full disk"
    );
    // Room again, and the rotation's signal: the ticker says how many lines were lost.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&log, "").unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    let lost = wait_for_line(&log, |line| {
        let n = line
            .strip_prefix("ticker: ")?
            .split_once(" lines lost, not written to ")?
            .0;
        n.parse::<u32>().ok()
    });
    assert!(lost >= 2, "{lost} lines lost");
    wait_for_line(&log, |line| line.starts_with("tick ").then_some(()));
    assert_eq!(guard.terminate(pid), WaitStatus::Exited(pid, 0));
}

#[test]
fn ticker_reports_a_directory_it_cannot_create() {
    let mut guard = Guard::new("ticker-cannot-create");
    let file = guard.path("a-file");
    std::fs::write(&file, "").unwrap();
    let under_file = file.join("dir");
    let out = guard.run(TICKER, &[under_file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{out:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("cannot create directory"), "{stderr:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

#[test]
fn clock_runs_tokio_in_the_daemon_and_stops_gracefully_on_sigterm() {
    let mut guard = Guard::new("clock");
    let pidfile = guard.path("clock.pid");
    let log = guard.path("clock.log");
    let (out, pid) = guard.start(CLOCK, &[], &pidfile);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("running as PID {pid}")),
        "{stdout}"
    );

    wait_for_line(&log, |line| line.starts_with("time ").then_some(()));
    // tokio's runtime was built after the fork: its worker threads are in the daemon.
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert!(threads > 1, "the daemon runs {threads} thread(s)");
    let st = stat(pid).expect("the daemon runs");
    assert_ne!(st.session, pid.as_raw(), "the daemon leads its session");

    // The program's own SIGTERM handler (tokio::signal) runs: a graceful exit, status 0.
    assert_eq!(guard.terminate(pid), WaitStatus::Exited(pid, 0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with("SIGTERM: stopping\n"), "{text}");
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
}

/// `systemd-socket-activate` (from the systemd package), or `None` with a message saying the
/// test is skipped.
fn socket_activate() -> Option<&'static str> {
    const PROGRAM: &str = "systemd-socket-activate";
    let found = Command::new(PROGRAM)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: `{PROGRAM}` is not installed (Debian package systemd)");
    }
    found.then_some(PROGRAM)
}

/// A loopback port that was free a moment ago.
fn free_port(kind: &str) -> u16 {
    match kind {
        "udp" => std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .expect("find a free UDP port")
            .port(),
        _ => std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .expect("find a free TCP port")
            .port(),
    }
}

/// Starts `systemd-socket-activate` with `args`, then the echo example with the test's
/// directory; records its PID, which the echo process keeps when it is exec'd.
fn socket_activated_echo(guard: &mut Guard, program: &str, args: &[&str]) -> std::process::Child {
    let child = Command::new(program)
        .args(args)
        .args([ECHO, "127.0.0.1:0"])
        .arg(&guard.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn systemd-socket-activate");
    guard.pids.push(pid_of(child.id()));
    child
}

#[test]
fn echo_serves_the_socket_passed_by_systemd_socket_activate() {
    let Some(program) = socket_activate() else {
        return;
    };
    let mut guard = Guard::new("activated");
    let port = free_port("tcp");
    let listen = format!("127.0.0.1:{port}");
    let child = socket_activated_echo(&mut guard, program, &["-l", &listen]);
    let pid = pid_of(child.id());

    // The connection waits in the passed socket's backlog until the echo process accepts it.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(stream) => break stream,
            Err(e) => assert!(Instant::now() < deadline, "connect to {addr}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"activated\n").expect("write");
    let mut back = [0; 10];
    stream.read_exact(&mut back).expect("read the echo");
    assert_eq!(&back, b"activated\n");

    // The echo process is the one systemd-socket-activate exec'd: same PID, this test's
    // child, never forked away; its PID file says so.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("read /proc/<pid>/exe");
    assert_eq!(exe, Path::new(ECHO), "PID {pid} runs {exe:?}");
    let pidfile = guard.path("echo.pid");
    let text = std::fs::read_to_string(&pidfile).expect("read the PID file");
    assert_eq!(text, format!("{pid}\n"));
    let log = guard.path("echo.log");
    wait_for_line(&log, |line| {
        (line == "serving the socket passed by socket activation").then_some(())
    });
    let bound: u16 = wait_for_line(&log, |line| {
        line.strip_prefix("listening on 127.0.0.1:")?.parse().ok()
    });
    assert_eq!(bound, port, "the echo process bound a port of its own");

    drop(stream);
    kill(pid, Signal::SIGTERM).expect("signal the echo process");
    let out = wait_output(&mut guard, child, || ());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
}

/// Waits for `child` to exit, calling `poke` every 100 ms meanwhile; its output.
fn wait_output(guard: &mut Guard, child: std::process::Child, mut poke: impl FnMut()) -> Output {
    let pid = pid_of(child.id());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let deadline = Instant::now() + START_TIMEOUT;
    let out = loop {
        poke();
        if let Ok(out) = rx.recv_timeout(Duration::from_millis(100)) {
            break out.expect("wait for the echo process");
        }
        assert!(Instant::now() < deadline, "PID {pid} did not exit in time");
    };
    guard.pids.retain(|p| *p != pid);
    out
}

#[test]
fn echo_refuses_a_passed_socket_that_is_not_a_tcp_listener() {
    let Some(program) = socket_activate() else {
        return;
    };
    let mut guard = Guard::new("activated-udp");
    let port = free_port("udp");
    let listen = format!("127.0.0.1:{port}");
    let child = socket_activated_echo(&mut guard, program, &["--datagram", "-l", &listen]);

    // systemd-socket-activate execs the program once a datagram arrives.
    let sender = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let out = wait_output(&mut guard, child, || {
        let _ = sender.send_to(b"ping", (Ipv4Addr::LOCALHOST, port));
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    // systemd-socket-activate's own lines come first; the echo process says one.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("echo: ")).collect();
    assert_eq!(
        ours,
        [
            "echo: cannot take the sockets passed by socket activation: socket 0, descriptor 3, \
          is an IPv4 datagram socket, not a listening TCP socket"
        ],
        "{stderr}"
    );
    assert!(!guard.path("echo.pid").exists(), "a PID file was left");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

/// Reads the PID that `pidfile` holds once a start returned, and records it for the guard.
fn adopt(guard: &mut Guard, pidfile: &Path) -> Pid {
    let text = std::fs::read_to_string(pidfile)
        .unwrap_or_else(|e| panic!("no PID file {pidfile:?} when the start returned: {e}"));
    let pid = pid_of(text.trim_end().parse().expect("a PID in the PID file"));
    guard.pids.push(pid);
    pid
}

/// `GET path` over HTTP/1.0 on 127.0.0.1:`port`: the status code and the body.
fn http_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (code, answer[end + 4..].to_vec())
}

/// The port of fileserve's "serving DIR on http://127.0.0.1:PORT" line.
fn serving_port(line: &str) -> Option<u16> {
    line.strip_prefix("serving ")?
        .rsplit_once("http://127.0.0.1:")?
        .1
        .parse()
        .ok()
}

#[test]
fn fileserve_serves_a_relative_directory_and_answers_status_and_stop() {
    let mut guard = Guard::new("fileserve");
    // The directory is `etc`, relative: served from the daemon, it must be the one under the
    // starting directory, not the host's `/etc`.
    std::fs::create_dir(guard.path("etc")).unwrap();
    std::fs::write(guard.path("etc/hostname"), "served by fileserve\n").unwrap();
    let pidfile = guard.path("fs.pid");
    let log = guard.path("fs.log");
    let (p, l) = (pidfile.to_str().unwrap(), log.to_str().unwrap());
    let out = guard.run_here(
        FILESERVE,
        &["serve", "--pidfile", p, "--log", l, "--port", "0", "etc"],
    );
    assert_eq!(out.status.code(), Some(0), "start failed: {out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let pid = adopt(&mut guard, &pidfile);
    let ours = stat(pid_of(std::process::id())).expect("our stat").session;
    assert_ne!(
        stat(pid).expect("the daemon runs").session,
        ours,
        "not detached"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        guard.path("etc"),
        "the daemon's working directory"
    );

    let port = wait_for_line(&log, serving_port);
    let (code, body) = http_get(port, "/hostname");
    assert_eq!(code, 200);
    assert_eq!(body, b"served by fileserve\n", "not the sandbox's file");
    assert_eq!(http_get(port, "/missing").0, 404);
    assert_eq!(http_get(port, "/../etc/hostname").0, 403, "`..` escapes");
    assert_eq!(
        http_get(port, "/%2e%2e/etc/hostname").0,
        403,
        "`..` escapes"
    );
    wait_for_line(&log, |line| {
        line.ends_with("GET /hostname 200").then_some(())
    });

    // `status` and `stop` answer from the PID file, and never daemonize.
    let out = guard.run_here(FILESERVE, &["status", "--pidfile", p]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("running as PID {pid}\n")
    );
    let out = guard.run_here(FILESERVE, &["stop", "--pidfile", p]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("stopped PID {pid}\n")
    );
    assert!(!pidfile.exists(), "the PID file outlived the daemon");
    let ended = waitpid(pid, None).expect("reap the daemon");
    assert!(
        matches!(ended, WaitStatus::Signaled(_, Signal::SIGTERM, _)),
        "{ended:?}"
    );
    guard.pids.retain(|p| *p != pid);
    let out = guard.run_here(FILESERVE, &["status", "--pidfile", p]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "not running\n");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

#[test]
fn fileserve_fails_the_start_when_the_port_is_taken() {
    let mut guard = Guard::new("fileserve-taken");
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = taken.local_addr().unwrap().port().to_string();
    let pidfile = guard.path("fs.pid");
    let log = guard.path("fs.log");
    let (p, l) = (pidfile.to_str().unwrap(), log.to_str().unwrap());
    let out = guard.run_here(
        FILESERVE,
        &["serve", "--pidfile", p, "--log", l, "--port", &port],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: Address already in use"
        )),
        "{stderr:?}"
    );
    assert!(!pidfile.exists(), "a PID file was left");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

#[test]
fn fileserve_stays_attached_with_foreground() {
    let mut guard = Guard::new("fileserve-fg");
    std::fs::write(guard.path("index.html"), "home\n").unwrap();
    let pidfile = guard.path("fs.pid");
    let mut child = Command::new(FILESERVE)
        .args(["serve", "--foreground", "--port", "0", "--pidfile"])
        .arg(&pidfile)
        .current_dir(&guard.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fileserve");
    let pid = pid_of(child.id());
    guard.pids.push(pid);
    // Its own output stays on the pipe it was given: the first line says where it serves.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("read its first line");
    let port = serving_port(line.trim_end()).unwrap_or_else(|| panic!("{line:?}"));
    assert!(child.try_wait().unwrap().is_none(), "it returned");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{pid}\n"),
        "the PID file names the process started, not a child"
    );
    let ours = stat(pid_of(std::process::id())).expect("our stat").session;
    assert_eq!(
        stat(pid).expect("it runs").session,
        ours,
        "it left the session"
    );
    assert_eq!(http_get(port, "/"), (200, b"home\n".to_vec()));
    assert_eq!(
        guard.terminate(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists(), "the PID file outlived the server");
}

/// Sends `request` as it is to 127.0.0.1:`port` and reads until the server closes: the status
/// code (0 for no answer at all), the headers and the body.
fn http_raw(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // A server may answer before reading everything: what it did not read is its problem.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, String::from_utf8_lossy(&answer).into_owned(), Vec::new());
    };
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (code, head, answer[end + 4..].to_vec())
}

/// What a hostile or careless client sends: each gets its answer, and none reaches a file
/// outside DIR, blocks another client, or grows the server without bound.
#[test]
fn fileserve_answers_hostile_requests() {
    use std::os::unix::ffi::OsStrExt as _;
    let mut guard = Guard::new("fileserve-hostile");
    let www = guard.path("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(guard.path("secret"), "outside\n").unwrap();
    std::fs::write(www.join("sub/page"), "inside\n").unwrap();
    std::fs::write(
        www.join(std::ffi::OsStr::from_bytes(b"caf\xe9")),
        "latin-1\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(guard.path("secret"), www.join("out")).unwrap();
    std::os::unix::fs::symlink("../../secret", www.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("sub/page", www.join("in")).unwrap();
    std::os::unix::fs::symlink(guard.path("."), www.join("outdir")).unwrap();
    let pidfile = guard.path("fs.pid");
    let log = guard.path("fs.log");
    let (p, l) = (pidfile.to_str().unwrap(), log.to_str().unwrap());
    let out = guard.run_here(
        FILESERVE,
        &["serve", "--pidfile", p, "--log", l, "--port", "0", "www"],
    );
    assert_eq!(out.status.code(), Some(0), "start failed: {out:?}");
    let pid = adopt(&mut guard, &pidfile);
    let port = wait_for_line(&log, serving_port);

    // A client that connects and sends nothing does not hold up the others.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let _idle = TcpStream::connect(addr).expect("connect");
    assert_eq!(http_get(port, "/sub/page"), (200, b"inside\n".to_vec()));

    // Links: one inside DIR is followed; one leading out of DIR is refused, as `..` is.
    assert_eq!(http_get(port, "/in"), (200, b"inside\n".to_vec()));
    assert_eq!(http_get(port, "/out").0, 403, "a link out of DIR");
    assert_eq!(
        http_get(port, "/sub/up").0,
        403,
        "a relative link out of DIR"
    );
    assert_eq!(
        http_get(port, "/outdir/secret").0,
        403,
        "a directory link out"
    );
    // Escapes in every spelling.
    for target in [
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2E%2Fsecret",
        "/sub/..%2f..%2fsecret",
        "/..%5csecret",
        "/%252e%252e/secret",
        "http://127.0.0.1/../secret",
    ] {
        let (code, _, body) = http_raw(port, format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes());
        assert_ne!(code, 200, "{target}");
        assert_ne!(body, b"outside\n", "{target}");
    }
    // A name that is not UTF-8 is still a name.
    assert_eq!(http_get(port, "/caf%E9"), (200, b"latin-1\n".to_vec()));
    // HEAD: the headers of GET, no body.
    let (code, head, body) = http_raw(port, b"HEAD /sub/page HTTP/1.0\r\n\r\n");
    assert_eq!((code, body.len()), (200, 0), "{head}");
    assert!(head.contains("Content-Length: 7"), "{head}");
    // No path at all, or no request line: 400.
    assert_eq!(http_raw(port, b"GET\r\n\r\n").0, 400);
    assert_eq!(http_raw(port, b"\r\n\r\n").0, 400);
    // Headers larger than a buffer: the answer still arrives whole.
    let mut big = b"GET /sub/page HTTP/1.0\r\n".to_vec();
    for i in 0..2000 {
        big.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let (code, head, body) = http_raw(port, &big);
    assert!(
        code == 431 || (code == 200 && body == b"inside\n"),
        "{code} {head}"
    );
    // A request line without end is cut off, not read into memory for ever.
    let endless = vec![b'A'; 4 << 20];
    let (code, head, _) = http_raw(port, &endless);
    assert!(code == 414 || code == 0, "{code} {head}");
    let rss = |pid: Pid| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap()
    };
    assert!(rss(pid) < 64 * 1024, "RSS {} kB", rss(pid));
    // And it still serves.
    assert_eq!(http_get(port, "/sub/page"), (200, b"inside\n".to_vec()));
    assert_eq!(
        guard.terminate(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert_eq!(guard.leftovers(), [], "processes left running");
}

/// A client that sends its request a byte at a time, each within the read timeout, does not
/// hold its connection (and thread) for ever: the whole request head has 10 s.
#[test]
fn fileserve_drops_a_request_that_drips() {
    let mut guard = Guard::new("fileserve-drip");
    let pidfile = guard.path("fs.pid");
    let log = guard.path("fs.log");
    let (p, l) = (pidfile.to_str().unwrap(), log.to_str().unwrap());
    let out = guard.run_here(
        FILESERVE,
        &["serve", "--pidfile", p, "--log", l, "--port", "0"],
    );
    assert_eq!(out.status.code(), Some(0), "start failed: {out:?}");
    let pid = adopt(&mut guard, &pidfile);
    let port = wait_for_line(&log, serving_port);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    let mut request = b"GET / HTTP/1.0\r\nX-Slow: ".to_vec();
    request.extend(b"y".repeat(100));
    let mut closed = None;
    for byte in request {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        // A write that fails, or a read that returns anything or the end: it let go.
        if stream.write_all(&[byte]).is_err() {
            closed = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(_) => {
                closed = Some(started.elapsed());
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                closed = Some(started.elapsed());
                break;
            }
        }
    }
    let closed = closed.expect("the server kept a dripping request for 20 s and more");
    assert!(closed < Duration::from_secs(13), "closed after {closed:?}");
    assert_eq!(
        guard.terminate(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert_eq!(guard.leftovers(), [], "processes left running");
}

/// The port of the proxy's "listening on 127.0.0.1:PORT, forwarding to ..." log line.
fn proxy_port(line: &str) -> Option<u16> {
    line.split_once("listening on 127.0.0.1:")?
        .1
        .split(',')
        .next()?
        .parse()
        .ok()
}

/// A server on loopback that answers one connection: reads 5 bytes, sends them back in upper
/// case, and closes.
fn upper_case_server() -> u16 {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut word = [0; 5];
        stream.read_exact(&mut word).expect("read 5 bytes");
        stream
            .write_all(&word.to_ascii_uppercase())
            .expect("answer");
    });
    port
}

/// Sends "hello" through the proxy on `port` and returns what comes back.
fn through_proxy(port: u16) -> Vec<u8> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"hello").expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    answer
}

/// Starts the proxy on a free loopback port, forwarding to a new upper-case server, with
/// `--pidfile` and `--log`; returns what the starting command did.
fn start_proxy(guard: &mut Guard, pidfile: &Path, log: &Path) -> Output {
    let server = format!("127.0.0.1:{}", upper_case_server());
    let (p, l) = (pidfile.to_str().unwrap(), log.to_str().unwrap());
    guard.run_here(
        PROXY,
        &[
            "--listen",
            "127.0.0.1:0",
            "--server",
            &server,
            "--pidfile",
            p,
            "--log",
            l,
        ],
    )
}

#[test]
fn proxy_converted_daemonizes_logs_to_the_file_and_forwards() {
    let mut guard = Guard::new("proxy");
    let pidfile = guard.path("proxy.pid");
    let log = guard.path("proxy.log");
    let out = start_proxy(&mut guard, &pidfile, &log);
    assert_eq!(out.status.code(), Some(0), "start failed: {out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let pid = adopt(&mut guard, &pidfile);
    let ours = stat(pid_of(std::process::id())).expect("our stat").session;
    assert_ne!(
        stat(pid).expect("the daemon runs").session,
        ours,
        "not detached"
    );
    // env_logger writes to stderr, which `stderr = cli.log` made the log file.
    let port = wait_for_line(&log, proxy_port);
    assert_eq!(through_proxy(port), b"HELLO");
    wait_for_line(&log, |line| {
        line.contains("closed, 5 bytes up, 5 bytes down")
            .then_some(())
    });
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("[INFO  proxy] listening on"),
        "not env_logger's lines"
    );
    assert_eq!(
        guard.terminate(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists(), "the PID file outlived the proxy");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

/// logrotate renames the log, then sends SIGHUP (`postrotate`): the converted proxy, which
/// installs no handler of its own, keeps running and writes its next lines to a new file at
/// the log's path, not to the renamed one.
#[test]
fn proxy_converted_reopens_its_log_after_rotation() {
    let mut guard = Guard::new("proxy-rotate");
    let pidfile = guard.path("proxy.pid");
    let log = guard.path("proxy.log");
    let rotated = guard.path("proxy.log.1");
    let out = start_proxy(&mut guard, &pidfile, &log);
    assert_eq!(out.status.code(), Some(0), "start failed: {out:?}");
    let pid = adopt(&mut guard, &pidfile);
    let port = wait_for_line(&log, proxy_port);
    std::fs::rename(&log, &rotated).unwrap();
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    let deadline = Instant::now() + LOG_TIMEOUT;
    while !log.exists() {
        assert!(Instant::now() < deadline, "no log reopened at {log:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(through_proxy(port), b"HELLO", "the proxy after SIGHUP");
    wait_for_line(&log, |line| {
        line.contains("closed, 5 bytes up, 5 bytes down")
            .then_some(())
    });
    assert!(
        !std::fs::read_to_string(&rotated)
            .unwrap()
            .contains("bytes up"),
        "a line went to the rotated file"
    );
    assert_eq!(
        guard.terminate(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert_eq!(guard.leftovers(), [], "processes left running");
}

#[test]
fn proxy_converted_stays_attached_with_foreground() {
    let mut guard = Guard::new("proxy-fg");
    let server = format!("127.0.0.1:{}", upper_case_server());
    let pidfile = guard.path("proxy.pid");
    let mut child = Command::new(PROXY)
        .args([
            "--foreground",
            "--listen",
            "127.0.0.1:0",
            "--server",
            &server,
        ])
        .arg("--pidfile")
        .arg(&pidfile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the proxy");
    let pid = pid_of(child.id());
    guard.pids.push(pid);
    // Its log lines stay on the stderr it was given.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("read its first line");
    let port = proxy_port(&line).unwrap_or_else(|| panic!("{line:?}"));
    assert!(child.try_wait().unwrap().is_none(), "it returned");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{pid}\n")
    );
    let ours = stat(pid_of(std::process::id())).expect("our stat").session;
    assert_eq!(
        stat(pid).expect("it runs").session,
        ours,
        "it left the session"
    );
    assert_eq!(through_proxy(port), b"HELLO");
    assert_eq!(
        guard.terminate(pid),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    assert!(!pidfile.exists(), "the PID file outlived the proxy");
}

#[test]
fn proxy_converted_fails_the_start_when_the_port_is_taken() {
    let mut guard = Guard::new("proxy-taken");
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let listen = taken.local_addr().unwrap().to_string();
    let pidfile = guard.path("proxy.pid");
    let log = guard.path("proxy.log");
    let (p, l) = (pidfile.to_str().unwrap(), log.to_str().unwrap());
    let out = guard.run_here(PROXY, &["--listen", &listen, "--pidfile", p, "--log", l]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("Address already in use"), "{stderr:?}");
    assert!(!pidfile.exists(), "a PID file was left");
    assert_eq!(guard.leftovers(), [], "processes left running");
}

#[test]
fn proxy_converted_parses_its_command_line_before_the_fork() {
    let mut guard = Guard::new("proxy-help");
    let pidfile = guard.path("proxy.pid");
    let p = pidfile.to_str().unwrap();
    // `--help` prints on the terminal and exits 0: nothing was daemonized.
    let out = guard.run_here(PROXY, &["--help", "--pidfile", p]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--foreground"), "{help}");
    // A usage error is clap's, on the terminal, with clap's status.
    let out = guard.run_here(PROXY, &["--colour", "--pidfile", p]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--colour"),
        "{out:?}"
    );
    assert!(!pidfile.exists(), "a PID file was created");
    assert_eq!(guard.leftovers(), [], "processes left running");
}
