//! What the `environ` fixtures' `--env-out F` writes: the environment the daemon's children
//! inherit. `/proc/<pid>/environ` would not do: it shows the environment the process was
//! executed with, not the one it changed since.

/// Writes what `/usr/bin/env -0` prints to `path`, whole (through a rename).
pub fn write_env(path: &std::path::Path) {
    let out = std::process::Command::new("/usr/bin/env")
        .arg("-0")
        .output()
        .expect("run /usr/bin/env");
    let partial = path.with_extension("partial");
    std::fs::write(&partial, out.stdout).expect("write the environment");
    std::fs::rename(&partial, path).expect("rename the environment's file");
}
