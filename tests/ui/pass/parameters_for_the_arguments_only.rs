// A parameter that only the attribute's arguments read (the PID file, the log) is used: no
// `unused_variables` warning, which `-D warnings` would turn into a failed build. A lifetime
// parameter is no generic type: `fn serve<'a>(cli: &'a Cli)` is accepted. `Self` in an item
// the body declares is that item's, not an `impl`'s the attribute refuses. Nothing here is
// called, so nothing daemonizes.
#![deny(unused_variables, unused_mut)]

use std::path::PathBuf;

struct Cli {
    pidfile: PathBuf,
    port: u16,
}

#[daemon_rt::daemon(pidfile = pidfile, stderr = log, foreground = foreground)]
fn serve(pidfile: PathBuf, log: Option<PathBuf>, foreground: bool, port: u16) {
    let _ = port;
}

#[daemon_rt::daemon(pidfile = cli.pidfile)]
fn borrowed<'a>(cli: &'a Cli) -> u16 {
    cli.port
}

#[daemon_rt::daemon]
fn items() -> usize {
    struct Node(Option<Box<Self>>);
    struct List {
        head: Option<Box<Self>>,
    }
    impl List {
        fn new() -> Self {
            Self { head: None }
        }
    }
    trait Len {
        fn len(&self) -> usize;
        fn of(this: &Self) -> usize {
            this.len()
        }
    }
    let Node(next) = Node(None);
    usize::from(next.is_none()) + usize::from(List::new().head.is_none())
}

fn main() {
    let _ = (serve, borrowed, items);
}
