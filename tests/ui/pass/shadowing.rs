// The expansion names everything by absolute path: a crate that shadows common names, and a
// body that shadows them again, still compiles.
#![allow(dead_code)]

use daemon_rt::daemon;

type Result<T> = std::result::Result<T, Error>;
#[derive(Debug)]
struct Error;
struct Config;
struct Daemon;
struct Running;
fn start() {}

#[daemon(pidfile = "/run/a.pid", umask = 0o022)]
fn serve() -> Result<()> {
    struct Config;
    let __daemon = Daemon;
    let __daemon_running = Config;
    let _ = (__daemon, __daemon_running, Running);
    start();
    Err(Error)
}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        let _ = serve();
    }
}
