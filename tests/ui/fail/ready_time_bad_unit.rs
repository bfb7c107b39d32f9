#[daemon_rt::daemon(ready = "5h")]
fn main() {}
