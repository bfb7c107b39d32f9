//! The fixtures' arguments, read as the OS gives them, so that a test can pass any path a
//! program can be given: invalid UTF-8, control bytes, and (escaped) a NUL byte.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};

/// `raw` with each `\0` (a backslash, then the digit zero) turned into a NUL byte, which no
/// argument can carry; every other byte is kept as it is, invalid UTF-8 included.
pub fn decode(raw: OsString) -> OsString {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\0") {
            out.push(0);
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    OsString::from_vec(out)
}

/// A decoded value that must be text: a flag, a number, a user name.
pub fn text(value: OsString) -> String {
    value
        .into_string()
        .unwrap_or_else(|v| panic!("{v:?} is not UTF-8"))
}
