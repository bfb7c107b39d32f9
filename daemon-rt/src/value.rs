//! The values the options take: what a [`Daemon`](crate::Daemon) method and the `#[daemon]`
//! argument of the same name accept. Each is a plain value or an `Option` of one, so a tool's
//! optional command-line flag can be passed as it is: `None` keeps the default.
//!
//! ```no_run
//! use std::path::PathBuf;
//!
//! let pidfile: Option<PathBuf> = std::env::args_os().nth(1).map(PathBuf::from);
//! let running = daemon_rt::Daemon::new()
//!     .pidfile(pidfile) // no PID file when none is given
//!     .user(Some("www-data"))
//!     .reopen_logs(daemon_rt::Signal::SIGUSR1)
//!     .start()
//!     .unwrap_or_else(|e| e.exit());
//! # drop(running);
//! ```
//!
//! The traits are sealed: the types that implement them are the ones listed, so that more can
//! be added without breaking anyone.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::Signal;

mod sealed {
    /// Keeps the value traits to the types of this module.
    pub trait Sealed {}
}
use sealed::Sealed;

/// A value a path option takes: a path, or an `Option` of one (`None` keeps the default), so
/// `pidfile = cli.pidfile` works whether the tool's flag is required or optional.
///
/// ```
/// use daemon_rt::value::PathValue;
///
/// assert_eq!("/run/a.pid".into_path(), Some("/run/a.pid".into()));
/// assert_eq!(None::<String>.into_path(), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a path for a `daemon_rt` option",
    label = "expected a path: `&str`, `String`, `PathBuf`, `&Path`, `OsString`, or an `Option` of one"
)]
pub trait PathValue: Sealed {
    /// The path, or `None` for the default.
    fn into_path(self) -> Option<PathBuf>;
}

