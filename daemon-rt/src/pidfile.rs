//! Step 12: the PID file, opened and locked by the starting process, written by the daemon.
//!
//! The lock is the liveness signal (as in FreeBSD's `pidfile(3)`): the daemon holds
//! `flock(LOCK_EX)` on the file for its whole life, so "running" means "locked", which a PID
//! recycled after a crash or reboot cannot fake. A file left by a killed daemon is unlocked, so
//! it never blocks the next start.
//!
//! Opening refuses what the PID-file CVEs exploited: a symbolic link (`O_NOFOLLOW`), anything
//! but a regular file, and a file with other hard links. Nothing is truncated unless the lock
//! was won, so a second start never touches a running instance's file.

use std::ffi::CString;
use std::fs::{File, Metadata, OpenOptions, TryLockError};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::libc;

use crate::error::{Context as _, Error, ErrorKind, Step};
use crate::sys;

/// The mode of the PID file, whatever the umask: readable by all, so that `start-stop-daemon`,
/// init scripts and monitoring can read it, writable by its owner only.
const MODE: u32 = 0o644;

/// How often the open-lock-verify loop starts over when the file is replaced under it.
const ATTEMPTS: usize = 8;

/// How long a locked file without a PID is read again (by a start that lost the lock, or a
/// control command): a starting daemon writes its PID right after forking, while the lock
/// was taken before.
pub(crate) const PID_WAIT: Duration = Duration::from_millis(200);

/// A PID file whose lock this process holds.
///
/// The lock is held through a read-only descriptor. The read-write one is used to empty the
/// file and write the PID, then closed: a daemon that dropped its privileges keeps no
/// descriptor that could rewrite the file (and make a root script signal another process).
#[derive(Debug)]
pub(crate) struct Pidfile {
    lock: File,
    writer: Option<File>,
    /// Absolute, so that removal still works after the daemon's `chdir`.
    path: CString,
    /// The file's device and inode.
    identity: (u64, u64),
    /// Whether this start created the file or emptied it: only then is it this start's to
    /// remove when the start fails.
    owned: bool,
}

impl Pidfile {
    /// Opens (creating it if needed) and locks the PID file at `path`. The content is left
    /// alone until [`Pidfile::claim`], so that nothing is lost if a later check refuses the
    /// start.
    ///
    /// A file this call created is removed again if the call fails, unless another start
    /// has locked it since. The file being removed or replaced by the previous holder as it
    /// exits, at any moment of the call, makes it start over.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyRunning`] with the holder's PID (when the process that holds the
    /// lock is the one the file names) when another process holds the lock;
    /// [`ErrorKind::CannotCreate`] when the path is a link, not a regular file, has other
    /// hard links, is on a pseudo-filesystem, or cannot be created.
    pub(crate) fn acquire(path: &Path, strict: bool) -> Result<Pidfile, Error> {
        let absolute = std::path::absolute(path).context(Step::OpenPidfile, Some(path))?;
        let cpath = CString::new(absolute.as_os_str().as_bytes()).map_err(|_| {
            Error::new(
                Step::OpenPidfile,
                ErrorKind::InvalidConfig,
                Some(path),
                "the path contains a NUL byte",
            )
        })?;
        if strict {
            crate::paths::check_trusted(path, Step::OpenPidfile)?;
        }
        for _ in 0..ATTEMPTS {
            // `None`: the file vanished between two opens.
            let Some((file, meta, created)) = open(path)? else {
                continue;
            };
            if strict {
                check_owner(path, &meta)?;
            }
            match lock(path, &meta) {
                Ok(Some(lock)) => {
                    return Ok(Pidfile {
                        lock,
                        writer: Some(file),
                        path: cpath,
                        identity: (meta.dev(), meta.ino()),
                        owned: created,
                    });
                }
                Ok(None) if created => discard(&file, path, &meta),
                Ok(None) => {}
                Err(err) => {
                    if created {
                        discard(&file, path, &meta);
                    }
                    return Err(err);
                }
            }
        }
        Err(Error::new(
            Step::LockPidfile,
            ErrorKind::CannotCreate,
            Some(path),
            "the file keeps being replaced while it is locked",
        ))
    }

