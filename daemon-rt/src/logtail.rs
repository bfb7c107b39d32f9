//! Where a daemon that failed before it was ready may have said why: the last line it wrote
//! to its stderr (or stdout) file during this start, quoted in the starting command's one line.
//!
//! Only what this start appended counts: the size of the file at the open is remembered, so a
//! line an earlier run left is never passed off as this one's.
//!
//! The starting process may run as root and the daemon as another user, who may own the log's
//! directory: the path is read again only if it still leads to the file the start opened (same
//! device and inode, a regular file), and without waiting (a FIFO put in its place). Another
//! file, or a symlink to one, is said, not quoted.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::PathBuf;

use nix::libc;

/// How much of the end of the file is read to find the last line.
const READ_AT_MOST: u64 = 4096;

/// How many characters of that line are quoted.
const QUOTE_AT_MOST: usize = 200;

/// A log file, which file it was, and its size when the start opened it.
#[derive(Debug, Clone)]
pub(crate) struct LogMark {
    path: PathBuf,
    start: u64,
    /// Device and inode of the file the start opened.
    id: (u64, u64),
    /// The stdout file, looked at when this one (stderr) has nothing new.
    or: Option<Box<LogMark>>,
    /// The size when the daemon ended, if [`LogMark::freeze`] saw it: what was appended after
    /// (the shutdown lines of the processes it left, stopped then) is not its.
    end: Cell<Option<u64>>,
}

/// Why a log is not quoted.
enum Unquoted {
    /// The start's file has nothing new, or cannot be read.
    Nothing,
    /// The path names another file now (or a symlink, a FIFO).
    Replaced,
}

impl LogMark {
    /// `path` was opened as the file `meta` describes. It is made absolute only for a note:
    /// the starting process, which writes it, stays in its directory.
    pub(crate) fn new(path: &std::path::Path, meta: &std::fs::Metadata) -> LogMark {
        LogMark {
            path: path.to_path_buf(),
            start: meta.len(),
            id: (meta.dev(), meta.ino()),
            or: None,
            end: Cell::new(None),
        }
    }

    /// Notes the file's size now, when the daemon has just ended: the quote ends there.
    pub(crate) fn freeze(&self) {
        if let Ok(meta) = self
            .reopen()
            .and_then(|f| f.metadata().map_err(|_| Unquoted::Nothing))
        {
            self.end.set(Some(meta.len()));
        }
        if let Some(or) = &self.or {
            or.freeze();
        }
    }

    /// This mark (stderr's), and `other` (stdout's) when this file has nothing new: many
    /// programs print their errors on stdout. Not when both name one file.
    pub(crate) fn or(mut self, other: Option<LogMark>) -> LogMark {
        self.or = other.filter(|o| o.id != self.id).map(Box::new);
        self
    }

    /// What the failure's line adds: the file, and the last non-empty line written to it since
    /// the open, cut to a sane length; only the file when the line is in what the failure
    /// already `said` (a panic's message, an `Err` the body returned). Not escaped here: the
    /// error's line escapes its whole reason when it is printed.
    pub(crate) fn note(&self, said: &str) -> String {
        let path = self.shown();
        match self.last_line() {
            Ok(line) if said.contains(line.trim_matches('…')) => format!("see {path}"),
            Ok(line) => format!("{path} ends: \"{line}\""),
            Err(Unquoted::Nothing) => match self.or.as_deref().map(|o| (o, o.last_line())) {
                Some((other, Ok(line))) => {
                    format!("nothing new in {path}; {} ends: \"{line}\"", other.shown())
                }
                _ => format!("nothing new in {path}"),
            },
            Err(Unquoted::Replaced) => {
                format!("{path} was replaced since the start opened it: not quoted")
            }
        }
    }

    /// The path as the note shows it: absolute.
    fn shown(&self) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        path.to_string_lossy().into_owned()
    }

    /// The file the start opened, if the path still leads to it. A symlink is followed, as
    /// the start's open followed it; what it reaches counts only if it is that file.
    fn reopen(&self) -> Result<File, Unquoted> {
        let same = |meta: &std::fs::Metadata| meta.is_file() && (meta.dev(), meta.ino()) == self.id;
        // Looked at before the open too: opening a device node can have effects.
        match std::fs::metadata(&self.path) {
            Ok(meta) if same(&meta) => {}
            Ok(_) => return Err(Unquoted::Replaced),
            Err(_) => return Err(Unquoted::Nothing),
        }
        // Without waiting: a FIFO put there in between.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&self.path)
            .map_err(|_| Unquoted::Replaced)?;
        match file.metadata() {
            Ok(meta) if same(&meta) => Ok(file),
            _ => Err(Unquoted::Replaced),
        }
    }

    fn last_line(&self) -> Result<String, Unquoted> {
        let mut file = self.reopen()?;
        let len = file.metadata().map_err(|_| Unquoted::Nothing)?.len();
        let len = self.end.get().map_or(len, |end| end.min(len));
        // Shorter than at the open: truncated since (logrotate's copytruncate), so all of it
        // was written after the open.
        let start = if len < self.start { 0 } else { self.start };
        if len == start {
            return Err(Unquoted::Nothing);
        }
        let from = start.max(len - READ_AT_MOST.min(len));
        file.seek(SeekFrom::Start(from))
            .map_err(|_| Unquoted::Nothing)?;
        let mut tail = Vec::new();
        file.take(len - from)
            .read_to_end(&mut tail)
            .map_err(|_| Unquoted::Nothing)?;
        let lines: Vec<&[u8]> = tail
            .split(|&b| b == b'\n')
            .map(|line| line.trim_ascii())
            .filter(|line| !line.is_empty())
            .collect();
        let line = *panic_message(&lines)
            .or(lines.last())
            .ok_or(Unquoted::Nothing)?;
        // A line that began before what was read is cut at its start too: said, and the read
        // may have begun inside a character, whose remaining bytes are dropped.
        let at = line.as_ptr() as usize - tail.as_ptr() as usize;
        let cut_before = from > start && !tail[..at].contains(&b'\n');
        let line = match cut_before {
            true => {
                let at = line.iter().take_while(|&&b| b & 0xc0 == 0x80).count();
                &line[at..]
            }
            false => line,
        };
        let line = String::from_utf8_lossy(line);
        let mut quoted: String = if cut_before {
            "…".to_owned()
        } else {
            String::new()
        };
        quoted.extend(line.chars().take(QUOTE_AT_MOST));
        if line.chars().nth(QUOTE_AT_MOST).is_some() {
            quoted.push('…');
        }
        Ok(quoted)
    }
}

