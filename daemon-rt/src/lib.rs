#![doc = include_str!("../../README.md")]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod daemon;
mod error;
mod fds;
mod pidfile;
mod readiness;
mod stdio;
mod sys;
mod threads;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "macros")]
#[doc(inline)]
#[doc = include_str!("attribute.md")]
pub use daemon_macros::daemon;

pub use daemon::{DEFAULT_UMASK, DEFAULT_WORKING_DIRECTORY, Daemon, Running, Started};
pub use error::{Error, ErrorKind, Step};
