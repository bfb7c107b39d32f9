//! A log path that is a symlink to a file that does not exist: the start never creates a file
//! through a symlink (a planted link would make a root start write where the planter chose),
//! and says so in its one line, naming the link and where it leads.

mod support;

use std::fs;

use support::{Sandbox, one_line, s};

const AFTER: &str = env!("CARGO_BIN_EXE_after");

#[test]
fn a_dangling_symlink_as_the_log_is_refused_by_its_name() {
    let sb = Sandbox::new("dangling-log");
    let pidfile = sb.path("d.pid");
    let link = sb.path("err.log");
    let target = sb.path("logs/err.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let start = sb.run(
        AFTER,
        &[
            "--pidfile",
            s(&pidfile),
            "--stderr",
            s(&link),
            "--tag",
            s(sb.dir()),
        ],
        |_| {},
    );
    assert_eq!(start.code, Some(73), "{start:?}");
    assert_eq!(
        one_line(&start),
        format!(
            "after: cannot open stderr file `{}`: it is a symlink to `{}`, which does not \
             exist, and a start never creates a file through a symlink",
            link.display(),
            target.display()
        )
    );
    assert!(sb.leftovers().is_empty(), "a process was left");
    assert!(!pidfile.exists(), "a PID file was left");
    assert!(!target.exists(), "the link's target was created");
    assert!(fs::symlink_metadata(&link).is_ok(), "the link was removed");
}
