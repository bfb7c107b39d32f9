#[daemon_rt::daemon(reopen_logs = 1u8)]
fn main() {}
