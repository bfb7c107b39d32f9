#[daemon_rt::daemon(user = vec![1000])]
fn main() {}
