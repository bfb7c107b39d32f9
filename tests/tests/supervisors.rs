//! Supervisors' reload commands against the real supervisors: runit's `sv hup` and
//! supervisord's `supervisorctl signal HUP` both send SIGHUP to a `--foreground` daemon. It
//! must go on running, same PID, with its log reopened; a daemon without log files must go on
//! running too. Each supervisor runs on a scratch
//! directory in the sandbox, is stopped through its own command, and is ended by PID if the
//! test fails. The Debian packages `runit` and `supervisor` (installed by `.ci/run`); a test
//! whose supervisor is missing says so and skips.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use support::{Sandbox, alive, fds, installed, read_pid, stat};

/// How long the test waits for anything a supervisor or the daemon should do.
const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `check` every few milliseconds until it holds or the deadline passes.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A supervisor the test started: ended by PID and reaped when dropped, if the test did not
/// stop it through its own command.
struct Supervisor(Option<Child>, Pid);

impl Supervisor {
    fn spawn(program: &str, args: &[&str], log: &Path) -> Supervisor {
        let log = fs::File::create(log).unwrap();
        let child = Command::new(program)
            .args(args)
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let pid = Pid::from_raw(child.id() as i32);
        Supervisor(Some(child), pid)
    }

    fn pid(&self) -> Pid {
        self.1
    }

    /// Waits for the supervisor to exit, once told to; returns its status.
    fn wait_exit(&mut self) -> WaitStatus {
        let pid = self.pid();
        let deadline = Instant::now() + DEADLINE;
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
                Ok(status) => {
                    self.0 = None;
                    return status;
                }
                Err(e) => panic!("waitpid({pid}): {e}"),
            }
            assert!(Instant::now() < deadline, "the supervisor did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// Runs a supervisor's command and expects it to succeed.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?}: {text}");
    text
}

/// The daemon's command line: in the foreground, as a supervisor wants it, with a PID file
/// and a log file in the sandbox.
fn service_command(sb: &Sandbox) -> String {
    format!(
        "{} --foreground --pidfile {} --stdout {} --tag {}",
        support::SERVICE,
        sb.path("d.pid").display(),
        sb.path("out.log").display(),
        sb.dir().display()
    )
}

/// The same daemon without any log file: its output goes where the supervisor sends it, and
/// there is nothing to reopen. SIGHUP used to keep its default action there, and end it.
fn bare_command(sb: &Sandbox) -> String {
    format!(
        "{} --foreground --pidfile {} --tag {}",
        support::SERVICE,
        sb.path("bare.pid").display(),
        sb.dir().display()
    )
}

/// Waits for the supervised daemon's PID file (`d.pid`, or `bare.pid` for [`bare_command`]),
/// checks that `parent` started it, and returns its PID.
fn supervised_pid(sb: &Sandbox, parent: Pid) -> Pid {
    supervised_pid_at(sb, "d.pid", parent)
}

fn supervised_pid_at(sb: &Sandbox, name: &str, parent: Pid) -> Pid {
    let pidfile = sb.path(name);
    wait_for("the daemon's PID file", || read_pid(&pidfile).is_some());
    let pid = read_pid(&pidfile).unwrap();
    assert_eq!(
        stat(pid).ppid,
        parent.as_raw(),
        "not the supervisor's child"
    );
    pid
}

/// Renames the log away, has `reload` send SIGHUP, and checks that the daemon runs on, same
/// PID, writing to a new log file at the old path.
fn reload_reopens_the_log(sb: &Sandbox, pid: Pid, reload: impl FnOnce()) {
    let log = sb.path("out.log");
    wait_for("the daemon's log", || log.exists());
    fs::rename(&log, sb.path("out.log.1")).unwrap();
    reload();
    wait_for("stdout moved onto a new log", || {
        fds(pid).get(&1) == Some(&log)
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "the reload ended the daemon");
    assert_eq!(read_pid(&sb.path("d.pid")), Some(pid), "the PID changed");
}

/// Has `reload` send SIGHUP to the daemon without log files, and checks that it runs on.
fn reload_keeps_the_bare_daemon(sb: &Sandbox, pid: Pid, reload: impl FnOnce()) {
    reload();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "the reload ended the daemon without log files");
    assert_eq!(read_pid(&sb.path("bare.pid")), Some(pid), "the PID changed");
}

/// A runit service directory `name` in the sandbox whose `run` script execs `command`.
fn runit_service(sb: &Sandbox, name: &str, command: &str) -> String {
    let dir = sb.path(name);
    fs::create_dir(&dir).unwrap();
    let run_script = dir.join("run");
    fs::write(&run_script, format!("#!/bin/sh\nexec {command} 2>&1\n")).unwrap();
    fs::set_permissions(&run_script, fs::Permissions::from_mode(0o755)).unwrap();
    dir.to_str().unwrap().to_owned()
}

