#[daemon_rt::daemon(keep_env = ["PATH", "LANG=C"])]
fn main() {}
