//! What a fourth hostile campaign found, against reload, the watchdog, the forwarder to
//! syslog and the journal, and the activation helpers: each test FAILS on the code it was
//! written against and shows one defect, checked from outside the process.

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{Sandbox, alive, is_root, read_pid};

const LINES3: &str = env!("CARGO_BIN_EXE_lines3");

/// The private mount namespace of `logs.rs`: tmpfs over `/dev` (with `/dev/null` bound
/// back), the test's socket bound at `/dev/log`; then `$@`.
const NAMESPACE: &str = r#"set -e
D="$1"; shift
touch "$D/null"; mount --bind /dev/null "$D/null"
mount -t tmpfs -o mode=755 tmpfs /dev
touch /dev/null /dev/log
mount --bind "$D/null" /dev/null
mount --bind "$D/syslog.sock" /dev/log
exec "$@"
"#;

fn can_run() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root for a private mount namespace");
        return false;
    }
    let ok = std::process::Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: needs unshare (util-linux)");
    }
    ok
}

/// The message of a syslog datagram: what follows `TAG[PID]: `.
fn message(datagram: &[u8]) -> Vec<u8> {
    let at = datagram
        .windows(3)
        .position(|w| w == b"]: ")
        .expect("TAG[PID]: ");
    datagram[at + 3..].to_vec()
}

/// Starts `lines3` in the namespace, its stdout to the test's syslog socket.
fn start(name: &str) -> (Sandbox, UnixDatagram, Pid) {
    let sandbox = Sandbox::new(name);
    let syslog = UnixDatagram::bind(sandbox.path("syslog.sock")).expect("bind syslog.sock");
    let pidfile = sandbox.path("lines3.pid");
    let dir = sandbox.dir().to_str().unwrap().to_owned();
    let start = sandbox.run(
        "unshare",
        &[
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            NAMESPACE,
            "sh",
            &dir,
            LINES3,
            pidfile.to_str().unwrap(),
            "--tag",
            &dir,
        ],
        |_| {},
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("the PID file holds the daemon's PID");
    sandbox.track(pid);
    (sandbox, syslog, pid)
}

/// Messages until one equal to `last` came, or fails after ten seconds.
fn until(socket: &UnixDatagram, last: &[u8]) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    loop {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(message(&buf[..n]));
            if got.last().unwrap() == last {
                return got;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {last:?} in {} messages",
            got.len()
        );
    }
}

/// Broken3 1: the forwarder cuts a line that reached 8 KiB without its newline into a
/// message, and then takes the newline that comes next for the end of another, empty, line.
/// A line of exactly 8192 bytes written in two parts (`print!` then `println!()`, or std's
/// `LineWriter`, which writes a long line and its newline separately) becomes two messages,
/// the second empty. Should: one message of 8192 bytes, then `after`. Fix: cut at
/// `buf.len() > LINE_MAX` (a full line waits for one more byte to know whether it ends there).
#[test]
fn a_line_of_exactly_8_kib_written_in_two_parts_is_one_message() {
    if !can_run() {
        return;
    }
    let (sandbox, syslog, pid) = start("b3-8k");
    let got = until(&syslog, b"after");
    let lens: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(lens, [8192, 5], "message lengths: {lens:?}");
    let _ = sandbox.stop(pid, Signal::SIGTERM);
}

/// Broken3 2: the forwarder is a process of its own, and nothing watches it. When it dies
/// (the OOM killer, a `kill -9` at the wrong PID), the daemon's standard output is a pipe
/// without a reader: its next `println!` fails with `EPIPE` (SIGPIPE is ignored), which
/// std's `println!` turns into a panic, and the daemon is gone. "Sending never blocks the
/// daemon" and a missing syslog "never stops" it, but a missing forwarder kills it. Should:
/// the daemon runs on (its lines lost, as with a syslog that is gone).
#[test]
fn the_daemon_outlives_its_forwarder() {
    if !can_run() {
        return;
    }
    let (sandbox, syslog, pid) = start("b3-fwd");
    let _ = until(&syslog, b"tick");
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let forwarder: Vec<i32> = children
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(forwarder.len(), 1, "the forwarder: {children:?}");
    kill(Pid::from_raw(forwarder[0]), Signal::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        alive(pid),
        "the daemon died with its forwarder: {:?}",
        std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
    );
    let _ = sandbox.stop(pid, Signal::SIGTERM);
}
