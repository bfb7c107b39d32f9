#[daemon_rt::daemon(limit_nofile = 0)]
fn main() {}
