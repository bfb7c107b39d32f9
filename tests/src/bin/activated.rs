//! Takes the sockets passed by socket activation as its arguments say, and prints what it got,
//! one line each: `activated KIND:WHICH...`, where KIND is `tcp`, `unix` or `udp` and WHICH a
//! `$LISTEN_FDNAMES` name or, prefixed with `#`, an index. Then the number of sockets
//! `listen_fds()` still hands out. No daemonizing: the tests run it under
//! `systemd-socket-activate`, which execs it.

use std::fmt::Debug;

use daemon_rt::activation::{self, Which};

fn show<T: Debug>(spec: &str, taken: Result<Option<T>, daemon_rt::Error>) {
    match taken {
        Ok(Some(socket)) => println!("{spec}: taken {socket:?}"),
        Ok(None) => println!("{spec}: none"),
        Err(e) => println!("{spec}: {e:#}"),
    }
}

fn take(kind: &str, which: impl Which + Copy, spec: &str) {
    match kind {
        "tcp" => show(
            spec,
            activation::tcp_listener(which).map(|l| l.map(|l| l.local_addr())),
        ),
        "unix" => show(
            spec,
            activation::unix_listener(which).map(|l| l.map(|l| l.local_addr())),
        ),
        "udp" => show(
            spec,
            activation::udp_socket(which).map(|s| s.map(|s| s.local_addr())),
        ),
        other => panic!("unknown kind {other}"),
    }
}

fn main() {
    for spec in std::env::args().skip(1) {
        let (kind, which) = spec.split_once(':').expect("KIND:WHICH");
        match which.strip_prefix('#') {
            Some(index) => take(kind, index.parse::<usize>().expect("an index"), &spec),
            None => take(kind, which, &spec),
        }
    }
    println!("left: {}", daemon_rt::listen_fds().len());
}