    /// Takes the locked file over: empties it if it holds a dead instance's PID, and sets its
    /// mode. Called once every check of the start passed.
    pub(crate) fn claim(&mut self) -> Result<(), Error> {
        let Some(file) = &self.writer else {
            return Ok(());
        };
        self.owned = true;
        let path = self.path();
        // Not the metadata of the open: a previous holder may have written its PID since.
        let meta = file.metadata().context(Step::OpenPidfile, Some(path))?;
        // An empty file is left alone: on ext4, truncating a file to zero makes its last
        // close flush it (`auto_da_alloc`), which cost the starting command ~0.2 ms.
        if meta.len() != 0 {
            file.set_len(0).context(Step::WritePidfile, Some(path))?;
        }
        if meta.mode() & 0o7777 != MODE {
            file.set_permissions(std::fs::Permissions::from_mode(MODE))
                .context(Step::OpenPidfile, Some(path))?;
        }
        Ok(())
    }

    /// The device and inode of the file.
    pub(crate) fn identity(&self) -> (u64, u64) {
        self.identity
    }

    /// Writes `pid` and a newline into the (emptied) file, the format `start-stop-daemon`,
    /// systemd's `PIDFile=` and `pidof`-style tools read; then closes the read-write
    /// descriptor.
    pub(crate) fn write_pid(&mut self, pid: u32) -> Result<(), Error> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        // On the stack: no allocation in the daemon before it reported ready.
        let mut line = [0u8; 11];
        let mut at = line.len() - 1;
        line[at] = b'\n';
        let mut rest = pid;
        loop {
            at -= 1;
            line[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        writer
            .write_all_at(&line[at..], 0)
            .context(Step::WritePidfile, Some(self.path()))
    }

    /// The absolute path of the file.
    pub(crate) fn path(&self) -> &Path {
        Path::new(std::ffi::OsStr::from_bytes(self.path.as_bytes()))
    }

    /// Removes the file if its path still names the file this process locked.
    pub(crate) fn remove(&self) {
        sys::unlink_if_same_file(self.lock.as_raw_fd(), &self.path);
    }

    /// For a start that failed: removes the file if this start created it or took it over
    /// ([`Pidfile::claim`]); a file that was there and is untouched stays as it was.
    pub(crate) fn abandon(&self) {
        if self.owned {
            self.remove();
        }
    }

    /// Makes the daemon remove the file when it exits or is ended by SIGTERM.
    pub(crate) fn arm_cleanup(&self, path: CString) {
        sys::arm_pidfile_cleanup(path, self.lock.as_raw_fd());
    }

    /// A copy of the absolute path, for [`Pidfile::arm_cleanup`]: made before the fork, so
    /// that the daemon does not allocate.
    pub(crate) fn cleanup_path(&self) -> CString {
        self.path.clone()
    }

    /// The descriptors the daemon must keep open: the lock's, and the writer's until the PID
    /// is written.
    pub(crate) fn fds(&self) -> impl Iterator<Item = i32> {
        let writer = self.writer.as_ref().map(File::as_raw_fd);
        std::iter::once(self.lock.as_raw_fd()).chain(writer)
    }
}

/// Opens the file, creating it if there is none, and checks what it is; returns it with its
/// metadata and whether this call created it. `Ok(None)` when the file vanished between the
/// exclusive create and the plain open: the caller starts over.
fn open(path: &Path) -> Result<Option<(File, Metadata, bool)>, Error> {
    let options = |create: bool| {
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .create_new(create)
            .mode(MODE)
            // O_NONBLOCK: opening a FIFO planted at the path must not hang the start.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK);
        options
    };
    let symlink = || {
        Error::new(
            Step::OpenPidfile,
            ErrorKind::CannotCreate,
            Some(path),
            "it is a symbolic link, and a PID file is never followed through one",
        )
    };
    // Anything but a regular file is refused before it is opened: opening a device can act
    // (a watchdog device starts counting), even non-blocking. The exclusive create opens
    // nothing that exists, so the check is made once it failed: no call when the file is new.
    let refuse_kind = || {
        let meta = std::fs::symlink_metadata(path).ok()?;
        let kind = meta.file_type();
        if kind.is_file() || kind.is_symlink() {
            return None;
        }
        use std::os::unix::fs::FileTypeExt as _;
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        Some(Error::new(
            Step::OpenPidfile,
            ErrorKind::CannotCreate,
            Some(path),
            format!("it is {what}, not a regular file"),
        ))
    };
    // Exclusive first, so that a file this start made is known, and removed if it fails.
    let (file, created) = match options(true).open(path) {
        Ok(file) => (file, true),
        Err(_) if let Some(err) = refuse_kind() => return Err(err),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match options(false).open(path) {
            Ok(file) => (file, false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(symlink()),
            Err(e) => return Err(Error::os(Step::OpenPidfile, Some(path), e)),
        },
        Err(e) => return Err(Error::os(Step::OpenPidfile, Some(path), e)),
    };
    let meta = file.metadata().context(Step::OpenPidfile, Some(path))?;
    // No link left: the previous holder removed the file as it exited, just after it was
    // opened. Start over, as for a file that vanished between two opens.
    if meta.nlink() == 0 && meta.file_type().is_file() {
        return Ok(None);
    }
    let checked = check_kind(path, &file, &meta).map(|()| meta);
    let meta = match checked {
        Ok(meta) => meta,
        Err(err) => {
            if created {
                // What this call created is a regular file with one link, on the path.
                let _ = std::fs::remove_file(path);
            }
            return Err(err);
        }
    };
    if file.as_raw_fd() > 2 {
        return Ok(Some((file, meta, created)));
    }
    // Started with a standard stream closed: move the file above 2, where moving stdio onto
    // 0, 1 and 2 cannot close it.
    // `try_clone` duplicates with F_DUPFD_CLOEXEC from 3 upwards.
    match file.try_clone() {
        Ok(moved) => Ok(Some((moved, meta, created))),
        Err(e) => {
            if created {
                discard(&file, path, &meta);
            }
            Err(Error::os(Step::OpenPidfile, Some(path), e))
        }
    }
}

/// Refuses what must never be a PID file: anything but a regular file, a file with other
/// hard links (another name of `/etc/shadow`), and a file of a pseudo-filesystem (writing a
/// PID into `/proc/sys/...` or `/sys/...` changes the kernel's settings).
fn check_kind(path: &Path, file: &File, meta: &Metadata) -> Result<(), Error> {
    let refuse = |reason: String| {
        Err(Error::new(
            Step::OpenPidfile,
            ErrorKind::CannotCreate,
            Some(path),
            reason,
        ))
    };
    if !meta.file_type().is_file() {
        return refuse("it is not a regular file".to_owned());
    }
    if meta.nlink() != 1 {
        return refuse(format!(
            "it has {} hard links, and a PID file must have one",
            meta.nlink()
        ));
    }
    if let Some(fs) = crate::paths::pseudo_filesystem(file) {
        return refuse(format!(
            "it is on {fs}, a pseudo-filesystem, where writing changes the kernel's state"
        ));
    }
    Ok(())
}

/// As root, refuses a PID file another user owns: that user can rewrite the PID in it, and
/// root's `kill $(cat pidfile)` then signals whatever they chose (OpenLDAP CVE-2017-14159,
/// Nagios CVE-2016-10089). Left by an init script that handed the file to the service's
/// user, it is for the administrator to remove; `strict_paths = false` takes it as it is.
fn check_owner(path: &Path, meta: &Metadata) -> Result<(), Error> {
    if meta.uid() == 0 || !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    Err(Error::new(
        Step::OpenPidfile,
        ErrorKind::PermissionDenied,
        Some(path),
        format!(
            "it is owned by UID {}, who could rewrite the PID in it; remove it, or turn the \
             check off with `strict_paths = false`",
            meta.uid()
        ),
    ))
}

/// Locks the file at `path` through a read-only descriptor, once it is known to be the file
/// `open` describes and still at the path. `Ok(None)` when the file was removed or replaced
/// meanwhile (the previous holder exiting): the caller starts over.
fn lock(path: &Path, opened: &Metadata) -> Result<Option<File>, Error> {
    let Some(lock) = open_lock(path, opened)? else {
        return Ok(None);
    };
    match lock.try_lock() {
        Ok(()) => {}
        // Held by an instance, or for a moment by a `status` check, which tests the lock by
        // taking it shared: tried again until the holder is named.
        Err(TryLockError::WouldBlock) => match wait_for_holder(&lock) {
            Ok(Holder::Released) => {}
            Ok(Holder::Named(pid)) => return Err(Error::already_running(path, Some(pid))),
            Ok(Holder::Unknown) => return Err(Error::already_running(path, None)),
            Err(e) => return Err(Error::os(Step::LockPidfile, Some(path), e)),
        },
        Err(TryLockError::Error(e)) => {
            return Err(Error::os(Step::LockPidfile, Some(path), e));
        }
    }
    // The previous holder unlinks the file as it exits: if that happened between our open
    // and our lock, we hold a lock on a file nobody else can find. Start over.
    if !names_file(path, opened.dev(), opened.ino()) {
        return Ok(None);
    }
    Ok(Some(lock))
}

/// Removes a file this start created and is giving up, if no other start has locked it
/// since (it would be that start's now) and the path still names it.
fn discard(file: &File, path: &Path, meta: &Metadata) {
    if file.try_lock().is_ok() && names_file(path, meta.dev(), meta.ino()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Opens the descriptor that holds the lock, read-only, and checks that it is the file `open`
/// describes. `Ok(None)` when the file is gone or was replaced in between.
fn open_lock(path: &Path, open: &Metadata) -> Result<Option<File>, Error> {
    let lock = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(lock) => lock,
        // Removed (ENOENT), or replaced by a link (ELOOP), since the first open.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => {
            return Ok(None);
        }
        Err(e) => return Err(Error::os(Step::OpenPidfile, Some(path), e)),
    };
    let meta = lock.metadata().context(Step::OpenPidfile, Some(path))?;
    if (meta.dev(), meta.ino()) != (open.dev(), open.ino()) {
        return Ok(None);
    }
    if lock.as_raw_fd() > 2 {
        return Ok(Some(lock));
    }
    lock.try_clone()
        .map(Some)
        .context(Step::OpenPidfile, Some(path))
}

/// Whether `path` (not followed) still names the open file with device `dev`, inode `ino`.
pub(crate) fn names_file(path: &Path, dev: u64, ino: u64) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|named| named.dev() == dev && named.ino() == ino)
}

