#[daemon_rt::daemon(ready = "0ms")]
fn main() {}
