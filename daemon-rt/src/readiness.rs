//! Steps 14 and 15: the pipe that tells the starting process whether the daemon is up.
//!
//! The pipe is made before the first fork. The daemon writes one message: `R` and its PID when
//! it is ready, or `E` and the encoded [`Error`] when a step or its own initialisation failed.
//! With [`Ready::Manual`](crate::Ready::Manual), where the starting process may give up
//! waiting, the intermediate child first writes `P` and the daemon's PID as it forks it, so
//! that the starter always knows which process to stop. The starting process reads the pipe
//! and only then exits, 0 or the error's code. If the daemon dies without writing, the pipe
//! reaches end-of-file and the starter reports that instead of a false success.
//!
//! Message layout (integers little-endian):
//! - `R`, pid: u32
//! - `P`, pid: u32 (then `R` or `E` follows)
//! - `X`, pid: u32: the daemon is about to `exec` a program; end-of-file after it, with no
//!   `E`, means the `exec` succeeded (the pipe is close-on-exec)
//! - `E`, len: u32, then `len` bytes: step: u8, kind: u8, errno: i32, pid: u32,
//!   path_len: u32, path bytes, reason bytes (UTF-8, empty when errno is set)

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _, RawFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Context as _, Error, ErrorKind, Step};
use crate::stdio::above_stdio;

/// The starting process's end: waits for the daemon's message.
#[derive(Debug)]
pub(crate) struct Waiter {
    pipe: File,
    /// Readable when a signal interrupted the starting process: the signal's number.
    interrupt: Option<File>,
    /// Its write end, until the handlers take it.
    interrupt_write: Option<std::os::fd::OwnedFd>,
    /// What was read and not decoded yet.
    buf: Vec<u8>,
    /// The daemon's PID, once a message said it.
    pid: Option<u32>,
    /// The daemon's PID, once it said that it is about to `exec`.
    exec: Option<u32>,
}

/// The daemon's end: reports success or failure, once.
#[derive(Debug)]
pub(crate) struct Reporter(File);

/// What the starting process learned.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The daemon is up, with this PID.
    Ready(u32),
    /// A step failed; the daemon has exited.
    Failed(Error),
    /// The pipe closed with no message: the daemon ended before it reported.
    Vanished,
    /// The time ran out; the daemon said it runs with this PID, if it got that far.
    TimedOut(Option<u32>),
    /// The time ran out, and a daemon whose PID was never said may run.
    Unnamed,
    /// A signal (its number) interrupted the starting process while it waited; the daemon
    /// said it runs with this PID, if it got that far.
    Interrupted(i32, Option<u32>),
    /// With [`Ready::After`](crate::Ready::After): the daemon ended before the
    /// time was up, with this status if the starting process could reap it; the processes it
    /// left running were stopped (their PIDs).
    Exited(Option<Ended>, Vec<u32>),
}

/// How a daemon the starting process reaped ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ended {
    /// It exited with this status.
    Status(i32),
    /// A signal, with this number, killed it.
    Signal(i32),
}

/// Makes the pipe; both ends are close-on-exec and above descriptor 2.
pub(crate) fn channel() -> Result<(Waiter, Reporter), Error> {
    let (read, write) = crate::sys::pipe(false).context(Step::CreatePipe, None)?;
    let read = above_stdio(File::from(read)).context(Step::CreatePipe, None)?;
    let write = above_stdio(File::from(write)).context(Step::CreatePipe, None)?;
    let waiter = Waiter {
        pipe: read,
        interrupt: None,
        interrupt_write: None,
        buf: Vec::with_capacity(64),
        pid: None,
        exec: None,
    };
    Ok((waiter, Reporter(write)))
}

impl Waiter {
    /// The forked child's copy: its descriptors are closed, its buffer is left to the end of
    /// the process. Freeing it would write to a heap page the child shares with the starting
    /// process, a copy-on-write fault on the start's critical path, for 64 bytes.
    pub(crate) fn leave(self) {
        let Waiter {
            pipe,
            interrupt,
            interrupt_write,
            buf,
            pid: _,
            exec: _,
        } = self;
        drop((pipe, interrupt, interrupt_write));
        std::mem::forget(buf);
    }

