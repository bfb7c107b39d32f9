//! Support for the code `#[daemon]` expands to. Not public API: it changes with the attribute,
//! which is why `daemon-rt` pins `daemon-macros` to its exact version.

use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

pub use crate::{Daemon, Running, Started};

/// Daemonizes, or prints the error and exits: what the attribute does before the body runs.
pub fn start(daemon: Daemon) -> Running {
    daemon.start().unwrap_or_else(|e| e.exit())
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

    path_options!(pidfile, stdin, stdout, stderr, working_directory);

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
}
