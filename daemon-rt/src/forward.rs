//! Step 9 for output that is no file: standard output and error to syslog (`/dev/log`) or to
//! the journal (its native protocol, `/run/systemd/journal/socket`), one message per line.
//!
//! The daemon's writes to descriptors 1 and 2 are bytes, not messages, and a datagram socket
//! as descriptor 1 would make every `write` one message: a `print!` in two parts would be
//! two, a buffered write of many lines one, and the journal's socket would drop what has no
//! `KEY=value` form. So descriptors 1 and 2 become pipes, and a small process forked from the
//! daemon at the end of the start reads them, cuts the bytes into lines and sends each line
//! as one datagram, framed for its receiver. A thread would die at the next `fork` of a
//! daemon that forks; a process outlives it and ends on its own when the last writer of the
//! pipes (the daemon, and any child it gave them to) closes them.
//!
//! Sending never blocks: the socket is non-blocking. A line the receiver cannot take (no
//! receiver, or its queue still full after a wait of 100 ms, taken only while no line is
//! being lost) is dropped and counted; the next line that goes through is preceded by one
//! saying how many were lost and why. So a stuck or missing syslog never stops the daemon,
//! whose writes only wait for the forwarder to read them.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::error::{Context as _, Error, Step};
use crate::sys;

/// Where standard output or error goes: a file, syslog or the journal. What the `stdout` and
/// `stderr` options take, besides a path, which is a [`Output::File`]:
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid", stdout = daemon_rt::Output::Syslog)]
/// fn main() {
///     println!("started"); // one syslog message: `<30>Nov 29 14:00:00 worker[4242]: started`
/// }
/// ```
///
/// An enum, not a string such as `"syslog:"`: a path is a path, whatever its text, so
/// `stdout = "syslog"` still names a file in the working directory, and a misspelt variant is
/// a compile error, not a log file of that name.
///
/// Each line written becomes one message; the process sending them is a child of the daemon
/// (see the crate's docs, "Logs to syslog or the journal").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// A file, appended to (the same as giving the path itself).
    File(PathBuf),
    /// The local syslog socket, `/dev/log`, in the format of `syslog(3)` (RFC 3164):
    /// `<PRI>Mmm dd hh:mm:ss NAME[PID]: LINE`, facility `daemon`, severity `info` for
    /// standard output and `err` for standard error. rsyslog and systemd-journald read it.
    Syslog,
    /// The journal's native protocol, `/run/systemd/journal/socket`: `MESSAGE=`,
    /// `PRIORITY=` (6 for standard output, 3 for standard error), `SYSLOG_FACILITY=3`,
    /// `SYSLOG_IDENTIFIER=` (the program's name) and `SYSLOG_PID=` (the daemon's PID).
    Journal,
}

/// A destination that is no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    Syslog,
    Journal,
}

impl Sink {
    fn path(self) -> &'static Path {
        Path::new(match self {
            Sink::Syslog => SYSLOG_SOCKET,
            Sink::Journal => JOURNAL_SOCKET,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Sink::Syslog => "syslog",
            Sink::Journal => "the journal",
        }
    }
}

/// The local syslog socket (`_PATH_LOG`).
const SYSLOG_SOCKET: &str = "/dev/log";
/// The journal's native socket.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The longest line sent as one message; a longer one is cut into several. rsyslog's default
/// `maxMessageSize` is 8 KiB.
const LINE_MAX: usize = 8 * 1024;

/// How long a line waits for room in a full receiver's queue before it is dropped.
const BURST_WAIT_MS: u8 = 100;

/// The syslog facility `daemon`.
const FACILITY: u8 = 3;
/// Severity of standard output's lines (`info`) and of standard error's (`err`).
const STDOUT_SEVERITY: u8 = 6;
const STDERR_SEVERITY: u8 = 3;

/// Splits an option's value into the file it names and the sink it names, one of them at most.
pub(crate) fn split(output: Option<Output>) -> (Option<PathBuf>, Option<Sink>) {
    match output {
        None => (None, None),
        Some(Output::File(path)) => (Some(path), None),
        Some(Output::Syslog) => (None, Some(Sink::Syslog)),
        Some(Output::Journal) => (None, Some(Sink::Journal)),
    }
}

