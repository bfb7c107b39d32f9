#[daemon_rt::daemon(pidfile = "/run/x.pid")]
fn main() {
    let x: u32 = "not a number";
}