    /// Blocks until the daemon reports, until every write end is closed, or until `timeout`.
    ///
    /// After a failure it reads on to end-of-file, which comes when the failed daemon has
    /// exited: a failed start returns with no process of it left running (or times out).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Outcome {
        // A timeout too long to be an instant (`Duration::MAX`) is none.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut chunk = [0u8; 512];
        let mut failed = None;
        loop {
            if failed.is_none() {
                match self.decode() {
                    Some(Message::Done(Outcome::Ready(p))) => return Outcome::Ready(p),
                    Some(Message::Done(outcome)) => failed = Some(outcome),
                    Some(Message::Daemon(_)) => continue,
                    Some(Message::Exec(pid)) => {
                        self.exec = Some(pid);
                        continue;
                    }
                    None => {}
                }
            }
            match self.read(&mut chunk, deadline) {
                Read::Data(n) => self.buf.extend_from_slice(&chunk[..n]),
                // End-of-file after `X` and no failure: the close-on-exec pipe closed in a
                // successful `exec`.
                Read::End => {
                    return failed
                        .or_else(|| self.exec.map(Outcome::Ready))
                        .unwrap_or(Outcome::Vanished);
                }
                Read::Interrupted(signo) => return Outcome::Interrupted(signo, self.pid),
                // A daemon that reported its failure but did not exit (a panic caught by
                // the body) is stopped like one that never got ready; its message stands.
                Read::TimedOut => match failed {
                    Some(failed) => {
                        if let Some(pid) = self.pid {
                            stop_unready(pid);
                        }
                        return failed;
                    }
                    None => return Outcome::TimedOut(self.pid),
                },
            }
        }
    }

    /// Decodes the next complete message, if there is one, and notes the daemon's PID.
    fn decode(&mut self) -> Option<Message> {
        let (message, used) = decode(&self.buf)?;
        self.buf.drain(..used);
        if let Message::Daemon(pid) | Message::Exec(pid) = message {
            self.pid = Some(pid);
        }
        Some(message)
    }

    /// The daemon, from what was read or is in the pipe now, without waiting: for a starter
    /// that gave up once the intermediate child, which names the daemon, has exited.
    pub(crate) fn daemon(&mut self) -> Forked {
        let mut chunk = [0u8; 512];
        let now = Some(Instant::now());
        let closed = loop {
            match self.read(&mut chunk, now) {
                Read::Data(n) => self.buf.extend_from_slice(&chunk[..n]),
                Read::End => break true,
                Read::TimedOut | Read::Interrupted(_) => break false,
            }
        };
        while self.pid.is_none() && self.decode().is_some() {}
        match (self.pid, closed) {
            (Some(pid), _) => Forked::Named(pid),
            // Every write end is closed: no daemon holds one.
            (None, true) => Forked::None,
            // A process still holds a write end: a daemon the intermediate child forked
            // but could not name (it was killed in between).
            (None, false) => Forked::Unnamed,
        }
    }

    /// Makes the pipe that SIGINT, SIGTERM, SIGHUP and SIGQUIT will write into, and blocks
    /// those signals; returns the signal mask to restore. Before the fork, so that nothing
    /// can fail after it and no interrupt ends the starting process before
    /// [`Waiter::catch_interrupts`].
    pub(crate) fn prepare_interrupts(&mut self) -> Result<crate::sys::SignalMask, Error> {
        let (read, write) = crate::sys::pipe(true).context(Step::CreatePipe, None)?;
        self.interrupt = Some(File::from(read));
        self.interrupt_write = Some(write);
        crate::sys::block_interrupts().context(Step::ResetSignals, None)
    }

    /// From now on the prepared signals end the wait ([`Outcome::Interrupted`]) instead of
    /// the process, so that it can stop the daemon it started: only it enforces
    /// `ready_timeout`.
    pub(crate) fn catch_interrupts(&mut self) {
        if let Some(write) = self.interrupt_write.take() {
            crate::sys::interrupt_into(std::os::fd::IntoRawFd::into_raw_fd(write));
        }
    }

    /// The pipe that the prepared signals write their numbers into, once they are caught.
    pub(crate) fn interrupt(&self) -> Option<&File> {
        self.interrupt.as_ref()
    }

    fn read(&mut self, chunk: &mut [u8], deadline: Option<Instant>) -> Read {
        loop {
            if let Some(interrupt) = &self.interrupt {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                let timeout = left.map_or(PollTimeout::NONE, |left| {
                    PollTimeout::from(
                        u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX),
                    )
                });
                let mut fds = [
                    PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN),
                    PollFd::new(interrupt.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, timeout) {
                    Ok(0) if left.is_some_and(|l| l.is_zero()) => return Read::TimedOut,
                    Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                    Ok(_) | Err(_) => {}
                }
                let signalled = fds[1]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN));
                let mut signo = [0u8; 1];
                if signalled && (&*interrupt).read(&mut signo).is_ok_and(|n| n == 1) {
                    return Read::Interrupted(i32::from(signo[0]));
                }
            } else if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                let ms = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
                let mut fds = [PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(0) if left.is_zero() => return Read::TimedOut,
                    Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                    Ok(_) | Err(_) => {}
                }
            }
            match self.pipe.read(chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => return Read::End,
                Ok(n) => return Read::Data(n),
            }
        }
    }
}