/// The PID on the file's first line, if it is a valid PID.
pub(crate) fn read_pid(file: &File) -> Option<u32> {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).ok()?;
    parse_pid(&buf[..n])
}

/// Whether some process holds an exclusive `flock` on the file with device `dev` and inode
/// `ino`, from the kernel's list of locks; `None` when the list cannot be read.
///
/// A line of `/proc/locks`: `1: FLOCK  ADVISORY  WRITE 1234 fe:00:10010710 0 EOF`, the
/// device's major and minor numbers in hexadecimal; a line with `->` is a waiter, not a
/// holder.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn flocked(dev: u64, ino: u64) -> Option<bool> {
    let locks = read_whole("/proc/locks")?;
    let file = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    Some(locks.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // A `flock` only: another program's POSIX lock says nothing of the daemon.
        fields.get(1) == Some(&"FLOCK")
            && fields.get(3) == Some(&"WRITE")
            && fields.get(5) == Some(&file.as_str())
    }))
}

/// The content of a proc file in one `read`, so that it is one snapshot: read in parts (as
/// `read_to_string` does, with a small first read), a list that changes between the parts
/// can lose a line.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_whole(path: &str) -> Option<String> {
    use std::io::Read as _;
    let mut file = File::open(path).ok()?;
    let mut size = 64 * 1024;
    loop {
        let mut buf = vec![0u8; size];
        let n = file.read(&mut buf).ok()?;
        if n < size {
            buf.truncate(n);
            return String::from_utf8(buf).ok();
        }
        // Full: larger, from the start.
        size *= 4;
        file = File::open(path).ok()?;
    }
}

