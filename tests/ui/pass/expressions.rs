// Argument values are expressions evaluated at run time: constants, calls that read the
// tool's own CLI or environment, optional paths, closures.
use std::os::fd::AsFd as _;
use std::path::PathBuf;

const LOG: &str = "/var/log/tool.log";

struct Cli {
    pidfile: Option<PathBuf>,
    workdir: String,
}

fn cli() -> Cli {
    Cli {
        pidfile: std::env::args_os().nth(1).map(PathBuf::from),
        workdir: std::env::var("TOOL_DIR").unwrap_or_else(|_| "/".into()),
    }
}

#[daemon_rt::daemon(
    pidfile = cli().pidfile,
    stdout = LOG,
    stderr = format!("{LOG}.err"),
    stdin = std::path::Path::new("/dev/null"),
    working_directory = cli().workdir,
    umask = 0o027,
    preserve_fds = [std::io::stdin().as_fd()],
    on_started = |started| println!("{}", started.pid()),
)]
fn serve() {}

fn main() {
    if std::env::var_os("NEVER_SET_IN_TESTS").is_some() {
        serve();
    }
}