/// How often a starter without `pidfd_open(2)` looks whether the daemon still runs.
const WATCH_PERIOD: Duration = Duration::from_millis(10);

impl Waiter {
    /// [`Ready::After`](crate::Ready::After): the daemon `pid` finished its steps; it counts
    /// as up if it still runs after `period`. Returns [`Outcome::Ready`] then; the body's own
    /// failure ([`Outcome::Failed`]) or [`Outcome::Exited`] if it ends first; or
    /// [`Outcome::Interrupted`].
    ///
    /// The end is seen from outside, not through the pipe, which an `exec` closes: on Linux
    /// by `pidfd_open(2)` and `poll`, elsewhere by looking every [`WATCH_PERIOD`]. A daemon
    /// whose body failed but which still runs when the time is up is stopped.
    ///
    /// `log`, the daemon's log, is frozen at the daemon's end, before what it left is stopped.
    pub(crate) fn probation(
        &mut self,
        pid: u32,
        period: Duration,
        log: Option<&crate::logtail::LogMark>,
    ) -> Outcome {
        let deadline = Instant::now().checked_add(period);
        let pidfd = crate::sys::pidfd_open(pid);
        let born = started_at(pid);
        let mut pipe_open = true;
        let mut failed = None;
        let mut chunk = [0u8; 512];
        loop {
            if let Some(ended) = ended(pid) {
                // What the body said before it ended is in the pipe now, or never.
                while pipe_open && let Read::Data(n) = self.read(&mut chunk, Some(Instant::now())) {
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                while let Some(message) = self.decode() {
                    if let Message::Done(Outcome::Failed(err)) = message {
                        failed = Some(err);
                    }
                }
                if let Some(log) = log {
                    log.freeze();
                }
                let left = stop_left(born, pid);
                return match failed {
                    Some(err) => Outcome::Failed(with_left(err, &left)),
                    None => Outcome::Exited(ended, left),
                };
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return match failed {
                    Some(err) => {
                        if let Some(log) = log {
                            log.freeze();
                        }
                        stop_unready(pid);
                        // Reaped, if this process is its parent: no zombie is left.
                        let _ = ended(pid);
                        Outcome::Failed(with_left(err, &stop_left(born, pid)))
                    }
                    None => Outcome::Ready(pid),
                };
            }
            let wait = match pidfd {
                Some(_) => left,
                None => Some(left.map_or(WATCH_PERIOD, |left| left.min(WATCH_PERIOD))),
            };
            let timeout = wait.map_or(PollTimeout::NONE, |wait| {
                PollTimeout::from(
                    u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX),
                )
            });
            let mut fds = Vec::with_capacity(3);
            if pipe_open {
                fds.push(PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN));
            }
            if let Some(interrupt) = &self.interrupt {
                fds.push(PollFd::new(interrupt.as_fd(), PollFlags::POLLIN));
            }
            if let Some(pidfd) = &pidfd {
                fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(0) | Err(_) => continue,
                Ok(_) => {}
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            let (pipe_ready, interrupted) = match (pipe_open, &self.interrupt) {
                (true, Some(_)) => (ready[0], ready[1]),
                (true, None) => (ready[0], false),
                (false, Some(_)) => (false, ready[0]),
                (false, None) => (false, false),
            };
            if interrupted && let Some(interrupt) = &self.interrupt {
                let mut signo = [0u8; 1];
                if (&*interrupt).read(&mut signo).is_ok_and(|n| n == 1) {
                    // Stopped now, while this process is the subreaper of what the daemon
                    // started; left unreaped, so that its PID cannot be reused before the
                    // caller signals it again.
                    stop_unready(pid);
                    stop_left(born, pid);
                    return Outcome::Interrupted(i32::from(signo[0]), Some(pid));
                }
            }
            if pipe_ready {
                match self.pipe.read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Closed by an `exec`, or by the end, which `ended` tells.
                    Ok(0) | Err(_) => pipe_open = false,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
                while let Some(message) = self.decode() {
                    if let Message::Done(Outcome::Failed(err)) = message {
                        failed.get_or_insert(err);
                    }
                }
            }
        }
    }
}