macro_rules! path_values {
    ($([$($lt:lifetime)?] $ty:ty),* $(,)?) => {$(
        impl$(<$lt>)? Sealed for $ty {}
        impl$(<$lt>)? Sealed for Option<$ty> {}
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
    ['a] &'a OsString,
    // A parameter or field that is itself a reference, borrowed by the attribute.
    ['a] &'a &'a str,
    ['a] &'a &'a Path,
    ['a] &'a &'a OsStr,
);

impl<T> Sealed for &Option<T> {}

/// `&cli.pidfile`, where the tool keeps an optional path, which
/// `#[daemon(pidfile = cli.pidfile)]` passes for a parameter's field.
///
/// ```
/// use std::path::PathBuf;
/// use daemon_rt::value::PathValue;
///
/// let pidfile: Option<PathBuf> = Some("/run/a.pid".into());
/// assert_eq!((&pidfile).into_path(), Some("/run/a.pid".into()));
/// assert_eq!((&None::<PathBuf>).into_path(), None);
/// ```
impl<T: AsRef<Path>> PathValue for &Option<T> {
    fn into_path(self) -> Option<PathBuf> {
        self.as_ref().map(|p| p.as_ref().to_path_buf())
    }
}

/// A value the `stdout` and `stderr` options take: a path (any [`PathValue`]), a
/// [`daemon_rt::Output`](crate::Output) such as `Output::Syslog`, or an `Option` of one
/// (`None` keeps the default, `/dev/null`).
///
/// ```
/// use daemon_rt::{Output, value::OutputValue};
///
/// assert_eq!("/var/log/a.log".into_output(), Some(Output::File("/var/log/a.log".into())));
/// assert_eq!(Output::Journal.into_output(), Some(Output::Journal));
/// assert_eq!(None::<Output>.into_output(), None);
/// // A path is a path, whatever its text.
/// assert_eq!("syslog".into_output(), Some(Output::File("syslog".into())));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an output for `stdout` or `stderr`",
    label = "expected a path (`&str`, `PathBuf`, ...), a `daemon_rt::Output`, or an `Option` of one"
)]
pub trait OutputValue: Sealed {
    /// Where the stream goes, or `None` for the default.
    fn into_output(self) -> Option<crate::Output>;
}

impl<T: PathValue> OutputValue for T {
    fn into_output(self) -> Option<crate::Output> {
        self.into_path().map(crate::Output::File)
    }
}

impl Sealed for crate::Output {}
impl Sealed for Option<crate::Output> {}
impl Sealed for &crate::Output {}

/// `&cli.log`, where the tool keeps an [`Output`](crate::Output), which
/// `#[daemon(stdout = cli.log)]` passes for a parameter's field.
///
/// ```
/// use daemon_rt::{Output, value::OutputValue};
///
/// let log = Output::Syslog;
/// assert_eq!((&log).into_output(), Some(Output::Syslog));
/// ```
impl OutputValue for &crate::Output {
    fn into_output(self) -> Option<crate::Output> {
        Some(self.clone())
    }
}

/// `&cli.log`, where the tool keeps an optional [`Output`](crate::Output).
///
/// ```
/// use daemon_rt::{Output, value::OutputValue};
///
/// let log: Option<Output> = None;
/// assert_eq!((&log).into_output(), None);
/// ```
impl OutputValue for &Option<crate::Output> {
    fn into_output(self) -> Option<crate::Output> {
        self.clone()
    }
}

/// A value the `reopen_logs` option takes: a signal, or an `Option` of one (`None` turns the
/// reopening off).
///
/// ```
/// use daemon_rt::{Signal, value::SignalValue};
///
/// assert_eq!(Signal::SIGUSR1.into_signal(), Some(Signal::SIGUSR1));
/// assert_eq!(None::<Signal>.into_signal(), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a signal for `reopen_logs`",
    label = "expected a `daemon_rt::Signal`, an `Option<daemon_rt::Signal>`, or a string literal such as \"SIGHUP\""
)]
pub trait SignalValue: Sealed {
    /// The signal, or `None` for none.
    fn into_signal(self) -> Option<Signal>;
}

impl Sealed for Signal {}
impl Sealed for Option<Signal> {}

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
///
/// ```
/// use daemon_rt::value::IdValue;
///
/// assert_eq!("www-data".into_id(), Some("www-data".to_owned()));
/// assert_eq!(33u32.into_id(), Some("33".to_owned()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a user or group for a `daemon_rt` option",
    label = "expected a name (`&str`, `String`), a numeric ID (`u32`), or an `Option` of one"
)]
pub trait IdValue: Sealed {
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
    ['a] &'a &'a str => |s: &&str| (*s).to_owned(),
    [] u32 => |id: u32| id.to_string(),
);
impl Sealed for u32 {}
impl Sealed for Option<u32> {}

impl Sealed for &u32 {}

/// `&cli.uid`, which `#[daemon(user = cli.uid)]` passes for a parameter's field.
///
/// ```
/// use daemon_rt::value::IdValue;
///
/// let uid: u32 = 33;
/// assert_eq!((&uid).into_id(), Some("33".to_owned()));
/// ```
impl IdValue for &u32 {
    fn into_id(self) -> Option<String> {
        Some(self.to_string())
    }
}

mod id_text {
    /// What an optional name or ID behind a reference can hold: `&Option<T>` for these `T`.
    pub trait IdText {
        fn id_text(&self) -> String;
    }
}
use id_text::IdText;

macro_rules! id_texts {
    ($($ty:ty),* $(,)?) => {$(
        impl IdText for $ty {
            fn id_text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

id_texts!(
    String,
    &str,
    Box<str>,
    std::borrow::Cow<'_, str>,
    std::rc::Rc<str>,
    std::sync::Arc<str>,
    u32
);

/// `&cli.user`, where the tool keeps an optional name or ID, which
/// `#[daemon(user = cli.user)]` passes for a parameter's field.
///
/// ```
/// use daemon_rt::value::IdValue;
///
/// let user: Option<String> = Some("www-data".to_owned());
/// let uid: Option<u32> = None;
/// assert_eq!((&user).into_id(), Some("www-data".to_owned()));
/// assert_eq!((&uid).into_id(), None);
/// ```
impl<T: IdText> IdValue for &Option<T> {
    fn into_id(self) -> Option<String> {
        self.as_ref().map(IdText::id_text)
    }
}

/// A value the resource-limit options (`limit_nofile`, `limit_core`, ...) take: a
/// [`Limit`](crate::Limit), a number (soft and hard), a string (`"N"`, `"soft:hard"`,
/// `"infinity"`), or an `Option` of one (`None` leaves the inherited limit). A string that is
/// not a limit fails the start with [`ErrorKind::InvalidConfig`](crate::ErrorKind).
///
/// ```
/// use daemon_rt::{Limit, value::LimitValue};
///
/// assert_eq!(65536u64.into_limit(), Some(Ok(Limit::from(65536u64))));
/// assert_eq!("1024:infinity".into_limit(), Some(Ok(Limit::new(Some(1024), None))));
/// assert_eq!(None::<u64>.into_limit(), None);
/// assert!("lots".into_limit().unwrap().is_err());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a resource limit for a `daemon_rt` option",
    label = "expected a number (`u64`), a string such as \"1024:65536\" or \"infinity\", a `daemon_rt::Limit`, or an `Option` of one"
)]
pub trait LimitValue: Sealed {
    /// The limit, the text that is not one as `Err`, or `None` for the default.
    fn into_limit(self) -> Option<Result<crate::Limit, String>>;
}

macro_rules! limit_values {
    ($([$($lt:lifetime)?] $ty:ty => $conv:expr),* $(,)?) => {$(
        impl$(<$lt>)? LimitValue for $ty {
            fn into_limit(self) -> Option<Result<crate::Limit, String>> {
                Some($conv(self))
            }
        }
        impl$(<$lt>)? LimitValue for Option<$ty> {
            fn into_limit(self) -> Option<Result<crate::Limit, String>> {
                self.map($conv)
            }
        }
    )*};
}

/// A string's limit, or the string itself when it is not one. A soft limit above the hard one
/// is kept, for the start to refuse with its own message.
fn parse_limit(text: &str) -> Result<crate::Limit, String> {
    crate::Limit::parse_unchecked(text).ok_or_else(|| text.to_owned())
}

limit_values!(
    [] crate::Limit => Ok,
    [] u64 => |n: u64| Ok(crate::Limit::from(n)),
    [] u32 => |n: u32| Ok(crate::Limit::from(u64::from(n))),
    // What an integer literal is when nothing else says: `.limit_nofile(65536)`.
    [] i32 => |n: i32| u64::try_from(n).map(crate::Limit::from).map_err(|_| n.to_string()),
    ['a] &'a str => parse_limit,
    [] String => |s: String| parse_limit(&s),
    ['a] &'a String => |s: &String| parse_limit(s),
);
impl Sealed for crate::Limit {}
impl Sealed for Option<crate::Limit> {}
impl Sealed for u64 {}
impl Sealed for Option<u64> {}
impl Sealed for i32 {}
impl Sealed for Option<i32> {}
