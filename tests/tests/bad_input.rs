//! The bad-input table: every option, every kind of file a path can name, hostile PID-file
//! contents and a hostile environment, each started once and checked from outside the
//! process against the documented behaviour (README, "Exit status of a failed start").
//!
//! A failed start must exit with the documented status and print one line that names what
//! was wrong, with its path escaped (no control byte reaches the terminal); it must leave no
//! process behind and no file changed, created or removed. A start that must succeed (a stale
//! PID file with hostile content, a service manager's variables meant for another process)
//! leaves exactly `<daemon pid>\n` in the PID file, signals no one, and the daemon stopped by
//! PID removes the file.
//!
//! Every row runs, even when some fail (a hanging start is killed after [`ROW_TIMEOUT`]);
//! the test then fails once, listing each failing row and every reason.

mod support;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{Sandbox, alive, is_root, stat, tagged};

/// How long one row's start may take; a start that hangs (a FIFO opened with no peer) is
/// killed by PID and reported, the other rows go on.
const ROW_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the whole table may take. Each row is bounded already; this is the last resort,
/// which kills what the unfinished rows started and fails with their names.
const TABLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Rows run side by side, so that the few that hang until [`ROW_TIMEOUT`] do not add up.
/// They mostly wait for processes, so more than the machine's 2 cores.
const WORKERS: usize = 4;

/// The address space each started process may use: a library that trusted
/// `$LISTEN_FDS=2147483647` would otherwise allocate gigabytes on a machine shared with others.
const ADDRESS_SPACE: u64 = 1 << 30;

/// How long a failed start's daemon may take to vanish after the starting command returned.
const GRACE: Duration = Duration::from_secs(2);

/// The user unprivileged rows run as when the test runs as root.
const NOBODY: u32 = 65534;

/// Variables through which a service manager talks to the process: removed from every row,
/// so that a test run under a service manager is not confused by its own.
const MANAGER_ENV: [&str; 3] = ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS"];

/// A file on `/proc` a row names as its PID file. It must never be written (it is the host's
/// NIS domain name): that row runs in a UTS namespace of its own, where it is a copy.
const DOMAINNAME: &str = "/proc/sys/kernel/domainname";

#[derive(Clone, Copy)]
enum Program {
    Fixture,
    Service,
}

/// Who a row must run as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Anyone,
    /// Needs root: skipped otherwise.
    Root,
    /// Runs unprivileged: as `nobody` when the test is root, in a directory of `nobody`'s
    /// where everything the row sets up is `nobody`'s. For the rows about permissions, and
    /// for those a wrong library could turn into damage as root: a PID of 0 or -1 signalled
    /// (every process of the machine), a device made a PID file (chmod'ed, removed).
    Unprivileged,
}

#[derive(Clone, Copy)]
enum Expect {
    /// The start fails with this exit status.
    Exit(i32),
    /// The start succeeds.
    Starts,
}

/// One bad input: what to set up and pass, and the documented outcome.
struct Row {
    name: &'static str,
    program: Program,
    who: Who,
    expect: Expect,
    setup: fn(&mut Case<'_>),
}

/// A start of the fixture that must fail with `code`.
fn fails(name: &'static str, code: i32, setup: fn(&mut Case<'_>)) -> Row {
    Row {
        name,
        program: Program::Fixture,
        who: Who::Anyone,
        expect: Expect::Exit(code),
        setup,
    }
}

/// A start of the fixture that must succeed.
fn starts(name: &'static str, setup: fn(&mut Case<'_>)) -> Row {
    Row {
        expect: Expect::Starts,
        ..fails(name, 0, setup)
    }
}

impl Row {
    /// Runs the service fixture (user, group, chroot, ready_timeout, reopen_logs).
    fn service(self) -> Row {
        Row {
            program: Program::Service,
            ..self
        }
    }

    fn root(self) -> Row {
        Row {
            who: Who::Root,
            ..self
        }
    }

    fn unprivileged(self) -> Row {
        Row {
            who: Who::Unprivileged,
            ..self
        }
    }
}

/// What a row's setup builds: the files in the sandbox, the arguments, the environment, what
/// the error line must name, and what the test holds open while the start runs.
struct Case<'a> {
    sb: &'a Sandbox,
    /// Where the row's files go: the sandbox, or its `home` for an unprivileged row.
    base: PathBuf,
    args: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
    /// `$LISTEN_FDS`, with `$LISTEN_PID` the started process's own PID.
    listen_fds: Option<&'static str>,
    /// The error line must contain one of these: the option or the path that was wrong.
    names: Vec<String>,
    pidfile: Option<PathBuf>,
    /// Files a successful start may create or append to.
    written: Vec<PathBuf>,
    /// Files outside the sandbox that must keep their content.
    outside: Vec<PathBuf>,
    /// FIFO ends, sockets, locks: held until the row ends.
    held: Vec<Box<dyn std::any::Any>>,
    /// A live process of the test's own whose PID a row puts in the PID file.
    unrelated: Option<Child>,
    uts_namespace: bool,
    as_nobody: bool,
}

