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

/// The three files that become the daemon's standard streams.
#[derive(Debug)]
pub(crate) struct Stdio {
    stdin: File,
    stdout: File,
    stderr: File,
}

impl Stdio {
    /// Opens `stdin` for reading and `stdout`, `stderr` for appending; `None` means
    /// `/dev/null`. When `stdout` and `stderr` are the same path they share one open file.
    pub(crate) fn open(
        stdin: Option<&Path>,
        stdout: Option<&Path>,
        stderr: Option<&Path>,
    ) -> Result<Stdio, Error> {
        let stdin = open_input(stdin.unwrap_or(Path::new(DEV_NULL)))?;
        let stdout_file = open_output(stdout, Step::OpenStdout)?;
        let stderr_file = match stderr {
            Some(path) if stdout == Some(path) => stdout_file
                .try_clone()
                .context(Step::OpenStderr, Some(path))?,
            other => open_output(other, Step::OpenStderr)?,
        };
        Ok(Stdio {
            stdin,
            stdout: stdout_file,
            stderr: stderr_file,
        })
    }

    /// Moves the three files onto descriptors 0, 1 and 2, closing the originals.
    pub(crate) fn redirect(self) -> Result<(), Error> {
        nix::unistd::dup2_stdin(&self.stdin)
            .and_then(|()| nix::unistd::dup2_stdout(&self.stdout))
            .and_then(|()| nix::unistd::dup2_stderr(&self.stderr))
            .context(Step::RedirectStdio, None)
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
