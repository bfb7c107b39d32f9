#[daemon_rt::daemon(stdout = "/var/log/x.log", reopen_logs = "SIGTERM")]
fn main() {}