impl Case<'_> {
    /// `name` (any bytes) in the row's directory.
    fn path(&self, name: impl AsRef<OsStr>) -> PathBuf {
        self.base.join(name.as_ref())
    }

    fn file(&self, name: impl AsRef<OsStr>, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, content).unwrap();
        path
    }

    fn mode(&self, path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn dir(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        fs::create_dir(&path).unwrap();
        path
    }

    fn fifo(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        path
    }

    /// A FIFO with the test holding its read end.
    fn fifo_with_reader(&mut self, name: &str) -> PathBuf {
        let path = self.fifo(name);
        let reader = fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        self.held.push(Box::new(reader));
        path
    }

    /// A listening Unix socket, bound at `name`.
    fn socket(&mut self, name: &str) -> PathBuf {
        let path = self.path(name);
        self.held.push(Box::new(UnixListener::bind(&path).unwrap()));
        path
    }

    fn symlink(&self, target: impl AsRef<Path>, name: &str) -> PathBuf {
        let path = self.path(name);
        std::os::unix::fs::symlink(target, &path).unwrap();
        path
    }

    /// A path of exactly `len` bytes in the sandbox, ending in `leaf`, no component longer
    /// than 255 bytes: too long as a whole (`PATH_MAX` is 4096).
    fn long_path(&self, len: usize, leaf: &str) -> PathBuf {
        let mut path = self.base.as_os_str().as_bytes().to_vec();
        path.push(b'/');
        let segment = format!("{}/", "d".repeat(100));
        while path.len() + segment.len() + leaf.len() + 100 < len {
            path.extend(segment.as_bytes());
        }
        path.extend("f".repeat(len - path.len() - leaf.len()).as_bytes());
        path.extend(leaf.as_bytes());
        assert_eq!(path.len(), len);
        PathBuf::from(OsString::from_vec(path))
    }

    fn opt(&mut self, flag: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(flag.into());
        self.args.push(value.as_ref().to_owned());
        self
    }

    fn pidfile(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.pidfile = Some(path.as_ref().to_owned());
        self.opt("--pidfile", path.as_ref())
    }

    fn env(&mut self, key: &'static str, value: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key, value.as_ref().to_owned()));
        self
    }

    /// The error line must name `what` (or another of the row's names).
    fn named(&mut self, what: impl Into<String>) -> &mut Self {
        self.names.push(what.into());
        self
    }

    /// The error line must name `path`, which is printable.
    fn named_path(&mut self, path: &Path) -> &mut Self {
        self.named(path.to_str().unwrap())
    }

    /// Starts a live process of the test's own, as the user the start runs as, which the
    /// start must not signal; returns its PID.
    fn unrelated(&mut self) -> u32 {
        // `cat` on a pipe the test holds: it ends by itself if the test dies.
        let mut cat = Command::new("cat");
        cat.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.as_nobody {
            cat.uid(NOBODY).gid(NOBODY);
        }
        let child = cat.spawn().unwrap();
        let pid = child.id();
        self.unrelated = Some(child);
        pid
    }
}

