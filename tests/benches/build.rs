//! Build-time benchmark: what the `#[daemon]` attribute costs to compile, next to the builder
//! API it expands to.
//!
//! `cargo bench -p daemon-tests --bench build`; `BUILD_RUNS` sets the builds per crate and
//! measurement (default 3).
//!
//! Three tiny binary crates do the same thing (daemonize with a PID file and a stdout log, then
//! print one line) and depend on daemon-rt by path:
//!
//! - `builder-no-macros`: daemon-rt without default features, builder calls. The baseline: no
//!   proc-macro, no syn.
//! - `builder`: daemon-rt with default features, the same builder calls. The proc-macro crate
//!   and syn are compiled but the attribute is not used.
//! - `annotated`: daemon-rt with default features, `#[daemon_rt::daemon(...)] fn main`.
//!
//! Each crate is built `BUILD_RUNS` times from scratch in release mode, with `-j2` and an
//! empty target directory of its own, timing `cargo build --release --offline -q` by wall
//! clock. Runs alternate between the crates so that all three see the same machine load.
//! Then `builder` and `annotated` are rebuilt `BUILD_RUNS` times in their kept target
//! directories after touching `src/main.rs`: the cost of compiling the crate itself, which for
//! `annotated` includes expanding the attribute, without compiling syn. The size of each
//! binary is recorded, and its size after `strip` when a `strip` command exists. The binaries
//! are never run.
//!
//! The crates get the workspace's `Cargo.lock`, so that they build the same dependency
//! versions, and build offline from the local registry cache. Everything lives in a temporary
//! directory named with this process's PID, removed at the end.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant, SystemTime};

mod common;
use common::{Context, Result, Summary, WorkDir, runs};

/// The daemon-rt crate the test crates depend on.
const DAEMON_RT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../daemon-rt");

/// The workspace's lock file, copied into each test crate.
const LOCKFILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");

/// Builds of each crate unless `BUILD_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 3;

/// Parallel jobs of each build: the cores of the machine the numbers were taken on.
const JOBS: &str = "2";

/// One test crate.
struct Variant {
    name: &'static str,
    /// Whether daemon-rt keeps its default features, and so the `macros` feature.
    default_features: bool,
    main_rs: &'static str,
    /// Whether it is rebuilt after touching `src/main.rs`.
    rebuild: bool,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        name: "builder-no-macros",
        default_features: false,
        main_rs: BUILDER_MAIN,
        rebuild: false,
    },
    Variant {
        name: "builder",
        default_features: true,
        main_rs: BUILDER_MAIN,
        rebuild: true,
    },
    Variant {
        name: "annotated",
        default_features: true,
        main_rs: ANNOTATED_MAIN,
        rebuild: true,
    },
];

/// The program with builder calls: what the attribute documents as its equivalent.
const BUILDER_MAIN: &str = r#"fn main() {
    let _running = daemon_rt::Daemon::new()
        .pidfile("/run/build-bench.pid")
        .stdout("/var/log/build-bench.log")
        .start()
        .unwrap_or_else(|e| e.exit());
    println!("build-bench daemon running");
}
"#;

/// The same program with the attribute.
const ANNOTATED_MAIN: &str = r#"#[daemon_rt::daemon(pidfile = "/run/build-bench.pid", stdout = "/var/log/build-bench.log")]
fn main() {
    println!("build-bench daemon running");
}
"#;

