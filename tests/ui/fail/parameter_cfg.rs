#[daemon_rt::daemon(pidfile = "/run/x.pid")]
fn serve(#[cfg(unix)] tls: bool, port: u16) {
    let _ = (tls, port);
}

fn main() {}
