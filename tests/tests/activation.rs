//! The socket activation helpers (`daemon_rt::activation`) on sockets passed by the real
//! `systemd-socket-activate` (Debian package systemd; skipped without it): a TCP and a Unix
//! listener, named with `--fdname`, taken by name and by index, and refused as the wrong kind.

mod support;

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Sandbox;

const ACTIVATED: &str = env!("CARGO_BIN_EXE_activated");

fn socket_activate_found() -> bool {
    let found = Command::new("systemd-socket-activate")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: systemd-socket-activate is not installed (Debian package systemd)");
    }
    found
}

#[test]
fn passed_sockets_are_taken_by_name_and_index_and_checked_for_their_kind() {
    if !socket_activate_found() {
        return;
    }
    let sandbox = Sandbox::new("activation");
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let tcp = format!("127.0.0.1:{port}");
    let unix = sandbox.path("admin.sock");
    let unix = unix.to_str().unwrap();
    let mut child = Command::new("systemd-socket-activate")
        .args(["-l", &tcp, "-l", unix, "--fdname=web:admin", ACTIVATED])
        .args([
            "tcp:admin",
            "udp:web",
            "tcp:web",
            "unix:#1",
            "tcp:web",
            "unix:other",
        ])
        .args(["tcp:#7", "udp:#0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn systemd-socket-activate");
    // It execs the program at the first connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nothing listens on {tcp}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait for the program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let prefix = "cannot take the sockets passed by socket activation";
    let expected = [
        format!(
            "tcp:admin: {prefix}: socket `admin`, descriptor 4, is a Unix stream socket that \
             listens, not a listening TCP socket"
        ),
        format!(
            "udp:web: {prefix}: socket `web`, descriptor 3, is an IPv4 stream socket that \
             listens, not a UDP socket"
        ),
        format!("tcp:web: taken Ok({tcp})"),
        format!("unix:#1: taken Ok({unix:?} (pathname))"),
        // Taken already: each socket is handed out once.
        "tcp:web: none".to_owned(),
        "unix:other: none".to_owned(),
        "tcp:#7: none".to_owned(),
        "udp:#0: none".to_owned(),
        "left: 0".to_owned(),
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}
