#[daemon_rt::daemon(foreground = "yes")]
fn main() {}
