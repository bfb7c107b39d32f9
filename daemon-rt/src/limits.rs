//! Resource limits and the nice value (`limit_nofile`, `limit_core`, `limit_nproc`,
//! `limit_memlock`, `limit_as`, `prevent_core`, `nice`): set in the daemon, before the
//! privilege drop, so that root can still raise a hard limit or lower the nice value. The
//! names are systemd's `LimitNOFILE=` and so on; `prevent_core` is python-daemon's.
//!
//! Nothing here runs unless one of the options is given.

use std::fmt;
use std::os::fd::RawFd;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Step};
use crate::sys;

/// A resource limit: a soft and a hard limit (`setrlimit(2)`), each a number or no limit at
/// all (`RLIM_INFINITY`). The soft limit is what the process meets; the hard limit is as far
/// as an unprivileged process may raise it.
///
/// A number sets both; a string is `"N"`, `"soft:hard"` or `"infinity"` (on either side of
/// the colon too), as systemd's `LimitNOFILE=` reads it.
///
/// ```
/// use daemon_rt::Limit;
///
/// assert_eq!(Limit::from(65536), Limit::new(Some(65536), Some(65536)));
/// assert_eq!("1024:65536".parse(), Ok(Limit::new(Some(1024), Some(65536))));
/// assert_eq!("infinity".parse(), Ok(Limit::INFINITY));
/// assert_eq!(Limit::new(Some(0), None).to_string(), "0:infinity");
/// assert!("65536:1024".parse::<Limit>().is_err()); // soft above hard
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    soft: Option<u64>,
    hard: Option<u64>,
}

impl Limit {
    /// No limit, soft or hard: `RLIM_INFINITY`.
    ///
    /// ```
    /// assert_eq!(daemon_rt::Limit::INFINITY.soft(), None);
    /// ```
    pub const INFINITY: Limit = Limit {
        soft: None,
        hard: None,
    };

    /// A soft and a hard limit; `None` is no limit. A soft limit above the hard one is refused
    /// when the daemon starts ([`ErrorKind::InvalidConfig`]).
    ///
    /// ```
    /// let limit = daemon_rt::Limit::new(Some(1024), None); // 1024, raisable without bound
    /// assert_eq!((limit.soft(), limit.hard()), (Some(1024), None));
    /// ```
    #[must_use]
    pub const fn new(soft: Option<u64>, hard: Option<u64>) -> Limit {
        Limit { soft, hard }
    }

    /// The soft limit, `None` for none.
    ///
    /// ```
    /// assert_eq!(daemon_rt::Limit::from(8).soft(), Some(8));
    /// ```
    #[must_use]
    pub const fn soft(&self) -> Option<u64> {
        self.soft
    }

    /// The hard limit, `None` for none.
    ///
    /// ```
    /// assert_eq!(daemon_rt::Limit::from(8).hard(), Some(8));
    /// ```
    #[must_use]
    pub const fn hard(&self) -> Option<u64> {
        self.hard
    }

    /// Why the soft limit cannot be above the hard one, if it is.
    fn inverted(self) -> Option<String> {
        match (self.soft, self.hard) {
            (None, Some(_)) => Some("the soft limit is infinity, above the hard limit".into()),
            (Some(soft), Some(hard)) if soft > hard => Some(format!(
                "the soft limit {soft} is above the hard limit {hard}"
            )),
            _ => None,
        }
    }
}

impl From<u64> for Limit {
    /// The same soft and hard limit.
    fn from(value: u64) -> Limit {
        Limit::new(Some(value), Some(value))
    }
}

impl fmt::Display for Limit {
    /// `N` when soft and hard are the same, `soft:hard` otherwise; `infinity` for no limit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side =
            |value: Option<u64>| value.map_or_else(|| "infinity".to_owned(), |n| n.to_string());
        if self.soft == self.hard {
            f.write_str(&side(self.soft))
        } else {
            write!(f, "{}:{}", side(self.soft), side(self.hard))
        }
    }
}

