//! The environment options as attribute arguments, with literals the attribute checks:
//! `environ_attr --pidfile P [--user U] [--env-out F] [--tag ANY]`. The body writes the
//! environment its children inherit to F, as `environ` does, and waits for a stop request.

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
        write_env(std::path::Path::new(&path));
    }
    daemon_rt::wait_for_stop();
}

/// Writes what `/usr/bin/env -0` prints to `path`, whole.
fn write_env(path: &std::path::Path) {
    let out = std::process::Command::new("/usr/bin/env")
        .arg("-0")
        .output()
        .expect("run /usr/bin/env");
    let partial = path.with_extension("partial");
    std::fs::write(&partial, out.stdout).expect("write the environment");
    std::fs::rename(&partial, path).expect("rename the environment's file");
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
