//! Support for the code `#[daemon]` expands to. Not public API: it changes with the attribute,
//! which is why `daemon-rt` pins `daemon-macros` to its exact version.

use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

pub use crate::output::{Stream, print_line};
pub use crate::{Daemon, Ready, Running, Signal, Started};
pub use core::time::Duration;

/// Daemonizes, or prints the error and exits: what the attribute does before the body runs.
pub fn start(daemon: Daemon) -> Running {
    daemon.start().unwrap_or_else(|e| e.exit())
}

/// What `main` returned, so that an error before [`crate::ready`] fails the start with its
/// message. The expansion calls `(&&&Returned(&value)).report()`: method resolution picks the
/// most specific of the traits below (autoref specialization), since the type of `main`'s
/// value is only known where the attribute expands.
pub struct Returned<'a, T>(pub &'a T);

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

/// A value a path option takes: a path, or an `Option` of one (`None` keeps the default), so
/// `pidfile = cli.pidfile` works whether the tool's flag is required or optional.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a path for a `#[daemon]` option",
    label = "expected a path: `&str`, `String`, `PathBuf`, `&Path`, `OsString`, or an `Option` of one"
)]
pub trait PathValue {
    /// The path, or `None` for the default.
    fn into_path(self) -> Option<PathBuf>;
}

macro_rules! path_values {
    ($([$($lt:lifetime)?] $ty:ty),* $(,)?) => {$(
        impl$(<$lt>)? PathValue for $ty {
            fn into_path(self) -> Option<PathBuf> {
                Some(self.into())
            }
        }
        impl$(<$lt>)? PathValue for Option<$ty> {
            fn into_path(self) -> Option<PathBuf> {
                self.map(Into::into)
            }
        }
    )*};
}

path_values!(
    ['a] &'a str,
    [] String,
    ['a] &'a String,
    [] PathBuf,
    ['a] &'a PathBuf,
    ['a] &'a Path,
    [] OsString,
    ['a] &'a OsStr,
);

/// `&cli.pidfile`, where the tool keeps an optional path.
impl<T: AsRef<Path>> PathValue for &Option<T> {
    fn into_path(self) -> Option<PathBuf> {
        self.as_ref().map(|p| p.as_ref().to_path_buf())
    }
}

/// A value the `reopen_logs` option takes: a signal, or an `Option` of one (`None` turns the
/// reopening off).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a signal for `reopen_logs`",
    label = "expected a `daemon_rt::Signal`, an `Option<daemon_rt::Signal>`, or a string literal such as \"SIGHUP\""
)]
pub trait SignalValue {
    /// The signal, or `None` for none.
    fn into_signal(self) -> Option<Signal>;
}

impl SignalValue for Signal {
    fn into_signal(self) -> Option<Signal> {
        Some(self)
    }
}

impl SignalValue for Option<Signal> {
    fn into_signal(self) -> Option<Signal> {
        self
    }
}

/// A value the `user` and `group` options take: a name, a numeric ID, or an `Option` of one
/// (`None` keeps the starting process's).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a user or group for a `#[daemon]` option",
    label = "expected a name (`&str`, `String`), a numeric ID (`u32`), or an `Option` of one"
)]
pub trait IdValue {
    /// The name or the ID written out, or `None` for the default.
    fn into_id(self) -> Option<String>;
}

macro_rules! id_values {
    ($([$($lt:lifetime)?] $ty:ty => $conv:expr),* $(,)?) => {$(
        impl$(<$lt>)? IdValue for $ty {
            fn into_id(self) -> Option<String> {
                Some($conv(self))
            }
        }
        impl$(<$lt>)? IdValue for Option<$ty> {
            fn into_id(self) -> Option<String> {
                self.map($conv)
            }
        }
    )*};
}

id_values!(
    ['a] &'a str => |s: &str| s.to_owned(),
    [] String => |s: String| s,
    ['a] &'a String => |s: &String| s.clone(),
    [] u32 => |id: u32| id.to_string(),
);

/// `&cli.user`, where the tool keeps an optional name.
impl<T: AsRef<str>> IdValue for &Option<T> {
    fn into_id(self) -> Option<String> {
        self.as_ref().map(|s| s.as_ref().to_owned())
    }
}

/// One function per attribute argument, named after it, so the expansion stays one call per
/// argument and a type error points at the argument's value.
pub mod options {
    use super::*;

    macro_rules! path_options {
        ($($name:ident),*) => {$(
            #[doc = concat!("The `", stringify!($name), "` argument.")]
            pub fn $name(daemon: Daemon, value: impl PathValue) -> Daemon {
                match value.into_path() {
                    Some(path) => daemon.$name(path),
                    None => daemon,
                }
            }
        )*};
    }

    path_options!(pidfile, stdin, stdout, stderr, working_directory, chroot);

    /// The `umask` argument.
    pub fn umask(daemon: Daemon, value: u32) -> Daemon {
        daemon.umask(value)
    }

    /// The `preserve_fds` argument.
    pub fn preserve_fds(daemon: Daemon, value: impl IntoIterator<Item = RawFd>) -> Daemon {
        daemon.preserve_fds(value)
    }

    /// The `on_started` argument.
    pub fn on_started(daemon: Daemon, value: impl FnOnce(&Started) + 'static) -> Daemon {
        daemon.on_started(value)
    }

    /// The `foreground` argument.
    pub fn foreground(daemon: Daemon, value: bool) -> Daemon {
        daemon.foreground(value)
    }

    /// The `ready` argument; the attribute has checked the literal.
    pub fn ready(daemon: Daemon, value: &str) -> Daemon {
        match value {
            "manual" => daemon.ready(Ready::Manual),
            _ => daemon.ready(Ready::Started),
        }
    }

    /// The `ready_timeout` argument; the attribute turns an integer literal into seconds.
    pub fn ready_timeout(daemon: Daemon, value: Duration) -> Daemon {
        daemon.ready_timeout(value)
    }

    /// The `reopen_logs` argument.
    pub fn reopen_logs(daemon: Daemon, value: impl SignalValue) -> Daemon {
        daemon.reopen_logs_on(value.into_signal())
    }

    /// The `user` argument.
    pub fn user(daemon: Daemon, value: impl IdValue) -> Daemon {
        match value.into_id() {
            Some(user) => daemon.user(user),
            None => daemon,
        }
    }

    /// The `group` argument.
    pub fn group(daemon: Daemon, value: impl IdValue) -> Daemon {
        match value.into_id() {
            Some(group) => daemon.group(group),
            None => daemon,
        }
    }

    /// The `control` argument.
    pub fn control(daemon: Daemon, value: bool) -> Daemon {
        daemon.control(value)
    }

    /// The `print_pid` argument.
    pub fn print_pid(daemon: Daemon, value: bool) -> Daemon {
        daemon.print_pid(value)
    }

    /// The `strict_paths` argument.
    pub fn strict_paths(daemon: Daemon, value: bool) -> Daemon {
        daemon.strict_paths(value)
    }
}
