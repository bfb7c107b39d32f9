//! Standard output and error to syslog and the journal (`daemon_rt::Output`), received by
//! sockets this test binds at `/dev/log` and `/run/systemd/journal/socket` inside a private
//! mount namespace (root only; skipped otherwise), and compared with what `logger` sends to
//! the same sockets.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use support::{Sandbox, is_root, read_pid};

const LOGS: &str = env!("CARGO_BIN_EXE_logs");

/// The private mount namespace: tmpfs over `/dev` (with `/dev/null` bound back) and `/run`,
/// the test's sockets bound at the syslog and journal paths; then `$@`.
const NAMESPACE: &str = r#"set -e
D="$1"; shift
touch "$D/null"; mount --bind /dev/null "$D/null"
mount -t tmpfs -o mode=755 tmpfs /dev
touch /dev/null /dev/log
mount --bind "$D/null" /dev/null
mount --bind "$D/syslog.sock" /dev/log
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/journal
touch /run/systemd/journal/socket
mount --bind "$D/journal.sock" /run/systemd/journal/socket
logger -i -t reference "logger line"
printf 'MESSAGE=logger journald\nPRIORITY=6\n' | logger --journald
exec "$@"
"#;

/// Whether the test can run here; says why not otherwise.
fn can_run() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root for a private mount namespace");
        return false;
    }
    let found = |program: &str| {
        std::process::Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found("unshare") || !found("logger") {
        eprintln!("skipped: needs unshare and logger (Debian packages util-linux, bsdutils)");
        return false;
    }
    true
}

/// Every datagram `socket` receives until none came for `quiet`.
fn drain(socket: &UnixDatagram, quiet: Duration) -> Vec<Vec<u8>> {
    socket.set_read_timeout(Some(quiet)).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    while let Ok(n) = socket.recv(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    got
}

/// Receives until `count` datagrams came, or fails after ten seconds.
fn receive(socket: &UnixDatagram, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while got.len() < count {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} messages: {got:?}",
            got.len()
        );
    }
    got
}

/// A syslog datagram as `syslog(3)` and `logger` frame it: priority, tag, PID, message.
fn parse_syslog(datagram: &[u8]) -> (u8, String, u32, String) {
    let text = String::from_utf8(datagram.to_vec()).expect("UTF-8");
    let (pri, rest) = text[1..].split_once('>').expect("<PRI>");
    // `Mmm dd hh:mm:ss `: 16 bytes, the day padded with a space.
    let stamp = &rest[..16];
    assert!(
        stamp.as_bytes()[3] == b' ' && stamp.as_bytes()[6] == b' ' && stamp.as_bytes()[9] == b':',
        "{text:?}"
    );
    let (tag, rest) = rest[16..].split_once('[').expect("TAG[");
    let (pid, message) = rest.split_once("]: ").expect("PID]: ");
    (
        pri.parse().unwrap(),
        tag.to_owned(),
        pid.parse().unwrap(),
        message.to_owned(),
    )
}

/// A journal datagram as journald parses it: `KEY=value\n`, or `KEY\n`, a 64-bit
/// little-endian length, the value and `\n`.
fn parse_journal(mut datagram: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut fields = Vec::new();
    while !datagram.is_empty() {
        let end = datagram
            .iter()
            .position(|&b| b == b'\n')
            .expect("field end");
        let line = &datagram[..end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let key = String::from_utf8(line[..eq].to_vec()).unwrap();
            fields.push((key, line[eq + 1..].to_vec()));
            datagram = &datagram[end + 1..];
        } else {
            let key = String::from_utf8(line.to_vec()).unwrap();
            let rest = &datagram[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            fields.push((key, rest[8..8 + len].to_vec()));
            assert_eq!(rest[8 + len], b'\n');
            datagram = &rest[9 + len..];
        }
    }
    for (key, _) in &fields {
        assert!(
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "journald drops the field {key:?}"
        );
    }
    fields
}

/// The lines the fixture writes to stdout before it waits, as messages: a long line is cut
/// at 8 KiB.
fn stdout_lines() -> Vec<String> {
    let x = "x".repeat(9000);
    vec![
        "std println".to_owned(),
        "one line in two print!s".to_owned(),
        "daemon_rt println".to_owned(),
        "two lines".to_owned(),
        "in one write".to_owned(),
        x[..8192].to_owned(),
        x[8192..].to_owned(),
        String::new(),
    ]
}

/// Starts the fixture in the namespace with `stdout` and `stderr`; returns the sandbox, the
/// two sockets and the daemon's PID. `before` runs once the sockets are bound.
fn start(
    name: &str,
    stdout: &str,
    stderr: &str,
    before: impl FnOnce(&Sandbox),
) -> (Sandbox, UnixDatagram, UnixDatagram, u32) {
    let sandbox = Sandbox::new(name);
    let syslog = UnixDatagram::bind(sandbox.path("syslog.sock")).expect("bind syslog.sock");
    let journal = UnixDatagram::bind(sandbox.path("journal.sock")).expect("bind journal.sock");
    before(&sandbox);
    let pidfile = sandbox.path("logs.pid");
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
            LOGS,
            stdout,
            stderr,
            pidfile.to_str().unwrap(),
            "--tag",
            &dir,
        ],
        |_| {},
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("the PID file holds the daemon's PID");
    sandbox.track(pid);
    (sandbox, syslog, journal, pid.as_raw() as u32)
}

