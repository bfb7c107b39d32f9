//! Step 1: close every descriptor the daemon inherited, except 0, 1, 2 and those it keeps.
//!
//! The time this takes must not grow with `RLIMIT_NOFILE`: the classic loop up to the limit
//! stalls for seconds when the limit is a million or more. In order of preference:
//! `close_range(2)` over the gaps between the kept descriptors (Linux 5.9 and later),
//! `closefrom(3)` above the kept descriptors (FreeBSD, where it is `close_range(2)` since
//! FreeBSD 13; NetBSD; illumos), the list of open descriptors in `/proc/self/fd` or `/dev/fd`
//! (macOS has neither call, and its `/dev/fd` lists every descriptor), and the loop as the
//! last resort.

use std::os::fd::{AsRawFd as _, RawFd};

use crate::error::{Context as _, Error, Step};
use crate::sys;

/// Makes `keep` what [`close_inherited`] works from: above 2, sorted, without duplicates. A
/// list that already is stays untouched: the daemon reads the list the starting process
/// prepared and writes no page of it (each written page is a copy-on-write fault).
pub(crate) fn normalize(keep: &mut Vec<RawFd>) {
    let ready = keep.first().is_none_or(|&fd| fd > 2) && keep.windows(2).all(|w| w[0] < w[1]);
    if !ready {
        keep.retain(|&fd| fd > 2);
        keep.sort_unstable();
        keep.dedup();
    }
}

/// Closes every descriptor above 2 that is not in `keep`.
pub(crate) fn close_inherited(keep: &mut Vec<RawFd>) -> Result<(), Error> {
    normalize(keep);
    #[cfg(target_os = "linux")]
    if close_gaps(keep).is_ok() {
        return Ok(());
    }
    #[cfg(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "illumos",
        target_os = "solaris"
    ))]
    if close_above(keep).is_ok() {
        return Ok(());
    }
    if let Some(open) = listed_open_fds() {
        open.into_iter()
            .filter(|fd| *fd > 2 && keep.binary_search(fd).is_err())
            .for_each(sys::close_inherited);
        return Ok(());
    }
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .context(Step::CloseFds, None)?;
    let limit = RawFd::try_from(soft).unwrap_or(RawFd::MAX);
    (3..limit)
        .filter(|fd| keep.binary_search(fd).is_err())
        .for_each(sys::close_inherited);
    Ok(())
}

/// `close_range` over `3..keep[0]`, the gaps between kept descriptors, and `last+1..`.
#[cfg(target_os = "linux")]
fn close_gaps(keep: &[RawFd]) -> std::io::Result<()> {
    let mut first: u32 = 3;
    for &fd in keep {
        let fd = fd as u32;
        if fd > first {
            sys::close_range(first, fd - 1)?;
        }
        first = fd + 1;
    }
    sys::close_range(first, u32::MAX)
}

/// `close` for each descriptor from 3 to the highest kept one that is not kept, then
/// `closefrom` above it: as many calls as the highest kept number, which is small (a program
/// keeps the first descriptors it opened), never as many as `RLIMIT_NOFILE` allows.
#[cfg(any(
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris"
))]
fn close_above(keep: &[RawFd]) -> std::io::Result<()> {
    let first = keep.last().map_or(3, |&fd| fd + 1);
    (3..first)
        .filter(|fd| keep.binary_search(fd).is_err())
        .for_each(sys::close_inherited);
    sys::close_from(first)
}

/// The descriptors listed in `/proc/self/fd` (or `/dev/fd`), read completely before any is
/// closed; the directory's own descriptor is closed by then and is skipped as not open.
///
/// `/dev/fd` lists every descriptor on Linux (a link to `/proc/self/fd`), on macOS, and on
/// FreeBSD with `fdescfs` mounted; FreeBSD without it lists only 0, 1 and 2. So `/dev/fd` is
/// believed only if it lists a descriptor above 2 opened for the test.
fn listed_open_fds() -> Option<Vec<RawFd>> {
    if let Some(fds) = list("/proc/self/fd") {
        return Some(fds);
    }
    let probe = crate::stdio::above_stdio(std::fs::File::open("/dev/null").ok()?).ok()?;
    let fds = list("/dev/fd")?;
    fds.contains(&probe.as_raw_fd()).then_some(fds)
}

/// The numeric entries of the directory `dir`.
fn list(dir: &str) -> Option<Vec<RawFd>> {
    let dir = std::fs::read_dir(dir).ok()?;
    let fds = dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    Some(fds)
}
