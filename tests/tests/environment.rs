//! What a daemon inherits from its environment, and what `keep_env`, `user`, the resource
//! limits, `prevent_core` and `nice` change: checked from outside, in the environment the
//! daemon's child `/usr/bin/env` prints (`/proc/<pid>/environ` shows only the environment a
//! process was executed with), `/proc/<pid>/limits` and the nice field of `/proc/<pid>/stat`.

mod support;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use support::{Sandbox, Start, alive, is_root, one_line, read_pid, s, tagged};

const ENVIRON: &str = env!("CARGO_BIN_EXE_environ");
const ENVIRON_ATTR: &str = env!("CARGO_BIN_EXE_environ_attr");
const NOBODY: u32 = 65534;
const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `program` with `args` (and the sandbox's tag) in exactly the environment `env`.
fn run(sb: &Sandbox, program: &str, args: &[&str], env: &[(&str, &str)]) -> Start {
    sb.run(program, args, |cmd| {
        cmd.arg("--tag").arg(sb.dir());
        cmd.env_clear().envs(env.iter().copied());
    })
}

/// As [`run`], expecting a start that succeeded; the daemon's PID, tracked.
fn started(sb: &Sandbox, program: &str, args: &[&str], env: &[(&str, &str)]) -> Pid {
    let pidfile = sb.path("d.pid");
    let env_out = env_path(sb);
    let _ = std::fs::remove_file(&env_out);
    let mut all = vec!["--pidfile", s(&pidfile), "--env-out", s(&env_out)];
    all.extend_from_slice(args);
    let start = run(sb, program, &all, env);
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("the PID file holds the PID");
    sb.track(pid);
    pid
}

/// Where the daemon's child prints its environment: in a directory of the sandbox that a
/// daemon running as `nobody` can write to too (the PID file's directory must stay root's).
fn env_path(sb: &Sandbox) -> std::path::PathBuf {
    let dir = sb.path("out");
    if !dir.exists() {
        std::fs::create_dir(&dir).unwrap();
        if is_root() {
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    dir.join("env")
}

/// The environment the daemon's child printed into [`env_path`], as a map.
fn environ(sb: &Sandbox) -> BTreeMap<String, String> {
    let path = env_path(sb);
    support::wait_until("the daemon's child printed its environment", || {
        path.exists()
    });
    let raw = std::fs::read(&path).expect("read the environment");
    raw.split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = String::from_utf8_lossy(e);
            let (k, v) = e.split_once('=').unwrap_or((&e, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The soft and hard limit `/proc/<pid>/limits` shows on the line that starts with `name`.
fn limit(pid: Pid, name: &str) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    let f: Vec<&str> = line[name.len()..].split_whitespace().collect();
    (f[0].to_owned(), f[1].to_owned())
}

fn pair(soft: &str, hard: &str) -> (String, String) {
    (soft.to_owned(), hard.to_owned())
}

/// The nice value: field 19 of `/proc/<pid>/stat`.
fn nice(pid: Pid) -> i32 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &text[text.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(16).unwrap().parse().unwrap()
}

/// `nobody`'s entry: home and shell.
fn nobody() -> nix::unistd::User {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(NOBODY))
        .unwrap()
        .expect("a user nobody")
}

/// A failed start left nothing: no daemon with the sandbox's tag, no PID file.
fn nothing_left(sb: &Sandbox) {
    assert_eq!(tagged(sb.dir()), Vec::<u32>::new(), "a process is left");
    assert!(!sb.path("d.pid").exists(), "the PID file is left");
}

#[test]
fn without_options_the_environment_is_inherited_but_for_the_managers_variables() {
    let sb = Sandbox::new("env-inherited");
    let env = [
        ("PATH", "/bin:/usr/bin"),
        ("HOME", "/somewhere"),
        ("ODD", "a b=c"),
        ("WATCHDOG_USEC", "1000000"),
        ("WATCHDOG_PID", "1"),
    ];
    let pid = started(&sb, ENVIRON, &[], &env);
    assert_eq!(
        environ(&sb),
        map(&[
            ("PATH", "/bin:/usr/bin"),
            ("HOME", "/somewhere"),
            ("ODD", "a b=c")
        ])
    );
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn keep_env_keeps_the_listed_names_only_and_gives_a_path() {
    let sb = Sandbox::new("env-keep");
    let env = [
        ("PATH", "/bin"),
        ("LANG", "C.UTF-8"),
        ("TZ", "UTC"),
        ("SECRET", "hunter2"),
        ("HOME", "/root"),
    ];
    let pid = started(&sb, ENVIRON, &["--keep-env", "LANG,TZ,UNSET"], &env);
    assert_eq!(
        environ(&sb),
        map(&[("LANG", "C.UTF-8"), ("TZ", "UTC"), ("PATH", SYSTEMD_PATH)])
    );
    sb.stop(pid, Signal::SIGTERM);

    let pid = started(&sb, ENVIRON, &["--keep-env", "PATH"], &env);
    assert_eq!(environ(&sb), map(&[("PATH", "/bin")]));
    sb.stop(pid, Signal::SIGTERM);

    // An empty list keeps nothing but the default PATH.
    let pid = started(&sb, ENVIRON, &["--keep-env", ""], &env);
    assert_eq!(environ(&sb), map(&[("PATH", SYSTEMD_PATH)]));
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn keep_env_refuses_a_name_no_variable_can_have_before_anything_happens() {
    let sb = Sandbox::new("env-bad-name");
    for (names, shown) in [
        ("PATH,A=B", "`A=B`, which contains `=`"),
        ("PATH,", "``, which is empty"),
        ("A\\0B", "`A\\\\x00B`, which contains a NUL byte"),
    ] {
        let start = run(
            &sb,
            ENVIRON,
            &["--pidfile", s(&sb.path("d.pid")), "--keep-env", names],
            &[],
        );
        assert_eq!(start.code, Some(78), "{start:?}");
        assert_eq!(
            one_line(&start),
            format!(
                "environ: invalid configuration: `keep_env` lists {shown}: no variable has such a name"
            )
        );
        nothing_left(&sb);
    }
}

#[test]
fn user_sets_user_logname_home_and_shell_after_keep_env() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let sb = Sandbox::new("env-user");
    let entry = nobody();
    let (home, shell) = (entry.dir.to_str().unwrap(), entry.shell.to_str().unwrap());
    let env = [
        ("PATH", "/bin"),
        ("HOME", "/root"),
        ("USER", "root"),
        ("KEEP", "1"),
    ];
    let pid = started(&sb, ENVIRON, &["--user", "nobody"], &env);
    assert_eq!(
        environ(&sb),
        map(&[
            ("PATH", "/bin"),
            ("KEEP", "1"),
            ("USER", "nobody"),
            ("LOGNAME", "nobody"),
            ("HOME", home),
            ("SHELL", shell),
        ])
    );
    sb.stop(pid, Signal::SIGTERM);

    // Listed or not, the user's variables are set after the clearing.
    let pid = started(
        &sb,
        ENVIRON,
        &["--user", "nobody", "--keep-env", "PATH"],
        &env,
    );
    assert_eq!(
        environ(&sb),
        map(&[
            ("PATH", "/bin"),
            ("USER", "nobody"),
            ("LOGNAME", "nobody"),
            ("HOME", home),
            ("SHELL", shell),
        ])
    );
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn socket_activation_variables_stay_for_the_body_and_go_otherwise() {
    let sb = Sandbox::new("env-activation");
    let pidfile = sb.path("d.pid");
    // `exec` keeps the shell's PID, so `$$` is the fixture's: the socket (here any open
    // descriptor 3) is passed to it; activation keeps it in the foreground.
    let script =
        "export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web; exec \"$0\" \"$@\" 3</dev/null";
    let mut cmd = Command::new("/bin/sh");
    let env_out = env_path(&sb);
    cmd.args([
        "-c",
        script,
        ENVIRON,
        "--pidfile",
        s(&pidfile),
        "--keep-env",
        "PATH",
    ])
    .args(["--env-out", s(&env_out)])
    .arg("--tag")
    .arg(sb.dir());
    let (mut child, pid) = support::spawn_logged(&sb, cmd, &[]);
    support::wait_until("the foreground daemon wrote its PID", || {
        read_pid(&pidfile) == Some(pid)
    });
    let seen = environ(&sb);
    assert_eq!(seen.get("LISTEN_PID"), Some(&pid.to_string()), "{seen:?}");
    assert_eq!(seen.get("LISTEN_FDS").map(String::as_str), Some("1"));
    assert_eq!(seen.get("LISTEN_FDNAMES").map(String::as_str), Some("web"));
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_file(&env_out);

    // For another process: not socket activation, so they go with the rest.
    let env = [("LISTEN_PID", "1"), ("LISTEN_FDS", "1"), ("PATH", "/bin")];
    let pid = started(&sb, ENVIRON, &["--keep-env", "PATH"], &env);
    assert_eq!(environ(&sb), map(&[("PATH", "/bin")]));
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn limits_prevent_core_and_nice_are_set_in_the_daemon() {
    let sb = Sandbox::new("env-limits");
    let pid = started(
        &sb,
        ENVIRON,
        &[
            "--limit",
            "nofile=256:512",
            "--limit",
            "nproc=1000:2000",
            "--limit",
            "memlock=65536",
            "--limit",
            "as=infinity",
            "--prevent-core",
            "--nice",
            "5",
        ],
        &[("PATH", "/bin")],
    );
    assert_eq!(limit(pid, "Max open files"), pair("256", "512"));
    assert_eq!(limit(pid, "Max processes"), pair("1000", "2000"));
    assert_eq!(limit(pid, "Max locked memory"), pair("65536", "65536"));
    assert_eq!(
        limit(pid, "Max address space"),
        pair("unlimited", "unlimited")
    );
    assert_eq!(limit(pid, "Max core file size"), pair("0", "0"));
    assert_eq!(nice(pid), 5);
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn without_options_the_limits_and_nice_value_are_inherited() {
    let sb = Sandbox::new("env-limits-inherited");
    let pid = started(&sb, ENVIRON, &[], &[("PATH", "/bin")]);
    let me = Pid::this();
    for name in [
        "Max open files",
        "Max core file size",
        "Max processes",
        "Max address space",
    ] {
        assert_eq!(limit(pid, name), limit(me, name), "{name}");
    }
    assert_eq!(nice(pid), nice(me));
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn root_raises_a_hard_limit_before_dropping_privileges() {
    if !is_root() {
        eprintln!("skipped: raising a hard limit needs root");
        return;
    }
    // Containers often run root without these (Docker's default set lacks CAP_SYS_RESOURCE).
    if !capable(24) {
        eprintln!("skipped: root here lacks CAP_SYS_RESOURCE");
        return;
    }
    let sb = Sandbox::new("env-root-limits");
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if hard >= nr_open {
        eprintln!("skipped: the hard RLIMIT_NOFILE is already fs.nr_open");
        return;
    }
    let wanted = format!("nofile={hard}:{nr_open}");
    let pid = started(&sb, ENVIRON, &["--user", "nobody", "--limit", &wanted], &[]);
    assert_eq!(
        limit(pid, "Max open files"),
        pair(&hard.to_string(), &nr_open.to_string())
    );
    assert_eq!(support::status(pid)["Uid"], "65534\t65534\t65534\t65534");
    sb.stop(pid, Signal::SIGTERM);
}

/// Whether this process has capability number `bit` in its effective set.
fn capable(bit: u32) -> bool {
    let status = support::status(Pid::this());
    u64::from_str_radix(&status["CapEff"], 16).is_ok_and(|caps| caps & (1 << bit) != 0)
}

#[test]
fn root_lowers_the_nice_value_before_dropping_privileges() {
    if !is_root() || !capable(23) {
        eprintln!("skipped: a negative nice value needs root with CAP_SYS_NICE");
        return;
    }
    let sb = Sandbox::new("env-root-nice");
    let pid = started(&sb, ENVIRON, &["--user", "nobody", "--nice", "-3"], &[]);
    assert_eq!(nice(pid), -3);
    assert_eq!(support::status(pid)["Uid"], "65534\t65534\t65534\t65534");
    sb.stop(pid, Signal::SIGTERM);
}

/// Runs the fixture as `nobody`, in a sandbox `nobody` owns.
fn run_as_nobody(sb: &Sandbox, args: &[&str]) -> Start {
    std::os::unix::fs::chown(sb.dir(), Some(NOBODY), Some(NOBODY)).unwrap();
    sb.run(ENVIRON, args, |cmd| {
        cmd.arg("--tag").arg(sb.dir());
        cmd.env_clear().env("PATH", "/bin").uid(NOBODY).gid(NOBODY);
    })
}

#[test]
fn a_limit_or_nice_value_the_kernel_refuses_fails_the_start_with_one_line() {
    if !is_root() {
        eprintln!("skipped: the test runs the start as nobody, which needs root");
        return;
    }
    let sb = Sandbox::new("env-refused");
    let pidfile = sb.path("d.pid");
    let log = sb.path("d.log");
    let (soft, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    if hard == nix::libc::RLIM_INFINITY {
        eprintln!("skipped: the hard RLIMIT_NOFILE is infinite, so cannot be raised");
        return;
    }
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .map_or(u64::MAX, |t| t.trim().parse().unwrap_or(u64::MAX));
    if hard >= nr_open {
        eprintln!("skipped: the hard RLIMIT_NOFILE is fs.nr_open, above which the start refuses");
        return;
    }
    let over = format!("{soft}:{}", hard + 1);
    let start = run_as_nobody(
        &sb,
        &[
            "--pidfile",
            s(&pidfile),
            "--stdout",
            s(&log),
            "--limit",
            &format!("nofile={over}"),
        ],
    );
    assert_eq!(start.code, Some(77), "{start:?}");
    assert_eq!(
        one_line(&start),
        format!(
            "environ: cannot set resource limit `limit_nofile = {over}`: Operation not permitted (os error 1)"
        )
    );
    nothing_left(&sb);
    assert!(!log.exists(), "the log the failed start created is left");

    let start = run_as_nobody(&sb, &["--pidfile", s(&pidfile), "--nice", "-5"]);
    assert_eq!(start.code, Some(77), "{start:?}");
    assert_eq!(
        one_line(&start),
        "environ: cannot set the nice value `nice = -5`: Permission denied (os error 13)"
    );
    nothing_left(&sb);
}

#[test]
fn limit_and_nice_values_that_can_never_work_are_refused_before_anything_happens() {
    let sb = Sandbox::new("env-invalid");
    let pidfile = sb.path("d.pid");
    for (args, line) in [
        (
            ["--limit", "nofile=lots"],
            "`limit_nofile` `lots` is not a limit: a number, `soft:hard` or `infinity`",
        ),
        (
            ["--limit", "core=2:1"],
            "`limit_core = 2:1`: the soft limit 2 is above the hard limit 1",
        ),
        (["--nice", "20"], "`nice` 20 is not within -20..=19"),
        (
            ["--limit", "core=infinity"],
            "`prevent_core` sets the core limit to 0, and `limit_core` to infinity",
        ),
    ] {
        let mut all = vec!["--pidfile", s(&pidfile), "--prevent-core"];
        all.extend_from_slice(&args);
        let start = run(&sb, ENVIRON, &all, &[]);
        assert_eq!(start.code, Some(78), "{start:?}");
        assert_eq!(
            one_line(&start),
            format!("environ: invalid configuration: {line}")
        );
        nothing_left(&sb);
    }
}

#[test]
fn the_foreground_gets_the_same_environment_limits_and_nice_value() {
    let sb = Sandbox::new("env-foreground");
    let pidfile = sb.path("d.pid");
    let mut cmd = Command::new(ENVIRON);
    cmd.args(["--foreground", "--pidfile", s(&pidfile), "--keep-env", "TZ"])
        .args(["--env-out", s(&env_path(&sb))])
        .args(["--limit", "nofile=300:400", "--prevent-core", "--nice", "4"])
        .arg("--tag")
        .arg(sb.dir())
        .env_clear()
        .env("TZ", "UTC")
        .env("DROPPED", "1");
    let (mut child, pid) = support::spawn_logged(&sb, cmd, &[]);
    support::wait_until("the foreground daemon wrote its PID", || {
        read_pid(&pidfile) == Some(pid)
    });
    support::wait_until("the body runs", || {
        std::fs::read_to_string(sb.path("service.log")).is_ok_and(|t| t.contains("environ pid="))
    });
    assert_eq!(environ(&sb), map(&[("TZ", "UTC"), ("PATH", SYSTEMD_PATH)]));
    assert_eq!(limit(pid, "Max open files"), pair("300", "400"));
    assert_eq!(limit(pid, "Max core file size"), pair("0", "0"));
    assert_eq!(nice(pid), 4);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    let _ = child.wait();
    assert!(!alive(pid));
}

#[test]
fn the_attribute_takes_the_same_options() {
    let sb = Sandbox::new("env-attribute");
    let mut args = Vec::new();
    if is_root() {
        args.extend(["--user", "nobody"]);
    } else {
        eprintln!("not root: the attribute's options are checked without `user`");
    }
    let env = [("PATH", "/bin"), ("KEPT", "yes"), ("DROPPED", "no")];
    let pid = started(&sb, ENVIRON_ATTR, &args, &env);
    let mut expected = map(&[("PATH", "/bin"), ("KEPT", "yes")]);
    if is_root() {
        let entry = nobody();
        expected.extend(map(&[
            ("USER", "nobody"),
            ("LOGNAME", "nobody"),
            ("HOME", entry.dir.to_str().unwrap()),
            ("SHELL", entry.shell.to_str().unwrap()),
        ]));
    }
    assert_eq!(environ(&sb), expected);
    assert_eq!(limit(pid, "Max open files"), pair("512", "1024"));
    assert_eq!(limit(pid, "Max processes"), pair("4096", "4096"));
    assert_eq!(
        limit(pid, "Max address space"),
        pair("unlimited", "unlimited")
    );
    assert_eq!(limit(pid, "Max core file size"), pair("0", "0"));
    assert_eq!(nice(pid), 7);
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn an_entry_without_home_or_shell_gives_slash_and_bin_sh() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let works = Command::new("unshare")
        .args(["--mount", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        eprintln!("skipped: `unshare --mount` does not work here");
        return;
    }
    let sb = Sandbox::new("env-empty-shell");
    // A user database with one more entry, empty home and shell, seen only inside a private
    // mount namespace: the machine's /etc/passwd is not touched.
    let passwd = sb.path("passwd");
    let mut text = std::fs::read_to_string("/etc/passwd").unwrap();
    text.push_str("daemonrt-bare:x:65533:65534:::\n");
    std::fs::write(&passwd, text).unwrap();
    let out = env_path(&sb);
    // The user's group is nobody's: the directory `env_path` gave nobody is group-writable.
    std::fs::set_permissions(
        out.parent().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o775),
    )
    .unwrap();
    let pidfile = sb.path("d.pid");
    let script = "mount --bind \"$1\" /etc/passwd && shift && exec \"$@\"";
    let start = sb.run(
        "unshare",
        &[
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ],
        |cmd| {
            cmd.arg(&passwd)
                .arg(ENVIRON)
                .args(["--pidfile", s(&pidfile), "--env-out", s(&out)])
                .args(["--user", "daemonrt-bare", "--keep-env", "PATH", "--tag"])
                .arg(sb.dir())
                .env_clear()
                .env("PATH", "/bin:/usr/bin");
        },
    );
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("the PID file holds the PID");
    sb.track(pid);
    assert_eq!(
        environ(&sb),
        map(&[
            ("PATH", "/bin:/usr/bin"),
            ("USER", "daemonrt-bare"),
            ("LOGNAME", "daemonrt-bare"),
            ("HOME", "/"),
            ("SHELL", "/bin/sh"),
        ])
    );
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn a_numeric_user_without_an_entry_does_not_keep_the_starters_variables() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let uid = 4242;
    if nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .unwrap()
        .is_some()
    {
        eprintln!("skipped: user ID {uid} has an entry here");
        return;
    }
    let sb = Sandbox::new("env-numeric-user");
    let out = env_path(&sb);
    std::fs::set_permissions(
        out.parent().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    // root's variables: a daemon running as 4242 must not take itself for root, nor write
    // into root's home.
    let env = [
        ("PATH", "/bin"),
        ("HOME", "/root"),
        ("USER", "root"),
        ("LOGNAME", "root"),
        ("SHELL", "/bin/bash"),
    ];
    let pid = started(&sb, ENVIRON, &["--user", "4242", "--group", "4242"], &env);
    assert_eq!(support::status(pid)["Uid"], "4242\t4242\t4242\t4242");
    assert_eq!(
        environ(&sb),
        map(&[
            ("PATH", "/bin"),
            ("USER", "4242"),
            ("LOGNAME", "4242"),
            ("HOME", "/"),
            ("SHELL", "/bin/sh"),
        ])
    );
    sb.stop(pid, Signal::SIGTERM);
}

#[test]
fn a_nofile_limit_above_nr_open_is_refused_naming_the_ceiling() {
    let Some(nr_open) = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
    else {
        eprintln!("skipped: no /proc/sys/fs/nr_open");
        return;
    };
    let sb = Sandbox::new("env-nr-open");
    let pidfile = sb.path("d.pid");
    let log = sb.path("d.log");
    // Linux refuses these even to root: the start says why, not "Operation not permitted".
    for value in ["infinity".to_owned(), format!("1024:{}", nr_open + 1)] {
        let start = run(
            &sb,
            ENVIRON,
            &[
                "--pidfile",
                s(&pidfile),
                "--stdout",
                s(&log),
                "--limit",
                &format!("nofile={value}"),
            ],
            &[],
        );
        assert_eq!(start.code, Some(78), "{start:?}");
        assert_eq!(
            one_line(&start),
            format!(
                "environ: invalid configuration: `limit_nofile = {value}`: Linux allows at most \
                 {nr_open} descriptors (`fs.nr_open`)"
            )
        );
        nothing_left(&sb);
        assert!(!log.exists(), "the failed start created the log");
    }
}

#[test]
fn a_nofile_limit_that_leaves_no_descriptor_to_open_fails_the_start() {
    let sb = Sandbox::new("env-nofile-low");
    // 0, 1 and 2 are open in any daemon: under such a soft limit, the body could open
    // nothing, not even to log. The start said "up" and the daemon died at its first `open`.
    for value in ["0", "3", "3:1024"] {
        refused_nofile(&sb, value, &[]);
    }
}

/// Starts the fixture with `limit_nofile = value` and `extra`: refused in one line, exit 78,
/// nothing left.
fn refused_nofile(sb: &Sandbox, value: &str, extra: &[&str]) {
    let pidfile = sb.path("d.pid");
    let log = sb.path("d.log");
    let limit = format!("nofile={value}");
    let mut args = vec![
        "--pidfile",
        s(&pidfile),
        "--stdout",
        s(&log),
        "--limit",
        &limit,
    ];
    args.extend_from_slice(extra);
    let start = run(sb, ENVIRON, &args, &[]);
    assert_eq!(start.code, Some(78), "{value} {extra:?}: {start:?}");
    let line = one_line(&start);
    let prefix =
        format!("environ: cannot set resource limit `limit_nofile = {value}`: descriptors 0 to ");
    assert!(line.starts_with(&prefix), "{line}");
    assert!(
        line.ends_with("are open, so the daemon could open no other"),
        "{line}"
    );
    nothing_left(sb);
    assert!(
        !log.exists(),
        "{value} {extra:?}: the failed start left the log it created"
    );
}

#[test]
fn a_foreground_start_that_fails_in_its_steps_leaves_no_log_and_says_why_on_stderr() {
    let sb = Sandbox::new("env-fg-failed");
    // The process's own stdout was the log when the step failed: the log counted as in use,
    // and stayed.
    refused_nofile(&sb, "0", &["--foreground"]);
    // The line goes to the starter's stderr, not to the log it named.
    let log = sb.path("d.log");
    let args = ["--stderr", s(&log)];
    refused_nofile(&sb, "3", &args);
    refused_nofile(&sb, "3", &[args[0], args[1], "--foreground"]);
}

#[test]
fn user_replaces_every_copy_of_its_variables_in_an_environment_with_duplicates() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let sb = Sandbox::new("env-duplicates");
    let out = env_path(&sb);
    let pidfile = sb.path("d.pid");
    // `environ` may hold a name twice (`execve` takes any list): `setenv` replaces only the
    // first, and a child that reads the last (Python's `os.environ`) saw `HOME=/evil`.
    let cstr = |t: &str| std::ffi::CString::new(t).unwrap();
    let mut argv = vec![cstr(ENVIRON)];
    for arg in [
        "--pidfile",
        s(&pidfile),
        "--env-out",
        s(&out),
        "--user",
        "nobody",
    ] {
        argv.push(cstr(arg));
    }
    argv.extend([cstr("--tag"), cstr(s(sb.dir()))]);
    let envp: Vec<std::ffi::CString> = [
        "PATH=/bin",
        "USER=root",
        "USER=evil",
        "HOME=/root",
        "HOME=/evil",
        "LOGNAME=evil",
        "LOGNAME=evil",
        "SHELL=/evil",
        "SHELL=/evil",
    ]
    .into_iter()
    .map(cstr)
    .collect();
    // The arrays are made here: after the fork, the child only calls `execve`.
    let pointers = |list: &[std::ffi::CString]| -> Vec<usize> {
        let mut p: Vec<usize> = list.iter().map(|c| c.as_ptr() as usize).collect();
        p.push(0);
        p
    };
    let (argv_p, envp_p) = (pointers(&argv), pointers(&envp));
    let (program, args, env) = (
        argv[0].as_ptr() as usize,
        argv_p.as_ptr() as usize,
        envp_p.as_ptr() as usize,
    );
    let start = sb.run(ENVIRON, &[], |cmd| {
        // SAFETY: `execve` is async-signal-safe; the pointers are to arrays this function
        // keeps alive until the child has exec'd (`run` waits for the start to end).
        unsafe {
            cmd.pre_exec(move || {
                nix::libc::execve(
                    program as *const nix::libc::c_char,
                    args as *const *const nix::libc::c_char,
                    env as *const *const nix::libc::c_char,
                );
                Err(std::io::Error::last_os_error())
            });
        }
    });
    assert_eq!(start.code, Some(0), "{start:?}");
    let pid = read_pid(&pidfile).expect("the PID file holds the PID");
    sb.track(pid);
    support::wait_until("the daemon's child printed its environment", || {
        out.exists()
    });
    let raw = std::fs::read(&out).unwrap();
    let entry = nobody();
    let mut seen: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    seen.sort();
    let mut expected = vec![
        "PATH=/bin".to_owned(),
        "USER=nobody".to_owned(),
        "LOGNAME=nobody".to_owned(),
        format!("HOME={}", entry.dir.display()),
        format!("SHELL={}", entry.shell.display()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    sb.stop(pid, Signal::SIGTERM);
    drop((argv, envp, argv_p, envp_p));
}

#[test]
fn an_exec_over_the_users_process_limit_names_the_limit() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let sb = Sandbox::new("env-nproc-exec");
    let pidfile = sb.path("d.pid");
    // Linux lets `setuid` to a user over its RLIMIT_NPROC succeed and fails the next
    // `execve` with EAGAIN, which strerror calls "Try again": no hint of the limit. Whether
    // the user is over depends on its other processes: one is kept running for the test.
    let mut other = Command::new("sleep")
        .arg("30")
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .expect("run sleep as nobody");
    for foreground in [false, true] {
        let mut args = vec!["--pidfile", s(&pidfile), "--user", "nobody"];
        args.extend(["--limit", "nproc=0", "--exec", "/bin/true"]);
        if foreground {
            args.push("--foreground");
        }
        let start = run(&sb, ENVIRON, &args, &[]);
        assert_eq!(start.code, Some(126), "{start:?}");
        assert_eq!(
            one_line(&start),
            "environ: exec failed: /bin/true: its user has reached its process limit \
             (RLIMIT_NPROC, `limit_nproc`)"
        );
        assert_eq!(tagged(sb.dir()), Vec::<u32>::new(), "a process is left");
        // In the foreground the process is `nobody` by then: the PID file in root's
        // directory stays, unlocked (see `Daemon::pidfile`).
        let _ = std::fs::remove_file(&pidfile);
    }
    let _ = nix::sys::signal::kill(Pid::from_raw(other.id() as i32), Signal::SIGKILL);
    let _ = other.wait();
}

#[test]
fn keep_env_under_systemd_still_tells_the_manager_and_hides_its_socket() {
    // The notify socket is read before the clearing: the start still reaches systemd
    // (`Type=notify` becomes active only on READY=1), and the body's children do not get it.
    let text = format!(
        "[Service]\nType=notify\nRuntimeDirectory=svc\nEnvironment=KEPT=1 DROPPED=1\n\
         ExecStart={ENVIRON} --pidfile /run/svc/svc.pid --keep-env KEPT,NOTIFY_SOCKET \
         --limit nofile=512:1024 --nice 3 --env-out /run/svc/env\n"
    );
    let Some(sd) = support::systemd::Systemd::boot("keep-env", &[("svc.service", &text)]) else {
        return;
    };
    sd.systemctl_ok(&["start", "svc.service"]);
    assert_eq!(sd.state("svc.service"), "active");
    let pid = sd.main_pid("svc.service");
    let start = std::time::Instant::now();
    let env = loop {
        if let Some(env) = sd.read("/run/svc/env") {
            break env;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "no environment written\n{}",
            sd.journal_all()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut names: Vec<&str> = env
        .split('\0')
        .filter(|e| !e.is_empty())
        .map(|e| e.split_once('=').map_or(e, |(name, _)| name))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["KEPT", "PATH"], "{env:?}");
    assert_eq!(
        sd.read_pid("/run/svc/svc.pid"),
        Some(pid),
        "the PID file names the unit's main process"
    );
    sd.systemctl_ok(&["stop", "svc.service"]);
}

#[test]
fn a_foreground_exec_that_fails_says_why_on_the_terminal_not_in_the_log() {
    let sb = Sandbox::new("env-fg-exec");
    let pidfile = sb.path("d.pid");
    let log = sb.path("d.log");
    let start = run(
        &sb,
        ENVIRON,
        &[
            "--pidfile",
            s(&pidfile),
            "--stderr",
            s(&log),
            "--foreground",
            "--exec",
            "/nonexistent/program",
        ],
        &[],
    );
    assert_eq!(start.code, Some(127), "{start:?}");
    assert_eq!(
        one_line(&start),
        "environ: exec failed: /nonexistent/program: No such file or directory"
    );
    nothing_left(&sb);
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logged.contains("exec failed"), "the line went to the log");
}