/// Whether the daemon `pid` has ended, and how, if this process could reap it (it is the
/// daemon's parent once [`adopt_orphans`] made it a subreaper).
pub(crate) fn ended(pid: u32) -> Option<Option<Ended>> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let target = nix::unistd::Pid::from_raw(pid as i32);
    match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(Some(Ended::Status(code))),
        Ok(WaitStatus::Signaled(_, signal, _)) => Some(Some(Ended::Signal(signal as i32))),
        Ok(_) => None,
        Err(_) => (!alive(pid)).then_some(None),
    }
}

/// What the starting process reads of a process in `/proc/<pid>/stat`.
struct Stat {
    /// A zombie (`Z`), or dead (`X`): it runs no more, and waits for its parent.
    ended: bool,
    ppid: u32,
    /// Only [`in_session`] looks for a session, and only where there is `/proc`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    session: u32,
    /// When it started, in clock ticks since boot.
    start: u64,
}

impl Stat {
    /// Reads `dir`'s `stat`, `dir` being `/proc/<pid>`. `None` where there is no such process,
    /// or no `/proc`.
    fn read(dir: &std::path::Path) -> Option<Stat> {
        let text = std::fs::read_to_string(dir.join("stat")).ok()?;
        // After the name in parentheses, which may hold spaces: state is field 3, ppid 4,
        // session 6, the start time 22.
        let fields: Vec<&str> = text.rsplit_once(") ")?.1.split(' ').collect();
        Some(Stat {
            ended: fields.first().is_some_and(|s| *s == "Z" || *s == "X"),
            ppid: fields.get(1)?.parse().ok()?,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            session: fields.get(3)?.parse().ok()?,
            start: fields.get(19)?.parse().ok()?,
        })
    }

    fn of(pid: u32) -> Option<Stat> {
        Stat::read(std::path::Path::new(&format!("/proc/{pid}")))
    }
}

/// How a process ended, for a message: "exited with status 3", "was killed by SIGKILL", or
/// "exited" when this process could not reap it.
pub(crate) fn how(ended: Option<Ended>) -> String {
    match ended {
        Some(Ended::Status(code)) => format!("exited with status {code}"),
        Some(Ended::Signal(signo)) => match crate::Signal::from_raw(signo) {
            Some(signal) => format!("was killed by {signal}"),
            None => format!("was killed by signal {signo}"),
        },
        None => "exited".to_owned(),
    }
}

/// When `pid` started, in clock ticks since boot.
fn started_at(pid: u32) -> Option<u64> {
    Stat::of(pid).map(|stat| stat.start)
}

/// Stops what a daemon that ended within the `ready` time left running: a program that
/// daemonizes itself again (forks and exits 0) would otherwise serve on with no PID file, and
/// the failed start would hold its port. They are this process's children, since it is their
/// subreaper, started no earlier than the daemon (`born`); stopped as an unready daemon is,
/// and reaped, again until none is left (one may fork while it is stopped). The daemon itself,
/// `daemon`, is not among them. Returns the PIDs of those that ran. Linux only: elsewhere
/// there is no subreaper.
fn stop_left(born: Option<u64>, daemon: u32) -> Vec<u32> {
    let Some(born) = born else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut stopped = Vec::new();
    // Each round stops the new ones together: SIGTERM to all, one grace, SIGKILL to what is
    // left. A process that survives SIGKILL (stuck in the kernel) is not tried again, and a
    // round that finds nothing new ends the look.
    for _ in 0..100 {
        let left: Vec<(u32, bool)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = Stat::read(&entry.path())?;
                (stat.ppid == me && stat.start >= born && pid != daemon)
                    .then_some((pid, !stat.ended))
            })
            .collect();
        let new: Vec<u32> = left
            .iter()
            .filter(|(pid, running)| *running && !stopped.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        stop_all(&new);
        stopped.extend(&new);
        for (pid, _) in &left {
            let _ = ended(*pid);
        }
        if new.is_empty() {
            break;
        }
    }
    stopped
}