fn main() -> ExitCode {
    let outcome = WorkDir::create("daemon-rt-build").and_then(|dir| {
        create_dir(&dir.0.join("stripped"))?;
        // Removed whatever happened: a failed run leaves target directories worth hundreds of
        // megabytes, and the error already carries cargo's output.
        let result = bench(&dir);
        let removed = dir.remove();
        result.and(removed)
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("build bench failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the crates, builds them, and prints the table.
fn bench(dir: &WorkDir) -> Result<()> {
    let runs = runs("BUILD_RUNS", DEFAULT_RUNS)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = rustc_version()?;
    let crates = VARIANTS
        .iter()
        .map(|variant| TestCrate::write(dir, variant))
        .collect::<Result<Vec<_>>>()?;
    let mut results: Vec<Measurement> = crates.iter().map(|_| Measurement::default()).collect();
    let mut strip = Strip::Unknown;
    for run in 1..=runs {
        for (krate, m) in crates.iter().zip(&mut results) {
            let elapsed = krate.clean_build(&cargo)?;
            eprintln!(
                "clean build {run}/{runs} of {}: {}",
                krate.variant.name,
                seconds(elapsed)
            );
            m.clean.push(elapsed);
            m.size.push(krate.binary_size()?);
            if let Some(size) = strip.size(krate)? {
                m.stripped.push(size);
            }
            // The last target directory of a crate that is rebuilt is kept for the rebuilds.
            if run < runs || !krate.variant.rebuild {
                krate.remove_target()?;
            }
        }
    }
    for (krate, m) in crates.iter().zip(&mut results) {
        if !krate.variant.rebuild {
            continue;
        }
        for run in 1..=runs {
            let elapsed = krate.rebuild(&cargo)?;
            eprintln!(
                "rebuild {run}/{runs} of {}: {}",
                krate.variant.name,
                seconds(elapsed)
            );
            m.rebuild.push(elapsed);
        }
        krate.remove_target()?;
    }
    print_table(runs, &rustc, &crates, &results);
    Ok(())
}

/// `rustc -V`, with the `rustc` cargo uses: `RUSTC` if set, else the one on the `PATH`.
fn rustc_version() -> Result<String> {
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

/// What was measured for one crate.
#[derive(Default)]
struct Measurement {
    clean: Vec<Duration>,
    rebuild: Vec<Duration>,
    /// The size of the binary after each clean build.
    size: Vec<u64>,
    /// The same after `strip`; empty if there is no `strip` command.
    stripped: Vec<u64>,
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
    fn write(work: &WorkDir, variant: &'static Variant) -> Result<TestCrate> {
        let dir = work.0.join(variant.name);
        create_dir(&dir.join("src"))?;
        write(&dir.join("Cargo.toml"), &manifest(variant))?;
        write(&dir.join("src/main.rs"), variant.main_rs)?;
        std::fs::copy(LOCKFILE, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {LOCKFILE} into {}", dir.display()))?;
        Ok(TestCrate {
            variant,
            dir,
            target: work.0.join("target").join(variant.name),
            stripped: work.0.join("stripped").join(variant.name),
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

    /// Touches `src/main.rs`, rebuilds in the kept target directory, checks that the binary
    /// was written again, and returns the time taken.
    fn rebuild(&self, cargo: &std::ffi::OsStr) -> Result<Duration> {
        let before = modified(&self.binary())?;
        touch(&self.dir.join("src/main.rs"))?;
        let elapsed = self.build(cargo)?;
        if modified(&self.binary())? <= before {
            return Err(format!(
                "touching src/main.rs of {} did not make cargo rebuild it",
                self.variant.name
            ));
        }
        Ok(elapsed)
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
    let features = if variant.default_features {
        ""
    } else {
        ", default-features = false"
    };
    format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         [dependencies]\n\
         daemon-rt = {{ path = {path}{features} }}\n\
         \n\
         # Not a member of any enclosing workspace.\n\
         [workspace]\n",
        name = variant.name,
        path = toml_string(DAEMON_RT),
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

/// Sets the modification time of `path` to now, as `touch` does.
fn touch(path: &Path) -> Result<()> {
    std::fs::File::options()
        .append(true)
        .open(path)
        .and_then(|file| file.set_modified(SystemTime::now()))
        .with_context(|| format!("touching {}", path.display()))
}

fn modified(path: &Path) -> Result<SystemTime> {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .with_context(|| format!("reading the modification time of {}", path.display()))
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

fn print_table(runs: usize, rustc: &str, crates: &[TestCrate], results: &[Measurement]) {
    println!("$ cargo bench -p daemon-tests --bench build");
    println!("{rustc}");
    println!(
        "clean release builds per crate: {runs} (-j{JOBS}, empty target dir each); rebuilds \
         after touching src/main.rs: {runs}; times are median [min .. max]"
    );
    let has_stripped = results.iter().all(|m| !m.stripped.is_empty());
    let size_ratio_header = if has_stripped {
        "size ratio (bin / stripped)"
    } else {
        "size ratio"
    };
    println!(
        "{:<17} | {:<22} | {:>6} | {:<22} | {:>10} | {:>10} | {}",
        "crate",
        "clean build",
        "ratio",
        "rebuild after touch",
        "binary B",
        "stripped B",
        size_ratio_header,
    );
    let baseline = &results[0];
    let base_clean = Summary::<Duration>::of(&baseline.clean).median;
    let base_size = Summary::<u64>::of(&baseline.size).median;
    let base_stripped = has_stripped.then(|| Summary::<u64>::of(&baseline.stripped).median);
    let mut varied = Vec::new();
    for (krate, m) in crates.iter().zip(results) {
        let clean = Summary::<Duration>::of(&m.clean);
        let rebuild = if m.rebuild.is_empty() {
            "-".to_owned()
        } else {
            range(&Summary::<Duration>::of(&m.rebuild))
        };
        let size = Summary::<u64>::of(&m.size);
        let mut size_ratio = format!("{:.3}x", size.median as f64 / base_size as f64);
        let stripped = match base_stripped {
            Some(base) => {
                let stripped = Summary::<u64>::of(&m.stripped);
                size_ratio += &format!(" / {:.3}x", stripped.median as f64 / base as f64);
                if stripped.min != stripped.max {
                    varied.push(format!(
                        "{} stripped: {} .. {} B",
                        krate.variant.name, stripped.min, stripped.max
                    ));
                }
                stripped.median.to_string()
            }
            None => "-".to_owned(),
        };
        if size.min != size.max {
            varied.push(format!(
                "{} binary: {} .. {} B",
                krate.variant.name, size.min, size.max
            ));
        }
        println!(
            "{:<17} | {:<22} | {:>5.2}x | {:<22} | {:>10} | {:>10} | {}",
            krate.variant.name,
            range(&clean),
            ratio(clean.median, base_clean),
            rebuild,
            size.median,
            stripped,
            size_ratio,
        );
    }
    if !varied.is_empty() {
        println!(
            "sizes varied between clean builds (medians shown): {}",
            varied.join("; ")
        );
    }
}

/// `median s [min .. max]`.
fn range(summary: &Summary<Duration>) -> String {
    format!(
        "{} [{:.2} .. {:.2}]",
        seconds(summary.median),
        summary.min.as_secs_f64(),
        summary.max.as_secs_f64()
    )
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
