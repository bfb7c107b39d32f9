#[daemon_rt::daemon(user = "www:www")]
fn main() {}
