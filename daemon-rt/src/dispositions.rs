//! Step 2's shortcut: which signals have a disposition other than the default, read in one go.
//!
//! Resetting every signal costs one `sigaction` per signal, 62 on Linux, when a fresh process
//! has changed three or four of them (the Rust runtime ignores SIGPIPE and catches SIGSEGV and
//! SIGBUS). On Linux, `/proc/self/status` lists the ignored signals (`SigIgn`) and the caught
//! ones (`SigCgt`) of the process as two masks, one bit per signal, the way the kernel itself
//! classifies each disposition: `SIG_IGN` is ignored, any handler is caught, the rest is
//! `SIG_DFL`. One read then says which signals need a `sigaction` at all.
//!
//! The masks say nothing of the flags of a signal left at `SIG_DFL`. One flag acts without a
//! handler: `SA_NOCLDWAIT` on SIGCHLD makes the kernel reap the children itself. SIGCHLD is
//! therefore always reset. Where the file cannot be read (no `/proc`), every signal is reset,
//! as on the other systems.

/// The signals, bit `signo - 1` each, whose disposition is not the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Changed {
    /// `SIG_IGN`.
    ignored: u64,
    /// A handler.
    caught: u64,
}

impl Changed {
    /// Whether `signo` needs a `sigaction` to end up ignored (`ignore`) or at its default.
    pub(crate) fn needs_reset(self, signo: i32, ignore: bool, sigchld: i32) -> bool {
        if signo == sigchld {
            return true;
        }
        let Some(bit) = u32::try_from(signo - 1)
            .ok()
            .and_then(|n| 1u64.checked_shl(n))
        else {
            return true;
        };
        match ignore {
            true => self.ignored & bit == 0,
            false => (self.ignored | self.caught) & bit != 0,
        }
    }
}

/// The dispositions of this process, as `/proc/self/status` gives them; `None` where it cannot
/// be read or parsed.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn changed() -> Option<Changed> {
    use std::io::Read as _;
    // About 1.5 KiB; `SigIgn` and `SigCgt` come two thirds of the way in. One `read` gives the
    // whole file when the buffer holds it.
    let mut buffer = [0u8; 4096];
    let mut file = std::fs::File::open("/proc/self/status").ok()?;
    let mut len = 0;
    loop {
        if let Some(changed) = parse(&buffer[..len]) {
            return Some(changed);
        }
        match file.read(&mut buffer[len..]) {
            Ok(0) => return None,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// See the other definition: no such file here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn changed() -> Option<Changed> {
    None
}

/// The two masks of a `/proc/<pid>/status` text, once both whole lines are in `text`.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
fn parse(text: &[u8]) -> Option<Changed> {
    let (mut ignored, mut caught) = (None, None);
    // Only complete lines: the last one may be cut by the buffer's end.
    let complete = &text[..text.iter().rposition(|&b| b == b'\n')? + 1];
    for line in complete.split(|&b| b == b'\n') {
        if let Some(mask) = line.strip_prefix(b"SigIgn:") {
            ignored = Some(hex(mask)?);
        } else if let Some(mask) = line.strip_prefix(b"SigCgt:") {
            caught = Some(hex(mask)?);
        }
    }
    Some(Changed {
        ignored: ignored?,
        caught: caught?,
    })
}

/// A mask as the kernel prints it: 16 hexadecimal digits after a tab.
fn hex(field: &[u8]) -> Option<u64> {
    let digits = std::str::from_utf8(field).ok()?.trim();
    (!digits.is_empty() && digits.len() <= 16)
        .then(|| u64::from_str_radix(digits, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &[u8] = b"Name:\tservice\nThreads:\t1\nSigQ:\t0/63704\n\
        SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n\
        SigIgn:\t0000000000001000\nSigCgt:\t0000000000000480\nCapInh:\t0000000000000000\n";

    #[test]
    fn reads_both_masks_and_waits_for_whole_lines() {
        let changed = parse(STATUS).unwrap();
        assert_eq!(changed.ignored, 1 << (13 - 1)); // SIGPIPE
        assert_eq!(changed.caught, (1 << (8 - 1)) | (1 << (11 - 1))); // SIGFPE, SIGSEGV
        let cut = STATUS.len() - "0000000000000480\nCapInh:\t0000000000000000\n".len() + 4;
        assert_eq!(parse(&STATUS[..cut]), None);
        assert_eq!(parse(b"SigIgn:\tzz\nSigCgt:\t0\n"), None);
    }

    #[test]
    fn only_the_changed_signals_and_sigchld_need_a_reset() {
        let changed = parse(STATUS).unwrap();
        let chld = 17;
        assert!(
            !changed.needs_reset(13, true, chld),
            "SIGPIPE is ignored already"
        );
        assert!(
            changed.needs_reset(20, true, chld),
            "SIGTSTP must become ignored"
        );
        assert!(changed.needs_reset(11, false, chld), "SIGSEGV is caught");
        assert!(
            !changed.needs_reset(15, false, chld),
            "SIGTERM is at its default"
        );
        assert!(
            changed.needs_reset(chld, false, chld),
            "SA_NOCLDWAIT is not in the masks"
        );
        assert!(
            changed.needs_reset(65, false, chld),
            "beyond the masks: reset"
        );
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn sees_what_this_process_changed() {
        // The test harness ignores SIGPIPE, as every Rust program does.
        let changed = changed().unwrap();
        assert!(!changed.needs_reset(nix::libc::SIGPIPE, true, nix::libc::SIGCHLD));
    }
}