/// Stops `pids` together: SIGTERM, then SIGKILL to those still running after
/// [`STOP_GRACE`]. They are this process's children: their PIDs are not reused before it
/// reaps them.
fn stop_all(pids: &[u32]) {
    terminate(
        |signal| {
            let running: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
            for &pid in &running {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
            }
            !running.is_empty()
        },
        || !pids.iter().any(|&p| alive(p)),
    );
}

/// The body's failure, saying what it left running was stopped.
fn with_left(err: Error, left: &[u32]) -> Error {
    match left_note(left) {
        Some(note) => err.with_note(&note),
        None => err,
    }
}

/// `stopped PID 7, which it left running`, for the processes a failed daemon left.
pub(crate) fn left_note(left: &[u32]) -> Option<String> {
    let pids: Vec<String> = left.iter().map(u32::to_string).collect();
    match pids.len() {
        0 => None,
        1 => Some(format!("stopped PID {}, which it left running", pids[0])),
        _ => Some(format!(
            "stopped PIDs {}, which it left running",
            pids.join(", ")
        )),
    }
}

/// Makes the starting process, with `yes`, the parent of the daemon once the intermediate
/// child has exited (`PR_SET_CHILD_SUBREAPER`), so that it can reap the daemon and say how
/// it ended; returns the setting before, to restore. Linux only; elsewhere the end is seen
/// without a status.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn adopt_orphans(yes: bool) -> bool {
    let was = nix::sys::prctl::get_child_subreaper().unwrap_or(false);
    let _ = nix::sys::prctl::set_child_subreaper(yes);
    was
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn adopt_orphans(_yes: bool) -> bool {
    false
}

/// Parses `ready = "500ms"`: a number, with an optional fraction, and the unit `ms`, `s` or
/// `m`. `None` for anything else, and for zero. The attribute checks the same rule at
/// compile time.
pub(crate) fn parse_after(text: &str) -> Option<Duration> {
    let (number, unit_nanos) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000u128)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000_000_000)
    } else {
        return None;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    if number.ends_with('.') {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let nanos = (whole.checked_mul(scale)?.checked_add(fraction)?).checked_mul(unit_nanos)? / scale;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let duration = Duration::new(secs, (nanos % 1_000_000_000) as u32);
    (!duration.is_zero()).then_some(duration)
}

/// What a starter that gave up knows of the daemon it started.
pub(crate) enum Forked {
    /// The daemon runs, or ran, with this PID.
    Named(u32),
    /// No daemon was forked, or it has exited: nothing holds the pipe.
    None,
    /// A process holds the pipe whose PID was never said.
    Unnamed,
}

/// The daemon in the session `sid` that the intermediate child made, found in `/proc`: for
/// a starter that gave up on a daemon that was never named.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn in_session(sid: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = Stat::read(&entry.path())?;
            (stat.session == sid && pid != sid && !stat.ended).then_some(pid)
        })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn in_session(_sid: u32) -> Option<u32> {
    None
}

/// What one read from the pipe gave.
enum Read {
    Data(usize),
    End,
    TimedOut,
    /// A signal to the starting process, with this number.
    Interrupted(i32),
}

/// One decoded message.
enum Message {
    /// `P`: the intermediate child forked the daemon, with this PID.
    Daemon(u32),
    /// `R` or `E`: the last message.
    Done(Outcome),
    /// `X`: the daemon, with this PID, is about to `exec` a program.
    Exec(u32),
}

impl Reporter {
    /// Tells the starting process, from the intermediate child, that the daemon it just
    /// forked has PID `pid`.
    pub(crate) fn daemon(&mut self, pid: u32) {
        let mut msg = vec![b'P'];
        msg.extend_from_slice(&pid.to_le_bytes());
        let _ = self.0.write_all(&msg);
    }

