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