/// The table. Names are unique; each says which option and which bad value.
fn rows() -> Vec<Row> {
    vec![
        // The PID file: every kind of file its path can name.
        fails("pidfile-empty", 78, |c| {
            c.pidfile("").named("pidfile");
        }),
        fails("pidfile-nul-byte", 78, |c| {
            c.pidfile(c.path(r"nul\0.pid")).named("pidfile");
        }),
        fails("pidfile-missing-parent", 73, |c| {
            let p = c.path("absent/d.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-directory", 73, |c| {
            let p = c.dir("d.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-symlink", 73, |c| {
            let target = c.file("target", "precious\n");
            let p = c.symlink(target, "link.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-dangling-symlink", 73, |c| {
            let p = c.symlink(c.path("absent"), "dangling.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-symlink-loop", 73, |c| {
            c.symlink(c.path("loop-b"), "loop-a");
            let p = c.symlink(c.path("loop-a"), "loop-b");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-fifo-without-peer", 73, |c| {
            let p = c.fifo("fifo.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-fifo-with-reader", 73, |c| {
            let p = c.fifo_with_reader("fifo.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-dev-null", 73, |c| {
            c.pidfile("/dev/null").named("/dev/null");
        })
        .unprivileged(),
        fails("pidfile-dev-full", 73, |c| {
            c.pidfile("/dev/full").named("/dev/full");
        })
        .unprivileged(),
        fails("pidfile-socket", 73, |c| {
            let p = c.socket("sock.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-two-hard-links", 73, |c| {
            let other = c.file("other", "not a pid\n");
            let p = c.path("d.pid");
            fs::hard_link(other, &p).unwrap();
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-newline-in-path", 73, |c| {
            c.pidfile(c.path("head\nnl-tail/d.pid"))
                .named("nl-tail/d.pid");
        }),
        fails("pidfile-escape-in-path", 73, |c| {
            let p = c.path("\x1b[31mred-dir/d.pid");
            c.pidfile(p).named("[31mred-dir/d.pid");
        }),
        fails("pidfile-invalid-utf8", 73, |c| {
            c.pidfile(c.path(OsStr::from_bytes(b"\xff\xfe-bad/d.pid")))
                .named("-bad/d.pid");
        }),
        fails("pidfile-5000-bytes", 73, |c| {
            let p = c.long_path(5000, "d.pid");
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-component-over-255", 73, |c| {
            let p = c.path(format!("{}.pid", "c".repeat(256)));
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-on-proc", 73, |c| {
            // Never written for real: the row runs in a UTS namespace of its own, where the
            // domain name is a copy; and the host's must still be the same afterwards.
            c.uts_namespace = true;
            c.outside.push(DOMAINNAME.into());
            c.pidfile(DOMAINNAME).named(DOMAINNAME);
        })
        .root(),
        fails("pidfile-locked-by-another", 75, |c| {
            let p = c.file("locked.pid", "4242\n");
            let lock = fs::File::open(&p).unwrap();
            lock.lock().unwrap();
            c.held.push(Box::new(lock));
            c.pidfile(&p).named_path(&p);
        }),
        fails("pidfile-unwritable", 77, |c| {
            let p = c.path("ro.pid");
            fs::write(&p, "1\n").unwrap();
            c.mode(&p, 0o444);
            c.pidfile(&p).named_path(&p);
        })
        .unprivileged(),
        fails("pidfile-in-unwritable-dir", 77, |c| {
            let dir = c.dir("ro-dir");
            c.mode(&dir, 0o555);
            let p = dir.join("d.pid");
            c.pidfile(&p).named_path(&p);
        })
        .unprivileged(),
        fails("pidfile-in-dir-of-other-user", 77, |c| {
            let dir = c.dir("theirs");
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
            let p = dir.join("d.pid");
            c.pidfile(&p).named_path(&p);
        })
        .root(),
        fails("pidfile-in-world-writable-dir", 77, |c| {
            let dir = c.dir("open");
            c.mode(&dir, 0o777);
            let p = dir.join("d.pid");
            c.pidfile(&p).named_path(&p);
        })
        .root(),
        // Stale PID files (nobody holds the lock) with hostile content: taken over.
        starts("stale-pidfile-empty", |c| {
            c.pidfile(c.file("stale.pid", ""));
        })
        .unprivileged(),
        starts("stale-pidfile-zero", |c| {
            c.pidfile(c.file("stale.pid", "0"));
        })
        .unprivileged(),
        starts("stale-pidfile-minus-one", |c| {
            c.pidfile(c.file("stale.pid", "-1"));
        })
        .unprivileged(),
        starts("stale-pidfile-2-pow-32", |c| {
            c.pidfile(c.file("stale.pid", "4294967296"));
        })
        .unprivileged(),
        starts("stale-pidfile-1mib-garbage", |c| {
            c.pidfile(c.file("stale.pid", garbage(1 << 20)));
        })
        .unprivileged(),
        starts("stale-pidfile-nul-bytes", |c| {
            c.pidfile(c.file("stale.pid", [0u8; 4096]));
        })
        .unprivileged(),
        starts("stale-pidfile-live-unrelated-pid", |c| {
            let pid = c.unrelated();
            c.pidfile(c.file("stale.pid", format!("{pid}\n")));
        })
        .unprivileged(),
        starts("stale-pidfile-pid-without-newline", |c| {
            let pid = c.unrelated();
            c.pidfile(c.file("stale.pid", pid.to_string()));
        })
        .unprivileged(),
        starts("stale-pidfile-two-lines", |c| {
            c.pidfile(c.file("stale.pid", "123\n456\n"));
        })
        .unprivileged(),
        // stdin.
        fails("stdin-empty", 78, |c| {
            c.opt("--stdin", "").named("stdin");
        }),
        fails("stdin-nul-byte", 78, |c| {
            c.opt("--stdin", c.path(r"nul\0.in")).named("stdin");
        }),
        fails("stdin-missing", 66, |c| {
            let p = c.path("absent.in");
            c.opt("--stdin", &p).named_path(&p);
        }),
        fails("stdin-missing-parent", 66, |c| {
            let p = c.path("absent/d.in");
            c.opt("--stdin", &p).named_path(&p);
        }),
        fails("stdin-parent-not-a-directory", 66, |c| {
            let p = c.file("plain", "").join("d.in");
            c.opt("--stdin", &p).named_path(&p);
        }),
        fails("stdin-dangling-symlink", 66, |c| {
            let p = c.symlink(c.path("absent"), "dangling.in");
            c.opt("--stdin", &p).named_path(&p);
        }),
        fails("stdin-newline-in-path", 66, |c| {
            c.opt("--stdin", c.path("head\nnl-tail.in"))
                .named("nl-tail.in");
        }),
        fails("stdin-unreadable", 77, |c| {
            let p = c.path("secret.in");
            fs::write(&p, "secret\n").unwrap();
            c.mode(&p, 0o000);
            c.opt("--stdin", &p).named_path(&p);
        })
        .unprivileged(),
        // stdout and stderr.
        fails("stdout-empty", 78, |c| {
            c.opt("--stdout", "").named("stdout");
        }),
        fails("stderr-empty", 78, |c| {
            c.opt("--stderr", "").named("stderr");
        }),
        fails("stdout-nul-byte", 78, |c| {
            c.opt("--stdout", c.path(r"nul\0.log")).named("stdout");
        }),
        fails("stderr-nul-byte", 78, |c| {
            c.opt("--stderr", c.path(r"nul\0.log")).named("stderr");
        }),
        fails("stdout-missing-parent", 73, |c| {
            let p = c.path("absent/out.log");
            c.opt("--stdout", &p).named_path(&p);
        }),
        fails("stdout-directory", 73, |c| {
            let p = c.dir("out.log");
            c.opt("--stdout", &p).named_path(&p);
        }),
        fails("stderr-directory", 73, |c| {
            let p = c.dir("err.log");
            c.opt("--stderr", &p).named_path(&p);
        }),
        fails("stdout-fifo-without-reader", 73, |c| {
            let p = c.fifo("out.fifo");
            c.opt("--stdout", &p).named_path(&p);
        }),
        fails("stderr-fifo-without-reader", 73, |c| {
            let p = c.fifo("err.fifo");
            c.opt("--stderr", &p).named_path(&p);
        }),
        starts("stdout-fifo-with-reader", |c| {
            let p = c.fifo_with_reader("out.fifo");
            c.opt("--stdout", &p);
        }),
        fails("stdout-socket", 73, |c| {
            let p = c.socket("out.sock");
            c.opt("--stdout", &p).named_path(&p);
        }),
        fails("stdout-symlink-loop", 73, |c| {
            c.symlink(c.path("loop-b"), "loop-a");
            let p = c.symlink(c.path("loop-a"), "loop-b");
            c.opt("--stdout", &p).named_path(&p);
        }),
        fails("stdout-5000-bytes", 73, |c| {
            let p = c.long_path(5000, "out.log");
            c.opt("--stdout", &p).named_path(&p);
        }),
        fails("stderr-component-over-255", 73, |c| {
            let p = c.path(format!("{}.log", "c".repeat(256)));
            c.opt("--stderr", &p).named_path(&p);
        }),
        fails("stdout-escape-in-path", 73, |c| {
            let p = c.path("\x1b[31mred-logs/out.log");
            c.opt("--stdout", p).named("[31mred-logs/out.log");
        }),
        fails("stderr-invalid-utf8", 73, |c| {
            let p = c.path(OsStr::from_bytes(b"\xff-logs/err.log"));
            c.opt("--stderr", p).named("-logs/err.log");
        }),
        starts("stdout-dev-null", |c| {
            c.opt("--stdout", "/dev/null");
        }),
        starts("stdout-same-as-stderr", |c| {
            let p = c.path("both.log");
            c.written.push(p.clone());
            c.opt("--stdout", &p).opt("--stderr", &p);
        }),
        fails("stdout-unwritable", 77, |c| {
            let p = c.path("ro.log");
            fs::write(&p, "kept\n").unwrap();
            c.mode(&p, 0o444);
            c.opt("--stdout", &p).named_path(&p);
        })
        .unprivileged(),
        fails("stdout-in-world-writable-dir", 77, |c| {
            let dir = c.dir("open");
            c.mode(&dir, 0o777);
            let p = dir.join("out.log");
            c.opt("--stdout", &p).named_path(&p);
        })
        .root(),
        fails("stderr-in-dir-of-other-user", 77, |c| {
            let dir = c.dir("theirs");
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
            let p = dir.join("err.log");
            c.opt("--stderr", &p).named_path(&p);
        })
        .root(),
        // One file for two roles.
        fails("pidfile-is-stdout", 78, |c| {
            let p = c.path("same");
            c.pidfile(&p).opt("--stdout", &p).named("stdout");
        }),
        fails("pidfile-is-stderr", 78, |c| {
            let p = c.path("same");
            c.pidfile(&p).opt("--stderr", &p).named("stderr");
        }),
        fails("pidfile-is-stdin", 78, |c| {
            let p = c.file("same", "input\n");
            c.pidfile(&p).opt("--stdin", &p).named("stdin");
        }),
        fails("pidfile-is-stdout-spelled-otherwise", 78, |c| {
            let (p, respelled) = (c.path("same"), c.path("./same"));
            c.pidfile(&p).opt("--stdout", respelled).named("stdout");
        }),
        fails("stdin-is-stdout", 78, |c| {
            let p = c.file("same", "input\n");
            c.opt("--stdin", &p).opt("--stdout", &p).named("stdout");
        }),
        fails("stdin-is-stderr", 78, |c| {
            let p = c.file("same", "input\n");
            c.opt("--stdin", &p).opt("--stderr", &p).named("stderr");
        }),
        // The working directory.
        fails("workdir-empty", 78, |c| {
            c.opt("--workdir", "").named("working_directory");
        }),
        fails("workdir-nul-byte", 78, |c| {
            c.opt("--workdir", c.path(r"nul\0dir"))
                .named("working_directory");
        }),
        fails("workdir-missing", 66, |c| {
            let p = c.path("absent");
            c.opt("--workdir", &p).named_path(&p);
        }),
        fails("workdir-is-a-file", 66, |c| {
            let p = c.file("plain", "kept\n");
            c.opt("--workdir", &p).named_path(&p);
        }),
        fails("workdir-dangling-symlink", 66, |c| {
            let p = c.symlink(c.path("absent"), "dangling");
            c.opt("--workdir", &p).named_path(&p);
        }),
        fails("workdir-newline-in-path", 66, |c| {
            c.opt("--workdir", c.path("head\nnl-tail")).named("nl-tail");
        }),
        fails("workdir-not-searchable", 77, |c| {
            let p = c.dir("locked");
            c.mode(&p, 0o000);
            c.opt("--workdir", &p).named_path(&p);
        })
        .unprivileged(),
        // chroot.
        fails("chroot-empty", 78, |c| {
            c.opt("--chroot", "").named("chroot");
        })
        .service(),
        fails("chroot-nul-byte", 78, |c| {
            c.opt("--chroot", c.path(r"nul\0root")).named("chroot");
        })
        .service(),
        fails("chroot-missing", 66, |c| {
            let p = c.path("absent");
            c.opt("--chroot", &p).named_path(&p);
        })
        .service(),
        fails("chroot-is-a-file", 66, |c| {
            let p = c.file("plain", "kept\n");
            c.opt("--chroot", &p).named_path(&p);
        })
        .service(),
        fails("chroot-dangling-symlink", 66, |c| {
            let p = c.symlink(c.path("absent"), "dangling");
            c.opt("--chroot", &p).named_path(&p);
        })
        .service(),
        // umask.
        fails("umask-0o1000", 78, |c| {
            c.opt("--umask", "1000").named("umask");
        }),
        fails("umask-u32-max", 78, |c| {
            c.opt("--umask", "37777777777").named("umask");
        }),
        // preserve_fds.
        fails("preserve-fd-0", 78, |c| {
            c.opt("--preserve-fd", "0").named("preserve_fds");
        }),
        fails("preserve-fd-1", 78, |c| {
            c.opt("--preserve-fd", "1").named("preserve_fds");
        }),
        fails("preserve-fd-2", 78, |c| {
            c.opt("--preserve-fd", "2").named("preserve_fds");
        }),
        // A negative number cannot be given: `preserve_fds` takes descriptors (`AsFd`).
        fails("preserve-fd-closed", 78, |c| {
            c.opt("--preserve-fd", "77").named("preserve_fds");
        }),
        fails("preserve-fd-i32-max", 78, |c| {
            c.opt("--preserve-fd", "2147483647").named("preserve_fds");
        }),
        // user and group.
        fails("user-unknown", 67, |c| {
            c.opt("--user", "no-such-user-x").named("no-such-user-x");
        })
        .service(),
        fails("group-unknown", 67, |c| {
            c.opt("--group", "no-such-group-x").named("no-such-group-x");
        })
        .service(),
        fails("user-empty", 67, |c| {
            c.opt("--user", "").named("user");
        })
        .service(),
        fails("user-unknown-uid-without-group", 67, |c| {
            c.opt("--user", "4000000000").named("4000000000");
        })
        .service(),
        fails("user-nul-byte", 78, |c| {
            c.opt("--user", r"ro\0ot").named("user");
        })
        .service(),
        fails("group-nul-byte", 78, |c| {
            c.opt("--group", r"ro\0ot").named("group");
        })
        .service(),
        fails("user-escape-in-name", 67, |c| {
            c.opt("--user", "\x1b[31mevil-user").named("[31mevil-user");
        })
        .service(),
        fails("user-other-than-self", 77, |c| {
            c.opt("--user", "root").named("user").named("UID 0");
        })
        .service()
        .unprivileged(),
        fails("group-other-than-self", 77, |c| {
            c.opt("--group", "root").named("group").named("GID 0");
        })
        .service()
        .unprivileged(),
        // ready_timeout and reopen_logs.
        fails("ready-timeout-zero", 78, |c| {
            c.opt("--ready-timeout-ms", "0").named("ready_timeout");
        })
        .service(),
        fails("reopen-logs-sigterm", 78, |c| {
            c.opt("--reopen-on", "term").named("reopen_logs");
        })
        .service(),
        fails("reopen-logs-sigint", 78, |c| {
            c.opt("--reopen-on", "int").named("reopen_logs");
        })
        .service(),
        fails("reopen-logs-sigkill", 78, |c| {
            c.opt("--reopen-on", "kill").named("reopen_logs");
        })
        .service(),
        fails("reopen-logs-sigstop", 78, |c| {
            c.opt("--reopen-on", "stop").named("reopen_logs");
        })
        .service(),
        // $NOTIFY_SOCKET.
        fails("notify-socket-garbage", 78, |c| {
            c.env("NOTIFY_SOCKET", "garbage").named("NOTIFY_SOCKET");
        }),
        fails("notify-socket-nonexistent-path", 71, |c| {
            c.env("NOTIFY_SOCKET", "/nonexistent/sock")
                .named("NOTIFY_SOCKET")
                .named("/nonexistent/sock");
        }),
        fails("notify-socket-at-alone", 78, |c| {
            c.env("NOTIFY_SOCKET", "@").named("NOTIFY_SOCKET");
        }),
        fails("notify-socket-5000-bytes", 78, |c| {
            c.env("NOTIFY_SOCKET", format!("/{}", "s".repeat(4999)))
                .named("NOTIFY_SOCKET");
        }),
        // $LISTEN_PID and $LISTEN_FDS.
        fails("listen-fds-i32-max", 78, |c| {
            c.listen_fds = Some("2147483647");
            c.named("LISTEN_FDS");
        }),
        fails("listen-fds-negative", 78, |c| {
            c.listen_fds = Some("-1");
            c.named("LISTEN_FDS");
        }),
        fails("listen-fds-not-a-number", 78, |c| {
            c.listen_fds = Some("abc");
            c.named("LISTEN_FDS");
        }),
        fails("listen-fds-names-closed-fd", 78, |c| {
            c.listen_fds = Some("1");
            c.named("LISTEN_FDS");
        }),
        starts("listen-pid-of-another-process", |c| {
            c.env("LISTEN_PID", "1").env("LISTEN_FDS", "1");
        }),
    ]
}

/// `len` bytes of deterministic noise.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What a row came to.
enum Outcome {
    Passed,
    Failed(Vec<String>),
    Skipped(&'static str),
}

/// The sandboxes of the rows still running, for the table's watchdog.
static RUNNING: Mutex<BTreeMap<usize, PathBuf>> = Mutex::new(BTreeMap::new());

#[test]
fn every_bad_input_is_refused_cleanly_or_started_cleanly() {
    let rows = Arc::new(rows());
    let mut names = std::collections::BTreeSet::new();
    for row in rows.iter() {
        assert!(names.insert(row.name), "two rows are named {}", row.name);
    }
    assert!(rows.len() >= 60, "the table has {} rows", rows.len());

    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for _ in 0..WORKERS {
        let (rows, next, tx) = (Arc::clone(&rows), Arc::clone(&next), tx.clone());
        std::thread::spawn(move || {
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(row) = rows.get(index) else { break };
                let began = Instant::now();
                let outcome = std::panic::catch_unwind(|| run(index, row))
                    .unwrap_or_else(|panic| Outcome::Failed(vec![panic_message(&panic)]));
                RUNNING.lock().unwrap().remove(&index);
                if tx.send((index, outcome, began.elapsed())).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let deadline = Instant::now() + TABLE_TIMEOUT;
    let mut outcomes: Vec<Option<(Outcome, Duration)>> = rows.iter().map(|_| None).collect();
    while outcomes.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((index, outcome, took)) => outcomes[index] = Some((outcome, took)),
            Err(_) => break,
        }
    }
    // The last resort: whatever the unfinished rows started is killed by PID.
    for tag in RUNNING.lock().unwrap().values() {
        for pid in tagged(tag) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }

    let mut failed = Vec::new();
    for (row, outcome) in rows.iter().zip(outcomes) {
        match outcome {
            Some((Outcome::Passed, took)) => eprintln!("ok      {} ({took:.1?})", row.name),
            Some((Outcome::Skipped(why), _)) => eprintln!("skipped {}: {why}", row.name),
            Some((Outcome::Failed(reasons), took)) => {
                eprintln!("FAILED  {} ({took:.1?})", row.name);
                failed.push(format!("{}: {}", row.name, reasons.join("; ")));
            }
            None => failed.push(format!(
                "{}: did not finish within the table's {TABLE_TIMEOUT:?}",
                row.name
            )),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} bad-input rows failed:\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    format!("the row panicked: {}", shorten(text))
}

/// Runs one row in a sandbox of its own and checks everything the table promises.
fn run(index: usize, row: &Row) -> Outcome {
    let as_nobody = match (row.who, is_root()) {
        (Who::Root, false) => return Outcome::Skipped("needs root"),
        (Who::Unprivileged, true) => true,
        _ => false,
    };
    // Named by number: an option's name in the sandbox's path would satisfy the check that
    // the error line names that option.
    let sb = Sandbox::new(&format!("bi-{index}"));
    RUNNING.lock().unwrap().insert(index, sb.dir().to_owned());
    let base = match row.who {
        Who::Unprivileged => sb.path("home"),
        _ => sb.dir().to_owned(),
    };
    fs::create_dir_all(&base).unwrap();
    let mut case = Case {
        sb: &sb,
        base,
        args: Vec::new(),
        env: Vec::new(),
        listen_fds: None,
        names: Vec::new(),
        pidfile: None,
        written: Vec::new(),
        outside: Vec::new(),
        held: Vec::new(),
        unrelated: None,
        uts_namespace: false,
        as_nobody,
    };
    (row.setup)(&mut case);
    if case.pidfile.is_none() {
        case.pidfile(case.path("valid.pid"));
    }
    if as_nobody {
        give_to_nobody(&case.base);
    }
    let problems = check(row, &case);
    if let Some(mut child) = case.unrelated.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(case);
    open_up(sb.dir());
    match problems.is_empty() {
        true => Outcome::Passed,
        false => Outcome::Failed(problems),
    }
}

/// Starts the row's program and checks the outcome; returns every problem found.
fn check(row: &Row, case: &Case<'_>) -> Vec<String> {
    let sb = case.sb;
    let (program, prefix) = match row.program {
        Program::Fixture => (support::FIXTURE, "fixture: "),
        Program::Service => (support::SERVICE, "service: "),
    };
    let mut args = case.args.clone();
    args.extend(["--tag".into(), sb.dir().into()]);
    let (exe, args) = match case.listen_fds {
        // The shell's PID is the one the program will have, once it execs.
        Some(_) => {
            let script = r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#;
            let mut shell: Vec<OsString> = vec!["-c".into(), script.into(), program.into()];
            shell.extend(args);
            ("/bin/sh", shell)
        }
        None => (program, args),
    };
    let pidfile = case.pidfile.clone().unwrap();
    let before = snapshot(sb.dir());
    let outside_before: Vec<_> = case.outside.iter().map(fs::read).map(Result::ok).collect();
    let (env, listen_fds) = (case.env.clone(), case.listen_fds);
    let (uts, nobody) = (case.uts_namespace, case.as_nobody);

    let ran = sb.run_within(exe, &args, ROW_TIMEOUT, |cmd| {
        for key in MANAGER_ENV {
            cmd.env_remove(key);
        }
        cmd.envs(env);
        if let Some(count) = listen_fds {
            cmd.env("LISTEN_FDS", count);
        }
        if nobody {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        // SAFETY: between fork and exec only async-signal-safe calls: setrlimit, unshare and
        // close are plain system calls; nothing is allocated.
        unsafe {
            cmd.pre_exec(move || {
                use nix::sys::resource::{Resource, setrlimit};
                setrlimit(Resource::RLIMIT_AS, ADDRESS_SPACE, ADDRESS_SPACE)?;
                if uts {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS)?;
                }
                if listen_fds.is_some() {
                    // Descriptor 3 must not be open, whatever the test inherited. `libc`:
                    // nix's `close` takes an owned descriptor, and this one may not be open.
                    nix::libc::close(3);
                }
                Ok(())
            });
        }
    });

    let mut problems = Vec::new();
    match &ran {
        Err(hung_or_unrun) => problems.push(hung_or_unrun.clone()),
        Ok((starter, out)) => match row.expect {
            Expect::Exit(code) => {
                problems.extend(check_failure(out, code, prefix, &case.names));
            }
            Expect::Starts => {
                problems.extend(check_started(sb, out, *starter, &pidfile));
            }
        },
    }

    // Nothing of the row left running (a failed daemon may still be on its way out).
    let deadline = Instant::now() + GRACE;
    let mut left = sb.leftovers();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        left = sb.leftovers();
    }
    if !left.is_empty() {
        problems.push(format!("processes left running: {left:?}"));
        // Stopped as a daemon is, so that what is found next is what the start left, not
        // what SIGKILL did; then killed if need be.
        end(sb, &left, Signal::SIGTERM);
        end(sb, &sb.leftovers(), Signal::SIGKILL);
    }

    // Nothing clobbered, nothing created, nothing removed; after a start, the PID file is
    // gone once the daemon stopped and the log files it was given may have grown.
    let after = snapshot(sb.dir());
    let mut ignored = case.written.clone();
    if matches!(row.expect, Expect::Starts) {
        ignored.push(pidfile.clone());
    }
    problems.extend(diff(&before, &after, &ignored));
    for (path, was) in case.outside.iter().zip(outside_before) {
        if fs::read(path).ok() != was {
            problems.push(format!("{} was changed", show(path)));
        }
    }

    if let Some(child) = &case.unrelated {
        let pid = Pid::from_raw(child.id() as i32);
        if !alive(pid) || stat(pid).state == 'T' {
            problems.push(format!("the unrelated process {pid} was signalled"));
        }
    }
    problems
}

/// Sends `signal` to `pids` and waits (a little) until none of the sandbox's is left.
fn end(sb: &Sandbox, pids: &[u32], signal: Signal) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid as i32), signal);
    }
    let deadline = Instant::now() + GRACE;
    while !sb.leftovers().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A failed start: the exit status, and one clean line on stderr that names what was wrong.
fn check_failure(out: &Output, code: i32, prefix: &str, names: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if out.status.code() != Some(code) {
        problems.push(format!("{}, not {code}", status(out)));
    }
    if !out.stdout.is_empty() {
        problems.push(format!(
            "stdout is not empty: {}",
            shorten_bytes(&out.stdout)
        ));
    }
    let mut wrong = Vec::new();
    let err = &out.stderr;
    let line = err.strip_suffix(b"\n").unwrap_or(err);
    if line.is_empty() {
        wrong.push("is empty");
    } else if !err.ends_with(b"\n") || line.contains(&b'\n') {
        wrong.push("is not one line ending in a newline");
    }
    if line.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f) {
        wrong.push("holds control bytes");
    }
    let text = String::from_utf8_lossy(line);
    if std::str::from_utf8(line).is_err() {
        wrong.push("is not UTF-8 (a path printed raw)");
    }
    if text.chars().any(|ch| ('\u{80}'..='\u{9f}').contains(&ch)) {
        wrong.push("holds C1 control characters");
    }
    if !line.is_empty() && !text.starts_with(prefix) {
        wrong.push("does not start with the program's name");
    }
    if text.contains("panicked") || text.contains("RUST_BACKTRACE") {
        wrong.push("tells of a panic");
    }
    if !line.is_empty() && !names.iter().any(|name| text.contains(name.as_str())) {
        wrong.push("names none of the expected");
    }
    if !wrong.is_empty() {
        problems.push(format!(
            "stderr {} {names:?}: {}",
            wrong.join(", "),
            shorten_bytes(err)
        ));
    }
    problems
}

/// A start that must succeed: exit 0 and silence, exactly `<daemon pid>\n` in the PID file,
/// and the daemon, stopped by PID, removes it.
fn check_started(sb: &Sandbox, out: &Output, starter: u32, pidfile: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if out.status.code() != Some(0) {
        problems.push(format!(
            "{}, not 0: {}",
            status(out),
            shorten_bytes(&out.stderr)
        ));
        return problems;
    }
    if !out.stdout.is_empty() || !out.stderr.is_empty() {
        problems.push(format!(
            "output from a clean start: {} {}",
            shorten_bytes(&out.stdout),
            shorten_bytes(&out.stderr)
        ));
    }
    let content = fs::read(pidfile).unwrap_or_default();
    let pid = std::str::from_utf8(&content)
        .ok()
        .and_then(|text| text.strip_suffix('\n'))
        .and_then(|digits| digits.parse::<i32>().ok())
        .filter(|pid| content == format!("{pid}\n").as_bytes());
    let Some(pid) = pid.map(Pid::from_raw) else {
        problems.push(format!(
            "the PID file holds {}, not `<pid>\\n`",
            shorten_bytes(&content)
        ));
        return problems;
    };
    let tag = sb.dir().as_os_str().as_bytes();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if pid.as_raw() as u32 == starter || !cmdline.split(|&b| b == 0).any(|arg| arg == tag) {
        problems.push(format!("the PID file names {pid}, which is not the daemon"));
        return problems;
    }
    sb.track(pid);
    sb.stop(pid, Signal::SIGTERM);
    if pidfile.symlink_metadata().is_ok() {
        problems.push("the PID file is still there after the daemon stopped".to_owned());
    }
    problems
}

fn status(out: &Output) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (out.status.code(), out.status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "no exit status".to_owned(),
    }
}

/// One entry of a directory tree, as far as "clobbered" goes.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    File {
        mode: u32,
        links: u64,
        /// `None` when the test cannot read it (mode 0 and not root).
        content: Option<Vec<u8>>,
        len: u64,
    },
    Link(PathBuf),
    /// A directory, FIFO, socket or device: its type and permissions.
    Other(u32),
}

impl Node {
    /// What differs from `other`, in words.
    fn changes(&self, other: &Node) -> String {
        match (self, other) {
            (
                Node::File {
                    mode,
                    links,
                    content,
                    len,
                },
                Node::File {
                    mode: mode2,
                    links: links2,
                    content: content2,
                    len: len2,
                },
            ) => {
                let mut what = Vec::new();
                if len != len2 {
                    what.push(format!("size {len} -> {len2}"));
                }
                if content != content2 {
                    let show = |c: &Option<Vec<u8>>| match c {
                        Some(bytes) => shorten_bytes(&bytes[..bytes.len().min(60)]),
                        None => "(unreadable)".to_owned(),
                    };
                    what.push(format!("content {} -> {}", show(content), show(content2)));
                }
                if mode != mode2 {
                    what.push(format!("mode {mode:o} -> {mode2:o}"));
                }
                if links != links2 {
                    what.push(format!("links {links} -> {links2}"));
                }
                what.join(", ")
            }
            (was, is) => format!("{was:?} -> {is:?}"),
        }
    }
}

/// Every entry under `root`, symbolic links not followed, FIFOs not opened.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut tree = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            let node = if meta.is_file() {
                Node::File {
                    mode: meta.mode(),
                    links: meta.nlink(),
                    content: fs::read(&path).ok(),
                    len: meta.len(),
                }
            } else if meta.is_symlink() {
                Node::Link(fs::read_link(&path).unwrap_or_default())
            } else {
                if meta.is_dir() {
                    todo.push(path.clone());
                }
                Node::Other(meta.mode())
            };
            tree.insert(path, node);
        }
    }
    tree
}

/// What changed between two snapshots, but for `ignored` paths.
fn diff(
    before: &BTreeMap<PathBuf, Node>,
    after: &BTreeMap<PathBuf, Node>,
    ignored: &[PathBuf],
) -> Vec<String> {
    let mut paths: Vec<&PathBuf> = before.keys().chain(after.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|path| !ignored.contains(path))
        .filter_map(|path| match (before.get(path), after.get(path)) {
            (Some(_), None) => Some(format!("{} was removed", show(path))),
            (None, Some(_)) => Some(format!("{} was created", show(path))),
            (Some(was), Some(is)) if was != is => {
                Some(format!("{} was changed: {}", show(path), was.changes(is)))
            }
            _ => None,
        })
        .collect()
}

/// Makes `nobody` the owner of `root` and everything under it, as if `nobody` had made them.
fn give_to_nobody(root: &Path) {
    let owner = (Some(NOBODY), Some(NOBODY));
    std::os::unix::fs::lchown(root, owner.0, owner.1).unwrap();
    for path in snapshot(root).into_keys() {
        std::os::unix::fs::lchown(&path, owner.0, owner.1).unwrap();
    }
}

/// Makes every directory under `root` writable again, so that the sandbox can be removed
/// (a test that is not root cannot empty a directory of mode 0o555).
fn open_up(root: &Path) {
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o755));
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(entry.path());
            }
        }
    }
}

fn show(path: &Path) -> String {
    shorten(&format!("{path:?}"))
}

/// `bytes` quoted, with every byte that is not printable ASCII escaped, as it was written.
fn shorten_bytes(bytes: &[u8]) -> String {
    shorten(&format!("\"{}\"", bytes.escape_ascii()))
}

/// At most 300 characters of `text`: a 5000-byte path would drown the summary.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}
