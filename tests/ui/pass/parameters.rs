// A `#[daemon]` function takes parameters: the attribute's arguments read them by name, before
// daemonizing, and the body receives them whole. Fields named as places are borrowed, not
// moved out: no `Clone`, no `static`. Nothing here is called, so nothing daemonizes.
#![deny(unused_mut, unused_variables)]

use std::path::PathBuf;
use std::time::Duration;

#[derive(Default)]
struct ServeArgs {
    pidfile: Option<PathBuf>,
    log: PathBuf,
    dir: String,
    user: Option<String>,
    uid: u32,
    gid: Option<u32>,
    foreground: bool,
    timeout: Duration,
}

#[daemon_rt::daemon(
    pidfile = args.pidfile,
    stdout = args.log,
    stderr = args.log,
    working_directory = args.dir,
    user = args.user,
    group = args.gid,
    foreground = args.foreground,
    ready_timeout = args.timeout,
)]
fn serve(args: ServeArgs) -> std::io::Result<()> {
    let ServeArgs { pidfile, log, dir, .. } = args; // owned: nothing was moved out
    drop((pidfile, log, dir));
    Ok(())
}

#[daemon_rt::daemon(user = uid, pidfile = pidfile)]
fn two(mut pidfile: PathBuf, uid: u32) {
    pidfile.push("x.pid");
    let _ = uid;
}

#[daemon_rt::daemon(user = (args.uid), foreground = args.foreground)]
fn by_reference(args: &ServeArgs) -> Result<(), String> {
    let _ = &args.log;
    Ok(())
}

#[daemon_rt::daemon(pidfile = args.pidfile)]
#[tokio::main]
async fn serve_async(args: ServeArgs) {
    tokio::task::yield_now().await;
    drop(args.log);
}

struct Sinks {
    out: daemon_rt::Output,
    err: Option<daemon_rt::Output>,
}

#[daemon_rt::daemon(stdout = sinks.out, stderr = sinks.err)]
fn outputs(sinks: Sinks) {
    drop((sinks.out, sinks.err));
}

#[daemon_rt::daemon(pidfile = args.pidfile)]
fn never_returns(args: ServeArgs) -> ! {
    drop(args);
    loop {
        std::thread::park();
    }
}

// `main` takes its parameter from `args`, computed once before daemonizing. These are
// `main` in name only (inside a module), so that the fixture's own `main` does not fork.
mod sync_main {
    #[daemon_rt::daemon(args = super::ServeArgs::default(), pidfile = cli.pidfile, stdout = cli.log)]
    pub fn main(cli: super::ServeArgs) {
        drop(cli.dir);
    }
}

mod async_main {
    #[daemon_rt::daemon(args = super::ServeArgs::default(), pidfile = cli.pidfile)]
    #[tokio::main]
    pub async fn main(mut cli: super::ServeArgs) -> Result<(), std::io::Error> {
        cli.dir.push('x');
        Ok(())
    }
}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        let _ = serve(ServeArgs::default());
        two(PathBuf::new(), 0);
        let _ = by_reference(&ServeArgs::default());
        serve_async(ServeArgs::default());
        sync_main::main();
        let _ = async_main::main();
        outputs(Sinks {
            out: daemon_rt::Output::Syslog,
            err: None,
        });
        never_returns(ServeArgs::default());
    }
}
