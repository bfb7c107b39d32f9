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

pub use daemon::{DEFAULT_UMASK, DEFAULT_WORKING_DIRECTORY, Daemon, Running, Started};
pub use error::{Error, ErrorKind, Step};
