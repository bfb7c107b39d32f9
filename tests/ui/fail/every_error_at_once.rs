#[daemon_rt::daemon(pid_file = "/run/x.pid", umask = 0o7777, stdout = "")]
fn serve(port: u16) {
    let _ = port;
}

fn main() {}
