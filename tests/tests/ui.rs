//! Compile-time behaviour of `#[daemon]`: each `ui/fail/*.rs` must fail to build with the
//! reviewed `.stderr` beside it; each `ui/pass/*.rs` must build and run (it never calls its
//! annotated functions, so nothing daemonizes).
//!
//! The `.stderr` files hold rustc's exact output, which changes between compiler versions,
//! so they are checked on the toolchain they were reviewed on ([`BLESSED_ON`]) and the test
//! says it is skipped elsewhere. To re-bless on a new toolchain: update `BLESSED_ON`, run
//! `TRYBUILD=overwrite cargo test -p daemon-tests --test ui`, and read the diff of
//! `tests/ui/` before committing it.

/// The `rustc` version the `.stderr` files were reviewed on.
const BLESSED_ON: &str = "1.95.0";

#[test]
fn ui() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(&rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    if !version.starts_with(&format!("rustc {BLESSED_ON} ")) {
        eprintln!(
            "skipped: the ui .stderr files were blessed on rustc {BLESSED_ON}, this is {:?}; \
             re-bless as described at the top of tests/ui.rs",
            version.trim()
        );
        return;
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