    /// Tells the starting process that the daemon with `pid` is about to `exec`: the end of
    /// the pipe that follows, with no failure, is its success.
    pub(crate) fn exec(&mut self, pid: u32) {
        let mut msg = vec![b'X'];
        msg.extend_from_slice(&pid.to_le_bytes());
        let _ = self.0.write_all(&msg);
    }

    /// Tells the starting process that the daemon with `pid` is up.
    pub(crate) fn ready(mut self, pid: u32) {
        let pid = pid.to_le_bytes();
        let msg = [b'R', pid[0], pid[1], pid[2], pid[3]];
        // A starter that is gone (killed while it waited) has no one to tell: not an error.
        let _ = self.0.write_all(&msg);
    }

    /// Tells the starting process, with [`Ready::After`](crate::Ready::After), that the
    /// daemon with `pid` finished its steps; the pipe stays open for a failure of its body.
    pub(crate) fn probation(&mut self, pid: u32) {
        let mut msg = vec![b'R'];
        msg.extend_from_slice(&pid.to_le_bytes());
        let _ = self.0.write_all(&msg);
    }

    /// Tells the starting process why the start failed.
    ///
    /// The pipe stays open: the starting process reads on to end-of-file, which comes when
    /// this process has exited, so a failed start returns with no process of it left.
    pub(crate) fn fail(&mut self, err: &Error) {
        let _ = self.0.write_all(&encode_failure(err));
    }

