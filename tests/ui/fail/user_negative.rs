#[daemon_rt::daemon(user = -1)]
fn main() {}
