#[daemon_rt::daemon(ready = daemon_rt::Ready::Manual)]
fn main() {}
