#[daemon_rt::daemon(nice = -21)]
fn main() {}
