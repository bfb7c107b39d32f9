#[daemon_rt::daemon(ready = "manual", ready_timeout = 2.5)]
fn main() {}
