#[daemon_rt::daemon(limit_nofile = "unlimited")]
fn main() {}