/// A string that is not a [`Limit`]; its `Display` says why.
///
/// ```
/// let err = "lots".parse::<daemon_rt::Limit>().unwrap_err();
/// assert_eq!(err.to_string(), "`lots` is not a limit: a number, `soft:hard` or `infinity`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLimit(String);

impl fmt::Display for InvalidLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidLimit {}

impl Limit {
    /// `"N"`, `"soft:hard"` or `"infinity"`, the soft limit possibly above the hard one
    /// (which [`Limits::check`] refuses, saying so).
    pub(crate) fn parse_unchecked(text: &str) -> Option<Limit> {
        let side = |part: &str| match part {
            "infinity" => Some(None),
            _ if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => {
                part.parse::<u64>().ok().map(Some)
            }
            _ => None,
        };
        let (soft, hard) = match text.split_once(':') {
            Some((soft, hard)) => side(soft).zip(side(hard)),
            None => side(text).map(|both| (both, both)),
        }?;
        Some(Limit::new(soft, hard))
    }
}

impl FromStr for Limit {
    type Err = InvalidLimit;

    fn from_str(text: &str) -> Result<Limit, InvalidLimit> {
        let Some(limit) = Limit::parse_unchecked(text) else {
            return Err(InvalidLimit(format!(
                "`{text}` is not a limit: a number, `soft:hard` or `infinity`"
            )));
        };
        match limit.inverted() {
            Some(why) => Err(InvalidLimit(format!("`{text}`: {why}"))),
            None => Ok(limit),
        }
    }
}

/// The limits the options set. Crate-private: the options name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `RLIMIT_NOFILE`: open descriptors.
    Nofile,
    /// `RLIMIT_CORE`: the size of a core dump, in bytes.
    Core,
    /// `RLIMIT_NPROC`: processes of the user.
    Nproc,
    /// `RLIMIT_MEMLOCK`: bytes locked into memory.
    Memlock,
    /// `RLIMIT_AS`: the address space, in bytes.
    As,
}

impl Resource {
    /// The option that sets it.
    pub(crate) fn option(self) -> &'static str {
        match self {
            Resource::Nofile => "limit_nofile",
            Resource::Core => "limit_core",
            Resource::Nproc => "limit_nproc",
            Resource::Memlock => "limit_memlock",
            Resource::As => "limit_as",
        }
    }

    /// The platform's constant, `None` where it has no such limit: illumos has neither
    /// `RLIMIT_NPROC` nor `RLIMIT_MEMLOCK`.
    fn raw(self) -> Option<sys::RlimitResource> {
        use nix::libc;
        match self {
            Resource::Nofile => Some(libc::RLIMIT_NOFILE as _),
            Resource::Core => Some(libc::RLIMIT_CORE as _),
            Resource::As => Some(libc::RLIMIT_AS as _),
            #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
            Resource::Nproc => Some(libc::RLIMIT_NPROC as _),
            #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
            Resource::Memlock => Some(libc::RLIMIT_MEMLOCK as _),
            #[cfg(any(target_os = "illumos", target_os = "solaris"))]
            Resource::Nproc | Resource::Memlock => None,
        }
    }
}

/// What a limit option was given: the limit, or the text that is not one.
pub(crate) type Given = Result<Limit, String>;

/// The limits and nice value to set, each checked before anything is done.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    limits: Vec<(Resource, Given)>,
    nice: Option<i32>,
    prevent_core: bool,
}

impl Limits {
    /// Sets `resource` to `limit`; a second call for the same resource replaces the first.
    pub(crate) fn set(&mut self, resource: Resource, limit: Option<Given>) {
        self.limits.retain(|(r, _)| *r != resource);
        if let Some(limit) = limit {
            self.limits.push((resource, limit));
        }
    }

