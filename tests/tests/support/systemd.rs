//! A real systemd, booted as PID 1 of a private PID, mount, UTS, IPC and network namespace
//! (`/work/shared/RECIPES.md` §1 of the project's notes), for tests that run units through
//! `systemctl` and read the journal with `journalctl`.
//!
//! [`Systemd::boot`] gives systemd a cgroup of its own in both hierarchies, starts it under
//! `unshare` with tmpfs over `/run` and `/var/log` (the host's files stay out, and the
//! namespace's go away with it), a unit directory holding the minimal targets, journald and the
//! test's units, no generators, and `--log-level=debug`, so every notify datagram is in the
//! journal. Commands run inside with `nsenter`. Dropping the [`Systemd`] ends it, pass or
//! fail: `systemctl exit`, then the `unshare` process is waited for (killed by PID if it does
//! not exit, which kills the whole namespace), then the cgroups and the unit directory are
//! removed. If the test process itself dies, the kernel kills `unshare` (`PR_SET_PDEATHSIG`),
//! and `unshare --kill-child` kills systemd, and with it the namespace; the next boot removes
//! the cgroups and the directory it left.
//!
//! Self-contained (std and nix only), so the examples' tests include it too, by path.
#![allow(dead_code)] // each test file uses part of it

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What the namespace's systemd is.
const SYSTEMD: &str = "/lib/systemd/systemd";
/// The units copied from the host, unchanged (journald's service is copied with one change).
const COPIED: [&str; 5] = [
    "systemd-journald.socket",
    "exit.target",
    "systemd-exit.service",
    "umount.target",
    "final.target",
];
/// The minimal targets, each just `[Unit]` and `DefaultDependencies=no`.
const TARGETS: [&str; 10] = [
    "basic",
    "sysinit",
    "sockets",
    "local-fs",
    "multi-user",
    "network",
    "paths",
    "slices",
    "timers",
    "shutdown",
];
/// How long systemd may take to boot, and to exit.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one `systemctl` or `journalctl` may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A systemd running as PID 1 of its own namespaces; ended when dropped.
pub struct Systemd {
    /// The `unshare` process, systemd's parent (on the host).
    unshare: Child,
    /// systemd's PID on the host.
    pid: u32,
    /// The test's directory: the inner script, the units, the empty generator directories.
    dir: PathBuf,
    /// The cgroups made for it, in the unified and the named `systemd` hierarchy.
    cgroups: [PathBuf; 2],
    /// `systemctl --version`'s number, such as 252.
    version: u32,
}