/// Ends the daemon; returns once it and the forwarding process are gone.
fn stop(sandbox: &Sandbox, pid: u32) {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    let status = sandbox.stop(pid, Signal::SIGTERM);
    assert_eq!(status, WaitStatus::Exited(pid, 0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sandbox.leftovers().is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            sandbox.leftovers()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stdout_and_stderr_lines_reach_syslog_framed_as_syslog_3_frames_them() {
    if !can_run() {
        return;
    }
    let (sandbox, syslog, journal, pid) = start("syslog", "syslog", "syslog", |_| {});
    // logger's message came first: ours must parse the same way.
    let reference = receive(&syslog, 1);
    let (pri, tag, _, message) = parse_syslog(&reference[0]);
    assert_eq!(
        (pri, tag.as_str(), message.as_str()),
        (13, "reference", "logger line")
    );

    let expected_out = stdout_lines();
    let got = receive(&syslog, expected_out.len() + 2);
    let mut out = Vec::new();
    let mut err = Vec::new();
    for datagram in &got {
        let (pri, tag, from, message) = parse_syslog(datagram);
        assert_eq!((tag.as_str(), from), ("logs", pid), "{datagram:?}");
        match pri {
            30 => out.push(message), // daemon.info
            27 => err.push(message), // daemon.err
            other => panic!("priority {other}: {datagram:?}"),
        }
    }
    assert_eq!(out, expected_out);
    assert_eq!(err, ["std eprintln", "daemon_rt eprintln"]);

    stop(&sandbox, pid);
    let last = drain(&syslog, Duration::from_millis(300));
    let last: Vec<_> = last.iter().map(|d| parse_syslog(d).3).collect();
    assert_eq!(last, ["last words, no newline"]);
    assert!(
        drain(&journal, Duration::from_millis(1)).len() == 1,
        "the journal got more than logger's line"
    );
}

#[test]
fn stdout_and_stderr_lines_reach_the_journal_in_its_native_format() {
    if !can_run() {
        return;
    }
    let (sandbox, _syslog, journal, pid) = start("journal", "journal", "journal", |_| {});
    let reference = receive(&journal, 1);
    let fields = parse_journal(&reference[0]);
    assert!(
        fields.contains(&("MESSAGE".to_owned(), b"logger journald".to_vec())),
        "{fields:?}"
    );

    let expected_out = stdout_lines();
    let got = receive(&journal, expected_out.len() + 2);
    let mut out = Vec::new();
    let mut err = Vec::new();
    for datagram in &got {
        let fields = parse_journal(datagram);
        let field = |key: &str| {
            let value = &fields.iter().find(|(k, _)| k == key).expect(key).1;
            String::from_utf8(value.clone()).unwrap()
        };
        assert_eq!(field("SYSLOG_IDENTIFIER"), "logs");
        assert_eq!(field("SYSLOG_PID"), pid.to_string());
        assert_eq!(field("SYSLOG_FACILITY"), "3");
        match field("PRIORITY").as_str() {
            "6" => out.push(field("MESSAGE")),
            "3" => err.push(field("MESSAGE")),
            other => panic!("PRIORITY={other}: {fields:?}"),
        }
    }
    assert_eq!(out, expected_out);
    assert_eq!(err, ["std eprintln", "daemon_rt eprintln"]);
    stop(&sandbox, pid);
}

#[test]
fn lines_a_full_syslog_cannot_take_are_counted_and_the_daemon_runs_on() {
    if !can_run() {
        return;
    }
    // The receiver's queue (`net.unix.max_dgram_qlen`) is filled up to four short of full
    // before the start, and not read: logger's line and the first stdout lines fit, the
    // others are dropped once the forwarder's one wait ends. The daemon does not wait for
    // them: it stops on SIGTERM as always, and the line after says how many were lost.
    let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10);
    let (sandbox, syslog, _journal, pid) = start("full", "syslog", "/dev/null", |sandbox| {
        let filler = UnixDatagram::unbound().unwrap();
        for _ in 0..qlen.saturating_sub(4) {
            filler
                .send_to(b"filler", sandbox.path("syslog.sock"))
                .expect("fill the queue");
        }
    });
    // Long enough for the forwarder to wait once and give up on the rest.
    std::thread::sleep(Duration::from_secs(1));
    let got = drain(&syslog, Duration::from_millis(300));
    let ours: Vec<String> = got
        .iter()
        .filter(|d| d.as_slice() != b"filler")
        .map(|d| parse_syslog(d))
        .filter(|(_, tag, _, _)| tag == "logs")
        .map(|(_, _, _, message)| message)
        .collect();
    let expected = stdout_lines();
    assert!(ours.len() < expected.len(), "nothing was dropped: {ours:?}");
    assert_eq!(
        ours,
        expected[..ours.len()],
        "not the first lines, in order"
    );
    let lost = expected.len() - ours.len();

    stop(&sandbox, pid);
    let last: Vec<String> = drain(&syslog, Duration::from_millis(300))
        .iter()
        .map(|d| parse_syslog(d).3)
        .collect();
    assert_eq!(
        last,
        [
            format!(
                "logs: {lost} lines lost, not sent to syslog: Resource temporarily unavailable (os error 11)"
            ),
            "last words, no newline".to_owned(),
        ]
    );
}

/// Runs systemd-journald itself (`/lib/systemd/systemd-journald`) as the receiver: PID 1 of a
/// new PID namespace runs it on a tmpfs `/run`, binds its syslog socket at `/dev/log`, starts
/// the fixture with stdout to syslog and stderr to the journal, stops it, and prints what
/// `journalctl` stored. Everything in the namespace ends with it.
const JOURNALD: &str = r#"set -e
D="$1"; shift
touch "$D/null"; mount --bind /dev/null "$D/null"
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
mount -t tmpfs -o mode=755 tmpfs /var/log/journal 2>/dev/null || true
/lib/systemd/systemd-journald >"$D/journald.out" 2>&1 &
for i in $(seq 100); do
    [ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/dev-log ] && break
    sleep 0.05
done
mount -t tmpfs -o mode=755 tmpfs /dev
touch /dev/null /dev/log
mount --bind "$D/null" /dev/null
mount --bind /run/systemd/journal/dev-log /dev/log
"$@"
pid=$(cat "$D/logs.pid")
sleep 0.5
kill "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
sleep 0.5
journalctl -D /run/log/journal --no-pager -o export SYSLOG_IDENTIFIER=logs
"#;

#[test]
fn systemd_journald_stores_the_lines_from_both_targets() {
    if !can_run() {
        return;
    }
    if !Path::new("/lib/systemd/systemd-journald").exists() {
        eprintln!("skipped: needs /lib/systemd/systemd-journald (Debian package systemd)");
        return;
    }
    let sandbox = Sandbox::new("journald");
    let dir = sandbox.dir().to_str().unwrap().to_owned();
    let pidfile = sandbox.path("logs.pid");
    let run = sandbox.run(
        "unshare",
        &[
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "sh",
            "-c",
            JOURNALD,
            "sh",
            &dir,
            LOGS,
            "syslog",
            "journal",
            pidfile.to_str().unwrap(),
            "--tag",
            &dir,
        ],
        |_| {},
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    // `journalctl -o export`: entries separated by a blank line, fields `KEY=value`.
    let entries: Vec<Vec<&str>> = run
        .stdout
        .split("\n\n")
        .map(|entry| entry.lines().collect())
        .filter(|fields: &Vec<&str>| !fields.is_empty())
        .collect();
    let field = |entry: &Vec<&str>, key: &str| {
        let prefix = format!("{key}=");
        entry
            .iter()
            .find_map(|f| f.strip_prefix(prefix.as_str()))
            .map(str::to_owned)
    };
    let stored: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                field(e, "_TRANSPORT").unwrap_or_default(),
                field(e, "PRIORITY").unwrap_or_default(),
                field(e, "MESSAGE").unwrap_or_default(),
            )
        })
        .collect();
    let syslog = |m: &str| ("syslog".to_owned(), "6".to_owned(), m.to_owned());
    let journal = |m: &str| ("journal".to_owned(), "3".to_owned(), m.to_owned());
    let mut expected: Vec<_> = stdout_lines().iter().map(|m| syslog(m)).collect();
    expected.push(journal("std eprintln"));
    expected.push(journal("daemon_rt eprintln"));
    expected.push(syslog("last words, no newline"));
    let mut sorted = stored.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "journalctl: {}", run.stdout);
    // SYSLOG_PID is the daemon's (in the namespace), the same in every entry.
    let pids: Vec<_> = entries.iter().map(|e| field(e, "SYSLOG_PID")).collect();
    assert!(
        pids.iter().all(|p| p.is_some() && *p == pids[0]),
        "{pids:?}"
    );
    assert_eq!(sandbox.leftovers(), Vec::<u32>::new(), "left running");
}
