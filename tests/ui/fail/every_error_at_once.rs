#[daemon_rt::daemon(pid_file = "/run/x.pid", umask = 0o7777, stdout = "")]
fn serve((port, _): (u16, u8)) {
    let _ = port;
}

fn main() {}
