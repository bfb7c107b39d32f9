#[daemon_rt::daemon]
fn serve(port: u16) {
    let _ = port;
}

fn main() {}
