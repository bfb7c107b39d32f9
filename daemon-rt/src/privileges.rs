//! Step 13: dropping privileges, and the `chroot` before it.
//!
//! Users and groups are looked up in the starting process, so an unknown name is reported
//! before anything forks, and so the group database is read outside any chroot. The daemon
//! then sets, in this order (SEI CERT POS36-C): the supplementary groups, the group ID, the
//! user ID; and checks that regaining root fails (POS37-C).

use nix::unistd::{Gid, Group, Uid, User};

use crate::environment::Account;
use crate::error::{Context as _, Error, ErrorKind, Step};

/// Who the daemon becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    uid: Uid,
    gid: Gid,
    /// Supplementary groups, without the primary group, which is `gid`.
    groups: Vec<Gid>,
    /// The user's entry, for `USER`, `LOGNAME`, `HOME` and `SHELL`; `None` with `group`
    /// alone, or a numeric user the database does not know (whose variables
    /// `environment::Account::numeric` makes).
    account: Option<Account>,
}

/// Looks up `user` and `group` (names, or numeric IDs), `Ok(None)` when neither is given.
///
/// The group defaults to the user's primary group; the supplementary groups are the user's
/// from the group database (as `initgroups(3)` sets them), or none with only a group.
///
/// # Errors
///
/// [`ErrorKind::UnknownUser`] for a name that does not exist; [`ErrorKind::PermissionDenied`]
/// when the starting process is not root and asks for another user or group than its own.
pub(crate) fn resolve(
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Option<Credentials>, Error> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let user = user.map(lookup_user).transpose()?;
    let group = group.map(lookup_group).transpose()?;
    let (uid, primary, account) = match user {
        Some((uid, primary, account)) => (uid, primary, account),
        None => (Uid::current(), None, None),
    };
    let name = account.as_ref().map(|a| a.name.clone());
    let gid = match (group, primary) {
        (Some(gid), _) | (None, Some(gid)) => gid,
        (None, None) => {
            return Err(Error::new(
                Step::ResolveUser,
                ErrorKind::UnknownUser,
                None,
                format!("user ID {uid} has no entry in the user database; give `group` too"),
            ));
        }
    };
    let groups = match &name {
        Some(name) => {
            let cname = std::ffi::CString::new(name.as_str()).map_err(|_| nul(name))?;
            getgrouplist(&cname, gid)
                .context(Step::ResolveUser, None)?
                .into_iter()
                .filter(|g| *g != gid)
                .collect()
        }
        None => Vec::new(),
    };
    // macOS's kernel takes at most 16 supplementary groups. `initgroups(3)` there cuts the
    // list short; the daemon would lose groups its user has without a word, so it refuses.
    #[cfg(target_vendor = "apple")]
    if groups.len() > crate::sys::NGROUPS_MAX {
        return Err(Error::new(
            Step::ResolveUser,
            ErrorKind::InvalidConfig,
            name.as_deref().map(std::path::Path::new),
            format!(
                "the user is in {} supplementary groups; macOS allows at most {}",
                groups.len(),
                crate::sys::NGROUPS_MAX
            ),
        ));
    }
    let credentials = Credentials {
        uid,
        gid,
        groups,
        account,
    };
    credentials.check_permitted()?;
    Ok(Some(credentials))
}

/// `getgrouplist(3)`: `nix`'s where it has one; macOS (`int` group IDs) and illumos through
/// [`crate::sys::getgrouplist`].
#[cfg(not(any(target_vendor = "apple", target_os = "illumos", target_os = "solaris")))]
fn getgrouplist(user: &std::ffi::CStr, group: Gid) -> std::io::Result<Vec<Gid>> {
    Ok(nix::unistd::getgrouplist(user, group)?)
}

#[cfg(any(target_vendor = "apple", target_os = "illumos", target_os = "solaris"))]
use crate::sys::getgrouplist;

/// `setgroups(2)`: `nix`'s where it has one, [`crate::sys::setgroups`] on macOS.
#[cfg(not(target_vendor = "apple"))]
fn setgroups(groups: &[Gid]) -> std::io::Result<()> {
    Ok(nix::unistd::setgroups(groups)?)
}

#[cfg(target_vendor = "apple")]
use crate::sys::setgroups;

/// A user by name, or by numeric ID when no user has that name (as `chown(1)` reads it):
/// its UID, primary group and entry, when the database has them.
fn lookup_user(user: &str) -> Result<(Uid, Option<Gid>, Option<Account>), Error> {
    let unknown = || unknown(Step::ResolveUser, user, "no such user");
    if user.is_empty() {
        return Err(unknown());
    }
    if let Some(entry) = User::from_name(user).context(Step::ResolveUser, None)? {
        return Ok((entry.uid, Some(entry.gid), Some(account(entry))));
    }
    let id: u32 = user.parse().map_err(|_| unknown())?;
    match User::from_uid(Uid::from_raw(id)).context(Step::ResolveUser, None)? {
        Some(entry) => Ok((entry.uid, Some(entry.gid), Some(account(entry)))),
        None => Ok((Uid::from_raw(id), None, None)),
    }
}