/// Who holds a lock this start found taken.
enum Holder {
    /// Nobody any more: this start holds it now.
    Released,
    /// The process with this PID, which has the file open.
    Named(u32),
    /// A process that cannot be named.
    Unknown,
}

/// Tries the lock on `file` again, and looks for its holder, until one of them succeeds or
/// [`PID_WAIT`] has passed.
fn wait_for_holder(file: &File) -> io::Result<Holder> {
    let meta = file.metadata()?;
    let deadline = Instant::now() + PID_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Holder::Released),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(e),
        }
        if let Some(pid) = read_pid(file) {
            match holds_open(pid, meta.dev(), meta.ino(), Some(file.as_raw_fd())) {
                Ok(true) => return Ok(Holder::Named(pid)),
                Ok(false) => {}
                // No `/proc`, another user's process: it cannot be named.
                Err(_) => return Ok(Holder::Unknown),
            }
        }
        if Instant::now() >= deadline {
            return Ok(Holder::Unknown);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The PID of the process that holds the lock on `file`: the PID written in the file, once
/// that process is seen to have the file open (in `/proc/<pid>/fd`). A PID that is not the
/// holder's (a dead instance's, still there while the holder starts; one another program
/// wrote) is never reported. A holder that won the lock a moment ago writes its PID once it
/// has forked, so the file is read again for [`PID_WAIT`]; `None` if no PID verifies by
/// then, or the holder cannot be checked.
pub(crate) fn verified_holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let deadline = Instant::now() + PID_WAIT;
    loop {
        if let Some(pid) = read_pid(file) {
            // An error (no `/proc`, another user's process) will not go away: stop now.
            if holds_open(pid, meta.dev(), meta.ino(), Some(file.as_raw_fd())).ok()? {
                return Some(pid);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether process `pid` has the file with device `dev` and inode `ino` open, by the
/// identity of each of its descriptors in `/proc/<pid>/fd`. When `pid` is this process, its
/// descriptor `own` does not count: looking at a file does not make one its holder.
///
/// Linux, and the other Unixes whose procfs has that directory (illumos; NetBSD when procfs
/// is mounted): without it the check cannot be made, and the call fails rather than name a
/// process it could not check. macOS and FreeBSD ask the kernel instead (the definition
/// below).
///
/// # Errors
///
/// `/proc` is not mounted ([`io::ErrorKind::Unsupported`]), or the process is another
/// user's (`EACCES`).
#[cfg(not(any(target_os = "macos", target_os = "freebsd")))]
pub(crate) fn holds_open(pid: u32, dev: u64, ino: u64, own: Option<RawFd>) -> io::Result<bool> {
    let entries = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(entries) => entries,
        // No such process: it is not the holder. Unless there is no `/proc` at all.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if Path::new("/proc/self/fd").is_dir() {
                return Ok(false);
            }
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "/proc is not mounted, so the process holding the file cannot be checked",
            ));
        }
        Err(e) => return Err(e),
    };
    let own = own
        .filter(|_| pid == std::process::id())
        .map(|fd| fd.to_string());
    for entry in entries.flatten() {
        if own
            .as_deref()
            .is_some_and(|fd| entry.file_name() == std::ffi::OsStr::new(fd))
        {
            continue;
        }
        // A descriptor closed since the listing fails with ENOENT: it is skipped.
        if let Ok(meta) = fd_metadata(&entry.path())
            && meta.dev() == dev
            && meta.ino() == ino
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The identity of the file open as the `/proc/<pid>/fd` entry `entry`: on Linux the entry is
/// a link `stat` follows. Elsewhere the entry is opened (without blocking, and without making
/// a terminal the controlling one) and the open file asked, which proc(5) of illumos
/// documents for regular files; entries that cannot be opened (sockets, pipes) are skipped,
/// and a PID file is a regular file.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn fd_metadata(entry: &Path) -> io::Result<Metadata> {
    std::fs::metadata(entry)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd"
)))]
fn fd_metadata(entry: &Path) -> io::Result<Metadata> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(entry)?
        .metadata()
}

