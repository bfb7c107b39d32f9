#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
// The conventions a published crate's API keeps: a result worth using is marked so, and every
// fallible or panicking function says when.
#![warn(
    clippy::return_self_not_must_use,
    clippy::must_use_candidate,
    clippy::missing_errors_doc,
    clippy::missing_panics_doc
)]

pub mod activation;
pub mod control;
mod daemon;
mod environment;
mod error;
mod fds;
mod fork;
mod forward;
mod init;
mod lifecycle;
mod limits;
mod logtail;
mod notify;
mod notify_fd;
mod output;
mod paths;
mod pidfile;
mod privileges;
mod readiness;
mod relative;
mod reload;
mod signal;
mod stdio;
mod stop;
mod sys;
mod threads;
mod timing;
pub mod value;
mod watchdog;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
#[doc = include_str!("attribute.md")]
pub use daemon_macros::daemon;

pub use activation::listen_fds;
pub use daemon::{
    DEFAULT_READY_TIMEOUT, DEFAULT_UMASK, DEFAULT_WORKING_DIRECTORY, Daemon, Ready, Running,
    Started,
};
pub use error::{Error, ErrorKind, Step};
pub use fork::Fork;
pub use forward::Output;
pub use lifecycle::{notify, ready, set_status};
pub use limits::{InvalidLimit, Limit};
pub use reload::{reload_fd, reload_requested, reloaded, wait_for_reload};
pub use signal::{InvalidSignal, Signal};
pub use stop::{stop_fd, stop_requested, wait_for_stop};
pub use watchdog::{extend_timeout, watchdog_interval, watchdog_ping};
