#[daemon_rt::daemon(colour = "blue")]
fn main() {}
