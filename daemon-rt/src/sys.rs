//! Every `unsafe` call into the OS lives here, each with the reason it is sound.
//!
//! The rest of the crate uses `nix`'s and `std`'s safe wrappers; this module covers what they
//! do not: `fork`, `_exit`, signal dispositions for every signal number (the realtime ones have
//! no `nix::sys::signal::Signal` variant), `close_range(2)`, and the PID-file cleanup that runs
//! inside a signal handler and an `atexit` hook, where only async-signal-safe calls are allowed.
//!
//! The calls that differ between Unixes are here too, each under `cfg` for the platforms
//! that have it: `closefrom(3)`, `pipe` where `pipe2` is missing, the count of the process's
//! threads, another process's open files, and the group calls `nix` does not wrap on macOS and
//! illumos.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};

use nix::libc;
use nix::unistd::{ForkResult, Pid};

use crate::threads::SingleThreaded;

/// `fork(2)`, for a process that is known to be single-threaded.
///
/// The [`SingleThreaded`] proof makes this safe: with one thread, the child is a complete copy
/// of a consistent process (no lock held by a thread that does not exist in the child), so it
/// may go on running ordinary Rust code, allocation included.
pub(crate) fn fork(_proof: &SingleThreaded) -> io::Result<ForkResult> {
    // SAFETY: the process has exactly one thread (the proof), so the child inherits no lock,
    // allocator state or buffer that another thread was in the middle of changing.
    Ok(unsafe { nix::unistd::fork() }?)
}

/// Ends the process at once with `code`: no atexit hooks, no Rust destructors, no stdio flush.
///
/// Used by the intermediate child and by a daemon whose start failed, so that nothing the
/// starting process owns (buffered output, atexit hooks, temporary files) runs twice.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe, takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}

