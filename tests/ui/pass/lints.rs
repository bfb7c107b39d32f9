// The expansion triggers none of the lints a careful crate denies.
#![deny(unused_qualifications, dead_code, unused, missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]
//! A documented crate.

use daemon_rt::daemon;

/// The daemon's entry point.
#[daemon(pidfile = "/run/a.pid", stdout = "/var/log/a.log")]
fn serve() {}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        serve();
    }
}
