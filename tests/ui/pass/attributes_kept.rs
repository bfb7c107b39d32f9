// The function's own attributes, docs and inner attributes are kept.
/// Runs the server.
#[allow(clippy::needless_return)]
#[inline(never)]
#[daemon_rt::daemon]
#[must_use]
fn serve() -> u8 {
    #![allow(unused_variables)]
    let unused = 1;
    return 0;
}

struct Server;

impl Server {
    /// An associated function works too: a CLI's `serve` subcommand.
    #[daemon_rt::daemon(pidfile = "/run/a.pid")]
    fn serve() {}
}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        let _ = serve();
        Server::serve();
    }
}
