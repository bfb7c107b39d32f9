//! Where a daemon that failed before it was ready may have said why: the last line it wrote
//! to its stderr (or stdout) file during this start, quoted in the starting command's one line.
//!
//! Only what this start appended counts: the size of the file at the open is remembered, so a
//! line an earlier run left is never passed off as this one's.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;

/// How much of the end of the file is read to find the last line.
const READ_AT_MOST: u64 = 4096;

/// How many characters of that line are quoted.
const QUOTE_AT_MOST: usize = 200;

/// A log file and its size when the start opened it.
#[derive(Debug, Clone)]
pub(crate) struct LogMark {
    path: PathBuf,
    start: u64,
}

impl LogMark {
    /// `path` (made absolute) had `start` bytes when it was opened.
    pub(crate) fn new(path: &std::path::Path, start: u64) -> LogMark {
        LogMark {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            start,
        }
    }

    /// What the failure's line adds: the file, and the last non-empty line written to it since
    /// the open, cut to a sane length. Not escaped here: the error's line escapes its whole
    /// reason when it is printed.
    pub(crate) fn note(&self) -> String {
        let path = self.path.to_string_lossy();
        match self.last_line() {
            Some(line) => format!("{path} ends: \"{line}\""),
            None => format!("nothing new in {path}"),
        }
    }

    fn last_line(&self) -> Option<String> {
        let mut file = File::open(&self.path).ok()?;
        let len = file.metadata().ok()?.len();
        if len <= self.start {
            return None;
        }
        let from = self.start.max(len - READ_AT_MOST.min(len));
        file.seek(SeekFrom::Start(from)).ok()?;
        let mut tail = Vec::new();
        file.take(len - from).read_to_end(&mut tail).ok()?;
        let line = tail
            .split(|&b| b == b'\n')
            .map(|line| line.trim_ascii())
            .rfind(|line| !line.is_empty())?;
        let line = String::from_utf8_lossy(line);
        let mut quoted: String = line.chars().take(QUOTE_AT_MOST).collect();
        if quoted.len() < line.len() {
            quoted.push('…');
        }
        Some(quoted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The note for a file that held `earlier` at the open and `now` after it; the file is
    /// removed again.
    fn note(name: &str, earlier: &str, now: &str) -> String {
        let path = std::env::temp_dir().join(format!("logtail-{}-{name}", std::process::id()));
        std::fs::write(&path, format!("{earlier}{now}")).unwrap();
        let note = LogMark::new(&path, earlier.len() as u64).note();
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
    fn a_long_line_is_cut() {
        let n = note("long", "", &format!("{}\n", "x".repeat(5000)));
        let quoted = n.split_once(" ends: \"").unwrap().1;
        assert_eq!(quoted, format!("{}…\"", "x".repeat(QUOTE_AT_MOST)));
    }
}
