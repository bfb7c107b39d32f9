#[daemon_rt::daemon(umask = 0o1022)]
fn main() {}
