#[daemon_rt::daemon(limit_nofile = "65536:1024")]
fn main() {}