/// What the environment takes from a user's entry.
fn account(entry: User) -> Account {
    Account {
        name: entry.name,
        home: entry.dir,
        shell: entry.shell,
    }
}

/// A group by name, or by numeric ID when no group has that name.
fn lookup_group(group: &str) -> Result<Gid, Error> {
    let unknown = || unknown(Step::ResolveGroup, group, "no such group");
    if group.is_empty() {
        return Err(unknown());
    }
    if let Some(entry) = Group::from_name(group).context(Step::ResolveGroup, None)? {
        return Ok(entry.gid);
    }
    group.parse().map(Gid::from_raw).map_err(|_| unknown())
}

fn unknown(step: Step, name: &str, reason: &str) -> Error {
    Error::new(
        step,
        ErrorKind::UnknownUser,
        Some(std::path::Path::new(name)),
        reason,
    )
}

fn nul(name: &str) -> Error {
    Error::new(
        Step::ResolveUser,
        ErrorKind::InvalidConfig,
        Some(std::path::Path::new(name)),
        "the name contains a NUL byte",
    )
}

impl Credentials {
    /// Whether this process can become them: root can; anyone else only stays themselves.
    fn check_permitted(&self) -> Result<(), Error> {
        if Uid::effective().is_root() || self.is_current() {
            return Ok(());
        }
        Err(Error::new(
            Step::DropPrivileges,
            ErrorKind::PermissionDenied,
            None,
            format!(
                "only root can run a daemon as UID {} GID {}; this process runs as UID {} GID {}",
                self.uid,
                self.gid,
                Uid::effective(),
                Gid::effective()
            ),
        ))
    }

    /// Whether the process already has these IDs (and is not root, which would keep its
    /// supplementary groups).
    fn is_current(&self) -> bool {
        let (ruid, euid, suid) = (Uid::current(), Uid::effective(), self.uid);
        let (rgid, egid) = (Gid::current(), Gid::effective());
        ruid == suid && euid == suid && rgid == self.gid && egid == self.gid
    }

    /// The user's entry, if `user` named one.
    pub(crate) fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// Sets the supplementary groups, the group ID and the user ID, in that order, then
    /// checks that none of the old IDs can be regained.
    pub(crate) fn apply(&self) -> Result<(), Error> {
        if self.is_current() && !Uid::effective().is_root() {
            return Ok(());
        }
        let was_root = Uid::effective().is_root();
        setgroups(&self.groups).context(Step::DropPrivileges, None)?;
        nix::unistd::setgid(self.gid).context(Step::DropPrivileges, None)?;
        nix::unistd::setuid(self.uid).context(Step::DropPrivileges, None)?;
        self.verify(was_root)
    }

    /// POS37-C: every ID is the new one, and root (if it was root) cannot be regained.
    fn verify(&self, was_root: bool) -> Result<(), Error> {
        let fail = |what: String| Err(Error::new(Step::DropPrivileges, ErrorKind::Os, None, what));
        if let Some(what) = self.ids_differ()? {
            return fail(what);
        }
        if was_root && !self.uid.is_root() && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
            return fail("root could be regained after dropping privileges".to_owned());
        }
        Ok(())
    }

    /// What differs if the real, effective and saved user and group IDs are not all the new
    /// ones, read with `getresuid` and `getresgid`.
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd"
    ))]
    fn ids_differ(&self) -> Result<Option<String>, Error> {
        let uids = nix::unistd::getresuid().context(Step::DropPrivileges, None)?;
        let gids = nix::unistd::getresgid().context(Step::DropPrivileges, None)?;
        if [uids.real, uids.effective, uids.saved] != [self.uid; 3] {
            return Ok(Some(format!(
                "the user IDs are {uids:?}, not all {}",
                self.uid
            )));
        }
        if [gids.real, gids.effective, gids.saved] != [self.gid; 3] {
            return Ok(Some(format!(
                "the group IDs are {gids:?}, not all {}",
                self.gid
            )));
        }
        Ok(None)
    }

    /// What differs if the real and effective user and group IDs are not the new ones.
    ///
    /// macOS, NetBSD and illumos have no `getresuid`/`getresgid`: the saved IDs cannot be
    /// read. `setuid` and `setgid` by a privileged process set the saved ID too (POSIX), and
    /// [`verify`](Self::verify) checks that `setuid(0)` fails, so a saved root ID would
    /// still be caught.
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd"
    )))]
    fn ids_differ(&self) -> Result<Option<String>, Error> {
        let uids = [Uid::current(), Uid::effective()];
        let gids = [Gid::current(), Gid::effective()];
        if uids != [self.uid; 2] {
            return Ok(Some(format!(
                "the real and effective user IDs are {} and {}, not both {}",
                uids[0], uids[1], self.uid
            )));
        }
        if gids != [self.gid; 2] {
            return Ok(Some(format!(
                "the real and effective group IDs are {} and {}, not both {}",
                gids[0], gids[1], self.gid
            )));
        }
        Ok(None)
    }
}