#[test]
fn runit_sv_hup_reloads_without_ending_the_daemon() {
    if !installed("runsv") || !installed("sv") {
        eprintln!("skipped: runit is not installed (apt-get install runit)");
        return;
    }
    let sb = Sandbox::new("runit");
    let dir = runit_service(&sb, "svc", &service_command(&sb));
    let d = dir.as_str();
    let bare_dir = runit_service(&sb, "bare", &bare_command(&sb));
    let b = bare_dir.as_str();

    let mut bare_runsv = Supervisor::spawn("runsv", &[b], &sb.path("bare.log"));
    let bare = supervised_pid_at(&sb, "bare.pid", bare_runsv.pid());
    sb.track(bare);
    for _ in 0..3 {
        reload_keeps_the_bare_daemon(&sb, bare, || {
            run("sv", &["hup", b]);
        });
    }
    run("sv", &["exit", b]);
    assert_eq!(
        bare_runsv.wait_exit(),
        WaitStatus::Exited(bare_runsv.pid(), 0)
    );

    let mut runsv = Supervisor::spawn("runsv", &[d], &sb.path("runsv.log"));
    let pid = supervised_pid(&sb, runsv.pid());
    sb.track(pid);
    for _ in 0..3 {
        reload_reopens_the_log(&sb, pid, || {
            run("sv", &["hup", d]);
        });
    }
    let status = run("sv", &["status", d]);
    assert!(
        status.starts_with(&format!("run: {d}: (pid {pid})")),
        "{status}"
    );

    // `sv exit`: runsv stops the daemon (SIGTERM) and exits.
    run("sv", &["exit", d]);
    assert_eq!(runsv.wait_exit(), WaitStatus::Exited(runsv.pid(), 0));
    assert!(!alive(pid), "the daemon outlived runsv");
    assert!(
        !sb.path("d.pid").exists(),
        "the PID file outlived the daemon"
    );
}

#[test]
fn supervisorctl_signal_hup_reloads_without_ending_the_daemon() {
    if !installed("supervisord") || !installed("supervisorctl") {
        eprintln!("skipped: supervisord is not installed (apt-get install supervisor)");
        return;
    }
    let sb = Sandbox::new("supervisord");
    let config = sb.path("supervisord.conf");
    let socket = sb.path("supervisor.sock");
    fs::write(
        &config,
        format!(
            "[unix_http_server]\nfile={socket}\n\n\
             [supervisord]\nnodaemon=true\nlogfile={dir}/supervisord.log\n\
             pidfile={dir}/supervisord.pid\nchildlogdir={dir}\nuser=root\n\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl=unix://{socket}\n\n\
             [program:svc]\ncommand={command}\nautorestart=false\nstartsecs=0\n\
             stopsignal=TERM\n\n\
             [program:bare]\ncommand={bare}\nautorestart=false\nstartsecs=0\n\
             stopsignal=TERM\n",
            socket = socket.display(),
            dir = sb.dir().display(),
            command = service_command(&sb),
            bare = bare_command(&sb),
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();

    let mut supervisord =
        Supervisor::spawn("supervisord", &["-n", "-c", c], &sb.path("supervisord.out"));
    let pid = supervised_pid(&sb, supervisord.pid());
    sb.track(pid);
    for _ in 0..3 {
        reload_reopens_the_log(&sb, pid, || {
            run("supervisorctl", &["-c", c, "signal", "HUP", "svc"]);
        });
    }
    let status = run("supervisorctl", &["-c", c, "status", "svc"]);
    assert!(
        status.contains("RUNNING") && status.contains(&format!("pid {pid},")),
        "{status}"
    );
    let bare = supervised_pid_at(&sb, "bare.pid", supervisord.pid());
    sb.track(bare);
    for _ in 0..3 {
        reload_keeps_the_bare_daemon(&sb, bare, || {
            run("supervisorctl", &["-c", c, "signal", "HUP", "bare"]);
        });
    }
    let status = run("supervisorctl", &["-c", c, "status", "bare"]);
    assert!(
        status.contains("RUNNING") && status.contains(&format!("pid {bare},")),
        "{status}"
    );

    run("supervisorctl", &["-c", c, "shutdown"]);
    assert_eq!(
        supervisord.wait_exit(),
        WaitStatus::Exited(supervisord.pid(), 0)
    );
    assert!(!alive(pid) && !alive(bare), "a daemon outlived supervisord");
    assert!(
        !sb.path("d.pid").exists(),
        "the PID file outlived the daemon"
    );
}
