//! Where the files a daemon writes may be: checks on the PID file's and the log files' paths
//! before they are opened.
//!
//! A start run as root opens its PID file and logs as root. If another user can change any
//! directory on the way to them, that user can put a symbolic link or a file of theirs there
//! first, and root then truncates, writes or deletes a file of the attacker's choosing
//! (`O_NOFOLLOW` covers only the last component). So, as root, every directory on the path
//! must be one only root can change, the rule of OpenSSH's `StrictModes`: owned by root, and
//! writable by no other user or group but root's. One exception, as in systemd's path
//! checks: a sticky directory such as `/tmp` may be passed through to an entry root owns,
//! which no other user can rename or remove; but the file's own directory must be root's
//! alone, or another user could create the file first.

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
    match untrusted(path) {
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

/// Why `path` is not safe for root, if it is not. Walks the path from `/`, one component at
/// a time, never following a link it has not checked.
fn untrusted(path: &Path) -> io::Result<Option<String>> {
    let mut dir = PathBuf::from("/");
    let mut dir_meta = std::fs::symlink_metadata(&dir)?;
    let mut links = 0;
    // The components still to walk, the next one last; a link's target is pushed on top.
    let mut rest: Vec<PathBuf> = std::path::absolute(path)?
        .components()
        .rev()
        .map(|part| PathBuf::from(part.as_os_str()))
        .collect();
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
                    // The file itself is created in `dir`: only root may write there.
                    Err(e) if e.kind() == io::ErrorKind::NotFound && last => {
                        return Ok(
                            writable_by_others(&dir_meta).then(|| changeable(&dir, &dir_meta))
                        );
                    }
                    // A missing directory: the open fails and says so.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                };
                if writable_by_others(&dir_meta) {
                    let sticky = dir_meta.permissions().mode() & 0o1000 != 0;
                    // In a sticky directory, no other user can rename or remove root's
                    // entries; but anyone can create the file before root does.
                    if !(sticky && meta.uid() == 0 && !last) {
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

/// Whether a user other than root can add, rename or remove entries of the directory.
fn writable_by_others(meta: &Metadata) -> bool {
    let mode = meta.permissions().mode();
    meta.uid() != 0 || (mode & 0o020 != 0 && meta.gid() != 0) || mode & 0o002 != 0
}

/// Says who can change the directory `dir`.
fn changeable(dir: &Path, meta: &Metadata) -> String {
    let mode = meta.permissions().mode() & 0o7777;
    let who = if meta.uid() != 0 {
        format!("its owner, UID {}", meta.uid())
    } else if mode & 0o002 != 0 {
        "every user".to_owned()
    } else {
        format!("group {}", meta.gid())
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
