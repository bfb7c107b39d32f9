#[daemon_rt::daemon]
const fn serve() {}

fn main() {}
