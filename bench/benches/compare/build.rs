//! Building: what a minimal annotated daemon costs to compile and how big it is, next to the
//! same program with `daemonize` and with daemon-rt's builder and no proc-macro.
//!
//! Three tiny binary crates do the same thing (daemonize with a PID file and a stdout log,
//! then print one line). Each is built `BUILD_RUNS` times from scratch in release mode, with
//! `-j2` and an empty target directory of its own, timing `cargo build --release --offline -q`
//! by wall clock. Runs alternate between the crates so that all see the same machine load.
//! The size of each binary is recorded, and its size after `strip` when a `strip` command
//! exists. The binaries are never run.
//!
//! The crates get the workspace's `Cargo.lock`, so that they build the dependency versions the
//! benchmark's programs use, offline from the local registry cache.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{Context, Result, WorkDir};

/// The daemon-rt crate the test crates depend on.
const DAEMON_RT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../daemon-rt");

/// The workspace's lock file, copied into each test crate.
const LOCKFILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");

/// Parallel jobs of each build: the cores of the machine the numbers were taken on.
const JOBS: &str = "2";

/// One test crate.
pub struct Variant {
    pub name: &'static str,
    /// Its one dependency, as a line of `[dependencies]`; `{daemon_rt}` is daemon-rt's path.
    dependency: &'static str,
    main_rs: &'static str,
}

/// The baseline comes first.
pub const VARIANTS: [Variant; 3] = [
    Variant {
        name: "daemonize",
        dependency: "daemonize = \"0.5\"",
        main_rs: DAEMONIZE_MAIN,
    },
    Variant {
        name: "annotated",
        dependency: "daemon-rt = { path = {daemon_rt} }",
        main_rs: ANNOTATED_MAIN,
    },
    Variant {
        name: "builder-no-macros",
        dependency: "daemon-rt = { path = {daemon_rt}, default-features = false }",
        main_rs: BUILDER_MAIN,
    },
];

/// The program with the attribute.
const ANNOTATED_MAIN: &str = r#"#[daemon_rt::daemon(pidfile = "/run/build-bench.pid", stdout = "/var/log/build-bench.log")]
fn main() {
    println!("build-bench daemon running");
}
"#;

/// The same with daemon-rt's builder, what the attribute expands to, without the proc-macro.
const BUILDER_MAIN: &str = r#"fn main() {
    let _running = daemon_rt::Daemon::new()
        .pidfile("/run/build-bench.pid")
        .stdout("/var/log/build-bench.log")
        .start()
        .unwrap_or_else(|e| e.exit());
    println!("build-bench daemon running");
}
"#;

/// The same with daemonize, as its README shows it.
const DAEMONIZE_MAIN: &str = r#"fn main() {
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open("/var/log/build-bench.log")
        .unwrap();
    daemonize::Daemonize::new()
        .pid_file("/run/build-bench.pid")
        .stdout(log)
        .start()
        .unwrap();
    println!("build-bench daemon running");
}
"#;

/// What was measured for one crate.
pub struct Measurement {
    pub variant: &'static Variant,
    pub clean: Vec<Duration>,
    /// The size of the binary after each clean build.
    pub size: Vec<u64>,
    /// The same after `strip`; empty if there is no `strip` command.
    pub stripped: Vec<u64>,
}

/// Writes the crates in `dir`, builds each `runs` times, and returns what was measured.
pub fn measure(dir: &WorkDir, runs: usize) -> Result<Vec<Measurement>> {
    let dir = dir.0.join("build");
    create_dir(&dir.join("stripped"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let crates = VARIANTS
        .iter()
        .map(|variant| TestCrate::write(&dir, variant))
        .collect::<Result<Vec<_>>>()?;
    let mut results: Vec<Measurement> = VARIANTS
        .iter()
        .map(|variant| Measurement {
            variant,
            clean: Vec::new(),
            size: Vec::new(),
            stripped: Vec::new(),
        })
        .collect();
    let mut strip = Strip::Unknown;
    for run in 1..=runs {
        for (krate, m) in crates.iter().zip(&mut results) {
            let elapsed = krate.clean_build(&cargo)?;
            eprintln!(
                "clean build {run}/{runs} of {}: {:.2} s",
                krate.variant.name,
                elapsed.as_secs_f64()
            );
            m.clean.push(elapsed);
            m.size.push(krate.binary_size()?);
            if let Some(size) = strip.size(krate)? {
                m.stripped.push(size);
            }
            // A target directory is hundreds of megabytes.
            krate.remove_target()?;
        }
    }
    Ok(results)
}

/// `rustc -V`, with the `rustc` cargo uses: `RUSTC` if set, else the one on the `PATH`.
pub fn rustc_version() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-V")
        .output()
        .context("running rustc -V")?;
    check(&output, "rustc -V")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Fails with the command's stderr unless it succeeded.
fn check(output: &Output, what: &str) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "{what} ended with {}:\n{}",
        output.status,
        stderr.trim_end()
    ))
}

