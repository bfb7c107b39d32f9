//! Where the files a daemon writes may be: checks on the PID file's and the log files' paths
//! before they are opened.
//!
//! A start run as root opens its PID file and logs as root. If another user can change any
//! directory on the way to them, that user can put a symbolic link or a file of theirs there
//! first, and root then truncates, writes or deletes a file of the attacker's choosing
//! (`O_NOFOLLOW` covers only the last component). So, as root, every directory on the path
//! must be one only root can change, the rule of OpenSSH's `StrictModes`: owned by root, and
//! writable by no other user or group but root's, by its mode or its ACL. One exception, as
//! in systemd's path checks: a sticky directory root owns, such as `/tmp`, may be passed
//! through to an entry root owns, which no other user can rename or remove; but the file's
//! own directory, and a directory a missing one would be created in, must be root's alone,
//! or another user could create the file (or the directory, with a link in it) first.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, ErrorKind, Escaped, Step};

/// How many symbolic links a path may pass through, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Refuses `path`, when this process is root, if another user could have planted or can
/// change any directory or symbolic link on it (see the module's documentation). Does nothing
/// for any other user, who can only be tricked into writing its own files.
///
/// # Errors
///
/// [`ErrorKind::PermissionDenied`] for `step` on `path`, naming the directory or link.
pub(crate) fn check_trusted(path: &Path, step: Step) -> Result<(), Error> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    match untrusted_cached(path) {
        Ok(None) => Ok(()),
        Ok(Some(reason)) => Err(Error::new(
            step,
            ErrorKind::PermissionDenied,
            Some(path),
            format!(
                "{reason}; as root, use a path only root can change, or turn the check off with \
                 `strict_paths = false`"
            ),
        )),
        Err(e) => Err(Error::os(step, Some(path), e)),
    }
}

/// The directory, as written, that held the last path found safe: a directory only root can
/// change, reached through directories only root can change, so that the same words still
/// name it. The PID file and the logs usually share one: the second walk is saved.
static TRUSTED_DIR: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// [`untrusted`], which a path in the directory of the last safe path skips but for its last
/// component: missing (only root could create it there), or anything but a link, is safe; a
/// link is walked.
fn untrusted_cached(path: &Path) -> io::Result<Option<String>> {
    let absolute = std::path::absolute(path)?;
    let parent = absolute.parent().map(Path::to_path_buf);
    let mut trusted = TRUSTED_DIR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if parent.is_some() && *trusted == parent {
        match std::fs::symlink_metadata(&absolute) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Ok(meta) if !meta.file_type().is_symlink() => return Ok(None),
            _ => {}
        }
    }
    let reason = untrusted(&absolute)?;
    if reason.is_none() {
        *trusted = parent;
    }
    Ok(reason)
}

/// Why `path` is not safe for root, if it is not. Walks the path from `/`, one component at
/// a time, never following a link it has not checked.
fn untrusted(path: &Path) -> io::Result<Option<String>> {
    let mut dir = PathBuf::from("/");
    let mut links = 0;
    // The components still to walk, the next one last; a link's target is pushed on top.
    let mut rest: Vec<PathBuf> = std::path::absolute(path)?
        .components()
        .rev()
        .map(|part| PathBuf::from(part.as_os_str()))
        .collect();
    // An absolute path starts with `/`, which the walk would look at twice: once here.
    if rest.last().map(PathBuf::as_path) == Some(Path::new("/")) {
        rest.pop();
    }
    let mut dir_meta = std::fs::symlink_metadata(&dir)?;
    while let Some(part) = rest.pop() {
        match Path::new(&part).components().next() {
            Some(Component::RootDir) => {
                dir = PathBuf::from("/");
                dir_meta = std::fs::symlink_metadata(&dir)?;
            }
            Some(Component::CurDir) | None => {}
            Some(Component::ParentDir) => {
                // `dir` holds no link (each was replaced by its target), so its parent
                // is the directory `..` names.
                dir.pop();
                dir_meta = std::fs::symlink_metadata(&dir)?;
            }
            Some(Component::Normal(name)) => {
                let last = rest.is_empty();
                let entry = dir.join(name);
                let meta = match std::fs::symlink_metadata(&entry) {
                    Ok(meta) => meta,
                    // A missing entry is created in `dir`, the file by the start or a
                    // directory by anyone who can: only root may write there.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Ok(writable_by_others(&dir, &dir_meta)
                            .then(|| changeable(&dir, &dir_meta)));
                    }
                    Err(e) => return Err(e),
                };
                if writable_by_others(&dir, &dir_meta) {
                    let sticky = dir_meta.permissions().mode() & 0o1000 != 0;
                    // In a sticky directory root owns, no other user can rename or remove
                    // root's entries (its owner could); but anyone can create the file
                    // before root does.
                    let safe_passage = sticky && dir_meta.uid() == 0 && meta.uid() == 0 && !last;
                    if !safe_passage {
                        return Ok(Some(changeable(&dir, &dir_meta)));
                    }
                }
                if meta.file_type().is_symlink() {
                    if meta.uid() != 0 {
                        return Ok(Some(format!(
                            "`{}` is a symbolic link owned by UID {}",
                            Escaped(entry.as_os_str()),
                            meta.uid()
                        )));
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(nix::libc::ELOOP));
                    }
                    let target = std::fs::read_link(&entry)?;
                    // Walked next, from `dir` (or from `/`, if absolute).
                    for part in target.components().rev() {
                        rest.push(PathBuf::from(part.as_os_str()));
                    }
                    continue;
                }
                if meta.is_dir() {
                    dir = entry;
                    dir_meta = meta;
                } else if !last {
                    // Not a directory, inside the path: the open fails with ENOTDIR.
                    return Ok(None);
                }
            }
            Some(Component::Prefix(_)) => {}
        }
    }
    Ok(None)
}

