//! The daemon's own lines to its log: [`println!`](crate::println) and
//! [`eprintln!`](crate::eprintln), which never panic.
//!
//! std's `println!` panics when the write fails. In a daemon, whose standard output is a log
//! file, that is a full disk (`ENOSPC`), a quota, an I/O error, or a pipe to a logger that
//! exited: the daemon dies, and its panic message goes to the same log that cannot be
//! written. These write the same line, count the lines that could not be written, and say
//! how many were lost, and why, in front of the next line that can be.

use std::fmt;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Mutex;

/// A standard stream [`print_line`] writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What was lost on one stream since the last line written.
#[derive(Clone, Copy)]
struct Lost {
    /// Lines not written.
    lines: u64,
    /// The last error.
    errno: Option<i32>,
    /// Whether the stream ends in part of a line that could not be taken back.
    cut: bool,
}

const NOTHING_LOST: Lost = Lost {
    lines: 0,
    errno: None,
    cut: false,
};

/// What was lost on standard output, and on standard error.
static LOST: [Mutex<Lost>; 2] = [Mutex::new(NOTHING_LOST), Mutex::new(NOTHING_LOST)];

/// Writes `args` and a newline to `stream` in one `write`, as `println!` does, but never
/// panics: a line that cannot be written is counted, and the next line that can be written
/// is preceded by one saying how many were lost and why.
pub fn print_line(stream: Stream, args: fmt::Arguments<'_>) {
    let mut line = fmt::format(args);
    line.push('\n');
    match stream {
        Stream::Stdout => {
            let out = io::stdout();
            let mut lock = out.lock();
            // Whatever std's `print!` left in its buffer goes first, in order.
            let _ = lock.flush();
            write_counted(out.as_fd(), &LOST[0], "standard output", &line);
        }
        Stream::Stderr => {
            let err = io::stderr();
            let _lock = err.lock();
            write_counted(err.as_fd(), &LOST[1], "standard error", &line);
        }
    }
}

fn write_counted(fd: BorrowedFd<'_>, lost: &Mutex<Lost>, name: &str, line: &str) {
    let mut lost = lost
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = match *lost {
        Lost { lines: 0, .. } => std::borrow::Cow::Borrowed(line),
        Lost { lines, errno, cut } => {
            let why = errno.map_or_else(String::new, |e| {
                format!(": {}", io::Error::from_raw_os_error(e))
            });
            let s = if lines == 1 { "" } else { "s" };
            let program = crate::error::program_name();
            // A part of a line left in the log is ended first, so the notice has a line of
            // its own.
            let end = if cut { "\n" } else { "" };
            std::borrow::Cow::Owned(format!(
                "{end}{program}: {lines} line{s} lost, not written to {name}{why}\n{line}"
            ))
        }
    };
    match write_all(fd, text.as_bytes()) {
        Ok(()) => *lost = NOTHING_LOST,
        Err((e, written)) => {
            // A write that fit in part (a disk full in the middle of the line): the part is
            // taken back if it can be, so the log holds whole lines only.
            let cut = written > 0 && !take_back(fd, written);
            *lost = Lost {
                lines: lost.lines + 1,
                errno: e.raw_os_error(),
                cut: lost.cut || cut,
            };
        }
    }
}

/// Writes all of `bytes`; on an error, says how many were written before it.
fn write_all(fd: BorrowedFd<'_>, bytes: &[u8]) -> Result<(), (io::Error, usize)> {
    let mut done = 0;
    while done < bytes.len() {
        match nix::unistd::write(fd, &bytes[done..]) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), done)),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err((e.into(), done)),
        }
    }
    Ok(())
}

/// Removes the last `written` bytes of a regular file, if they are still its last (nobody
/// appended since); whether it did.
fn take_back(fd: BorrowedFd<'_>, written: usize) -> bool {
    use nix::unistd::{Whence, ftruncate, lseek};
    let Ok(meta) = nix::sys::stat::fstat(fd) else {
        return false;
    };
    let regular = meta.st_mode & nix::libc::S_IFMT == nix::libc::S_IFREG;
    let Ok(end) = lseek(fd, 0, Whence::SeekCur) else {
        return false;
    };
    let Ok(written) = i64::try_from(written) else {
        return false;
    };
    regular && end == meta.st_size && end >= written && ftruncate(fd, end - written).is_ok()
}

/// Prints a line to standard output, like std's `println!`, but never panics.
///
/// A daemon's standard output is its log file, and std's `println!` panics when a write
/// fails (a full disk, an I/O error, a pipe whose reader is gone): the daemon would die, its
/// panic message lost on the same log. This one writes the line the same way (one `write`
/// for the line and its newline, after whatever `print!` left buffered); a line that cannot
/// be written is counted, and the next line that can be is preceded by
/// `<program>: N lines lost, not written to standard output: <why>`.
///
/// `use daemon_rt::println;` makes every `println!` of a module this one, which is how a
/// tool's existing output becomes safe in one line.
///
/// ```no_run
/// use daemon_rt::println;
///
/// #[daemon_rt::daemon(pidfile = "/run/ticker.pid", stdout = "/var/log/ticker.log")]
/// fn main() {
///     while !daemon_rt::stop_requested() {
///         println!("tick"); // a full disk loses ticks, counted, not the daemon
///         std::thread::sleep(std::time::Duration::from_secs(1));
///     }
/// }
/// ```
#[macro_export]
macro_rules! println {
    () => {
        $crate::__private::print_line($crate::__private::Stream::Stdout, ::core::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::__private::print_line(
            $crate::__private::Stream::Stdout,
            ::core::format_args!($($arg)*),
        )
    };
}

/// Prints a line to standard error, like std's `eprintln!`, but never panics: see
/// [`println!`](crate::println).
///
/// ```no_run
/// use daemon_rt::eprintln;
///
/// #[daemon_rt::daemon(pidfile = "/run/worker.pid", stderr = "/var/log/worker.err")]
/// fn main() {
///     eprintln!("worker {} started", std::process::id());
/// }
/// ```
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::__private::print_line($crate::__private::Stream::Stderr, ::core::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::__private::print_line(
            $crate::__private::Stream::Stderr,
            ::core::format_args!($($arg)*),
        )
    };
}
