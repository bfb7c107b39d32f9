// A parameter named like its function (`fn serve(serve: Serve)`, as a `serve` subcommand's
// arguments often are) is the parameter in the arguments and in the body, as it is without
// the attribute. Nothing here is called, so nothing daemonizes.

struct Serve {
    pidfile: Option<std::path::PathBuf>,
    port: u16,
}

#[daemon_rt::daemon(pidfile = serve.pidfile)]
fn serve(serve: Serve) -> u16 {
    serve.port
}

#[daemon_rt::daemon(pidfile = serve.pidfile)]
#[tokio::main(flavor = "current_thread")]
async fn serve_async(serve_async: Serve, serve: Serve) -> u16 {
    serve_async.port + serve.port
}

fn main() {
    let _ = (serve, serve_async);
}
