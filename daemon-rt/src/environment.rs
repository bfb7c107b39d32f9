//! daemon(7) step 4, the environment: `keep_env` clears it but for an allow-list, and `user`
//! sets `USER`, `LOGNAME`, `HOME` and `SHELL` from the user's entry, as FreeBSD's daemon(8)
//! and blivet do. In the daemon, while it is single-threaded.
//!
//! The manager's protocol variables were read before: `$NOTIFY_SOCKET`, `$WATCHDOG_USEC`
//! and `$WATCHDOG_PID` are gone already. `$LISTEN_PID`, `$LISTEN_FDS` and `$LISTEN_FDNAMES`
//! stay when they pass sockets to this process, whatever the list says, for the libraries
//! that read them; otherwise they go with the rest.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use crate::error::{Error, Escaped};
use crate::sys;
use crate::threads::SingleThreaded;

/// The `PATH` a daemon gets when `keep_env` does not keep one: what systemd gives services.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell for a user whose entry names none, as `login(1)` takes it.
const DEFAULT_SHELL: &str = "/bin/sh";

/// The socket-activation variables, kept for a process they pass sockets to.
const ACTIVATION: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// The user database's entry of the daemon's user, for its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) name: String,
    pub(crate) home: PathBuf,
    pub(crate) shell: PathBuf,
}

/// Refuses a name `keep_env` lists that no variable can have: empty, or with `=` or a NUL
/// byte. [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig).
pub(crate) fn check(names: &[OsString]) -> Result<(), Error> {
    for name in names {
        let bytes = name.as_bytes();
        let why = if bytes.is_empty() {
            "is empty"
        } else if bytes.contains(&b'=') {
            "contains `=`"
        } else if bytes.contains(&0) {
            "contains a NUL byte"
        } else {
            continue;
        };
        return Err(Error::invalid_config(format!(
            "`keep_env` lists `{}`, which {why}: no variable has such a name",
            Escaped(name)
        )));
    }
    Ok(())
}

impl Account {
    /// The variables for `user` given as a numeric ID the user database does not know: the
    /// number as the name, `/` as home and `/bin/sh` as shell (as for an entry without
    /// them), rather than the starting user's `HOME` and `USER`.
    pub(crate) fn numeric(user: &str) -> Option<Account> {
        let uid: u32 = user.parse().ok()?;
        Some(Account {
            name: uid.to_string(),
            home: PathBuf::new(),
            shell: PathBuf::new(),
        })
    }
}

/// What the daemon's environment becomes.
#[derive(Debug)]
pub(crate) struct Environment {
    keep: Option<Vec<OsString>>,
    account: Option<Account>,
    activated: bool,
}

impl Environment {
    /// `None` when nothing changes: no `keep_env`, and no user entry to take variables from.
    pub(crate) fn new(
        keep: Option<Vec<OsString>>,
        account: Option<Account>,
        activated: bool,
    ) -> Option<Environment> {
        (keep.is_some() || account.is_some()).then_some(Environment {
            keep,
            account,
            activated,
        })
    }

    /// Clears the environment but for the kept names (and `PATH`, set to [`DEFAULT_PATH`]
    /// when none was kept), then sets the user's variables.
    pub(crate) fn apply(&self, single: &SingleThreaded) {
        if let Some(keep) = &self.keep {
            let activation = self.activated.then_some(ACTIVATION.as_slice());
            let kept: Vec<(OsString, OsString)> = keep
                .iter()
                .map(OsString::as_os_str)
                .chain(activation.unwrap_or_default().iter().map(OsStr::new))
                .filter_map(|name| Some((name.to_owned(), std::env::var_os(name)?)))
                .collect();
            sys::clear_env(single);
            for (name, value) in kept {
                sys::set_env(single, name, value);
            }
            if std::env::var_os("PATH").is_none() {
                sys::set_env(single, "PATH", DEFAULT_PATH);
            }
        }
        if let Some(account) = &self.account {
            let home = match account.home.as_os_str().is_empty() {
                true => OsStr::new("/"),
                false => account.home.as_os_str(),
            };
            let shell = match account.shell.as_os_str().is_empty() {
                true => OsStr::new(DEFAULT_SHELL),
                false => account.shell.as_os_str(),
            };
            // `environ` may hold a name twice; `setenv` replaces only the first copy, and a
            // child that reads the last would see the starting user's. `unsetenv` removes
            // every copy.
            let name = OsStr::new(&account.name);
            for (variable, value) in [
                ("USER", name),
                ("LOGNAME", name),
                ("HOME", home),
                ("SHELL", shell),
            ] {
                sys::remove_env(single, variable);
                sys::set_env(single, variable, value);
            }
        }
    }
}
