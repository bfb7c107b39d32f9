// `#[daemon]` above `#[tokio::main]`: the runtime is built in the daemon, after the fork.
#[daemon_rt::daemon(pidfile = "/run/a.pid")]
#[tokio::main]
async fn serve() -> std::io::Result<()> {
    tokio::task::yield_now().await;
    Ok(())
}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        let _ = serve();
    }
}