/// The message of the last Rust panic among `lines`: the line after `thread '...' panicked
/// at file:line:column:`. What std prints after it (the `RUST_BACKTRACE` note, a backtrace)
/// says nothing of why the daemon ended.
fn panic_message<'a>(lines: &'a [&'a [u8]]) -> Option<&'a &'a [u8]> {
    let header = lines.iter().rposition(|line| {
        line.starts_with(b"thread '")
            && line.ends_with(b":")
            && line.windows(12).any(|w| w == b" panicked at")
    })?;
    lines.get(header + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The note for a file that held `earlier` at the open and `now` after it; the file is
    /// removed again.
    fn note(name: &str, earlier: &str, now: &str) -> String {
        let path = std::env::temp_dir().join(format!("logtail-{}-{name}", std::process::id()));
        std::fs::write(&path, earlier).unwrap();
        let mark = LogMark::new(&path, &std::fs::metadata(&path).unwrap());
        std::fs::write(&path, format!("{earlier}{now}")).unwrap();
        let note = mark.note("");
        std::fs::remove_file(&path).unwrap();
        note
    }

    #[test]
    fn only_the_last_line_this_start_wrote_is_quoted() {
        let n = note("last", "Error: an earlier run\n", "first\nlast one\n\n  \n");
        assert!(n.ends_with(" ends: \"last one\""), "{n}");
        let n = note("none", "Error: an earlier run\n", "");
        assert!(n.starts_with("nothing new in /"), "{n}");
        let n = note("blank", "old\n", "\n \n");
        assert!(n.starts_with("nothing new in /"), "{n}");
        // A line without its newline counts.
        let n = note("partial", "", "Error: cut");
        assert!(n.ends_with(" ends: \"Error: cut\""), "{n}");
    }

    #[test]
    fn a_panic_is_quoted_by_its_message_not_by_the_backtrace_note() {
        let panic = "thread 'main' (4242) panicked at src/main.rs:13:56:\n\
                     called `Result::unwrap()` on an `Err` value: Os { code: 98 }\n\
                     note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let n = note("panic", "", panic);
        assert!(
            n.ends_with(" ends: \"called `Result::unwrap()` on an `Err` value: Os { code: 98 }\""),
            "{n}"
        );
        let traced = "thread 'main' (7) panicked at src/main.rs:2:5:\nboom\nstack backtrace:\n   \
                      0: std::panicking::begin_panic\nnote: Some details are omitted.\n";
        let n = note("traced", "", traced);
        assert!(n.ends_with(" ends: \"boom\""), "{n}");
        // Already in the failure's line: only where to look.
        let path = std::env::temp_dir().join(format!("logtail-{}-said", std::process::id()));
        std::fs::write(&path, "").unwrap();
        let mark = LogMark::new(&path, &std::fs::metadata(&path).unwrap());
        std::fs::write(&path, "Error: bind failed\n").unwrap();
        let n = mark.note("daemon failed before it was ready: Error: bind failed");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(n, format!("see {}", path.display()));
        // Not a panic header: the last line, as for any program.
        let n = note("nopanic", "", "thread 'a' panicked at nothing\nlast\n");
        assert!(n.ends_with(" ends: \"last\""), "{n}");
    }

    #[test]
    fn a_line_longer_than_what_is_read_says_that_its_start_is_cut() {
        // The read starts inside the line, and inside a two-byte character (é).
        let line = format!("Error: {}", "é".repeat(3000));
        let n = note("longer", "", &format!("{line}\n"));
        let quoted = n.split_once(" ends: \"").unwrap().1;
        assert!(quoted.starts_with("…é"), "{quoted}");
        assert!(!quoted.contains('\u{fffd}'), "{quoted}");
    }

    #[test]
    fn a_long_line_is_cut() {
        let n = note("long", "", &format!("{}\n", "x".repeat(5000)));
        let quoted = n.split_once(" ends: \"").unwrap().1;
        // Longer than what is read: cut at both ends.
        assert_eq!(quoted, format!("…{}…\"", "x".repeat(QUOTE_AT_MOST)));
        let n = note("longish", "", &format!("{}\n", "x".repeat(1000)));
        let quoted = n.split_once(" ends: \"").unwrap().1;
        assert_eq!(quoted, format!("{}…\"", "x".repeat(QUOTE_AT_MOST)));
    }
}
