// The service options, with expressions and with the literals the attribute rewrites (seconds
// into a `Duration`, a signal's name into a `Signal`, an ID into a `u32`).
use std::time::Duration;

use daemon_rt::Signal;

struct Cli {
    foreground: bool,
    user: Option<String>,
}

fn cli() -> Cli {
    Cli {
        foreground: std::env::args().any(|a| a == "--foreground"),
        user: std::env::var("TOOL_USER").ok(),
    }
}

#[daemon_rt::daemon(
    pidfile = "/run/a.pid",
    stdout = "/var/log/a.log",
    foreground = std::env::var_os("FG").is_some(),
    ready = "manual",
    ready_timeout = 30,
    reopen_logs = "USR1",
    user = "nobody",
    group = 65534,
    chroot = "/var/empty",
    control = false,
    print_pid = true,
)]
fn literals() {}

#[daemon_rt::daemon(
    foreground = cli().foreground,
    ready = "started",
    ready_timeout = Duration::from_millis(1500),
    reopen_logs = None,
    user = cli().user,
    group = 0u32,
    chroot = Some("/srv/jail"),
    control = !cli().foreground,
    print_pid = cfg!(debug_assertions),
)]
fn expressions() {}

#[daemon_rt::daemon(reopen_logs = Signal::SIGHUP, user = "www-data", group = "www-data")]
fn signal_value() {}

#[daemon_rt::daemon(reopen_logs = Some(daemon_rt::Signal::SIGUSR2), user = 1000)]
fn optional_signal() {}

mod rt {
    pub use daemon_rt::*;
}

// A signal named by a string goes through the `crate` path, even when it comes after.
#[rt::daemon(reopen_logs = "sighup", crate = "crate::rt")]
fn through_reexport() {}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        literals();
        expressions();
        signal_value();
        optional_signal();
        through_reexport();
    }
}
