#[daemon_rt::daemon(ready = "listening")]
fn main() {}
