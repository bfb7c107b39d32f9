//! Step 7's choice: whether the start forks at all.
//!
//! daemon(7) asks for a switch, and a service manager that supervises the process wants no
//! fork. The default, [`Fork::Auto`], keeps the process in the foreground for
//! `foreground = true`, `$NOTIFY_SOCKET` and socket activation. The other two say it
//! outright: [`Fork::Always`] forks even with `$NOTIFY_SOCKET` (systemd sets it for a
//! `Type=forking` unit with `WatchdogSec=` or `NotifyAccess=`, and such a unit waits for its
//! starting command to exit), [`Fork::Never`] never forks. As PID 1 the process never forks:
//! its exit would end every process of its PID namespace (see `init`).

use crate::error::Error;

/// Whether the start forks, for [`Daemon::fork`](crate::Daemon::fork) and the attribute's
/// `fork = "auto" | "always" | "never"`.
///
/// ```no_run
/// // A Type=forking unit with WatchdogSec=: systemd sets $NOTIFY_SOCKET, the daemon forks
/// // anyway, and sends MAINPID= and READY=1 from the daemon.
/// #[daemon_rt::daemon(pidfile = "/run/ticker.pid", fork = "always")] // Fork::Always
/// fn main() {}
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fork {
    /// Fork, unless [`Daemon::foreground`](crate::Daemon::foreground) is `true`,
    /// `$NOTIFY_SOCKET` is set or sockets are passed by socket activation. The default.
    #[default]
    Auto,
    /// Fork even when `$NOTIFY_SOCKET` is set: for a `Type=forking` unit that has
    /// `WatchdogSec=` or `NotifyAccess=`. The daemon keeps the socket and sends
    /// `MAINPID=<its PID>` with `READY=1`. A contradiction (`foreground = true`, socket
    /// activation, PID 1) fails the start with exit status 78.
    Always,
    /// Never fork: the same as `foreground = true`.
    Never,
}

/// What the process is started with, as far as the choice goes.
pub(crate) struct Context {
    pub(crate) foreground: bool,
    pub(crate) notify: bool,
    pub(crate) activated: bool,
    pub(crate) pid1: bool,
}

/// Whether the start stays in the foreground; a contradiction is an
/// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig).
pub(crate) fn foreground(fork: Fork, ctx: &Context) -> Result<bool, Error> {
    let invalid = |why: &str| Err(Error::invalid_config(format!("`fork = \"always\"` {why}")));
    match fork {
        Fork::Never => Ok(true),
        Fork::Auto => Ok(ctx.pid1 || ctx.foreground || ctx.notify || ctx.activated),
        Fork::Always if ctx.foreground => invalid("contradicts `foreground = true`"),
        Fork::Always if ctx.pid1 => {
            invalid("cannot work as PID 1: its exit would end every process of the PID namespace")
        }
        Fork::Always if ctx.activated => invalid(
            "cannot work with socket activation: `$LISTEN_PID` names the process that would exit",
        ),
        Fork::Always => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(foreground: bool, notify: bool, activated: bool, pid1: bool) -> Context {
        Context {
            foreground,
            notify,
            activated,
            pid1,
        }
    }

    #[test]
    fn auto_is_the_rule_of_old() {
        assert!(!foreground(Fork::Auto, &ctx(false, false, false, false)).unwrap());
        assert!(foreground(Fork::Auto, &ctx(true, false, false, false)).unwrap());
        assert!(foreground(Fork::Auto, &ctx(false, true, false, false)).unwrap());
        assert!(foreground(Fork::Auto, &ctx(false, false, true, false)).unwrap());
        assert!(foreground(Fork::Auto, &ctx(false, false, false, true)).unwrap());
    }

    #[test]
    fn always_forks_with_a_notify_socket_and_refuses_contradictions() {
        assert!(!foreground(Fork::Always, &ctx(false, true, false, false)).unwrap());
        for (c, why) in [
            (
                ctx(true, false, false, false),
                "contradicts `foreground = true`",
            ),
            (ctx(false, false, false, true), "as PID 1"),
            (ctx(false, false, true, false), "socket activation"),
        ] {
            let err = foreground(Fork::Always, &c).unwrap_err();
            assert_eq!(err.exit_code(), 78);
            assert!(format!("{err:#}").contains(why), "{err:#}");
        }
    }

    #[test]
    fn never_is_the_foreground() {
        assert!(foreground(Fork::Never, &ctx(false, false, false, false)).unwrap());
    }
}
