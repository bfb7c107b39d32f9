// Every return type `main` may have, on functions that are never called here.
use std::process::{ExitCode, Termination};

#[daemon_rt::daemon]
fn unit() {}

#[daemon_rt::daemon(pidfile = "/run/a.pid")]
fn io_result() -> std::io::Result<()> {
    Ok(())
}

#[daemon_rt::daemon]
fn boxed_error() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "7".parse()?;
    if n == 7 {
        return Ok(());
    }
    Err("early return".into())
}

#[daemon_rt::daemon]
fn exit_code() -> ExitCode {
    ExitCode::from(3)
}

#[daemon_rt::daemon]
fn termination() -> impl Termination {
    ExitCode::SUCCESS
}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        unit();
        let _ = io_result();
        let _ = boxed_error();
        let _ = exit_code();
        let _ = termination();
    }
}
