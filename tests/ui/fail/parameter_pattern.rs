#[daemon_rt::daemon]
fn serve((port, host): (u16, String)) {
    let _ = (port, host);
}

fn main() {}