/// The pipes standard output and error write to, and the sockets their lines go to; made by
/// the starting process (before any `chroot`), forked into a process by [`Forwarder::spawn`].
#[derive(Debug)]
pub(crate) struct Forwarder {
    streams: Vec<Stream>,
}

#[derive(Debug)]
struct Stream {
    read: OwnedFd,
    sink: Sink,
    severity: u8,
    socket: UnixDatagram,
}

/// What [`Forwarder::pipes`] makes: the forwarder, and the pipes' write ends, to become
/// standard output and error.
pub(crate) struct Pipes {
    pub(crate) forwarder: Forwarder,
    pub(crate) stdout: Option<File>,
    pub(crate) stderr: Option<File>,
}

impl Forwarder {
    /// Makes a pipe for each stream that goes to a sink, and a socket for it, connected now
    /// if the sink listens (later otherwise). `None` when neither stream goes to one.
    pub(crate) fn pipes(
        stdout: Option<Sink>,
        stderr: Option<Sink>,
    ) -> Result<Option<Pipes>, Error> {
        if stdout.is_none() && stderr.is_none() {
            return Ok(None);
        }
        let mut streams = Vec::new();
        let mut open = |sink: Option<Sink>, severity: u8, step: Step| -> Result<_, Error> {
            let Some(sink) = sink else {
                return Ok(None);
            };
            let (read, write) = sys::pipe(false).context(step, None)?;
            let socket = UnixDatagram::unbound().context(step, None)?;
            socket.set_nonblocking(true).context(step, None)?;
            // Not there yet (syslog starts later, or not at all): tried again for each line.
            let _ = socket.connect(sink.path());
            streams.push(Stream {
                read,
                sink,
                severity,
                socket,
            });
            Ok(Some(File::from(write)))
        };
        let stdout = open(stdout, STDOUT_SEVERITY, Step::OpenStdout)?;
        let stderr = open(stderr, STDERR_SEVERITY, Step::OpenStderr)?;
        Ok(Some(Pipes {
            forwarder: Forwarder { streams },
            stdout,
            stderr,
        }))
    }

    /// The descriptors the start must keep open until [`Forwarder::spawn`].
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        self.streams
            .iter()
            .flat_map(|s| [s.read.as_raw_fd(), s.socket.as_raw_fd()])
            .collect()
    }

    /// Forks the forwarding process, once standard output and error are the pipes' write
    /// ends; the daemon then closes the read ends. `pid` is the daemon's, for the messages.
    pub(crate) fn spawn(self, pid: u32) -> Result<(), Error> {
        // The start checked it at its beginning; checked again at the fork itself, which
        // must happen while the process has one thread.
        let single = crate::threads::ensure_single_threaded()?;
        // Forked twice, the middle process reaped at once: the forwarder is no child of the
        // daemon, whose body may wait for every child it started (`wait` until `ECHILD`),
        // and would wait for ever for one that ends only when the daemon's output does.
        match sys::fork(&single).context(Step::Fork, None)? {
            nix::unistd::ForkResult::Parent { child } => {
                sys::reap(child);
                Ok(())
            }
            nix::unistd::ForkResult::Child => {
                if let Ok(nix::unistd::ForkResult::Child) = sys::fork(&single) {
                    self.run(pid);
                }
                sys::exit_now(0)
            }
        }
    }

    /// The forwarding process: keeps only its pipes and sockets, and sends lines until every
    /// pipe reached its end.
    fn run(self, pid: u32) {
        // Only its own descriptors: the PID file's lock, the readiness pipe and the pipes'
        // write ends (descriptors 1 and 2) must not live on in it.
        let _ = sys::reset_signals();
        // It ends when the daemon's output ends, not with a signal to the daemon's group or
        // cgroup, so that the daemon's last lines are still sent.
        let _ = sys::ignore_signals(&[nix::libc::SIGTERM, nix::libc::SIGINT, nix::libc::SIGHUP]);
        if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
            let _ = nix::unistd::dup2_stdin(&null);
            let _ = nix::unistd::dup2_stdout(&null);
            let _ = nix::unistd::dup2_stderr(&null);
        }
        let _ = crate::fds::close_inherited(&mut self.fds());
        let tag = crate::error::program_name();
        let mut streams: Vec<Lines> = self
            .streams
            .into_iter()
            .map(|stream| Lines {
                stream,
                buf: Vec::new(),
                lost: 0,
                why: None,
            })
            .collect();
        while !streams.is_empty() {
            let mut fds: Vec<PollFd<'_>> = streams
                .iter()
                .map(|l| PollFd::new(l.stream.read.as_fd(), PollFlags::POLLIN))
                .collect();
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return,
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            let mut ended = Vec::new();
            for (i, lines) in streams.iter_mut().enumerate() {
                if ready[i] && !lines.read(&tag, pid) {
                    ended.push(i);
                }
            }
            for i in ended.into_iter().rev() {
                streams.remove(i);
            }
        }
    }
}

