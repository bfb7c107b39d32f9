//! The environment options as attribute arguments, with literals the attribute checks:
//! `environ_attr --pidfile P [--user U] [--env-out F] [--tag ANY]`. The body writes the
//! environment its children inherit to F, as `environ` does, and waits for a stop request.

#[path = "../env_out.rs"]
mod env_out;

#[daemon_rt::daemon(
    pidfile = pidfile(),
    user = user(),
    keep_env = ["PATH", "KEPT"],
    prevent_core = true,
    limit_nofile = "512:1024",
    limit_nproc = 4096,
    limit_as = "infinity",
    nice = 7
)]
fn main() {
    if let Some(path) = flag("--env-out") {
        env_out::write_env(std::path::Path::new(&path));
    }
    daemon_rt::wait_for_stop();
}

/// The value of `--name`, if given.
fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pidfile() -> Option<String> {
    flag("--pidfile")
}

fn user() -> Option<String> {
    flag("--user")
}
