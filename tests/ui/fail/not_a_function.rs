#[daemon_rt::daemon(pidfile = "/run/x.pid")]
struct Server;

fn main() {}
