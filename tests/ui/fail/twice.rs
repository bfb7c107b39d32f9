use daemon_rt::daemon;

#[daemon_rt::daemon(pidfile = "/run/a.pid")]
#[daemon(pidfile = "/run/b.pid")]
fn main() {}
