#[daemon_rt::daemon(stdout = 1)]
fn main() {}
