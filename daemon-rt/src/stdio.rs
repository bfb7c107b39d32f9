//! Step 9: standard input, output and error, opened by the starting process (so a bad path is
//! reported to the user) and moved onto descriptors 0, 1 and 2 in the daemon.
//!
//! Log files are opened for appending and created if missing, never truncated: a failed or
//! second start loses no line of the running instance's log. Nothing here blocks: a FIFO
//! without a reader is refused rather than waited for, one without a writer is opened at
//! once. A log file a failed start created, and that is still empty, is removed again.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd as _, IntoRawFd as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;

use crate::error::{Context as _, Error, ErrorKind, Step};

/// The mode of a log file the daemon creates, before the starting process's umask: readable by
/// the owner's group for log readers, by nobody else.
const LOG_MODE: u32 = 0o640;

const DEV_NULL: &str = "/dev/null";

/// The files that become the daemon's standard streams; `None` leaves a stream where it is.
#[derive(Debug)]
pub(crate) struct Stdio {
    stdin: Option<File>,
    stdout: Option<File>,
    stderr: Option<File>,
    /// The files given by path, with the option that named them: the ones two roles must not
    /// share.
    named: Vec<(&'static str, PathBuf, Metadata)>,
    /// The log files this start created.
    created: Vec<Created>,
}

/// A file the start created, removed again if the start fails and it is still empty.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Created {
    /// Removes the file if the path still names it, nothing was written into it, and no
    /// process has it open: another daemon that shares the log may have opened it since,
    /// and must not lose it. The caller has closed its own copies.
    ///
    /// On Linux, "no process has it open" is what the kernel grants a write lease for
    /// (`F_SETLEASE`), in any PID namespace and for processes of any user; the lease is held
    /// while the file is removed. Elsewhere that cannot be told, and the file is kept.
    pub(crate) fn remove(&self) {
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&self.path)
        else {
            return;
        };
        // A daemon that has just exited may still be releasing its copy (the kernel closes
        // an exiting process's files a moment after its readiness pipe reads as closed):
        // the lease is tried again for up to 50 ms before the file counts as in use.
        let unused = file
            .metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == (self.dev, self.ino) && m.len() == 0)
            && (0..25).any(|attempt| {
                if attempt > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                crate::sys::lease_unopened(&file)
            });
        if unused {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Stdio {
    /// Opens `stdin` for reading and `stdout`, `stderr` for appending; `None` means
    /// `/dev/null`, or, with `keep_unset` (the foreground), the stream as it is. When `stdout`
    /// and `stderr` are the same path they share one open file. With `strict`, the log paths
    /// are checked as [`crate::paths::check_trusted`] says.
    pub(crate) fn open(
        stdin: Option<&Path>,
        stdout: Option<&Path>,
        stderr: Option<&Path>,
        keep_unset: bool,
        strict: bool,
    ) -> Result<Stdio, Error> {
        let mut stdio = Stdio {
            stdin: None,
            stdout: None,
            stderr: None,
            named: Vec::new(),
            created: Vec::new(),
        };
        match stdio.open_each(stdin, stdout, stderr, keep_unset, strict) {
            Ok(()) => Ok(stdio),
            Err(err) => {
                // Its own copies closed first: the removal keeps a file anyone has open.
                stdio.stdin = None;
                stdio.stdout = None;
                stdio.stderr = None;
                stdio.remove_created();
                Err(err)
            }
        }
    }

    fn open_each(
        &mut self,
        stdin: Option<&Path>,
        stdout: Option<&Path>,
        stderr: Option<&Path>,
        keep_unset: bool,
        strict: bool,
    ) -> Result<(), Error> {
        let wanted = |path: Option<&Path>| path.is_some() || !keep_unset;
        if wanted(stdin) {
            let path = stdin.unwrap_or(Path::new(DEV_NULL));
            let (file, meta) = open_input(path)?;
            if let Some(path) = stdin {
                self.named.push(("stdin", path.to_path_buf(), meta));
            }
            self.stdin = Some(file);
        }
        if wanted(stdout) {
            self.stdout = Some(self.open_output(stdout, Step::OpenStdout, strict)?);
        }
        self.stderr = match (stderr, &self.stdout) {
            (Some(path), Some(shared)) if stdout == Some(path) => {
                Some(shared.try_clone().context(Step::OpenStderr, Some(path))?)
            }
            (other, _) if wanted(other) => {
                Some(self.open_output(other, Step::OpenStderr, strict)?)
            }
            _ => None,
        };
        Ok(())
    }

    /// Opens a log file for appending, or `/dev/null` for `None`.
    fn open_output(
        &mut self,
        path: Option<&Path>,
        step: Step,
        strict: bool,
    ) -> Result<File, Error> {
        let Some(path) = path else {
            let null = OpenOptions::new().write(true).open(DEV_NULL);
            return null.and_then(above_stdio).context(step, None);
        };
        if strict {
            crate::paths::check_trusted(path, step)?;
        }
        let options = |create: bool| {
            let mut options = OpenOptions::new();
            options
                .append(true)
                .create_new(create)
                .mode(LOG_MODE)
                // A FIFO without a reader fails with ENXIO rather than blocking the start.
                .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK);
            options
        };
        let refuse = |reason: &str| Error::new(step, ErrorKind::CannotCreate, Some(path), reason);
        let no_reader = |e: &io::Error| e.raw_os_error() == Some(libc::ENXIO);
        // Exclusive first, so that a file this start made is known; a file that appears or
        // vanishes in between makes it try again.
        let mut opened = None;
        for create in [true, false, true, false] {
            match options(create).open(path) {
                Ok(file) => {
                    opened = Some((file, create));
                    break;
                }
                Err(e) if create && e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if !create && e.kind() == io::ErrorKind::NotFound => {}
                // ENXIO: a FIFO without a reader (opened non-blocking), or a socket, which
                // no `open` reaches.
                Err(e) if no_reader(&e) => {
                    let socket = std::fs::metadata(path)
                        .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
                    return Err(refuse(if socket {
                        "it is a socket, which cannot be opened as a file"
                    } else {
                        "it is a FIFO with no reader, and a start never waits for one"
                    }));
                }
                Err(e) => return Err(Error::os(step, Some(path), e)),
            }
        }
        let Some((file, created)) = opened else {
            // O_EXCL meets a symlink (EEXIST) and the plain open its missing target (ENOENT),
            // every time: a dangling link, not a race.
            if let Ok(target) = std::fs::read_link(path)
                && std::fs::metadata(path).is_err()
            {
                return Err(refuse(&format!(
                    "it is a symlink to `{}`, which does not exist, and a start never creates a \
                     file through a symlink",
                    target.display()
                )));
            }
            return Err(refuse("the file keeps being created and removed"));
        };
        let meta = file.metadata().context(step, Some(path))?;
        if created {
            self.created.push(Created {
                path: path.to_path_buf(),
                dev: meta.dev(),
                ino: meta.ino(),
            });
        }
        if let Some(fs) = crate::paths::pseudo_filesystem(&file) {
            return Err(Error::new(
                step,
                ErrorKind::CannotCreate,
                Some(path),
                format!(
                    "it is on {fs}, a pseudo-filesystem, where writing changes the kernel's state"
                ),
            ));
        }
        let file = blocking(file, &meta)
            .and_then(above_stdio)
            .context(step, Some(path))?;
        // The metadata of the open, which a move above 2 does not change: no second fstat.
        self.named
            .push((step_option(step), path.to_path_buf(), meta));
        Ok(file)
    }

    /// Refuses two roles on one file: the PID file (device and inode `pidfile`) as a standard
    /// stream, or standard input as a log. Standard output and error may share a log.
    pub(crate) fn check_distinct(&self, pidfile: Option<(u64, u64)>) -> Result<(), Error> {
        let clash = |option: &str, path: &Path, other: &str| {
            Err(Error::new(
                Step::CheckConfig,
                ErrorKind::InvalidConfig,
                Some(path),
                format!("`{option}` names the same file as `{other}`"),
            ))
        };
        for (option, path, meta) in &self.named {
            let id = (meta.dev(), meta.ino());
            if pidfile == Some(id) {
                return clash(option, path, "pidfile");
            }
            if *option != "stdin" && meta.is_file() {
                let stdin = self.named.iter().find(|(o, ..)| *o == "stdin");
                if let Some((_, _, input)) = stdin
                    && (input.dev(), input.ino()) == id
                {
                    return clash(option, path, "stdin");
                }
            }
        }
        Ok(())
    }

    /// The file a failed start points at: the stderr file, else the stdout file, if it is a
    /// regular file, with its size at the open.
    pub(crate) fn log_mark(&self) -> Option<crate::logtail::LogMark> {
        let mark = |option: &str| {
            self.named
                .iter()
                .find(|(o, _, meta)| *o == option && meta.is_file())
                .map(|(_, path, meta)| crate::logtail::LogMark::new(path, meta))
        };
        match (mark("stderr"), mark("stdout")) {
            (Some(stderr), stdout) => Some(stderr.or(stdout)),
            (None, stdout) => stdout,
        }
    }

    /// The log files this start created.
    pub(crate) fn created(&self) -> Vec<Created> {
        self.created.clone()
    }

    /// The absolute paths of the log files this start created.
    pub(crate) fn created_paths(&self) -> Vec<std::ffi::CString> {
        use std::os::unix::ffi::OsStringExt as _;
        self.created
            .iter()
            .filter_map(|c| std::path::absolute(&c.path).ok())
            .filter_map(|p| std::ffi::CString::new(p.into_os_string().into_vec()).ok())
            .collect()
    }

    fn remove_created(&self) {
        self.created.iter().for_each(Created::remove);
    }

    /// Makes the pipes to the log forwarder standard output and error, where given.
    pub(crate) fn forward(&mut self, stdout: Option<File>, stderr: Option<File>) {
        if stdout.is_some() {
            self.stdout = stdout;
        }
        if stderr.is_some() {
            self.stderr = stderr;
        }
    }

    /// Copies the files onto descriptors 0, 1 and 2. The originals are left open for the
    /// step that comes next, [`crate::fds::close_inherited`], which closes every descriptor
    /// not kept, these among them, in the same `close_range`: no `close` of their own.
    ///
    /// The rest (the created files' paths) stays, to be freed after the daemon reported
    /// ready: a free in the daemon before then is a copy-on-write fault on the critical path.
    pub(crate) fn redirect(&mut self) -> Result<(), Error> {
        let files = [self.stdin.take(), self.stdout.take(), self.stderr.take()];
        for (target, file) in files.into_iter().enumerate() {
            let Some(file) = file else { continue };
            let moved = match target {
                0 => nix::unistd::dup2_stdin(&file),
                1 => nix::unistd::dup2_stdout(&file),
                _ => nix::unistd::dup2_stderr(&file),
            };
            moved.context(Step::RedirectStdio, None)?;
            // Not dropped: closed with the descriptors not kept.
            let _ = file.into_raw_fd();
        }
        Ok(())
    }
}