    pub(crate) fn set_nice(&mut self, nice: Option<i32>) {
        self.nice = nice;
    }

    pub(crate) fn set_prevent_core(&mut self, yes: bool) {
        self.prevent_core = yes;
    }

    /// Whether any option was given: the daemon's steps skip this module otherwise.
    pub(crate) fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.nice.is_none() && !self.prevent_core
    }

    /// Refuses values that can never work, with [`ErrorKind::InvalidConfig`]: a string that
    /// is not a limit, a soft limit above the hard one, a limit this platform does not have
    /// or whose `rlim_t` cannot hold, a nice value outside -20..=19, and `prevent_core` with
    /// a `limit_core` other than 0, and on Linux a `limit_nofile` above `fs.nr_open`, which
    /// the kernel refuses even to root (as `EPERM`, which would read as a missing privilege).
    pub(crate) fn check(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::invalid_config(reason));
        for (resource, given) in &self.limits {
            let option = resource.option();
            let limit = match given {
                Ok(limit) => *limit,
                Err(text) => {
                    return invalid(format!(
                        "`{option}` `{text}` is not a limit: a number, `soft:hard` or `infinity`"
                    ));
                }
            };
            if let Some(why) = limit.inverted() {
                return invalid(format!("`{option} = {limit}`: {why}"));
            }
            if resource.raw().is_none() {
                return invalid(format!(
                    "`{option}`: this platform has no such resource limit"
                ));
            }
            let fits = |side: Option<u64>| {
                side.is_none_or(|n| {
                    nix::libc::rlim_t::try_from(n).is_ok_and(|n| n != nix::libc::RLIM_INFINITY)
                })
            };
            if !fits(limit.soft) || !fits(limit.hard) {
                return invalid(format!(
                    "`{option} = {limit}` is more than this platform's limits can hold"
                ));
            }
            if *resource == Resource::Nofile
                && let Some(ceiling) = nr_open()
                && limit.hard.is_none_or(|hard| hard > ceiling)
            {
                return invalid(format!(
                    "`{option} = {limit}`: Linux allows at most {ceiling} descriptors \
                     (`fs.nr_open`)"
                ));
            }
            if self.prevent_core && *resource == Resource::Core && limit != Limit::from(0u64) {
                return invalid(format!(
                    "`prevent_core` sets the core limit to 0, and `limit_core` to {limit}"
                ));
            }
        }
        if let Some(nice) = self.nice
            && !(-20..=19).contains(&nice)
        {
            return invalid(format!("`nice` {nice} is not within -20..=19"));
        }
        Ok(())
    }

    /// Sets the limits, `RLIMIT_CORE` to 0 for `prevent_core`, then the nice value. In the
    /// daemon, before the privilege drop. Checked before (see [`Limits::check`]).
    ///
    /// # Errors
    ///
    /// The call the kernel refused, naming the option and its value: raising a hard limit,
    /// or lowering the nice value, without the privilege to (`EPERM`, `EACCES`:
    /// [`ErrorKind::PermissionDenied`]).
    pub(crate) fn apply(&self) -> Result<(), Error> {
        self.check_room()?;
        let core = self
            .prevent_core
            .then(|| (Resource::Core, Ok(Limit::from(0u64))));
        for (resource, given) in self.limits.iter().cloned().chain(core) {
            let (Ok(limit), Some(raw)) = (given, resource.raw()) else {
                continue; // refused by `check`
            };
            sys::setrlimit(raw, limit.soft, limit.hard).map_err(|e| {
                let what = match (resource, self.prevent_core) {
                    (Resource::Core, true) => "prevent_core = true".to_owned(),
                    _ => format!("{} = {limit}", resource.option()),
                };
                Error::os(Step::SetLimit, Some(Path::new(&what)), e)
            })?;
        }
        if let Some(nice) = self.nice {
            sys::set_nice(nice).map_err(|e| {
                Error::os(Step::SetNice, Some(Path::new(&format!("nice = {nice}"))), e)
            })?;
        }
        Ok(())
    }
}

