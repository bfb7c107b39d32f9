struct Cli;

#[daemon_rt::daemon(pidfile = "/run/a.pid")]
fn main(cli: Cli) {
    let Cli = cli;
}
