#[daemon_rt::daemon(pidfile = "/run/x.pid")]
async fn main() {}