/// One test crate written to disk, with its target directory.
struct TestCrate {
    variant: &'static Variant,
    dir: PathBuf,
    target: PathBuf,
    stripped: PathBuf,
}

impl TestCrate {
    /// Writes the manifest, the lock file and `src/main.rs` of `variant`.
    fn write(work: &Path, variant: &'static Variant) -> Result<TestCrate> {
        let dir = work.join(variant.name);
        create_dir(&dir.join("src"))?;
        write(&dir.join("Cargo.toml"), &manifest(variant))?;
        write(&dir.join("src/main.rs"), variant.main_rs)?;
        std::fs::copy(LOCKFILE, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {LOCKFILE} into {}", dir.display()))?;
        Ok(TestCrate {
            variant,
            dir,
            target: work.join("target").join(variant.name),
            stripped: work.join("stripped").join(variant.name),
        })
    }

    /// Builds into a new, empty target directory and returns the time taken.
    fn clean_build(&self, cargo: &std::ffi::OsStr) -> Result<Duration> {
        if self.target.exists() {
            self.remove_target()?;
        }
        create_dir(&self.target)?;
        self.build(cargo)
    }

    /// Runs `cargo build --release --offline -q` and returns its wall-clock time.
    fn build(&self, cargo: &std::ffi::OsStr) -> Result<Duration> {
        let mut command = Command::new(cargo);
        command
            .args(["build", "--release", "--offline", "-q", "-j", JOBS])
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", &self.target)
            // A caching wrapper such as sccache would serve the clean builds from its cache.
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
            // Intermediate artifacts go to the target directory, which starts empty.
            .env_remove("CARGO_BUILD_BUILD_DIR");
        let start = Instant::now();
        let output = command
            .output()
            .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
        let elapsed = start.elapsed();
        check(&output, &format!("cargo build of {}", self.variant.name))?;
        Ok(elapsed)
    }

    fn binary(&self) -> PathBuf {
        self.target.join("release").join(self.variant.name)
    }

    fn binary_size(&self) -> Result<u64> {
        let path = self.binary();
        let metadata =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(metadata.len())
    }

    fn remove_target(&self) -> Result<()> {
        std::fs::remove_dir_all(&self.target)
            .with_context(|| format!("removing {}", self.target.display()))
    }
}

/// The manifest of a test crate: a package of its own, in a workspace of its own.
fn manifest(variant: &Variant) -> String {
    let dependency = variant
        .dependency
        .replace("{daemon_rt}", &toml_string(DAEMON_RT));
    format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         [dependencies]\n\
         {dependency}\n\
         \n\
         # Not a member of any enclosing workspace.\n\
         [workspace]\n",
        name = variant.name,
    )
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Whether a `strip` command exists, found out on first use.
enum Strip {
    Unknown,
    Present,
    Missing,
}

impl Strip {
    /// The size of the crate's binary after `strip`, written to a copy beside it; `None` if
    /// there is no `strip` command.
    fn size(&mut self, krate: &TestCrate) -> Result<Option<u64>> {
        if let Strip::Missing = self {
            return Ok(None);
        }
        let output = match Command::new("strip")
            .arg("-o")
            .arg(&krate.stripped)
            .arg(krate.binary())
            .output()
        {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                eprintln!("no strip command: the stripped sizes are left out");
                *self = Strip::Missing;
                return Ok(None);
            }
            other => other.context("running strip")?,
        };
        *self = Strip::Present;
        check(&output, &format!("strip of {}", krate.variant.name))?;
        let metadata = std::fs::metadata(&krate.stripped)
            .with_context(|| format!("reading {}", krate.stripped.display()))?;
        std::fs::remove_file(&krate.stripped)
            .with_context(|| format!("removing {}", krate.stripped.display()))?;
        Ok(Some(metadata.len()))
    }
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
