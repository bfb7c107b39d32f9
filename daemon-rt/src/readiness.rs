//! Steps 14 and 15: the pipe that tells the starting process whether the daemon is up.
//!
//! The pipe is made before the first fork. The daemon writes one message: `R` and its PID when
//! every step succeeded, or `E` and the encoded [`Error`] when one failed. The starting process
//! reads it and only then exits, 0 or the error's code. If the daemon dies without writing, the
//! pipe reaches end-of-file and the starter reports that instead of a false success.
//!
//! Message layout (integers little-endian):
//! - `R`, pid: u32
//! - `E`, len: u32, then `len` bytes: step: u8, kind: u8, errno: i32, pid: u32,
//!   path_len: u32, path bytes, reason bytes (UTF-8, empty when errno is set)

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, RawFd};

use crate::error::{Context as _, Error, ErrorKind, Step};
use crate::stdio::above_stdio;

/// The starting process's end: waits for the daemon's message.
#[derive(Debug)]
pub(crate) struct Waiter(File);

/// The daemon's end: reports success or failure, once.
#[derive(Debug)]
pub(crate) struct Reporter(File);

/// What the starting process learned.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The daemon is up, with this PID.
    Ready(u32),
    /// A step failed; the daemon has exited.
    Failed(Error),
    /// The pipe closed with no message: the daemon ended before it reported.
    Vanished,
}

/// Makes the pipe; both ends are close-on-exec and above descriptor 2.
pub(crate) fn channel() -> Result<(Waiter, Reporter), Error> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context(Step::CreatePipe, None)?;
    let read = above_stdio(File::from(read)).context(Step::CreatePipe, None)?;
    let write = above_stdio(File::from(write)).context(Step::CreatePipe, None)?;
    Ok((Waiter(read), Reporter(write)))
}

impl Waiter {
    /// Blocks until the daemon reports, or until every write end is closed.
    ///
    /// After a failure it reads on to end-of-file, which comes when the failed daemon has
    /// exited: a failed start returns with no process of it left running.
    pub(crate) fn wait(mut self) -> Outcome {
        let mut buf = Vec::with_capacity(64);
        let mut chunk = [0u8; 512];
        loop {
            match decode(&buf) {
                Some(Outcome::Ready(pid)) => return Outcome::Ready(pid),
                Some(failed) => {
                    while matches!(self.read(&mut chunk), Ok(n) if n > 0) {}
                    return failed;
                }
                None => {}
            }
            match self.read(&mut chunk) {
                Ok(0) | Err(_) => return Outcome::Vanished,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn read(&mut self, chunk: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl Reporter {
    /// Tells the starting process that the daemon with `pid` is up.
    pub(crate) fn ready(mut self, pid: u32) {
        let mut msg = vec![b'R'];
        msg.extend_from_slice(&pid.to_le_bytes());
        // A starter that is gone (killed while it waited) has no one to tell: not an error.
        let _ = self.0.write_all(&msg);
    }

    /// Tells the starting process why the start failed.
    pub(crate) fn fail(mut self, err: &Error) {
        let _ = self.0.write_all(&encode_failure(err));
    }

    /// The descriptor the daemon must keep open until it reports.
    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

fn encode_failure(err: &Error) -> Vec<u8> {
    let (step, kind, errno, pid, path, reason) = err.to_wire();
    let mut body = vec![step as u8, kind as u8];
    body.extend_from_slice(&errno.to_le_bytes());
    body.extend_from_slice(&pid.to_le_bytes());
    body.extend_from_slice(&(path.len() as u32).to_le_bytes());
    body.extend_from_slice(path);
    body.extend_from_slice(reason.as_bytes());
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// Decodes a complete message, `None` while more bytes are needed.
fn decode(buf: &[u8]) -> Option<Outcome> {
    let (&tag, rest) = buf.split_first()?;
    match tag {
        b'R' => Some(Outcome::Ready(u32::from_le_bytes(
            rest.get(..4)?.try_into().ok()?,
        ))),
        b'E' => {
            let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let body = rest.get(4..4 + len)?;
            Some(Outcome::Failed(
                decode_failure(body).unwrap_or_else(garbled),
            ))
        }
        _ => Some(Outcome::Failed(garbled())),
    }
}

fn decode_failure(body: &[u8]) -> Option<Error> {
    let int = |at: usize| body.get(at..at + 4)?.try_into().ok();
    let (step, kind) = (*body.first()? as usize, *body.get(1)? as usize);
    let errno = i32::from_le_bytes(int(2)?);
    let pid = u32::from_le_bytes(int(6)?);
    let path_len = u32::from_le_bytes(int(10)?) as usize;
    let path = body.get(14..14 + path_len)?;
    let reason = String::from_utf8_lossy(body.get(14 + path_len..)?).into_owned();
    Some(Error::from_wire(step, kind, errno, pid, path, reason))
}

fn garbled() -> Error {
    Error::new(
        Step::AwaitReadiness,
        ErrorKind::DiedBeforeReady,
        None,
        "the daemon sent an unreadable report",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_failure_survives_the_pipe_byte_by_byte() {
        let err = Error::os(
            Step::OpenStdout,
            Some(Path::new("/var/log/ünï.log")),
            io::Error::from_raw_os_error(nix::libc::EACCES),
        );
        let msg = encode_failure(&err);
        for cut in 0..msg.len() {
            assert!(decode(&msg[..cut]).is_none(), "complete after {cut} bytes");
        }
        let Some(Outcome::Failed(back)) = decode(&msg) else {
            panic!("not a failure")
        };
        assert_eq!(back.to_string(), err.to_string());
        assert_eq!(back.kind(), ErrorKind::PermissionDenied);
        assert_eq!(back.raw_os_error(), Some(nix::libc::EACCES));
    }

    #[test]
    fn ready_carries_the_pid_and_a_closed_pipe_is_not_success() {
        let (waiter, reporter) = channel().unwrap();
        reporter.ready(31337);
        assert!(matches!(waiter.wait(), Outcome::Ready(31337)));

        let (waiter, reporter) = channel().unwrap();
        drop(reporter);
        assert!(matches!(waiter.wait(), Outcome::Vanished));
    }
}
