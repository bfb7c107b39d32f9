#[daemon_rt::daemon(user = "")]
fn main() {}
