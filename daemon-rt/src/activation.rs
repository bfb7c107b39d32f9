//! Socket activation (`sd_listen_fds(3)`): sockets a service manager opened for the daemon,
//! passed as descriptors 3, 4, ... with `$LISTEN_FDS` counting them and `$LISTEN_PID`
//! naming the process they are for.
//!
//! A process they are passed to stays in the foreground (the service manager supervises it,
//! and `$LISTEN_PID` would no longer name it after a fork), and the start never closes them.
//! The variables stay in the environment for libraries that read them.

use std::os::fd::RawFd;
use std::sync::OnceLock;

/// The first passed descriptor (`SD_LISTEN_FDS_START`).
const FIRST: RawFd = 3;

/// The descriptors passed to this process, as found at the start.
static PASSED: OnceLock<Vec<RawFd>> = OnceLock::new();

/// The descriptors `$LISTEN_PID` and `$LISTEN_FDS` pass to this process, if any.
pub(crate) fn from_env() -> Vec<RawFd> {
    let fds = from_env_uncached();
    let _ = PASSED.set(fds.clone());
    fds
}

/// The sockets a service manager passed to the daemon by socket activation (descriptors 3
/// and up, `sd_listen_fds(3)`), empty when none were. They stay open through the start
/// whatever `preserve_fds` says; the program takes them over, with
/// `std::net::TcpListener::from(OwnedFd::from_raw_fd(fd))` for instance.
pub fn listen_fds() -> &'static [RawFd] {
    PASSED.get_or_init(from_env_uncached)
}

fn from_env_uncached() -> Vec<RawFd> {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<RawFd>().ok())
        .filter(|_| for_us)
        .unwrap_or(0);
    (FIRST..FIRST.saturating_add(count.max(0))).collect()
}
