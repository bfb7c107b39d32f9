// `#[tokio::main]` above `#[daemon]`: tokio makes the function synchronous first, and the
// daemon starts before the runtime is built.
#[tokio::main]
#[daemon_rt::daemon(pidfile = "/run/a.pid")]
async fn serve() {
    tokio::task::yield_now().await;
}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        serve();
    }
}
