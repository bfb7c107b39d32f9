const PORT: u16 = 8080;

#[daemon_rt::daemon(pidfile = PORT)]
fn main() {}
