// A parameter that is itself a reference (`pidfile: &Path`, `user: &str`), or a field that
// is one, is borrowed by the expansion like any other: `&&Path` and `&&str` are paths and
// names too. Nothing here is called, so nothing daemonizes.
#![deny(unused_variables)]

use std::ffi::OsStr;
use std::path::Path;

struct Borrowed<'a> {
    pidfile: &'a Path,
    log: Option<&'a str>,
    dir: &'a OsStr,
    user: &'a str,
}

#[daemon_rt::daemon(pidfile = pidfile, stdout = log, user = user, group = user)]
fn serve(pidfile: &Path, log: &str, user: &str) {}

#[daemon_rt::daemon(
    pidfile = args.pidfile,
    stderr = args.log,
    working_directory = args.dir,
    user = args.user,
)]
fn fields(args: Borrowed<'_>) {}

fn main() {
    let _ = (serve, fields);
}
