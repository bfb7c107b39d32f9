#[daemon_rt::daemon(umask = "022")]
fn main() {}
