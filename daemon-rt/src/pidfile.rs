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
use std::os::fd::AsRawFd as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::libc;

use crate::error::{Context as _, Error, ErrorKind, Step};
use crate::stdio::above_stdio;
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
}

impl Pidfile {
    /// Opens (creating it if needed) and locks the PID file at `path`, then empties it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyRunning`] with the holder's PID when another process holds the
    /// lock; [`ErrorKind::CannotCreate`] when the path is a link, not a regular file, has
    /// other hard links, or cannot be created.
    pub(crate) fn acquire(path: &Path) -> Result<Pidfile, Error> {
        let absolute = std::path::absolute(path).context(Step::OpenPidfile, Some(path))?;
        for _ in 0..ATTEMPTS {
            let (file, meta) = open(path)?;
            let lock = open_lock(path, &meta)?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::already_running(path, written_pid(&lock)));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::os(Step::LockPidfile, Some(path), e));
                }
            }
            // The previous holder unlinks the file as it exits: if that happened between our
            // open and our lock, we hold a lock on a file nobody else can find. Start over.
            if !names_file(path, meta.dev(), meta.ino()) {
                continue;
            }
            // The lock is won: the content is a dead instance's PID, or nothing. Emptied now,
            // so a start that loses the race reads no stale PID while this one forks. An
            // empty file is left alone: on ext4, truncating a file to zero makes its last
            // close flush it (`auto_da_alloc`), which cost the starting command ~0.2 ms.
            // Not `meta`: a previous holder may have written its PID after that was read.
            let len = file
                .metadata()
                .context(Step::OpenPidfile, Some(path))?
                .len();
            if len != 0 {
                file.set_len(0).context(Step::WritePidfile, Some(path))?;
            }
            if meta.mode() & 0o7777 != MODE {
                file.set_permissions(std::fs::Permissions::from_mode(MODE))
                    .context(Step::OpenPidfile, Some(path))?;
            }
            let path = CString::new(absolute.as_os_str().as_bytes()).map_err(|_| {
                Error::new(
                    Step::OpenPidfile,
                    ErrorKind::InvalidConfig,
                    Some(path),
                    "the path contains a NUL byte",
                )
            })?;
            return Ok(Pidfile {
                lock,
                writer: Some(file),
                path,
            });
        }
        Err(Error::new(
            Step::LockPidfile,
            ErrorKind::CannotCreate,
            Some(path),
            "the file keeps being replaced while it is locked",
        ))
    }

    /// Writes `pid` and a newline into the (emptied) file, the format `start-stop-daemon`,
    /// systemd's `PIDFile=` and `pidof`-style tools read; then closes the read-write
    /// descriptor.
    pub(crate) fn write_pid(&mut self, pid: u32) -> Result<(), Error> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        writer
            .write_all_at(format!("{pid}\n").as_bytes(), 0)
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

    /// Makes the daemon remove the file when it exits or is ended by SIGTERM.
    pub(crate) fn arm_cleanup(&self) {
        sys::arm_pidfile_cleanup(&self.path, self.lock.as_raw_fd());
    }

    /// The descriptors the daemon must keep open: the lock's, and the writer's until the PID
    /// is written.
    pub(crate) fn fds(&self) -> impl Iterator<Item = i32> {
        let writer = self.writer.as_ref().map(File::as_raw_fd);
        std::iter::once(self.lock.as_raw_fd()).chain(writer)
    }
}

/// Opens the file and checks what it is; returns it with its metadata.
fn open(path: &Path) -> Result<(File, Metadata), Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(MODE)
        // O_NONBLOCK: opening a FIFO planted at the path must not hang the start.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::new(
                Step::OpenPidfile,
                ErrorKind::CannotCreate,
                Some(path),
                "it is a symbolic link, and a PID file is never followed through one",
            ),
            _ => Error::os(Step::OpenPidfile, Some(path), e),
        })?;
    let meta = file.metadata().context(Step::OpenPidfile, Some(path))?;
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
    let file = above_stdio(file).context(Step::OpenPidfile, Some(path))?;
    Ok((file, meta))
}

/// Opens the descriptor that holds the lock, read-only, and checks that it is the file `open`
/// describes (not one that replaced it in between).
fn open_lock(path: &Path, open: &Metadata) -> Result<File, Error> {
    let lock = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .and_then(above_stdio)
        .context(Step::OpenPidfile, Some(path))?;
    let meta = lock.metadata().context(Step::OpenPidfile, Some(path))?;
    if (meta.dev(), meta.ino()) != (open.dev(), open.ino()) {
        return Err(Error::new(
            Step::OpenPidfile,
            ErrorKind::CannotCreate,
            Some(path),
            "the file was replaced while it was being opened",
        ));
    }
    Ok(lock)
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

/// The PID the lock's holder wrote. A holder that won the lock a moment ago has emptied the
/// file and writes its PID once it has forked, so an empty file is read again for
/// [`PID_WAIT`].
pub(crate) fn written_pid(file: &File) -> Option<u32> {
    let deadline = Instant::now() + PID_WAIT;
    loop {
        let pid = read_pid(file);
        if pid.is_some() || Instant::now() >= deadline {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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
