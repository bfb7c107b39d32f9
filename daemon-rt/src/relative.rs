//! Relative paths on the program's own command line, which stop naming the same files once
//! the daemon runs in `/`.
//!
//! The path options are resolved against the directory the start ran in before any step; a
//! program's own arguments are not the crate's to resolve. So when the working directory is
//! left at its default `/` and the start does not run in `/`, the starting process looks at
//! its arguments, and for the first that is a relative path naming an existing file or
//! directory here, or a file to be made in a directory here, prints one warning line, with
//! the fix. One `getcwd` when an argument may be a path, then one `fstatat` per such
//! argument (two for a path with a slash that names nothing yet); none in `/`, and none when
//! the working directory was set.

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use crate::error::{Escaped, program_name};

/// Prints the warning, if an argument calls for it, on stderr. An argument that is the value
/// of a path option (`named`: the PID file, a log) is resolved by the start: it is skipped.
///
/// `program`: the arguments of the program a daemon `exec`s ([`Daemon::exec`]), which are
/// looked at instead of this process's own, since they are what the program will read.
///
/// [`Daemon::exec`]: crate::Daemon::exec
pub(crate) fn warn_about_arguments(named: &[Option<&Path>], program: Option<&[OsString]>) {
    let line = match program {
        Some(args) => warning(args.iter().cloned(), named, Fix::Exec),
        None => warning(std::env::args_os().skip(1), named, Fix::Attribute),
    };
    if let Some(line) = line {
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// How the warning says to keep the starting directory.
#[derive(Clone, Copy)]
enum Fix {
    /// An attribute argument (or the builder method of that name).
    Attribute,
    /// The working directory of a program run with `Daemon::exec`, such as `daemon-rt`'s
    /// `--working-directory`.
    Exec,
}

/// The warning line for `args`, if one of them is a relative path that names something in
/// the current directory, or a file to be made in a directory there (`logs/today.log`,
/// `./new.log`), and that directory is not `/`. The directory is asked for once, and only if
/// an argument may be a path; in `/` nothing else is looked at.
fn warning(
    args: impl Iterator<Item = OsString>,
    named: &[Option<&Path>],
    fix: Fix,
) -> Option<String> {
    let mut found: Option<OsString> = None;
    let mut more = 0usize;
    let mut here: Option<PathBuf> = None;
    for arg in args {
        let Some(path) = candidate(&arg) else {
            continue;
        };
        if named.iter().flatten().any(|n| n.as_os_str() == path) {
            continue;
        }
        if here.is_none() {
            let cwd = std::env::current_dir().ok()?;
            if cwd == Path::new("/") {
                return None;
            }
            here = Some(cwd);
        }
        if !names_something_here(Path::new(path)) {
            continue;
        }
        match found {
            None => found = Some(path.to_os_string()),
            Some(_) => more += 1,
        }
    }
    let found = found?;
    let here = here?;
    let here = Escaped(here.as_os_str());
    let others = match more {
        0 => String::new(),
        1 => " (and 1 more)".to_owned(),
        n => format!(" (and {n} more)"),
    };
    let set = match fix {
        Fix::Attribute => "working_directory = \".\"",
        Fix::Exec => "the working directory to \".\"",
    };
    Some(format!(
        "{}: warning: argument \"{}\"{others} is relative to {here}, but the daemon runs in / \
         (set {set} to stay in {here})\n",
        program_name(),
        Escaped(&found),
    ))
}

/// Whether the relative `path` names something here, or has a slash and its directory is
/// here: a file the program will make. One `fstatat`, two for a path with a slash that names
/// nothing yet.
fn names_something_here(path: &Path) -> bool {
    if std::fs::symlink_metadata(path).is_ok() {
        return true;
    }
    path.as_os_str().as_bytes().contains(&b'/')
        && path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .is_some_and(|dir| std::fs::metadata(dir).is_ok_and(|m| m.is_dir()))
}

/// The relative path an argument may be: the argument itself, or the value of `--flag=value`;
/// never a flag, and never an absolute path.
fn candidate(arg: &OsStr) -> Option<&OsStr> {
    let bytes = arg.as_bytes();
    let value = if bytes.starts_with(b"-") {
        let at = bytes.iter().position(|&b| b == b'=')?;
        &bytes[at + 1..]
    } else {
        bytes
    };
    (!value.is_empty() && !value.starts_with(b"/")).then(|| OsStr::from_bytes(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_absolute_paths_are_not_candidates() {
        let c = |s: &str| candidate(OsStr::new(s)).map(|p| p.to_str().unwrap().to_owned());
        assert_eq!(c("site"), Some("site".to_owned()));
        assert_eq!(c("--root=site"), Some("site".to_owned()));
        assert_eq!(c("-v"), None);
        assert_eq!(c("--root="), None);
        assert_eq!(c("/srv/site"), None);
        assert_eq!(c("--root=/srv"), None);
        assert_eq!(c(""), None);
    }
}