    /// The descriptor the daemon must keep open until it reports.
    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Stops a daemon that did not become ready in time: SIGTERM, then SIGKILL if it still runs
/// after [`STOP_GRACE`]. Returns whether it is gone.
///
/// The PID is the one the daemon sent through the pipe, and the pipe was still open when the
/// time ran out, so the process was alive a moment ago: the PID cannot have been reused yet.
pub(crate) fn stop_unready(pid: u32) -> bool {
    let target = nix::unistd::Pid::from_raw(pid as i32);
    terminate(
        |signal| nix::sys::signal::kill(target, signal).is_ok(),
        || !alive(pid),
    )
}

/// SIGTERM, then SIGKILL if what is stopped still runs after [`STOP_GRACE`]: `send` signals
/// it and says whether it reached anything, `gone` says whether it has ended. Returns
/// whether it has. The one stopping loop of an unready daemon, of what a daemon left, and of
/// a failed program's process group.
pub(crate) fn terminate(
    mut send: impl FnMut(nix::sys::signal::Signal) -> bool,
    mut gone: impl FnMut() -> bool,
) -> bool {
    use nix::sys::signal::Signal;
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        if !send(signal) {
            return true;
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if gone() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    gone()
}

/// How long a daemon that did not become ready gets to end on SIGTERM.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

/// Whether `pid` runs: it exists and is not a zombie waiting for its parent.
#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    Stat::of(pid).is_some_and(|stat| !stat.ended)
}

/// Whether `pid` exists, by `kill(pid, 0)`. Without Linux's `/proc/<pid>/stat` a zombie
/// counts as running; it is the daemon's, whose parent is `init` (or a subreaper), which reaps
/// it at once, so the wait ends a moment later.
#[cfg(not(target_os = "linux"))]
fn alive(pid: u32) -> bool {
    let target = nix::unistd::Pid::from_raw(pid as i32);
    !matches!(
        nix::sys::signal::kill(target, None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn encode_failure(err: &Error) -> Vec<u8> {
    let (step, kind, errno, pid, path, reason) = err.to_wire();
    let mut body = vec![step as u8, kind as u8];
    body.extend_from_slice(&errno.to_le_bytes());
    body.extend_from_slice(&pid.to_le_bytes());
    body.extend_from_slice(&(path.len() as u32).to_le_bytes());
    body.extend_from_slice(path);
    body.extend_from_slice(reason.as_bytes());
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// Decodes the first complete message and the number of bytes it used, `None` while more
/// bytes are needed.
fn decode(buf: &[u8]) -> Option<(Message, usize)> {
    let (&tag, rest) = buf.split_first()?;
    let pid = || Some(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?));
    match tag {
        b'P' => Some((Message::Daemon(pid()?), 5)),
        b'X' => Some((Message::Exec(pid()?), 5)),
        b'R' => Some((Message::Done(Outcome::Ready(pid()?)), 5)),
        b'E' => {
            let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let body = rest.get(4..4 + len)?;
            let err = decode_failure(body).unwrap_or_else(garbled);
            Some((Message::Done(Outcome::Failed(err)), 5 + len))
        }
        _ => Some((Message::Done(Outcome::Failed(garbled())), buf.len())),
    }
}

fn decode_failure(body: &[u8]) -> Option<Error> {
    let int = |at: usize| body.get(at..at + 4)?.try_into().ok();
    let (step, kind) = (*body.first()? as usize, *body.get(1)? as usize);
    let errno = i32::from_le_bytes(int(2)?);
    let pid = u32::from_le_bytes(int(6)?);
    let path_len = u32::from_le_bytes(int(10)?) as usize;
    let path = body.get(14..14 + path_len)?;
    let reason = String::from_utf8_lossy(body.get(14 + path_len..)?).into_owned();
    Some(Error::from_wire(step, kind, errno, pid, path, reason))
}

fn garbled() -> Error {
    Error::new(
        Step::AwaitReadiness,
        ErrorKind::DiedBeforeReady,
        None,
        "the daemon sent an unreadable report",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_failure_survives_the_pipe_byte_by_byte() {
        let err = Error::os(
            Step::OpenStdout,
            Some(Path::new("/var/log/ünï.log")),
            io::Error::from_raw_os_error(nix::libc::EACCES),
        );
        let msg = encode_failure(&err);
        for cut in 0..msg.len() {
            assert!(decode(&msg[..cut]).is_none(), "complete after {cut} bytes");
        }
        let Some((Message::Done(Outcome::Failed(back)), _)) = decode(&msg) else {
            panic!("not a failure")
        };
        assert_eq!(back.to_string(), err.to_string());
        assert_eq!(back.kind(), ErrorKind::PermissionDenied);
        assert_eq!(back.raw_os_error(), Some(nix::libc::EACCES));
    }

    #[test]
    fn ready_carries_the_pid_and_a_closed_pipe_is_not_success() {
        let (mut waiter, reporter) = channel().unwrap();
        reporter.ready(31337);
        assert!(matches!(waiter.wait(None), Outcome::Ready(31337)));

        let (mut waiter, reporter) = channel().unwrap();
        drop(reporter);
        assert!(matches!(waiter.wait(None), Outcome::Vanished));
    }

    #[test]
    fn after_takes_a_number_and_a_unit() {
        assert_eq!(parse_after("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_after("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_after("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_after("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_after("0.25m"), Some(Duration::from_secs(15)));
        for bad in [
            "", "0s", "0.0ms", "5", "5h", "s", ".5s", "5.s", "-1s", "1 s", "1e3ms",
        ] {
            assert_eq!(parse_after(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_end_of_the_pipe_after_an_exec_mark_is_success_and_a_failure_still_wins() {
        let (mut waiter, mut reporter) = channel().unwrap();
        reporter.exec(4242);
        drop(reporter); // close-on-exec: the exec succeeded
        assert!(matches!(waiter.wait(None), Outcome::Ready(4242)));

        let (mut waiter, mut reporter) = channel().unwrap();
        reporter.exec(4242);
        let failed = Error::new(Step::Exec, ErrorKind::ProgramNotFound, None, "x: gone");
        reporter.fail(&failed);
        drop(reporter);
        let Outcome::Failed(err) = waiter.wait(None) else {
            panic!("not a failure")
        };
        assert_eq!(err.exit_code(), 127);
        assert_eq!(format!("{err:#}"), "exec failed: x: gone");
    }

    #[test]
    fn a_timeout_names_the_waiting_daemon() {
        let (mut waiter, mut reporter) = channel().unwrap();
        reporter.daemon(4242);
        let outcome = waiter.wait(Some(Duration::from_millis(50)));
        assert!(
            matches!(outcome, Outcome::TimedOut(Some(4242))),
            "{outcome:?}"
        );
        drop(reporter);

        let (mut waiter, mut reporter) = channel().unwrap();
        reporter.daemon(4242);
        reporter.ready(4242);
        assert!(matches!(
            waiter.wait(Some(Duration::from_secs(5))),
            Outcome::Ready(4242)
        ));
    }
}
