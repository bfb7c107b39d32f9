#[daemon_rt::daemon("/run/x.pid")]
fn main() {}
