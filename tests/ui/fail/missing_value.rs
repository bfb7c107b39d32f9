#[daemon_rt::daemon(pidfile)]
fn main() {}
