#[daemon_rt::daemon(pidfile = "/run/a.pid", stdout = "/var/log/a.log", pidfile = "/run/b.pid")]
fn main() {}
