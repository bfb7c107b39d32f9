#[daemon_rt::daemon(stdout = "/var/log/x.log", reopen_logs = "SIGKILL")]
fn main() {}
