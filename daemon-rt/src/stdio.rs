//! Step 9: standard input, output and error, opened by the starting process (so a bad path is
//! reported to the user) and moved onto descriptors 0, 1 and 2 in the daemon.
//!
//! Log files are opened for appending and created if missing, never truncated: a failed or
//! second start loses no line of the running instance's log.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use nix::libc;

use crate::error::{Context as _, Error, Step};

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
}

impl Stdio {
    /// Opens `stdin` for reading and `stdout`, `stderr` for appending; `None` means
    /// `/dev/null`, or, with `keep_unset` (the foreground), the stream as it is. When `stdout`
    /// and `stderr` are the same path they share one open file.
    pub(crate) fn open(
        stdin: Option<&Path>,
        stdout: Option<&Path>,
        stderr: Option<&Path>,
        keep_unset: bool,
    ) -> Result<Stdio, Error> {
        let wanted = |path: Option<&Path>| path.is_some() || !keep_unset;
        let stdin_file = match wanted(stdin) {
            true => Some(open_input(stdin.unwrap_or(Path::new(DEV_NULL)))?),
            false => None,
        };
        let stdout_file = match wanted(stdout) {
            true => Some(open_output(stdout, Step::OpenStdout)?),
            false => None,
        };
        let stderr_file = match (stderr, &stdout_file) {
            (Some(path), Some(shared)) if stdout == Some(path) => {
                Some(shared.try_clone().context(Step::OpenStderr, Some(path))?)
            }
            (other, _) if wanted(other) => Some(open_output(other, Step::OpenStderr)?),
            _ => None,
        };
        Ok(Stdio {
            stdin: stdin_file,
            stdout: stdout_file,
            stderr: stderr_file,
        })
    }

    /// Moves the files onto descriptors 0, 1 and 2, closing the originals.
    pub(crate) fn redirect(self) -> Result<(), Error> {
        let moves = [
            (
                self.stdin,
                nix::unistd::dup2_stdin::<File> as fn(File) -> nix::Result<()>,
            ),
            (self.stdout, nix::unistd::dup2_stdout::<File>),
            (self.stderr, nix::unistd::dup2_stderr::<File>),
        ];
        for (file, dup2) in moves {
            if let Some(file) = file {
                dup2(file).context(Step::RedirectStdio, None)?;
            }
        }
        Ok(())
    }
}

fn open_input(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .and_then(above_stdio)
        .context(Step::OpenStdin, Some(path))
}

/// Opens a log file for appending, or `/dev/null` for `None`.
fn open_output(path: Option<&Path>, step: Step) -> Result<File, Error> {
    let file = match path {
        Some(path) => OpenOptions::new()
            .append(true)
            .create(true)
            .mode(LOG_MODE)
            .custom_flags(libc::O_NOCTTY)
            .open(path),
        None => OpenOptions::new().write(true).open(DEV_NULL),
    };
    file.and_then(above_stdio).context(step, path)
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
