//! Support for the code `#[daemon]` expands to. Not public API: it changes with the attribute,
//! which is why `daemon-rt` pins `daemon-macros` to its exact version.

pub use crate::output::{Stream, print_line};
pub use crate::value::{IdValue, LimitValue, OutputValue, PathValue, SignalValue};
pub use crate::{Daemon, Fork, Ready, Running, Signal, Started};
pub use core::time::Duration;

/// Daemonizes, or prints the error and exits: what the attribute does before the body runs.
pub fn start(daemon: Daemon) -> Running {
    daemon.start().unwrap_or_else(|e| e.exit())
}

/// What `main` returned, so that an error before [`crate::ready`] fails the start with its
/// message. The expansion calls `(&&&&Returned(&value)).report()`: method resolution picks the
/// most specific of the traits below (autoref specialization), since the type of `main`'s
/// value is only known where the attribute expands.
pub struct Returned<'a, T>(pub &'a T);

/// An `Err` of this crate's own [`Error`](crate::Error), such as `?` on
/// [`control::stop`](crate::control::stop) in the body: the daemon ends as a failed start
/// does, with the one-line report on stderr and the status of the error's kind.
pub trait ReportExit {
    /// Reports an `Err` and exits; nothing for `Ok`.
    fn report(&self);
}

impl<T> ReportExit for &&&Returned<'_, Result<T, crate::Error>> {
    fn report(&self) {
        if let Err(e) = self.0 {
            crate::lifecycle::failed(&format!("{e:#}"), Some(crate::notify::errno_for(e)));
            crate::sys::notify_stopping();
            e.exit()
        }
    }
}

/// An `Err` whose error can be displayed: its alternate form (`{:#}`), which for `anyhow`
/// and the like includes the causes.
pub trait ReportDisplay {
    /// Reports an `Err`; nothing for `Ok`.
    fn report(&self);
}

impl<T, E: std::fmt::Display> ReportDisplay for &&Returned<'_, Result<T, E>> {
    fn report(&self) {
        if let Err(e) = self.0 {
            crate::lifecycle::failed(&format!("{e:#}"), None);
        }
    }
}

/// An `Err` whose error can only be debug-printed, as Rust's own `main` prints it.
pub trait ReportDebug {
    /// Reports an `Err`; nothing for `Ok`.
    fn report(&self);
}

impl<T, E: std::fmt::Debug> ReportDebug for &Returned<'_, Result<T, E>> {
    fn report(&self) {
        if let Err(e) = self.0 {
            crate::lifecycle::failed(&format!("{e:?}"), None);
        }
    }
}

/// Any other value (`()`, `ExitCode`): nothing to report here; returning before `ready()`
/// is reported when the daemon's `Running` is dropped.
pub trait ReportOther {
    /// Does nothing.
    fn report(&self);
}

impl<T> ReportOther for Returned<'_, T> {
    fn report(&self) {}
}

/// One function per attribute argument, named after it, so the expansion stays one call per
/// argument and a type error points at the argument's value.
pub mod options {
    use super::*;
    use std::os::fd::AsFd;

    macro_rules! pass {
        ($($name:ident: $value:ty),* $(,)?) => {$(
            #[doc = concat!("The `", stringify!($name), "` argument.")]
            pub fn $name(daemon: Daemon, value: $value) -> Daemon {
                daemon.$name(value)
            }
        )*};
    }

    pass!(
        pidfile: impl PathValue,
        stdin: impl PathValue,
        stdout: impl OutputValue,
        stderr: impl OutputValue,
        working_directory: impl PathValue,
        chroot: impl PathValue,
        umask: u32,
        on_started: impl FnOnce(&Started) + 'static,
        foreground: bool,
        ready_timeout: Duration,
        reopen_logs: impl SignalValue,
        user: impl IdValue,
        group: impl IdValue,
        control: bool,
        print_pid: bool,
        strict_paths: bool,
        fork: Fork,
        notify_fd: impl Into<Option<std::os::fd::RawFd>>,
        prevent_core: bool,
        limit_nofile: impl LimitValue,
        limit_core: impl LimitValue,
        limit_nproc: impl LimitValue,
        limit_memlock: impl LimitValue,
        limit_as: impl LimitValue,
        nice: impl Into<Option<i32>>,
    );

    /// The `keep_env` argument.
    pub fn keep_env<S: AsRef<std::ffi::OsStr>>(
        daemon: Daemon,
        value: impl IntoIterator<Item = S>,
    ) -> Daemon {
        daemon.keep_env(value)
    }

    /// The `preserve_fds` argument.
    pub fn preserve_fds<F: AsFd>(daemon: Daemon, value: impl IntoIterator<Item = F>) -> Daemon {
        daemon.preserve_fds(value)
    }

    /// The `ready` argument; the attribute has checked the literal (`"500ms"` is
    /// `Ready::After`).
    #[must_use]
    pub fn ready(daemon: Daemon, value: &str) -> Daemon {
        match value {
            "manual" => daemon.ready(Ready::Manual),
            time => match crate::readiness::parse_after(time) {
                Some(period) => daemon.ready(Ready::After(period)),
                None => daemon.ready(Ready::Started),
            },
        }
    }
}