/// Waits for the child `pid` to end, retrying on `EINTR`.
pub(crate) fn reap(pid: Pid) {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Signals a daemon keeps ignored: SIGPIPE (the Rust runtime ignores it, and Rust code expects
/// `EPIPE` errors rather than death), and the terminal I/O signals (PEP 3143).
const IGNORED: [libc::c_int; 4] = [libc::SIGPIPE, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];

/// Sets every signal's disposition to its default, except [`IGNORED`], which are ignored, and
/// clears the signal mask (daemon(7) steps 2 and 3).
///
/// glibc keeps two realtime signals (32 and 33, below `SIGRTMIN`) for its own use and refuses
/// to change them; they keep the disposition the process inherited, and glibc installs its
/// own handlers on them when it needs them.
pub(crate) fn reset_signals() -> io::Result<()> {
    reset_dispositions()?;
    clear_signal_mask()
}

/// The first half of [`reset_signals`]: every disposition to its default (but [`IGNORED`]).
pub(crate) fn reset_dispositions() -> io::Result<()> {
    for signo in 1..=max_signal() {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        let handler = if IGNORED.contains(&signo) {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        match set_disposition(signo, handler) {
            // glibc reserves two realtime signals for itself and refuses them with EINVAL.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => other?,
        }
    }
    Ok(())
}

/// The second half of [`reset_signals`]: an empty signal mask. A daemon clears it once its
/// own handlers are in place, so that a signal blocked until then (PID 1 blocks the ones it
/// forwards before it forks) meets the handler, not the default action.
pub(crate) fn clear_signal_mask() -> io::Result<()> {
    let empty = nix::sys::signal::SigSet::empty();
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&empty),
        None,
    )?;
    Ok(())
}

/// Sets the disposition of `signo` to `handler` (an address, `SIG_DFL` or `SIG_IGN`), with an
/// empty handler mask and `SA_RESTART`.
fn set_disposition(signo: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: `sigaction` is plain data; all-zero is a valid value that is then filled in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `sa_mask` is a valid, writable sigset_t inside `action`.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised and outlives the call; the old action is not
    // requested. The handler is SIG_DFL, SIG_IGN, `on_stop` or `on_reload`, which only make
    // async-signal-safe calls.
    if unsafe { libc::sigaction(signo, &action, ptr::null_mut()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The PID file the daemon removes when it ends: its path (a leaked C string, so a signal
/// handler can use it without allocating) and the descriptor that holds its lock.
static CLEANUP_PATH: AtomicPtr<libc::c_char> = AtomicPtr::new(ptr::null_mut());
static CLEANUP_FD: AtomicI32 = AtomicI32::new(-1);

/// Arranges for the PID file `path`, locked through `fd`, to be removed when the process exits
/// through `exit(3)` (an `atexit` hook) or by [`install_stop_handlers`]' handler, and by
/// [`remove_armed_pidfile`].
pub(crate) fn arm_pidfile_cleanup(path: CString, fd: RawFd) {
    CLEANUP_FD.store(fd, Ordering::SeqCst);
    // Leaked on purpose: a signal handler may read it at any moment until the process ends.
    let old = CLEANUP_PATH.swap(path.into_raw(), Ordering::SeqCst);
    debug_assert!(old.is_null(), "a process holds one PID file");
    register_pidfile_cleanup();
}

/// The `atexit` hook of [`arm_pidfile_cleanup`], registered once.
static CLEANUP_ATEXIT: Once = Once::new();

/// Registers [`arm_pidfile_cleanup`]'s exit hook ahead of time: the starting process does it
/// before the fork, where the hook does nothing (no PID file is armed there), so that the
/// daemon finds it registered and writes nothing to libc's list of hooks, a copy-on-write
/// fault on the start's critical path.
pub(crate) fn register_pidfile_cleanup() {
    at_exit(&CLEANUP_ATEXIT, on_exit);
}

/// Makes SIGTERM and SIGINT stop the daemon cleanly (PEP 3143: terminate cleanly on
/// SIGTERM): until the program listens for stop requests ([`listen_for_stop`]), the handler
/// removes the armed PID file, tells the service manager `STOPPING=1`, and ends the process by
/// the same signal, as the default action would have; once it listens, the handler only
/// records the request. Call after [`reset_signals`].
///
/// A program that installs its own handler afterwards takes the signal over: if that handler
/// chains to this one, this one does nothing (see `on_stop`).
pub(crate) fn install_stop_handlers() -> io::Result<()> {
    for signo in STOP_SIGNALS {
        set_disposition(signo, on_stop_handler())?;
    }
    STOP_HANDLERS.store(true, Ordering::SeqCst);
    Ok(())
}

/// [`install_stop_handlers`], unless the start already did: a handler the program installed
/// since then stays.
pub(crate) fn ensure_stop_handlers() -> io::Result<()> {
    if STOP_HANDLERS.load(Ordering::SeqCst) {
        return Ok(());
    }
    install_stop_handlers()
}

/// Whether [`install_stop_handlers`] ran in this process.
static STOP_HANDLERS: AtomicBool = AtomicBool::new(false);

/// The signals that ask the daemon to stop.
pub(crate) const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

/// Set once a stop was requested while the program listens.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
/// The write end of the pipe that becomes readable on a stop request; -1 until the program
/// listens.
static STOP_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Makes stop signals a request the program handles: from now on the handler sets the flag
/// [`stop_requested`] reads and writes one byte into `pipe`, a non-blocking write end the
/// caller keeps open for the life of the process.
pub(crate) fn listen_for_stop(pipe: RawFd) {
    STOP_PIPE.store(pipe, Ordering::SeqCst);
}

/// Whether a stop signal arrived since the program listens.
pub(crate) fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// Keeps `errno` as the interrupted code left it: a handler's failing call (an `open` that
/// fails, a `write` to a full pipe) must not change what that code reads next. Saved when
/// made, restored when dropped, at every return of a handler.
struct SavedErrno(i32);

impl SavedErrno {
    fn save() -> SavedErrno {
        SavedErrno(nix::errno::Errno::last_raw())
    }
}

impl Drop for SavedErrno {
    fn drop(&mut self) {
        nix::errno::Errno::set_raw(self.0);
    }
}

extern "C" fn on_stop(signo: libc::c_int) {
    let _errno = SavedErrno::save();
    // A handler the program installed later (tokio's, signal-hook's) calls this one as its
    // predecessor. The program then handles the signal itself, and ends by returning from
    // `main`, which removes the PID file: ending the process here would cut its shutdown.
    if installed_handler(signo) != Some(on_stop_handler()) {
        return;
    }
    notify_stopping();
    let pipe = STOP_PIPE.load(Ordering::SeqCst);
    if pipe >= 0 {
        // The pipe is never drained: one byte keeps it readable for every waiter, so later
        // requests write nothing, and the pipe never fills.
        if !STOP_REQUESTED.swap(true, Ordering::SeqCst) {
            // SAFETY: `write` is async-signal-safe; the buffer is a valid one-byte static.
            // The pipe is non-blocking, so even a full pipe could only make the call fail.
            unsafe { libc::write(pipe, b"s".as_ptr().cast(), 1) };
        }
        return;
    }
    remove_armed_pidfile();
    remove_armed_logs();
    // SAFETY: `signal` and `raise` are async-signal-safe. The signal stays blocked until this
    // handler returns, then is delivered with the default action: the process ends by it, so
    // its parent sees "killed by SIGTERM" as it would without this handler.
    unsafe {
        libc::signal(signo, libc::SIG_DFL);
        libc::raise(signo);
    }
}

/// `on_stop` as the value `sigaction` installs and reports.
fn on_stop_handler() -> libc::sighandler_t {
    on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t
}

/// The connected datagram socket to the service manager, or -1.
static NOTIFY_FD: AtomicI32 = AtomicI32::new(-1);
/// Whether `STOPPING=1` was sent, so it is sent once.
static STOPPING_SENT: AtomicBool = AtomicBool::new(false);

/// Records the connected socket `fd` to the service manager, kept open for the life of the
/// process, for [`notify_stopping`] to use from a signal handler.
pub(crate) fn set_notify_socket(fd: RawFd) {
    NOTIFY_FD.store(fd, Ordering::SeqCst);
}

/// Sends `STOPPING=1` to the service manager, once. Async-signal-safe: one `send(2)`.
pub(crate) fn notify_stopping() {
    let fd = NOTIFY_FD.load(Ordering::SeqCst);
    if fd < 0 || STOPPING_SENT.swap(true, Ordering::SeqCst) {
        return;
    }
    const MSG: &[u8] = b"STOPPING=1";
    let _ = notify_send(fd, MSG);
}

/// The log files reopened by [`reopen_logs_on`]'s handler: leaked C strings, null for none.
static REOPEN_STDOUT: AtomicPtr<libc::c_char> = AtomicPtr::new(ptr::null_mut());
static REOPEN_STDERR: AtomicPtr<libc::c_char> = AtomicPtr::new(ptr::null_mut());
/// Whether stdout and stderr are the same file, reopened once onto both.
static REOPEN_SHARED: AtomicBool = AtomicBool::new(false);

/// Makes `signo` and SIGHUP reload requests (see [`on_reload`]) that first reopen the log
/// files by path: `stdout` onto descriptor 1 and `stderr` onto 2 (one file onto both when the
/// paths are equal), created with mode 0640 less the umask if missing. A file that cannot be
/// opened leaves the stream on its old file. Without files, the signals are still caught:
/// SIGHUP's default action would end the daemon on any supervisor's reload command.
///
/// Everything happens in the handler with async-signal-safe calls (`open`, `dup2`, `close`),
/// so no thread is needed, and a write after the handler ran goes to the new file.
pub(crate) fn reopen_logs_on(
    signo: libc::c_int,
    stdout: Option<&CStr>,
    stderr: Option<&CStr>,
) -> io::Result<()> {
    let leak = |path: Option<&CStr>| path.map_or(ptr::null_mut(), |p| CString::from(p).into_raw());
    REOPEN_SHARED.store(stdout.is_some() && stdout == stderr, Ordering::SeqCst);
    REOPEN_STDOUT.store(leak(stdout), Ordering::SeqCst);
    REOPEN_STDERR.store(leak(stderr), Ordering::SeqCst);
    install_reload_handlers(signo)
}

/// Reopens the log files [`reopen_logs_on`] recorded. Async-signal-safe.
fn reopen_logs_now() {
    let shared = REOPEN_SHARED.load(Ordering::SeqCst);
    reopen_onto(
        REOPEN_STDOUT.load(Ordering::SeqCst),
        &[1, 2][..if shared { 2 } else { 1 }],
    );
    if !shared {
        reopen_onto(REOPEN_STDERR.load(Ordering::SeqCst), &[2]);
    }
}

/// Installs [`on_reload`] on SIGHUP and on `signo` (the `reopen_logs` signal, or SIGHUP).
fn install_reload_handlers(signo: libc::c_int) -> io::Result<()> {
    let handler = on_reload as extern "C" fn(libc::c_int) as libc::sighandler_t;
    set_disposition(libc::SIGHUP, handler)?;
    if signo != libc::SIGHUP {
        set_disposition(signo, handler)?;
    }
    RELOAD_HANDLERS.store(true, Ordering::SeqCst);
    Ok(())
}

/// Installs the reload handler on SIGHUP, unless the start already did: for a process that
/// did not daemonize with this crate and asks for reload requests.
pub(crate) fn ensure_reload_handlers() -> io::Result<()> {
    if RELOAD_HANDLERS.load(Ordering::SeqCst) {
        return Ok(());
    }
    install_reload_handlers(libc::SIGHUP)
}

/// Whether the reload handler is installed in this process.
static RELOAD_HANDLERS: AtomicBool = AtomicBool::new(false);
/// How many reload signals arrived; the program compares it with what it has seen.
static RELOAD_COUNT: AtomicUsize = AtomicUsize::new(0);
/// The write end of the pipe that becomes readable on a reload request; -1 until the program
/// listens for them.
static RELOAD_PIPE: AtomicI32 = AtomicI32::new(-1);
/// Whether `READY=1` was sent: before it, a reload must not tell the manager anything, or its
/// `READY=1` would announce a daemon that is still starting.
static READY_SENT: AtomicBool = AtomicBool::new(false);
/// Whether `RELOADING=1` was sent and its `READY=1` is still owed, by [`take_reloading`]'s
/// caller.
static RELOADING_SENT: AtomicBool = AtomicBool::new(false);

/// Makes reload signals a request the program handles: from now on the handler writes one
/// byte into `pipe` (non-blocking, kept open for the life of the process) and leaves the
/// `READY=1` that ends a reload to the program.
pub(crate) fn listen_for_reload(pipe: RawFd) {
    RELOAD_PIPE.store(pipe, Ordering::SeqCst);
}

/// How many reload signals arrived in this process.
pub(crate) fn reload_count() -> usize {
    RELOAD_COUNT.load(Ordering::SeqCst)
}

/// Records that `READY=1` was sent: reloads are announced to the manager from now on.
pub(crate) fn mark_ready() {
    READY_SENT.store(true, Ordering::SeqCst);
}

/// Whether a `RELOADING=1` is waiting for its `READY=1`; clears it.
pub(crate) fn take_reloading() -> bool {
    RELOADING_SENT.swap(false, Ordering::SeqCst)
}

/// The reload signal's handler: reopens the log files, tells the service manager
/// `RELOADING=1` with the time (systemd's `Type=notify-reload` protocol), then records the
/// request for the program. A program that never asked for reload requests has nothing more
/// to do, so the handler sends the reload's `READY=1` itself; otherwise the program sends it
/// when it is done (`daemon_rt::reloaded`). The manager hears of a reload only once the daemon
/// was ready. Async-signal-safe: `open`, `dup2`, `close`, `clock_gettime`, `send`, `write`.
extern "C" fn on_reload(_signo: libc::c_int) {
    let _errno = SavedErrno::save();
    reopen_logs_now();
    let pipe = RELOAD_PIPE.load(Ordering::SeqCst);
    let announce = READY_SENT.load(Ordering::SeqCst);
    if announce {
        notify_reloading();
        RELOADING_SENT.store(true, Ordering::SeqCst);
    }
    // Counted after `RELOADING=1`: a program that sees the request and answers `READY=1`
    // answers a `RELOADING=1` the manager already has.
    RELOAD_COUNT.fetch_add(1, Ordering::SeqCst);
    if pipe >= 0 {
        // SAFETY: `write` is async-signal-safe; the buffer is a valid one-byte static. The
        // pipe is non-blocking: a full pipe (requests the program has not read yet) only
        // makes the call fail, and the pipe is readable anyway.
        unsafe { libc::write(pipe, b"r".as_ptr().cast(), 1) };
    } else if announce && RELOADING_SENT.swap(false, Ordering::SeqCst) {
        notify_raw(b"READY=1");
    }
}

/// Sends `RELOADING=1` and `MONOTONIC_USEC=` (the time of `CLOCK_MONOTONIC` in µs, which
/// systemd ≥ 253 requires to match the reload to its request). Async-signal-safe: the message
/// is built on the stack.
fn notify_reloading() {
    const HEAD: &[u8] = b"RELOADING=1\nMONOTONIC_USEC=";
    // SAFETY: `timespec` is plain data; all-zero is valid and is overwritten.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `clock_gettime` is async-signal-safe and writes only into `now`, a valid pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } == -1 {
        return;
    }
    let usec = (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000;
    let mut buf = [0u8; HEAD.len() + 20];
    buf[..HEAD.len()].copy_from_slice(HEAD);
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut rest = usec;
    loop {
        digits[n] = b'0' + (rest % 10) as u8;
        n += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for i in 0..n {
        buf[HEAD.len() + i] = digits[n - 1 - i];
    }
    notify_raw(&buf[..HEAD.len() + n]);
}

/// Sends `message` to the service manager, if there is one. Async-signal-safe: one `send(2)`.
fn notify_raw(message: &[u8]) {
    let fd = NOTIFY_FD.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let _ = notify_send(fd, message);
}

/// Opens `path` for appending and moves it onto each of `targets`. Async-signal-safe.
///
/// Opened non-blocking, so that a FIFO without a reader fails rather than hanging the
/// handler (and the daemon with it); the flag is then cleared, so writes block as before.
fn reopen_onto(path: *mut libc::c_char, targets: &[RawFd]) {
    if path.is_null() {
        return;
    }
    let flags = libc::O_WRONLY
        | libc::O_APPEND
        | libc::O_CREAT
        | libc::O_NOCTTY
        | libc::O_CLOEXEC
        | libc::O_NONBLOCK;
    // SAFETY: a non-null `path` came from `CString::into_raw` in `reopen_logs_on` and is never
    // freed. `open`, `fcntl`, `dup2` and `close` are async-signal-safe; `dup2` clears
    // close-on-exec on the target, which stays a standard stream.
    unsafe {
        let fd = libc::open(path, flags, 0o640 as libc::c_uint);
        if fd < 0 {
            return;
        }
        let status = libc::fcntl(fd, libc::F_GETFL);
        if status == -1 || libc::fcntl(fd, libc::F_SETFL, status & !libc::O_NONBLOCK) == -1 {
            libc::close(fd);
            return;
        }
        for &target in targets {
            libc::dup2(fd, target);
        }
        libc::close(fd);
    }
}

/// Registers `hook` to run when the process exits through `exit(3)` (a return from `main`,
/// `std::process::exit`), once per hook however often this is called.
pub(crate) fn at_exit(once: &'static Once, hook: extern "C" fn()) {
    once.call_once(|| {
        // SAFETY: `hook` is an `extern "C" fn()` that lives as long as the program.
        // Registration failing (ENOMEM) only loses the `process::exit` path of the hook.
        let _ = unsafe { libc::atexit(hook) };
    });
}

/// Removes `key` from the environment.
///
/// The proof that the process is single-threaded is what makes this sound: no other thread
/// can be reading the environment at the same time.
pub(crate) fn remove_env(_proof: &SingleThreaded, key: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: the process has one thread (the proof), so nothing reads the environment
    // concurrently.
    unsafe { std::env::remove_var(key) }
}

/// Sets `key` to `value` in the environment. `key` must be a name `setenv(3)` takes (not
/// empty, no `=`, no NUL) and `value` hold no NUL, or std panics: the callers checked both.
///
/// Sound for the same reason as [`remove_env`].
pub(crate) fn set_env(
    _proof: &SingleThreaded,
    key: impl AsRef<std::ffi::OsStr>,
    value: impl AsRef<std::ffi::OsStr>,
) {
    // SAFETY: the process has one thread (the proof), so nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var(key, value) }
}

/// Empties the environment: `clearenv(3)` where the C library has it, so that entries no
/// `unsetenv` can remove (a name with `=` passed by a hostile `execve`) go too; elsewhere every
/// variable `unsetenv` can remove, one by one.
///
/// Sound for the same reason as [`remove_env`].
pub(crate) fn clear_env(proof: &SingleThreaded) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = proof;
        // SAFETY: the process has one thread (the proof), so nothing reads the environment
        // concurrently; `clearenv` only resets `environ`.
        unsafe { libc::clearenv() };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let names: Vec<std::ffi::OsString> = std::env::vars_os().map(|(name, _)| name).collect();
        for name in names {
            use std::os::unix::ffi::OsStrExt as _;
            let bytes = name.as_bytes();
            if !bytes.is_empty() && !bytes.contains(&b'=') && !bytes.contains(&0) {
                remove_env(proof, &name);
            }
        }
    }
}

/// The type `setrlimit(2)` takes for the resource: glibc's own enum type, `int` elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) type RlimitResource = libc::c_int;

/// `setrlimit(2)`: the soft and hard limit of `resource`, `None` for `RLIM_INFINITY`. A value
/// the platform's `rlim_t` cannot hold is `EINVAL`. `nix` names only some of the resources on
/// some of the platforms (no `RLIMIT_AS` on FreeBSD or NetBSD, no `RLIMIT_NPROC` on macOS),
/// so this takes `libc`'s constants.
pub(crate) fn setrlimit(
    resource: RlimitResource,
    soft: Option<u64>,
    hard: Option<u64>,
) -> io::Result<()> {
    let raw = |value: Option<u64>| match value {
        None => Ok(libc::RLIM_INFINITY),
        Some(n) => libc::rlim_t::try_from(n)
            .ok()
            .filter(|n| *n != libc::RLIM_INFINITY)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let limit = libc::rlimit {
        rlim_cur: raw(soft)?,
        rlim_max: raw(hard)?,
    };
    // SAFETY: `limit` is a valid `rlimit` that outlives the call, which only reads it.
    if unsafe { libc::setrlimit(resource, &limit) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setpriority(PRIO_PROCESS, 0, nice)`: this process's nice value. `nix` has no wrapper.
pub(crate) fn set_nice(nice: i32) -> io::Result<()> {
    // `PRIO_PROCESS` is 0 on every Unix; `libc` lacks it for macOS and the BSDs.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let which = libc::PRIO_PROCESS;
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let which = 0;
    // SAFETY: plain integers; the call changes only this process's priority.
    if unsafe { libc::setpriority(which, 0, nice) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes the armed PID file if the path still names the file this process locked, and
/// disarms the cleanup so it runs once. Async-signal-safe: atomics, `fstat`, `lstat`, `unlink`.
pub(crate) fn remove_armed_pidfile() {
    let path = CLEANUP_PATH.swap(ptr::null_mut(), Ordering::SeqCst);
    if path.is_null() {
        return;
    }
    // SAFETY: a non-null `path` came from `CString::into_raw` in `arm_pidfile_cleanup` and is
    // never freed, so it is a valid NUL-terminated string.
    let path = unsafe { CStr::from_ptr(path) };
    unlink_if_same_file(CLEANUP_FD.load(Ordering::SeqCst), path);
}

/// Unlinks `path` only if it still names the file open as `fd`: a PID file that was deleted
/// and re-created by another instance is that instance's, and is left alone.
/// Async-signal-safe.
pub(crate) fn unlink_if_same_file(fd: RawFd, path: &CStr) {
    // SAFETY: `stat` is plain data; all-zero is valid and is overwritten by the calls.
    let (mut open, mut named): (libc::stat, libc::stat) = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is a descriptor number and `open` a valid out-pointer; a closed `fd` only
    // makes the call fail with EBADF.
    let open_ok = unsafe { libc::fstat(fd, &mut open) } == 0;
    // SAFETY: `path` is NUL-terminated and `named` a valid out-pointer.
    let named_ok = open_ok && unsafe { libc::lstat(path.as_ptr(), &mut named) } == 0;
    if named_ok && open.st_dev == named.st_dev && open.st_ino == named.st_ino {
        // SAFETY: `path` is NUL-terminated; unlink takes no other argument.
        unsafe { libc::unlink(path.as_ptr()) };
    }
}

extern "C" fn on_exit() {
    remove_armed_pidfile();
}

/// The handler installed for `signo` now. Async-signal-safe (`sigaction` only reads).
fn installed_handler(signo: libc::c_int) -> Option<libc::sighandler_t> {
    // SAFETY: `sigaction` is plain data; all-zero is valid and is overwritten by the call.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `current`, a valid pointer.
    let rc = unsafe { libc::sigaction(signo, ptr::null(), &mut current) };
    (rc == 0).then_some(current.sa_sigaction)
}

/// Closes every descriptor from `first` to `last` inclusive with one `close_range(2)` call.
///
/// Fails with `ENOSYS` on kernels before 5.9, where the caller falls back to other means.
#[cfg(target_os = "linux")]
pub(crate) fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: no pointer arguments. The caller passes ranges that hold no descriptor this
    // process still uses: what is closed is what the daemon inherited and must not keep.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Closes one inherited descriptor, ignoring `EBADF` (it was not open).
pub(crate) fn close_inherited(fd: RawFd) {
    // SAFETY: the caller passes a descriptor the daemon inherited and does not keep: no Rust
    // object of this crate owns it. `close` takes no pointer.
    unsafe { libc::close(fd) };
}

/// Whether `fd` is an open descriptor, through `fcntl(F_GETFD)`.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; it takes no pointer and creates or
    // closes nothing. A number that is not open makes it fail with EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// The highest signal number [`reset_signals`] resets.
///
/// Linux and illumos have real-time signals up to `SIGRTMAX`, which their C library reports.
/// Elsewhere the number of signals is fixed, and the `libc` crate does not export it: macOS
/// `NSIG` 32, FreeBSD `_SIG_MAXSIG` 128 (real-time signals 65 to 126), NetBSD and DragonFly
/// `NSIG` 64 (real-time signals 33 to 63 on NetBSD), OpenBSD `NSIG` 33 (`<sys/signal.h>` of
/// each). Signal numbers a C library keeps for itself (FreeBSD's `SIGTHR`, 32) are refused
/// with `EINVAL`, which [`reset_signals`] skips as it does glibc's.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "solaris"
))]
fn max_signal() -> libc::c_int {
    libc::SIGRTMAX()
}

/// See the other definition.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "solaris"
)))]
fn max_signal() -> libc::c_int {
    if cfg!(target_os = "freebsd") {
        128
    } else if cfg!(any(target_os = "netbsd", target_os = "dragonfly")) {
        63
    } else if cfg!(target_os = "openbsd") {
        32
    } else {
        // macOS, and the floor every Unix has: the classic signals 1 to 31.
        31
    }
}

/// A pipe whose ends are close-on-exec, and also non-blocking when `nonblocking`.
///
/// `pipe2(2)` sets the flags atomically. macOS has no `pipe2`: there the flags are set with
/// `fcntl` after `pipe`, which leaves a window in which a `fork` + `exec` in another thread
/// would inherit the ends. The readiness pipe is made during the start, while the process is
/// single-threaded, so for it the window does not exist. The stop pipe is made on first use,
/// when other threads may run: there the window is the one every macOS program has, the
/// standard library's own pipes included.
pub(crate) fn pipe(nonblocking: bool) -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    {
        let mut flags = nix::fcntl::OFlag::O_CLOEXEC;
        if nonblocking {
            flags |= nix::fcntl::OFlag::O_NONBLOCK;
        }
        Ok(nix::unistd::pipe2(flags)?)
    }
    #[cfg(target_vendor = "apple")]
    {
        use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
        let (read, write) = nix::unistd::pipe()?;
        for end in [&read, &write] {
            fcntl(end, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
            if nonblocking {
                fcntl(end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            }
        }
        Ok((read, write))
    }
}

/// Closes every descriptor from `first` up with one `closefrom(3)` call.
///
/// FreeBSD's `closefrom` is `close_range(2)` since FreeBSD 13; calling `close_range` itself
/// would tie the binary to FreeBSD 13's symbol version for no gain. illumos and Solaris have
/// had `closefrom` since Solaris 9, but the `libc` crate does not declare it there, so it is
/// declared below.
#[cfg(any(
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris"
))]
pub(crate) fn close_from(first: RawFd) -> io::Result<()> {
    #[cfg(any(target_os = "illumos", target_os = "solaris"))]
    unsafe extern "C" {
        // closefrom(3C): `void closefrom(int lowfd)`.
        fn closefrom(lowfd: libc::c_int);
    }
    // SAFETY: no pointer arguments. The caller passes a number above every descriptor this
    // process still uses: what is closed is what the daemon inherited and must not keep.
    #[cfg(any(target_os = "illumos", target_os = "solaris"))]
    unsafe {
        closefrom(first)
    };
    // SAFETY: as above. FreeBSD's `closefrom` returns nothing.
    #[cfg(target_os = "freebsd")]
    unsafe {
        libc::closefrom(first)
    };
    // SAFETY: as above. These return -1 with errno set when they fail.
    #[cfg(any(target_os = "dragonfly", target_os = "netbsd", target_os = "openbsd"))]
    if unsafe { libc::closefrom(first) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The number of threads of this process, from the kernel's process table.
///
/// macOS: `proc_pidinfo(PROC_PIDTASKINFO)`, whose `pti_threadnum` counts the Mach task's
/// threads. FreeBSD: `sysctl` `kern.proc.pid.<pid>` (one `kinfo_proc` for the whole process),
/// `ki_numthreads`. NetBSD: `sysctl` `kern.proc2.pid.<pid>`, `p_nlwps`. `None` if the call
/// fails, which it does not for the calling process.
/// `KINFO_PROC_SIZE` of FreeBSD's `<sys/user.h>` on amd64: the `kinfo_proc` the `libc` crate
/// declares must be the kernel's, or [`thread_count`] would find no count.
#[cfg(all(target_os = "freebsd", target_arch = "x86_64"))]
const _: () = assert!(size_of::<libc::kinfo_proc>() == 1088);

#[cfg(any(target_os = "macos", target_os = "freebsd", target_os = "netbsd"))]
pub(crate) fn thread_count() -> Option<usize> {
    #[cfg(target_os = "macos")]
    {
        // SAFETY: `proc_taskinfo` is plain data; all-zero is valid and is overwritten.
        let mut info: libc::proc_taskinfo = unsafe { std::mem::zeroed() };
        let size = size_of::<libc::proc_taskinfo>() as libc::c_int;
        // SAFETY: `info` is a valid, writable buffer of `size` bytes; the kernel writes at
        // most that many and returns how many it wrote.
        let written = unsafe {
            libc::proc_pidinfo(
                std::process::id() as libc::c_int,
                libc::PROC_PIDTASKINFO,
                0,
                (&raw mut info).cast(),
                size,
            )
        };
        (written == size).then(|| usize::try_from(info.pti_threadnum).ok())?
    }
    #[cfg(target_os = "freebsd")]
    {
        // SAFETY: `kinfo_proc` is plain data; all-zero is valid and is overwritten.
        let mut info: libc::kinfo_proc = unsafe { std::mem::zeroed() };
        let pid = std::process::id() as libc::pid_t;
        let mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid];
        let mut len = size_of::<libc::kinfo_proc>();
        // SAFETY: `mib` holds 4 valid integers; `info` is a writable buffer of `len` bytes and
        // the kernel writes at most `len`, storing the length it wrote back into `len`.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                (&raw mut info).cast(),
                &mut len,
                ptr::null(),
                0,
            )
        };
        (rc == 0 && len == size_of::<libc::kinfo_proc>())
            .then(|| usize::try_from(info.ki_numthreads).ok())?
    }
    #[cfg(target_os = "netbsd")]
    {
        // SAFETY: `kinfo_proc2` is plain data; all-zero is valid and is overwritten.
        let mut info: libc::kinfo_proc2 = unsafe { std::mem::zeroed() };
        let size = size_of::<libc::kinfo_proc2>();
        // The last two names are the size of one record and how many records to return.
        let mib = [
            libc::CTL_KERN,
            libc::KERN_PROC2,
            libc::KERN_PROC_PID,
            std::process::id() as libc::pid_t,
            size as libc::c_int,
            1,
        ];
        let mut len = size;
        // SAFETY: `mib` holds 6 valid integers; `info` is a writable buffer of `len` bytes and
        // the kernel writes at most `len`, storing the length it wrote back into `len`.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                (&raw mut info).cast(),
                &mut len,
                ptr::null(),
                0,
            )
        };
        (rc == 0 && len == size).then(|| usize::try_from(info.p_nlwps).ok())?
    }
}

/// The supplementary groups of `user` plus `group`, from the group database, as
/// `initgroups(3)` would set them: `getgrouplist(3)`, for the platforms where `nix` does not
/// wrap it (macOS, whose `getgrouplist` takes `int` group IDs, and illumos).
///
/// The buffer grows until the list fits; a list longer than 65536 groups fails with `EINVAL`
/// rather than be cut short.
#[cfg(any(target_vendor = "apple", target_os = "illumos", target_os = "solaris"))]
pub(crate) fn getgrouplist(
    user: &CStr,
    group: nix::unistd::Gid,
) -> io::Result<Vec<nix::unistd::Gid>> {
    let mut size: usize = 64;
    loop {
        let mut groups = vec![0; size];
        let mut n = size as libc::c_int;
        // SAFETY: `user` is NUL-terminated; `groups` is a writable buffer of `n` entries of the
        // type the platform's declaration takes, and `n` a valid in/out pointer. The C library
        // writes at most `n` entries and stores in `n` how many there are.
        let rc = unsafe {
            libc::getgrouplist(
                user.as_ptr(),
                group.as_raw() as _,
                groups.as_mut_ptr(),
                &mut n,
            )
        };
        if rc != -1 {
            groups.truncate(usize::try_from(n).unwrap_or(0));
            return Ok(groups
                .into_iter()
                .map(|g| nix::unistd::Gid::from_raw(g as libc::gid_t))
                .collect());
        }
        // Too small: illumos says how many are needed in `n`; macOS does not, so double.
        if size >= 65536 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        size = usize::try_from(n).unwrap_or(0).max(size * 2);
    }
}

/// The most supplementary groups macOS's `setgroups(2)` accepts (`NGROUPS_MAX` in
/// `<sys/syslimits.h>`; the `libc` crate does not export it for macOS).
#[cfg(target_vendor = "apple")]
pub(crate) const NGROUPS_MAX: usize = 16;

/// `setgroups(2)` on macOS, which `nix` does not wrap: the count is an `int`, and at most
/// [`NGROUPS_MAX`] groups are accepted (more fail with `EINVAL`).
#[cfg(target_vendor = "apple")]
pub(crate) fn setgroups(groups: &[nix::unistd::Gid]) -> io::Result<()> {
    let raw: Vec<libc::gid_t> = groups.iter().map(|g| g.as_raw()).collect();
    let n =
        libc::c_int::try_from(raw.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `raw` holds `n` valid group IDs and outlives the call, which only reads it.
    if unsafe { libc::setgroups(n, raw.as_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A file another process has open: the descriptor number and the file's identity, as
/// `st_dev` and `st_ino` of `stat(2)` give them.
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
pub(crate) struct OpenFile {
    pub(crate) fd: RawFd,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

/// `struct vnode_fdinfo` of `<sys/proc_info.h>`, which the `libc` crate does not declare: a
/// `struct proc_fileinfo` (24 bytes, 8-aligned, not read here), then the vnode's `vnode_info`.
#[cfg(target_os = "macos")]
#[repr(C)]
struct VnodeFdInfo {
    _pfi: [u64; 3],
    pvi: libc::vnode_info,
}

/// `PROC_PIDFDVNODEINFO_SIZE`: the kernel answers only a buffer of exactly this size.
#[cfg(target_os = "macos")]
const _: () = assert!(size_of::<VnodeFdInfo>() == 176);

/// The files (vnodes) process `pid` has open, through libproc: `proc_pidinfo(PROC_PIDLISTFDS)`
/// lists its descriptors, `proc_pidfdinfo(PROC_PIDFDVNODEINFO)` gives each file's `stat`.
/// Fails with `ESRCH` when there is no such process, `EPERM` for another user's.
#[cfg(target_os = "macos")]
pub(crate) fn open_files(pid: u32) -> io::Result<Vec<OpenFile>> {
    /// `PROC_PIDFDVNODEINFO` of `<sys/proc_info.h>`, not in the `libc` crate.
    const PROC_PIDFDVNODEINFO: libc::c_int = 1;
    let pid = libc::c_int::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // libproc returns 0 with errno set on failure, and 0 for a process without descriptors.
    let failed = || match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(0) => Ok(Vec::new()),
        e => Err(e),
    };
    let record = size_of::<libc::proc_fdinfo>();
    // SAFETY: a null buffer of size 0 only asks how many bytes the list takes.
    let needed = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, ptr::null_mut(), 0) };
    if needed <= 0 {
        return failed();
    }
    // Room for descriptors opened between the two calls.
    let count = needed as usize / record + 16;
    let empty = libc::proc_fdinfo {
        proc_fd: 0,
        proc_fdtype: 0,
    };
    let mut fds = vec![empty; count];
    // SAFETY: `fds` is a writable buffer of `count * record` bytes; the kernel writes at most
    // that many, whole records, and returns how many bytes it wrote.
    let written = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDLISTFDS,
            0,
            fds.as_mut_ptr().cast(),
            (count * record) as libc::c_int,
        )
    };
    if written <= 0 {
        return failed();
    }
    fds.truncate(written as usize / record);
    let size = size_of::<VnodeFdInfo>() as libc::c_int;
    let mut files = Vec::new();
    for fd in fds {
        if fd.proc_fdtype != libc::PROX_FDTYPE_VNODE as u32 {
            continue;
        }
        // SAFETY: `VnodeFdInfo` is plain data; all-zero is valid and is overwritten.
        let mut info: VnodeFdInfo = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a writable buffer of `size` bytes; the kernel writes at most that
        // many and returns how many it wrote.
        let got = unsafe {
            libc::proc_pidfdinfo(
                pid,
                fd.proc_fd,
                PROC_PIDFDVNODEINFO,
                (&raw mut info).cast(),
                size,
            )
        };
        // A descriptor closed since the listing fails: it is skipped.
        if got == size {
            let stat = &info.pvi.vi_stat;
            files.push(OpenFile {
                fd: fd.proc_fd,
                // `st_dev` is an `int32_t` on macOS, which `MetadataExt::dev` widens with
                // its sign; `vst_dev` holds the same 32 bits unsigned.
                dev: stat.vst_dev as i32 as u64,
                ino: stat.vst_ino,
            });
        }
    }
    Ok(files)
}

/// The files (vnodes) process `pid` has open, from `sysctl` `kern.proc.filedesc.<pid>`, the
/// source of `procstat -f`. Fails with `ESRCH` when there is no such process, `EPERM` for
/// another user's.
///
/// The records are `struct kinfo_file` of `<sys/user.h>` (FreeBSD 12 and later), packed, each
/// `kf_structsize` bytes long: `kf_type` at offset 4, `kf_fd` at 8, then the union `kf_un` at
/// 32, whose `kf_file` member holds `kf_file_fsid` (the `st_dev`) at 256 and
/// `kf_file_fileid` (the `st_ino`) at 272. The `libc` crate declares that union as private
/// bytes, so the fields are read by offset.
#[cfg(target_os = "freebsd")]
pub(crate) fn open_files(pid: u32) -> io::Result<Vec<OpenFile>> {
    const TYPE: usize = 4;
    const FD: usize = 8;
    const FSID: usize = 32 + 256;
    const FILEID: usize = 32 + 272;
    // The union follows `kf_offset` and ends at `kf_status`, 304 bytes later, in the libc
    // crate's declaration too.
    const _: () = assert!(std::mem::offset_of!(libc::kinfo_file, kf_offset) + 8 == 32);
    const _: () = assert!(std::mem::offset_of!(libc::kinfo_file, kf_status) == 32 + 304);
    let pid = libc::c_int::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    let mib = [
        libc::CTL_KERN,
        libc::KERN_PROC,
        libc::KERN_PROC_FILEDESC,
        pid,
    ];
    let mut buf = Vec::<u8>::new();
    loop {
        let mut len = 0;
        // SAFETY: `mib` holds 4 valid integers; a null buffer only asks for the length,
        // which is stored in `len`.
        let rc =
            unsafe { libc::sysctl(mib.as_ptr(), 4, ptr::null_mut(), &mut len, ptr::null(), 0) };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        // Room for descriptors opened between the two calls.
        len += len / 4 + 4096;
        buf.resize(len, 0);
        // SAFETY: `buf` is a writable buffer of `len` bytes; the kernel writes at most `len`
        // and stores the length it wrote in `len`.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                4,
                buf.as_mut_ptr().cast(),
                &mut len,
                ptr::null(),
                0,
            )
        };
        if rc == 0 {
            buf.truncate(len);
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
    }
    let int = |record: &[u8], at: usize| i32::from_ne_bytes(record[at..at + 4].try_into().unwrap());
    let long =
        |record: &[u8], at: usize| u64::from_ne_bytes(record[at..at + 8].try_into().unwrap());
    let mut files = Vec::new();
    let mut rest = &buf[..];
    while rest.len() >= 4 {
        let size = usize::try_from(int(rest, 0)).unwrap_or(0);
        if size < FILEID + 8 || size > rest.len() {
            break;
        }
        let (record, next) = rest.split_at(size);
        if int(record, TYPE) == libc::KF_TYPE_VNODE {
            files.push(OpenFile {
                fd: int(record, FD),
                dev: long(record, FSID),
                ino: long(record, FILEID),
            });
        }
        rest = next;
    }
    Ok(files)
}

/// Sends signal `signo` to process `pid`, which the caller has checked is positive (never a
/// process group).
pub(crate) fn kill(pid: libc::pid_t, signo: libc::c_int) -> io::Result<()> {
    debug_assert!(pid > 0, "a process group would be signalled");
    // SAFETY: `kill` takes two integers and no pointer; it only sends a signal.
    if unsafe { libc::kill(pid, signo) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `fd` close-on-exec; fails with `EBADF` if it is not open.
pub(crate) fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD and F_SETFD take and change only the descriptor's flags; no pointer. A
    // number that is not open makes the calls fail with EBADF.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags == -1 || libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Takes ownership of a descriptor passed by socket activation.
///
/// The caller guarantees what makes this sound: `fd` is open, was passed to this process to
/// own, and no other [`OwnedFd`](std::os::fd::OwnedFd) or object owns it (see
/// `activation::listen_fds`).
pub(crate) fn own(fd: RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd as _;
    // SAFETY: as the caller guarantees above: an open descriptor with no other owner.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// The directory's POSIX access ACL, as the `system.posix_acl_access` extended attribute
/// holds it; `None` when it has none (its mode bits say everything).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn posix_acl(path: &std::path::Path) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let name = c"system.posix_acl_access";
    let mut buf = vec![0u8; 1024];
    // SAFETY: `path` and `name` are NUL-terminated; `buf` is valid for `buf.len()` bytes and
    // outlives the call, which writes at most that many.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENODATA | libc::ENOTSUP) => Ok(None),
            _ => Err(err),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

/// Other systems' ACLs (NFSv4 ACLs on FreeBSD and illumos, macOS's) are not read: the mode
/// bits are checked alone there.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn posix_acl(_path: &std::path::Path) -> io::Result<Option<Vec<u8>>> {
    Ok(None)
}

/// The write end of the pipe [`interrupt_into`]'s handler writes signal numbers into; -1
/// until it is made.
static INTERRUPT_PIPE: AtomicI32 = AtomicI32::new(-1);

/// The signals that interrupt a starting process waiting for its daemon: a terminal's
/// Ctrl-C and Ctrl-\, a closed terminal, and `kill`.
const INTERRUPTS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Makes [`INTERRUPTS`] write their number into `pipe` (a non-blocking write end this
/// process keeps until it exits) instead of ending the process. A signal the process was
/// started with ignored stays ignored: `nohup` asked for the start to outlive a hangup.
pub(crate) fn interrupt_into(pipe: RawFd) {
    INTERRUPT_PIPE.store(pipe, Ordering::SeqCst);
    for signo in INTERRUPTS {
        if installed_handler(signo) == Some(libc::SIG_IGN) {
            continue;
        }
        // A valid, catchable signal and a handler: sigaction cannot fail.
        let _ = set_disposition(
            signo,
            on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// A signal mask to restore, from [`block_interrupts`].
pub(crate) struct SignalMask(nix::sys::signal::SigSet);

/// Blocks [`INTERRUPTS`]; returns the mask to restore.
pub(crate) fn block_interrupts() -> io::Result<SignalMask> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
    let mut set = SigSet::empty();
    for signo in INTERRUPTS {
        if let Ok(signal) = Signal::try_from(signo) {
            set.add(signal);
        }
    }
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))?;
    Ok(SignalMask(old))
}

/// Blocks every signal that can be blocked; returns the mask to restore, `None` if it could
/// not be changed.
pub(crate) fn block_all_signals() -> Option<SignalMask> {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old)).ok()?;
    Some(SignalMask(old))
}

/// Restores a mask [`block_interrupts`] returned: a signal that came meanwhile is delivered
/// now, to the handler then in place.
pub(crate) fn restore_mask(mask: &SignalMask) {
    use nix::sys::signal::{SigmaskHow, sigprocmask};
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask.0), None);
}

extern "C" fn on_interrupt(signo: libc::c_int) {
    let _errno = SavedErrno::save();
    let byte = signo as u8;
    // SAFETY: `write` is async-signal-safe; the buffer is a valid local byte. The pipe is
    // non-blocking: a full one (signals faster than they are read) only drops this one.
    unsafe {
        libc::write(
            INTERRUPT_PIPE.load(Ordering::SeqCst),
            (&raw const byte).cast(),
            1,
        )
    };
}

/// Ends the process by `signo` with its default action, as if no handler had been there:
/// the parent (a shell) sees the process killed by it.
pub(crate) fn die_by(signo: libc::c_int) -> ! {
    // SAFETY: `signal` and `raise` take plain integers. With the default action restored
    // and the signal unblocked, `raise` ends the process before it returns.
    unsafe {
        libc::signal(signo, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signo);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
        libc::raise(signo);
    }
    // SIGQUIT's default may be a core dump; a signal that did not end the process still
    // must not let it go on.
    exit_now(128 + signo)
}

/// The access mode of the open descriptor `fd` (`O_RDONLY`, `O_WRONLY` or `O_RDWR`), through
/// `fcntl(F_GETFL)`; fails with `EBADF` if it is not open.
pub(crate) fn access_mode(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL only reads the open file's status flags; it takes no pointer and creates
    // or closes nothing. A number that is not open makes it fail with EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags & libc::O_ACCMODE)
}

/// Borrows `fd`, a descriptor the caller knows is open and stays open while the borrow lives
/// (a passed socket still listed by `activation`, which only lets go of it after the borrow).
pub(crate) fn borrow<'a>(fd: RawFd) -> std::os::fd::BorrowedFd<'a> {
    // SAFETY: as the caller guarantees above: `fd` is open for as long as the borrow is used.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Ignores each of `signals` (`SIG_IGN`).
pub(crate) fn ignore_signals(signals: &[libc::c_int]) -> io::Result<()> {
    for &signo in signals {
        set_disposition(signo, libc::SIG_IGN)?;
    }
    Ok(())
}

/// A calendar time, in the local time zone.
pub(crate) struct LocalTime {
    pub(crate) month0: usize,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

/// `secs` since the epoch in local time (`localtime_r(3)`), as `syslog(3)` stamps messages.
pub(crate) fn local_time(secs: i64) -> Option<LocalTime> {
    let time = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data; all-zero is a valid value that `localtime_r` fills in.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; `localtime_r` keeps neither.
    if unsafe { libc::localtime_r(&time, &mut tm) }.is_null() {
        return None;
    }
    Some(LocalTime {
        month0: usize::try_from(tm.tm_mon).ok()?,
        day: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        minute: u32::try_from(tm.tm_min).ok()?,
        second: u32::try_from(tm.tm_sec).ok()?,
    })
}

/// Makes writes to `file` fail with `EAGAIN` rather than wait.
pub(crate) fn set_nonblocking(file: &std::fs::File) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL)?);
    fcntl(file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Takes a write lease on `file`, which the kernel grants only when no other open file
/// description of the file exists, in any process; whether it did. The lease lasts until
/// `file` is closed. Linux only; elsewhere `false`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn lease_unopened(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd as _;
    // SAFETY: F_SETLEASE takes an integer and no pointer; it only places a lease on the
    // descriptor, released when it is closed.
    unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) == 0 }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn lease_unopened(_file: &std::fs::File) -> bool {
    false
}

/// The empty log files a start created, while it has not finished (leaked C strings, null
/// for none): a stop signal then ends a start that failed, which leaves no file behind.
static CREATED_LOGS: [AtomicPtr<libc::c_char>; 2] = [
    AtomicPtr::new(ptr::null_mut()),
    AtomicPtr::new(ptr::null_mut()),
];

/// Arms [`remove_armed_logs`] for the log files at `paths`, which this start created.
pub(crate) fn arm_created_logs(paths: [Option<CString>; 2]) {
    for (slot, path) in CREATED_LOGS.iter().zip(paths) {
        if let Some(path) = path {
            // Leaked on purpose: a signal handler may read it until the start is done.
            slot.store(CString::into_raw(path), Ordering::SeqCst);
        }
    }
}

/// The start is done: a stop from now on ends a daemon that ran, whose logs stay.
pub(crate) fn disarm_created_logs() {
    for slot in &CREATED_LOGS {
        slot.store(ptr::null_mut(), Ordering::SeqCst);
    }
}

/// Removes the armed log files that are still empty and that no other process has open (the
/// kernel grants a write lease only then), after closing this process's own copies, 1 and
/// 2: the process is about to end. Async-signal-safe: `close`, `open`, `fstat`, `fcntl`,
/// `unlink`.
fn remove_armed_logs() {
    let armed = CREATED_LOGS
        .iter()
        .map(|slot| slot.swap(ptr::null_mut(), Ordering::SeqCst));
    let mut closed = false;
    for path in armed {
        if path.is_null() {
            continue;
        }
        // SAFETY: `close`, `open`, `fstat`, `fcntl` and `unlink` are async-signal-safe; a
        // non-null `path` came from `CString::into_raw` in `arm_created_logs` and is never
        // freed; `stat` is plain data, written by `fstat`.
        unsafe {
            if !closed {
                libc::close(1);
                libc::close(2);
                closed = true;
            }
            let fd = libc::open(path, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK);
            if fd < 0 {
                continue;
            }
            let mut meta: libc::stat = std::mem::zeroed();
            let empty = libc::fstat(fd, &mut meta) == 0 && meta.st_size == 0;
            if empty && lease_fd(fd) {
                libc::unlink(path);
            }
            libc::close(fd);
        }
    }
}

/// [`lease_unopened`] on a raw descriptor. Async-signal-safe.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn lease_fd(fd: RawFd) -> bool {
    // SAFETY: F_SETLEASE takes an integer and no pointer.
    unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_WRLCK) == 0 }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lease_fd(_fd: RawFd) -> bool {
    false
}

/// The service manager's socket address, as `$NOTIFY_SOCKET` gave it, and its length: set
/// once at the start, read by [`notify_send`] (from signal handlers too).
static NOTIFY_ADDRESS: std::sync::OnceLock<(libc::sockaddr_un, libc::socklen_t)> =
    std::sync::OnceLock::new();

/// Records the address `$NOTIFY_SOCKET` names (a path, or `@name` for Linux's abstract
/// namespace), already checked to fit a `sockaddr_un`.
pub(crate) fn set_notify_address(value: &[u8]) {
    // SAFETY: `sockaddr_un` is plain data; all-zero is valid and is filled in below.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let abstract_name = value.first() == Some(&b'@');
    let name = if abstract_name { &value[1..] } else { value };
    let start = usize::from(abstract_name);
    if start + name.len() >= address.sun_path.len() {
        return;
    }
    for (slot, &byte) in address.sun_path[start..].iter_mut().zip(name) {
        *slot = byte as libc::c_char;
    }
    let offset = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    // A path with its NUL; an abstract name without one, after its leading zero byte.
    let length = offset + start + name.len() + usize::from(!abstract_name);
    let _ = NOTIFY_ADDRESS.set((address, length as libc::socklen_t));
}

/// Sends one datagram to the service manager on the connected socket `fd`, never waiting,
/// never raising SIGPIPE. A socket the manager closed (`ECONNREFUSED`: it bound its socket
/// again, as after a restart) is connected again to the address of the start, once, as
/// `sd_notify` sends to the path every time. Async-signal-safe: `send`, `connect`.
pub(crate) fn notify_send(fd: RawFd, message: &[u8]) -> io::Result<()> {
    let send = || {
        // SAFETY: `send` is async-signal-safe; `message` is a valid buffer of that length.
        let n = unsafe {
            libc::send(
                fd,
                message.as_ptr().cast(),
                message.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    match send() {
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            let Some((address, length)) = NOTIFY_ADDRESS.get() else {
                return Err(e);
            };
            // SAFETY: `address` is a valid `sockaddr_un` of `length` bytes, alive for the
            // process; `connect` is async-signal-safe.
            let rc =
                unsafe { libc::connect(fd, (address as *const libc::sockaddr_un).cast(), *length) };
            if rc == -1 {
                return Err(io::Error::last_os_error());
            }
            send()
        }
        other => other,
    }
}

/// A descriptor that becomes readable when process `pid` ends (`pidfd_open(2)`, Linux 5.3
/// and later); `None` where the call is missing or fails. libc has the number but `nix` no
/// wrapper.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pidfd_open(pid: u32) -> Option<std::os::fd::OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0)?;
    // SAFETY: `pidfd_open` takes a PID and flags, no pointer; on success it returns a new
    // descriptor that nothing else owns, which the `OwnedFd` below takes.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // Close-on-exec is what `pidfd_open` gives every new descriptor.
    Some(own(fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pidfd_open(_pid: u32) -> Option<std::os::fd::OwnedFd> {
    None
}

/// Clears `FD_CLOEXEC` on `fd`, so that it stays open across `exec`: the PID file's lock of a
/// daemon that becomes another program ([`Daemon::exec`](crate::Daemon::exec)).
pub(crate) fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD and F_SETFD take and change only the descriptor's flags; no pointer. A
    // number that is not open makes the calls fail with EBADF.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags == -1 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Every signal's disposition to its default, the ignored ones of [`IGNORED`] too: what a
/// program that is about to be `exec`'d expects to find. Handlers are reset by `exec` itself;
/// ignored signals are not.
pub(crate) fn default_dispositions() -> io::Result<()> {
    for signo in 1..=max_signal() {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        match set_disposition(signo, libc::SIG_DFL) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => other?,
        }
    }
    Ok(())
}