/// The option a step opens the file of.
fn step_option(step: Step) -> &'static str {
    match step {
        Step::OpenStdin => "stdin",
        Step::OpenStderr => "stderr",
        _ => "stdout",
    }
}

/// Opens the file that becomes standard input, without waiting for a FIFO's writer; returns
/// it with its metadata.
fn open_input(path: &Path) -> Result<(File, Metadata), Error> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .context(Step::OpenStdin, Some(path))?;
    let meta = file.metadata().context(Step::OpenStdin, Some(path))?;
    let file = blocking(file, &meta)
        .and_then(above_stdio)
        .context(Step::OpenStdin, Some(path))?;
    Ok((file, meta))
}

/// Clears `O_NONBLOCK`, which only the open needed, from a file that is not a regular file
/// (on which it changes nothing): the daemon's reads and writes wait as usual.
fn blocking(file: File, meta: &Metadata) -> io::Result<File> {
    if !meta.is_file() {
        let flags = OFlag::from_bits_retain(fcntl(&file, FcntlArg::F_GETFL)?);
        fcntl(&file, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    }
    Ok(file)
}

/// Returns `file` on a descriptor above 2.
///
/// A starting process run with a standard stream closed gets that number back from `open`;
/// moving stdio onto 0, 1 and 2 would then close the file under us.
pub(crate) fn above_stdio(file: File) -> io::Result<File> {
    if file.as_raw_fd() > 2 {
        return Ok(file);
    }
    // `try_clone` duplicates with F_DUPFD_CLOEXEC from 3 upwards; the original is closed.
    file.try_clone()
}

/// The streams a foreground start that `exec`s keeps until then.
static HELD: std::sync::Mutex<Option<Saved>> = std::sync::Mutex::new(None);

/// Copies of descriptors 0, 1 and 2 from before a foreground start's steps, which
/// [`Saved::restore`] puts back when a step fails. Close-on-exec, and closed on drop.
pub(crate) struct Saved([Option<std::os::fd::OwnedFd>; 3]);

impl Saved {
    /// Copies the three streams (a closed one stays closed) and adds the copies to `keep`,
    /// so that the steps' closing of inherited descriptors leaves them.
    pub(crate) fn take(keep: &mut Vec<std::os::fd::RawFd>) -> Saved {
        use std::os::fd::{AsFd as _, AsRawFd as _};
        let copy = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().ok();
        let saved = Saved([
            copy(io::stdin().as_fd()),
            copy(io::stdout().as_fd()),
            copy(io::stderr().as_fd()),
        ]);
        keep.extend(saved.0.iter().flatten().map(|fd| fd.as_raw_fd()));
        saved
    }

    /// Keeps the copies until the foreground `exec`, which closes them (close-on-exec), or
    /// whose failure puts them back with [`Saved::restore_held`].
    pub(crate) fn hold(self) {
        *HELD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self);
    }

    /// Puts back the streams [`Saved::hold`] kept, if any.
    pub(crate) fn restore_held() {
        let held = HELD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(saved) = held {
            saved.restore();
        }
    }

    /// Puts the streams back on 0, 1 and 2; the files the steps moved there are closed.
    pub(crate) fn restore(self) {
        let [stdin, stdout, stderr] = self.0;
        if let Some(fd) = stdin {
            let _ = nix::unistd::dup2_stdin(fd);
        }
        if let Some(fd) = stdout {
            let _ = nix::unistd::dup2_stdout(fd);
        }
        if let Some(fd) = stderr {
            let _ = nix::unistd::dup2_stderr(fd);
        }
    }
}