/// Whether a user other than root can add, rename or remove entries of the directory `dir`:
/// by its owner, its group or other bits, or by an access ACL entry that gives a user or a
/// group other than root's write permission.
///
/// The ACL is read only when the group bits allow writing: an ACL with named users or groups
/// has a mask entry, the group bits of the mode are that mask (acl(5)), and no entry grants
/// more than the mask. Without a group write bit no ACL can grant write, so the answer is the
/// same without the `lgetxattr` call.
fn writable_by_others(dir: &Path, meta: &Metadata) -> bool {
    let mode = meta.permissions().mode();
    meta.uid() != 0
        || (mode & 0o020 != 0 && meta.gid() != 0)
        || mode & 0o002 != 0
        || (mode & 0o020 != 0 && acl_grants_write(dir))
}

/// Whether the directory's POSIX access ACL (`system.posix_acl_access`) gives write
/// permission to a named user or group other than root's, as `setfacl -m u:name:rwx` does:
/// the mode bits then show only the ACL's mask. An ACL that cannot be read counts as one
/// that grants it.
fn acl_grants_write(dir: &Path) -> bool {
    // The layout of linux/posix_acl_xattr.h: a version (2), then entries of tag, permissions
    // and ID, little-endian.
    const USER: u16 = 0x02;
    const GROUP: u16 = 0x08;
    const MASK: u16 = 0x10;
    const WRITE: u16 = 0x02;
    let acl = match crate::sys::posix_acl(dir) {
        Ok(Some(acl)) => acl,
        Ok(None) => return false,
        Err(_) => return true,
    };
    let entries: Vec<(u16, u16, u32)> = acl
        .get(4..)
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|e| {
            let tag = u16::from_le_bytes([e[0], e[1]]);
            let perm = u16::from_le_bytes([e[2], e[3]]);
            (tag, perm, u32::from_le_bytes([e[4], e[5], e[6], e[7]]))
        })
        .collect();
    let mask = entries
        .iter()
        .find(|(tag, ..)| *tag == MASK)
        .map_or(u16::MAX, |(_, perm, _)| *perm);
    entries.iter().any(|&(tag, perm, id)| {
        (tag == USER || tag == GROUP) && id != 0 && perm & mask & WRITE != 0
    })
}

/// Says who can change the directory `dir`.
fn changeable(dir: &Path, meta: &Metadata) -> String {
    let mode = meta.permissions().mode() & 0o7777;
    let who = if meta.uid() != 0 {
        format!("its owner, UID {}", meta.uid())
    } else if mode & 0o002 != 0 {
        "every user".to_owned()
    } else if mode & 0o020 != 0 && meta.gid() != 0 {
        format!("group {}", meta.gid())
    } else {
        "a user or group its ACL names".to_owned()
    };
    format!(
        "directory `{}` (mode {mode:04o}) can be changed by {who}",
        Escaped(dir.as_os_str())
    )
}

/// The name of the pseudo-filesystem `file` is on (`proc`, `sysfs`, ...), where writing
/// changes the kernel's state rather than storing data; `None` for any other filesystem, or
/// when it cannot be told.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pseudo_filesystem(file: &File) -> Option<&'static str> {
    use nix::sys::statfs as fs;
    let kind = fs::fstatfs(file).ok()?.filesystem_type();
    [
        (fs::PROC_SUPER_MAGIC, "proc"),
        (fs::SYSFS_MAGIC, "sysfs"),
        (fs::CGROUP_SUPER_MAGIC, "cgroup"),
        (fs::CGROUP2_SUPER_MAGIC, "cgroup2"),
        (fs::DEBUGFS_MAGIC, "debugfs"),
        (fs::TRACEFS_MAGIC, "tracefs"),
        (fs::SECURITYFS_MAGIC, "securityfs"),
        (fs::SELINUX_MAGIC, "selinuxfs"),
        (fs::BPF_FS_MAGIC, "bpf"),
        (fs::NSFS_MAGIC, "nsfs"),
        // Not among nix's constants; the values of linux/magic.h.
        (fs::FsType(0x6265_6570), "configfs"),
        (fs::FsType(0xde5e_81e4), "efivarfs"),
        (fs::FsType(0x4249_4e4d), "binfmt_misc"),
        (fs::FsType(0x6165_676c), "pstore"),
        (fs::FsType(0x6573_5543), "fusectl"),
    ]
    .into_iter()
    .find(|(magic, _)| *magic == kind)
    .map(|(_, name)| name)
}

/// The pseudo-filesystems of other systems (`procfs`, `devfs`) hold no regular files a
/// daemon could write into by mistake.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pseudo_filesystem(_file: &File) -> Option<&'static str> {
    None
}