impl Limits {
    /// Refuses a soft `limit_nofile` at or below the lowest free descriptor: the kernel
    /// takes it, but the daemon could then open nothing, not a file, socket or pipe, and
    /// would die after reporting that it is up. In the daemon, once its descriptors are
    /// the ones it keeps, before any limit is set. [`ErrorKind::InvalidConfig`].
    fn check_room(&self) -> Result<(), Error> {
        let Some((_, Ok(limit))) = self.limits.iter().find(|(r, _)| *r == Resource::Nofile) else {
            return Ok(());
        };
        let Some(soft) = limit.soft else {
            return Ok(());
        };
        // Stops at the first free number: as many calls as descriptors are open, plus one.
        let free = (0..RawFd::MAX)
            .find(|fd| !sys::is_open(*fd))
            .unwrap_or(RawFd::MAX);
        if soft > u64::try_from(free).unwrap_or(0) {
            return Ok(());
        }
        let why = match free {
            0 => "so the daemon could open no descriptor".to_owned(),
            _ => format!(
                "descriptors 0 to {} are open, so the daemon could open no other",
                free - 1
            ),
        };
        let what = format!("{} = {limit}", Resource::Nofile.option());
        Err(Error::new(
            Step::SetLimit,
            ErrorKind::InvalidConfig,
            Some(Path::new(&what)),
            why,
        ))
    }
}

/// Linux's `fs.nr_open`, the most descriptors any process may have: read only when
/// `limit_nofile` is given; `None` where it cannot be read.
fn nr_open() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|text| text.trim().parse().ok())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_systemd_reads_them() {
        let ok = |text: &str, soft, hard| assert_eq!(text.parse(), Ok(Limit::new(soft, hard)));
        ok("0", Some(0), Some(0));
        ok("65536", Some(65536), Some(65536));
        ok("1024:4096", Some(1024), Some(4096));
        ok("1024:infinity", Some(1024), None);
        ok("infinity", None, None);
        ok("infinity:infinity", None, None);
        for bad in [
            "",
            ":",
            "-1",
            "1k",
            " 1",
            "1:",
            ":1",
            "1:2:3",
            "Infinity",
            "18446744073709551616",
        ] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "4096:1024".parse::<Limit>().unwrap_err().to_string(),
            "`4096:1024`: the soft limit 4096 is above the hard limit 1024"
        );
        assert!("infinity:1".parse::<Limit>().is_err());
    }

    #[test]
    fn check_refuses_what_can_never_work() {
        let refused = |limits: Limits| {
            let err = limits.check().unwrap_err();
            assert_eq!(err.exit_code(), 78);
            format!("{err:#}")
        };
        let mut limits = Limits::default();
        limits.set(Resource::Nofile, Some(Err("lots".into())));
        assert_eq!(
            refused(limits),
            "invalid configuration: `limit_nofile` `lots` is not a limit: a number, `soft:hard` \
             or `infinity`"
        );
        let mut limits = Limits::default();
        limits.set(Resource::As, Some(Ok(Limit::new(Some(2), Some(1)))));
        assert!(refused(limits).contains("`limit_as = 2:1`: the soft limit 2 is above"));
        let mut limits = Limits::default();
        limits.set_nice(Some(20));
        assert!(refused(limits).ends_with("`nice` 20 is not within -20..=19"));
        let mut limits = Limits::default();
        limits.set_prevent_core(true);
        limits.set(Resource::Core, Some(Ok(Limit::INFINITY)));
        assert!(refused(limits).contains("`prevent_core` sets the core limit to 0"));
        let mut limits = Limits::default();
        limits.set_prevent_core(true);
        limits.set(Resource::Core, Some(Ok(Limit::from(0u64))));
        assert!(limits.check().is_ok());
    }
}
