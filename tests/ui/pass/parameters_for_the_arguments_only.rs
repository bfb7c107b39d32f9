// A parameter that only the attribute's arguments read (the PID file, the log) is used: no
// `unused_variables` warning, which `-D warnings` would turn into a failed build. A lifetime
// parameter is no generic type: `fn serve<'a>(cli: &'a Cli)` is accepted. Nothing here is
// called, so nothing daemonizes.
#![deny(unused_variables, unused_mut)]

use std::path::PathBuf;

struct Cli {
    pidfile: PathBuf,
    port: u16,
}

#[daemon_rt::daemon(pidfile = pidfile, stderr = log, foreground = foreground)]
fn serve(pidfile: PathBuf, log: Option<PathBuf>, foreground: bool, port: u16) {
    let _ = port;
}

#[daemon_rt::daemon(pidfile = cli.pidfile)]
fn borrowed<'a>(cli: &'a Cli) -> u16 {
    cli.port
}

fn main() {
    let _ = (serve, borrowed);
}
