//! A caller that is a child subreaper already (a supervisor, say) and starts a program with
//! `Daemon::exec` and `Ready::Manual`, for the test that the failed start leaves the setting
//! as it was.
//!
//! `exec_subreaper PIDFILE`: the program exits 3 before `READY=1`; prints the start's error,
//! then `subreaper true` or `subreaper false`. Linux only, as `PR_SET_CHILD_SUBREAPER` is.

#[cfg(target_os = "linux")]
fn main() {
    let pidfile = std::env::args().nth(1).expect("exec_subreaper PIDFILE");
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    let mut command = std::process::Command::new("sh");
    command.args(["-c", "exit 3"]);
    let err = daemon_rt::Daemon::new()
        .pidfile(pidfile)
        .ready(daemon_rt::Ready::Manual)
        .exec(&mut command);
    println!("{err:#}");
    let subreaper = nix::sys::prctl::get_child_subreaper().expect("PR_GET_CHILD_SUBREAPER");
    println!("subreaper {subreaper}");
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("exec_subreaper: Linux only (PR_SET_CHILD_SUBREAPER)");
    std::process::exit(2);
}
