// A crate that re-exports the runtime tells the attribute where it is.
mod rt {
    pub use daemon_rt::*;
}

#[rt::daemon(crate = "crate::rt", pidfile = "/run/a.pid")]
fn serve() {}

#[daemon_rt::daemon(crate = daemon_rt)]
fn serve_path() {}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        serve();
        serve_path();
    }
}