/// Whether process `pid` has the file with device `dev` and inode `ino` open, by the identity
/// of each of its open files as the kernel reports them: libproc's `proc_pidfdinfo` on macOS,
/// `sysctl` `kern.proc.filedesc` on FreeBSD (where procfs, when mounted at all, has no `fd`
/// directory). When `pid` is this process, its descriptor `own` does not count.
///
/// # Errors
///
/// The process is another user's (`EPERM`).
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
pub(crate) fn holds_open(pid: u32, dev: u64, ino: u64, own: Option<RawFd>) -> io::Result<bool> {
    let files = match sys::open_files(pid) {
        Ok(files) => files,
        // No such process: it is not the holder.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
        Err(e) => return Err(e),
    };
    let own = own.filter(|_| pid == std::process::id());
    Ok(files
        .iter()
        .any(|f| Some(f.fd) != own && f.dev == dev && f.ino == ino))
}

/// The PID on the first line of a PID file's content: positive and within `pid_t`, so that
/// it can never become `kill(2)`'s 0 or -1, which mean process groups.
fn parse_pid(content: &[u8]) -> Option<u32> {
    let line = content.split(|&b| b == b'\n').next()?;
    let pid: u32 = std::str::from_utf8(line).ok()?.trim().parse().ok()?;
    (pid > 0 && i32::try_from(pid).is_ok()).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::parse_pid;

    #[test]
    fn parses_the_first_line_only() {
        assert_eq!(parse_pid(b"1234\n"), Some(1234));
        assert_eq!(parse_pid(b"1234"), Some(1234));
        assert_eq!(parse_pid(b"77\n56\n"), Some(77));
        assert_eq!(parse_pid(b" 77 \n"), Some(77));
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"0\n"), None);
        assert_eq!(parse_pid(b"-1\n"), None);
        assert_eq!(parse_pid(b"4294967295\n"), None);
        assert_eq!(parse_pid(b"12a\n"), None);
    }
}
