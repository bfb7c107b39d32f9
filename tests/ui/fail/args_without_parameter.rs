#[daemon_rt::daemon(args = std::env::args().count(), pidfile = "/run/a.pid")]
fn main() {}