/// A stream being cut into lines.
struct Lines {
    stream: Stream,
    /// Bytes read and not yet sent: the start of a line.
    buf: Vec<u8>,
    /// Lines dropped since the last one sent, and the last reason.
    lost: u64,
    why: Option<Errno>,
}

impl Lines {
    /// Reads what the pipe holds and sends its complete lines; `false` at its end, after the
    /// last line, complete or not, was sent.
    fn read(&mut self, tag: &str, pid: u32) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = match nix::unistd::read(&self.stream.read, &mut chunk) {
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => return true,
            Err(_) => 0,
        };
        if n == 0 {
            if !self.buf.is_empty() {
                let line = std::mem::take(&mut self.buf);
                self.send(&line, tag, pid);
            }
            return false;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(end) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = self.buf[start..start + end].to_vec();
            self.send(&line, tag, pid);
            start += end + 1;
        }
        self.buf.drain(..start);
        // More than a line's worth without a newline: cut. Exactly a line's worth waits, as
        // its newline may be the next byte (an 8 KiB line written apart from its newline).
        while self.buf.len() > LINE_MAX {
            let line: Vec<u8> = self.buf.drain(..LINE_MAX).collect();
            self.send(&line, tag, pid);
        }
        true
    }

    /// Sends one line, preceded by the count of lines lost before it, if any.
    fn send(&mut self, line: &[u8], tag: &str, pid: u32) {
        for part in line
            .chunks(LINE_MAX)
            .chain(line.is_empty().then_some(&[][..]))
        {
            if self.lost > 0 {
                let s = if self.lost == 1 { "" } else { "s" };
                let why = self
                    .why
                    .map_or_else(String::new, |e| format!(": {}", io::Error::from(e)));
                let note = format!(
                    "{tag}: {} line{s} lost, not sent to {}{why}",
                    self.lost,
                    self.stream.sink.name()
                );
                let message = frame(
                    self.stream.sink,
                    self.stream.severity,
                    tag,
                    pid,
                    note.as_bytes(),
                );
                if self.deliver(&message).is_err() {
                    self.lost += 1;
                    continue;
                }
                self.lost = 0;
                self.why = None;
            }
            let message = frame(self.stream.sink, self.stream.severity, tag, pid, part);
            if let Err(e) = self.deliver(&message) {
                self.lost += 1;
                self.why = Some(e);
            }
        }
    }

    /// Sends one datagram without waiting; connects (again) first if the receiver was not
    /// there, or went away and came back (syslog restarted).
    fn deliver(&self, message: &[u8]) -> Result<(), Errno> {
        let socket = &self.stream.socket;
        match socket.send(message) {
            Ok(_) => return Ok(()),
            Err(e) => {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
                // The receiver's queue is full (Linux queues 10 datagrams by default,
                // `net.unix.max_dgram_qlen`): a burst gets a short wait, once; a receiver
                // that stays stuck loses lines without more waiting until one goes through,
                // so the pipe never fills and the daemon never waits.
                if matches!(errno, Errno::EAGAIN | Errno::ENOBUFS) && self.lost == 0 {
                    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
                    let _ = nix::poll::poll(&mut fds, PollTimeout::from(BURST_WAIT_MS));
                    return socket
                        .send(message)
                        .map(drop)
                        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
                }
                if !matches!(
                    errno,
                    Errno::ENOTCONN | Errno::ECONNREFUSED | Errno::EDESTADDRREQ | Errno::ENOENT
                ) {
                    return Err(errno);
                }
            }
        }
        let errno = |e: io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(0));
        socket.connect(self.stream.sink.path()).map_err(errno)?;
        socket.send(message).map(drop).map_err(errno)
    }
}

