#[daemon_rt::daemon(pid_file = "/run/x.pid")]
fn main() {}
