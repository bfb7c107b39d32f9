#[daemon_rt::daemon(pidfile = "/run/a.pid")]
fn main();