/// One line as the sink's protocol wants it.
fn frame(sink: Sink, severity: u8, tag: &str, pid: u32, line: &[u8]) -> Vec<u8> {
    match sink {
        Sink::Syslog => syslog(severity, tag, pid, line, now()),
        Sink::Journal => journal(severity, tag, pid, line),
    }
}

/// Seconds since the epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// `<PRI>Mmm dd hh:mm:ss TAG[PID]: LINE`, as glibc's `syslog(3)` sends it to `/dev/log`
/// (RFC 3164), the time in local time.
fn syslog(severity: u8, tag: &str, pid: u32, line: &[u8], time: i64) -> Vec<u8> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let pri = FACILITY * 8 + severity;
    let stamp = sys::local_time(time).map_or_else(String::new, |t| {
        format!(
            "{} {:>2} {:02}:{:02}:{:02} ",
            MONTHS[t.month0 % 12],
            t.day,
            t.hour,
            t.minute,
            t.second
        )
    });
    let mut message = format!("<{pri}>{stamp}{tag}[{pid}]: ").into_bytes();
    message.extend_from_slice(line);
    message
}

/// The journal's native format: one `KEY=value\n` per field, or for a value that holds a
/// newline `KEY\n`, its length as 64-bit little-endian, the value and `\n`.
fn journal(severity: u8, tag: &str, pid: u32, line: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(line.len() + 96);
    let mut field = |key: &str, value: &[u8]| {
        message.extend_from_slice(key.as_bytes());
        if value.contains(&b'\n') {
            message.push(b'\n');
            message.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            message.push(b'=');
        }
        message.extend_from_slice(value);
        message.push(b'\n');
    };
    field("PRIORITY", severity.to_string().as_bytes());
    field("SYSLOG_FACILITY", FACILITY.to_string().as_bytes());
    field("SYSLOG_IDENTIFIER", tag.as_bytes());
    field("SYSLOG_PID", pid.to_string().as_bytes());
    field("MESSAGE", line);
    message
}

impl crate::value::OutputValue for Output {
    fn into_output(self) -> Option<Output> {
        Some(self)
    }
}

impl crate::value::OutputValue for Option<Output> {
    fn into_output(self) -> Option<Output> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_lines_are_framed_as_syslog_3_frames_them() {
        let message = syslog(6, "worker", 42, b"hello world", 0);
        let text = String::from_utf8(message).unwrap();
        // `<30>Jan  1 00:00:00 worker[42]: hello world` in UTC; the time is local.
        assert!(text.starts_with("<30>"), "{text}");
        assert!(text.ends_with(" worker[42]: hello world"), "{text}");
        assert_eq!(
            text.len(),
            "<30>Jan  1 00:00:00 worker[42]: hello world".len(),
            "{text}"
        );
    }

    #[test]
    fn journal_fields_use_the_binary_form_only_for_newlines() {
        let message = journal(3, "worker", 42, b"a=b");
        assert_eq!(
            message,
            b"PRIORITY=3\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=worker\nSYSLOG_PID=42\nMESSAGE=a=b\n"
        );
        let message = journal(6, "worker", 42, b"two\nlines");
        let tail = b"MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\n";
        assert!(message.ends_with(tail), "{message:?}");
    }
}
