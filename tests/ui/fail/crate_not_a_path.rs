#[daemon_rt::daemon(crate = 42)]
fn main() {}