impl Systemd {
    /// Boots systemd with the units `units` (file name, text), for the test `name`. `None`,
    /// with a message saying why, where that cannot be done: not root, or no systemd.
    pub fn boot(name: &str, units: &[(&str, &str)]) -> Option<Systemd> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: booting systemd in a namespace needs root");
            return None;
        }
        for program in [SYSTEMD, "/usr/bin/unshare", "/usr/bin/nsenter"] {
            if !Path::new(program).exists() {
                eprintln!("skipped: {program} is missing");
                return None;
            }
        }
        let cgroups = [
            PathBuf::from("/sys/fs/cgroup/unified"),
            PathBuf::from("/sys/fs/cgroup/systemd"),
        ];
        if let Some(missing) = cgroups.iter().find(|c| !c.join("cgroup.procs").exists()) {
            eprintln!("skipped: no cgroup hierarchy at {missing:?} (hybrid cgroups are needed)");
            return None;
        }
        sweep(&cgroups);
        let tag = format!("{PREFIX}{}-{name}", std::process::id());
        let cgroups = cgroups.map(|c| c.join(&tag));
        let dir = std::env::temp_dir().join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        for cgroup in &cgroups {
            remove_cgroup(cgroup);
            std::fs::create_dir_all(cgroup).expect("make systemd's cgroup");
        }
        write_units(&dir, units);
        let script = dir.join("inner.sh");
        std::fs::write(&script, inner_script(&dir, &cgroups)).expect("write the inner script");
        let log = std::fs::File::create(dir.join("unshare.log")).expect("create unshare.log");

        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount", "--propagation", "private"])
            .args(["--uts", "--ipc", "--net", "--mount-proc", "--kill-child"])
            .arg("/bin/sh")
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup unshare.log"))
            .stderr(log);
        // SAFETY: the closure runs between fork and exec, where only async-signal-safe calls
        // are allowed: `setsid` and `prctl` are system calls, with plain integers.
        unsafe {
            cmd.pre_exec(|| {
                // In a session of its own, as RECIPES.md asks, away from the test's terminal.
                if nix::libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                // Killed when the test's thread ends: unshare's --kill-child then kills systemd.
                let killed = nix::libc::SIGKILL as nix::libc::c_ulong;
                if nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, killed) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let unshare = cmd.spawn().expect("spawn unshare");
        let mut systemd = Systemd {
            pid: 0,
            unshare,
            dir,
            cgroups,
            version: 0,
        };
        systemd.pid = systemd.find_pid();
        systemd.wait_running();
        systemd.version = systemd.read_version();
        Some(systemd)
    }

    /// systemd's PID on the host: the child of `unshare`.
    fn find_pid(&mut self) -> u32 {
        let unshare = self.unshare.id();
        let children = format!("/proc/{unshare}/task/{unshare}/children");
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
                return pid;
            }
            if let Ok(Some(status)) = self.unshare.try_wait() {
                panic!(
                    "unshare exited ({status}) before systemd started: {}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no systemd under unshare: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `systemctl is-system-running` says `running` (or `degraded`).
    fn wait_running(&mut self) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let out = self.systemctl(&["is-system-running"]);
            let last = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if last == "running" || last == "degraded" {
                return;
            }
            if let Ok(Some(status)) = self.unshare.try_wait() {
                panic!("systemd exited ({status}) while booting: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "systemd is {last:?}, not running, after {BOOT_TIMEOUT:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn read_version(&self) -> u32 {
        let out = self.systemctl(&["--version"]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("systemctl --version says {text:?}"))
    }

    /// systemd's version, such as 252.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The directory the units are read from.
    pub fn unit_dir(&self) -> PathBuf {
        self.dir.join("units")
    }

    /// Runs `program` with `args` inside the namespaces; returns once it has exited.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid.to_string())
            .args(["-m", "-p", "-u", "-i", "-n", program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn nsenter");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        match rx.recv_timeout(COMMAND_TIMEOUT) {
            Ok(out) => out.expect("wait for nsenter"),
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                panic!("{program} {args:?}: no return within {COMMAND_TIMEOUT:?}");
            }
        }
    }

    /// `systemctl ARGS` inside.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        self.run("systemctl", args)
    }

    /// `systemctl ARGS` inside, which must exit 0; returns its standard output.
    pub fn systemctl_ok(&self, args: &[&str]) -> String {
        let out = self.systemctl(args);
        assert!(
            out.status.success(),
            "systemctl {args:?}: {out:?}\n{}",
            self.journal_all()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One property of `unit` (`systemctl show -p NAME --value`).
    pub fn property(&self, unit: &str, name: &str) -> String {
        let out = self.systemctl_ok(&["show", "-p", name, "--value", unit]);
        out.trim_end_matches('\n').to_owned()
    }

    /// The unit's main PID (in the namespace), 0 when it has none.
    pub fn main_pid(&self, unit: &str) -> u32 {
        let pid = self.property(unit, "MainPID");
        pid.parse()
            .unwrap_or_else(|_| panic!("MainPID of {unit} is {pid:?}"))
    }

    /// The unit's `ActiveState` (`active`, `failed`, ...).
    pub fn state(&self, unit: &str) -> String {
        self.property(unit, "ActiveState")
    }

    /// Writes or replaces the unit `name` and reloads systemd's configuration.
    pub fn install(&self, name: &str, text: &str) {
        std::fs::write(self.unit_dir().join(name), text).expect("write the unit");
        self.systemctl_ok(&["daemon-reload"]);
    }

    /// The journal of `unit`, message text only (`journalctl -u UNIT -o cat`).
    pub fn journal(&self, unit: &str) -> String {
        let out = self.run("journalctl", &["-u", unit, "-o", "cat", "--no-pager"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The journal of the process `pid` (a PID inside), message text only. Its first second
    /// may be missing from the journal of its unit: journald can take the process for a part
    /// of `init.scope` until it looks again at its cgroup (it keeps what it found for a second).
    pub fn journal_of_pid(&self, pid: u32) -> String {
        let pid = format!("_PID={pid}");
        let out = self.run("journalctl", &[&pid, "-o", "cat", "--no-pager"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The whole journal, for failure messages.
    pub fn journal_all(&self) -> String {
        let out = self.run("journalctl", &["-o", "short-monotonic", "--no-pager"]);
        let text = String::from_utf8_lossy(&out.stdout);
        // The last lines are the ones that explain a failure; D-Bus signals explain nothing.
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("Sent message type=signal"))
            .collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        format!("--- journal (last 60 lines) ---\n{tail}")
    }

    /// Waits up to `timeout` for the journal of `unit` to have a line for which `find`
    /// returns something.
    pub fn wait_journal<T>(
        &self,
        unit: &str,
        timeout: Duration,
        find: impl FnMut(&str) -> Option<T>,
    ) -> T {
        self.wait_for(
            &format!("the journal of {unit}"),
            timeout,
            || self.journal(unit),
            find,
        )
    }

    /// Waits up to `timeout` for the journal of the process `pid` to have a line for which
    /// `find` returns something.
    pub fn wait_journal_of_pid<T>(
        &self,
        pid: u32,
        timeout: Duration,
        find: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let what = format!("the journal of PID {pid}");
        self.wait_for(&what, timeout, || self.journal_of_pid(pid), find)
    }

    fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        read: impl Fn() -> String,
        mut find: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let text = read();
            if let Some(found) = text.lines().find_map(&mut find) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not get the line in {timeout:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The path, on the host, of `path` inside the namespace (through systemd's root).
    pub fn host_path(&self, path: &str) -> PathBuf {
        let inside = path.trim_start_matches('/');
        PathBuf::from(format!("/proc/{}/root", self.pid)).join(inside)
    }

    /// The text of the file at `path` inside the namespace; `None` if it cannot be read.
    pub fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.host_path(path)).ok()
    }

    /// The PID in the PID file at `path` inside the namespace (a number and a newline).
    pub fn read_pid(&self, path: &str) -> Option<u32> {
        self.read(path)?.strip_suffix('\n')?.parse().ok()
    }

    /// Where the descriptor `fd` of the process `pid` (a PID inside) points.
    pub fn fd_target(&self, pid: u32, fd: i32) -> Option<PathBuf> {
        std::fs::read_link(self.host_path(&format!("proc/{pid}/fd/{fd}"))).ok()
    }

    /// What `unshare` and the script printed, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("unshare.log")).unwrap_or_default()
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        // `systemctl exit` stops every unit and ends systemd, and so the namespace.
        if self.pid != 0 {
            let _ = Command::new("nsenter")
                .arg("-t")
                .arg(self.pid.to_string())
                .args(["-m", "-p", "-u", "-i", "-n", "systemctl", "exit"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            match self.unshare.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    // Killed by its PID: --kill-child then kills systemd, PID 1 of the
                    // namespace, and the kernel every other process of it.
                    eprintln!("systemd did not exit in {EXIT_TIMEOUT:?}: killing unshare");
                    let _ = self.unshare.kill();
                    let _ = self.unshare.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        // The namespace's processes may take a moment to leave the cgroups once PID 1 is gone.
        let deadline = Instant::now() + EXIT_TIMEOUT;
        for cgroup in &self.cgroups {
            while !remove_cgroup(cgroup) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if cgroup.exists() {
                eprintln!("cannot remove the cgroup {cgroup:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the cgroups and the directory of a test's systemd are named: then the test process's
/// PID and the test's name.
const PREFIX: &str = "daemon-rt-systemd-";

/// Removes what a test process killed before its guards ran left behind (its namespace died
/// with it: see the module's documentation): the cgroups and directories named for a PID that
/// no longer runs. A cgroup that still holds a process is never removed.
fn sweep(hierarchies: &[PathBuf]) {
    let places = hierarchies.iter().cloned().chain([std::env::temp_dir()]);
    for place in places {
        let Ok(entries) = std::fs::read_dir(&place) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            if place == std::env::temp_dir() {
                let _ = std::fs::remove_dir_all(entry.path());
            } else {
                remove_cgroup(&entry.path());
            }
        }
    }
}

/// Removes the cgroup directory `dir` and every cgroup under it, deepest first; whether it is
/// gone. A cgroup that still holds a process cannot be removed.
fn remove_cgroup(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
    !dir.exists()
}

/// Fills `dir` with the unit directory (`units/`), the empty generator directory (`empty/`)
/// and the test's `units`.
fn write_units(dir: &Path, units: &[(&str, &str)]) {
    let unit_dir = dir.join("units");
    std::fs::create_dir_all(&unit_dir).expect("make the unit directory");
    std::fs::create_dir_all(dir.join("empty")).expect("make the generator directory");
    for target in TARGETS {
        let text = "[Unit]\nDefaultDependencies=no\n";
        std::fs::write(unit_dir.join(format!("{target}.target")), text).unwrap();
    }
    let default = "[Unit]\nDefaultDependencies=no\n\
                   Requires=basic.target sockets.target systemd-journald.service\n\
                   After=basic.target sockets.target systemd-journald.service\n";
    std::fs::write(unit_dir.join("default.target"), default).unwrap();
    for unit in COPIED {
        std::fs::copy(
            Path::new("/lib/systemd/system").join(unit),
            unit_dir.join(unit),
        )
        .unwrap_or_else(|e| panic!("copy {unit} from /lib/systemd/system: {e}"));
    }
    // journald, listening on its one socket: the others (/dev/log, audit) are not set up here.
    let journald = std::fs::read_to_string("/lib/systemd/system/systemd-journald.service")
        .expect("read systemd-journald.service");
    let journald: String = journald
        .lines()
        .map(|line| match line.starts_with("Sockets=") {
            true => "Sockets=systemd-journald.socket\n".to_owned(),
            false => format!("{line}\n"),
        })
        .collect();
    std::fs::write(unit_dir.join("systemd-journald.service"), journald).unwrap();
    for (name, text) in units {
        std::fs::write(unit_dir.join(name), text).unwrap();
    }
}

/// The script `unshare` runs as PID 1 of the new namespaces, which ends by becoming systemd.
fn inner_script(dir: &Path, cgroups: &[PathBuf; 2]) -> String {
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let [unified, named] = cgroups;
    format!(
        "set -e\n\
         echo 0 > {unified}/cgroup.procs\n\
         echo 0 > {named}/cgroup.procs\n\
         # Private /run and /var/log: the journal, RuntimeDirectory= and LogsDirectory= are\n\
         # the namespace's own and vanish with it.\n\
         mount -t tmpfs -o mode=0755 tmpfs /run\n\
         mkdir -p /run/lock\n\
         mount -t tmpfs -o mode=0755 tmpfs /var/log\n\
         export container=daemon-rt-test\n\
         export SYSTEMD_UNIT_PATH={units}\n\
         export SYSTEMD_GENERATOR_PATH={empty} SYSTEMD_ENVIRONMENT_GENERATOR_PATH={empty}\n\
         exec {SYSTEMD} --system --log-target=journal --log-level=debug\n",
        unified = q(unified),
        named = q(named),
        units = q(&dir.join("units")),
        empty = q(&dir.join("empty")),
    )
}
