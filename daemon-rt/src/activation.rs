//! Socket activation (`sd_listen_fds(3)`): sockets a service manager opened for the daemon,
//! passed as descriptors 3, 4, ... with `$LISTEN_FDS` counting them, `$LISTEN_PID` naming the
//! process they are for, and `$LISTEN_FDNAMES` naming each (systemd's `FileDescriptorName=`,
//! colon-separated).
//!
//! A process they are passed to stays in the foreground (the service manager supervises it,
//! and `$LISTEN_PID` would no longer name it after a fork), and the start never closes them.
//! The variables stay in the environment for libraries that read them.
//!
//! The variables are checked as `sd_listen_fds` checks them: a count that is not a number,
//! or that names a descriptor that is not open, fails the start rather than handing the
//! program a number that is no socket of its own.
//!
//! [`tcp_listener`], [`unix_listener`] and [`udp_socket`] take one socket, by its index or
//! its name, as the standard library's type, after checking what `sd_is_socket_inet(3)` and
//! `sd_is_socket_unix(3)` check: its type, its address family, and for a listener that it
//! listens. A socket of another kind is a one-line error, not a listener that fails later.
//! Each returns `Ok(None)` when no such socket was passed, so the program binds its own:
//!
//! ```no_run
//! #[daemon_rt::daemon(pidfile = "/run/web.pid")]
//! fn main() -> Result<(), daemon_rt::Error> {
//!     // `FileDescriptorName=web` in the .socket unit (by default, the unit's name).
//!     let listener = match daemon_rt::activation::tcp_listener("web")? {
//!         Some(listener) => listener,
//!         None => std::net::TcpListener::bind("127.0.0.1:8080").expect("bind"),
//!     };
//!     for stream in listener.incoming() {
//!         drop(stream);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! [`listen_fds`] takes every socket not taken yet, unchecked, as [`OwnedFd`]s.

use std::net::{TcpListener, UdpSocket};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::{Mutex, PoisonError};

use nix::sys::socket::{AddressFamily, SockType, SockaddrLike as _, SockaddrStorage, sockopt};

use crate::error::{Error, ErrorKind, Escaped, Step};
use crate::sys;

/// The first passed descriptor (`SD_LISTEN_FDS_START`).
const FIRST: RawFd = 3;

/// The descriptors passed to this process, as found at the start or at the first call that
/// looked for them; `None` until then.
static PASSED: Mutex<Option<Passed>> = Mutex::new(None);

/// What `$LISTEN_FDS` and `$LISTEN_FDNAMES` passed.
struct Passed {
    /// Every passed descriptor, taken or not: the start keeps them all open.
    all: Vec<RawFd>,
    /// Each descriptor until the program takes it.
    left: Vec<Option<RawFd>>,
    /// `$LISTEN_FDNAMES`, split; `None` when it is unset.
    names: Option<Vec<String>>,
}

/// The descriptors `$LISTEN_PID` and `$LISTEN_FDS` pass to this process, if any, made
/// close-on-exec as `sd_listen_fds(3)` makes them. Those the program took before the start
/// are counted too: they keep the process in the foreground and stay open.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when `$LISTEN_PID` names this process and `$LISTEN_FDS` is
/// not a count of open descriptors.
pub(crate) fn from_env() -> Result<Vec<RawFd>, Error> {
    let mut passed = PASSED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(passed) = &*passed {
        return Ok(passed.all.clone());
    }
    let found = read_env()?;
    let all = found.all.clone();
    *passed = Some(found);
    Ok(all)
}

/// Takes the sockets a service manager passed to the daemon by socket activation
/// (descriptors 3 and up, `sd_listen_fds(3)`), in order; empty when none were.
///
/// They stay open through the start whatever `preserve_fds` says. The first call takes
/// them: each is returned once, as the [`OwnedFd`] that closes it, and later calls return
/// none; a socket already taken by [`tcp_listener`], [`unix_listener`] or [`udp_socket`] is
/// left out. No `unsafe` is needed to make a listener of one:
///
/// ```no_run
/// #[daemon_rt::daemon(pidfile = "/run/web.pid")]
/// fn main() -> std::io::Result<()> {
///     let listener = match daemon_rt::listen_fds().into_iter().next() {
///         Some(fd) => std::net::TcpListener::from(fd), // systemd's .socket unit
///         None => std::net::TcpListener::bind("127.0.0.1:8080")?,
///     };
///     for stream in listener.incoming() {
///         drop(stream?);
///     }
///     Ok(())
/// }
/// ```
#[must_use = "the descriptors are handed out once: dropping them closes the sockets"]
pub fn listen_fds() -> Vec<OwnedFd> {
    with_passed(|passed| {
        // What makes `sys::own` sound: each number was checked open when it was read, was
        // passed to this process for it to own, is kept open by the start, and leaves this
        // list as it is handed out, so no other owner exists.
        passed
            .left
            .iter_mut()
            .filter_map(Option::take)
            .map(sys::own)
            .collect()
    })
}

/// Which passed socket to take: its index among the passed descriptors (`0` is descriptor
/// 3), or its name in `$LISTEN_FDNAMES`.
///
/// ```
/// use daemon_rt::activation::Which;
///
/// fn takes(_: impl Which) {}
/// takes(0);      // the first passed socket
/// takes("web");  // the first one named `web` (`FileDescriptorName=web`)
/// ```
pub trait Which: sealed::Sealed {
    /// The indexes of the sockets it matches, in order; or why the name cannot be looked up.
    #[doc(hidden)]
    fn indexes(&self, passed: &PassedNames<'_>) -> Result<Vec<usize>, String>;

    /// How the socket is named in messages; `name` is its `$LISTEN_FDNAMES` name, if known.
    #[doc(hidden)]
    fn describe(&self, name: Option<&str>) -> String;
}

mod sealed {
    /// Keeps [`super::Which`] to the types of this module.
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for &str {}
}

/// The passed descriptors' count and names, as [`Which`] sees them. Not public API.
#[doc(hidden)]
pub struct PassedNames<'a> {
    count: usize,
    names: Option<&'a [String]>,
}

impl Which for usize {
    fn indexes(&self, passed: &PassedNames<'_>) -> Result<Vec<usize>, String> {
        Ok((*self < passed.count)
            .then_some(*self)
            .into_iter()
            .collect())
    }

    fn describe(&self, name: Option<&str>) -> String {
        match name {
            Some(name) => format!("socket {self} (`{}`)", Escaped(std::ffi::OsStr::new(name))),
            None => format!("socket {self}"),
        }
    }
}

impl Which for &str {
    fn indexes(&self, passed: &PassedNames<'_>) -> Result<Vec<usize>, String> {
        match passed.names {
            // `sd_listen_fds_with_names(3)`: every socket is `unknown` without the variable.
            None if *self == "unknown" => Ok((0..passed.count).collect()),
            None => Ok(Vec::new()),
            Some(names) if names.len() != passed.count => Err(format!(
                "`$LISTEN_FDNAMES` names {} socket(s), `$LISTEN_FDS` passes {}",
                names.len(),
                passed.count
            )),
            Some(names) => Ok((0..names.len()).filter(|&i| names[i] == *self).collect()),
        }
    }

    fn describe(&self, _: Option<&str>) -> String {
        format!("socket `{}`", Escaped(std::ffi::OsStr::new(self)))
    }
}

/// Takes the passed socket `which` as a [`TcpListener`]: a stream socket of the IPv4 or IPv6
/// family that listens (`sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0)`). `Ok(None)` when no
/// such socket was passed, or it was already taken.
///
/// ```no_run
/// let listener = match daemon_rt::activation::tcp_listener(0) {
///     Ok(Some(listener)) => listener,
///     Ok(None) => std::net::TcpListener::bind("127.0.0.1:8080").expect("bind"),
///     Err(e) => e.exit(), // one line: what was passed instead, exit status 78
/// };
/// # drop(listener);
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] (exit status 78) when the socket is of another type or
/// family, does not listen, or is no socket; or when `which` is a name and
/// `$LISTEN_FDNAMES` does not name every passed socket. The socket is then not taken.
pub fn tcp_listener(which: impl Which) -> Result<Option<TcpListener>, Error> {
    take(&which, Kind::TcpListener).map(|fd| fd.map(TcpListener::from))
}

/// Takes the passed socket `which` as a [`UnixListener`]: a stream socket of the Unix family
/// that listens (`sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0)`). `Ok(None)` when no such
/// socket was passed, or it was already taken.
///
/// ```no_run
/// let listener = match daemon_rt::activation::unix_listener("control") {
///     Ok(Some(listener)) => listener,
///     Ok(None) => std::os::unix::net::UnixListener::bind("/run/web.sock").expect("bind"),
///     Err(e) => e.exit(),
/// };
/// # drop(listener);
/// ```
///
/// # Errors
///
/// As [`tcp_listener`]'s.
pub fn unix_listener(which: impl Which) -> Result<Option<UnixListener>, Error> {
    take(&which, Kind::UnixListener).map(|fd| fd.map(UnixListener::from))
}

/// Takes the passed socket `which` as a [`UdpSocket`]: a datagram socket of the IPv4 or IPv6
/// family (`sd_is_socket_inet(fd, 0, SOCK_DGRAM, -1, 0)`). `Ok(None)` when no such socket
/// was passed, or it was already taken.
///
/// ```no_run
/// let socket = match daemon_rt::activation::udp_socket("dns") {
///     Ok(Some(socket)) => socket,
///     Ok(None) => std::net::UdpSocket::bind("127.0.0.1:5353").expect("bind"),
///     Err(e) => e.exit(),
/// };
/// # drop(socket);
/// ```
///
/// # Errors
///
/// As [`tcp_listener`]'s.
pub fn udp_socket(which: impl Which) -> Result<Option<UdpSocket>, Error> {
    take(&which, Kind::UdpSocket).map(|fd| fd.map(UdpSocket::from))
}

/// What a helper expects.
#[derive(Clone, Copy)]
enum Kind {
    TcpListener,
    UnixListener,
    UdpSocket,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::TcpListener => "a listening TCP socket",
            Kind::UnixListener => "a listening Unix stream socket",
            Kind::UdpSocket => "a UDP socket",
        }
    }
}

fn take(which: &dyn Which, kind: Kind) -> Result<Option<OwnedFd>, Error> {
    with_passed(|passed| {
        let names = PassedNames {
            count: passed.left.len(),
            names: passed.names.as_deref(),
        };
        let indexes = which
            .indexes(&names)
            .map_err(|why| invalid(format!("cannot find {}: {why}", which.describe(None))))?;
        // Sockets may share a name (systemd names every socket of `web.socket` `web`): the
        // first one not taken yet that is of the kind asked for; if none is, the first one
        // not taken says what it is instead.
        let left: Vec<(usize, RawFd)> = indexes
            .into_iter()
            .filter_map(|i| passed.left[i].map(|fd| (i, fd)))
            .collect();
        let Some(&(first, first_fd)) = left.first() else {
            return Ok(None);
        };
        let fits = left
            .iter()
            .copied()
            .find(|&(_, fd)| check(fd, kind).is_ok());
        let Some((index, fd)) = fits else {
            let found = check(first_fd, kind).err().unwrap_or_default();
            let name = passed
                .names
                .as_ref()
                .filter(|names| names.len() == passed.left.len())
                .map(|names| names[first].as_str());
            return Err(invalid(format!(
                "{}, descriptor {first_fd}, is {found}, not {}",
                which.describe(name),
                kind.describe()
            )));
        };
        passed.left[index] = None;
        // As in `listen_fds`: checked open, passed to this process, and no longer listed.
        Ok(Some(sys::own(fd)))
    })
}

fn invalid(reason: String) -> Error {
    Error::new(Step::Activation, ErrorKind::InvalidConfig, None, reason)
}

/// Checks that `fd` is a socket of `kind`; otherwise says what it is.
fn check(fd: RawFd, kind: Kind) -> Result<(), String> {
    // The number is open and stays open while it is listed; borrowed only for the calls.
    let fd = sys::borrow(fd);
    let ty = match nix::sys::socket::getsockopt(&fd, sockopt::SockType) {
        Ok(ty) => ty,
        Err(nix::errno::Errno::ENOTSOCK) => return Err("not a socket".to_owned()),
        Err(e) => return Err(format!("a descriptor whose type cannot be read ({e})")),
    };
    let family =
        nix::sys::socket::getsockname::<SockaddrStorage>(std::os::fd::AsRawFd::as_raw_fd(&fd))
            .ok()
            .and_then(|addr| addr.family());
    let listening = nix::sys::socket::getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false);
    let inet = matches!(family, Some(AddressFamily::Inet | AddressFamily::Inet6));
    let unix = family == Some(AddressFamily::Unix);
    let fits = match kind {
        Kind::TcpListener => ty == SockType::Stream && inet && listening,
        Kind::UnixListener => ty == SockType::Stream && unix && listening,
        Kind::UdpSocket => ty == SockType::Datagram && inet,
    };
    if fits {
        return Ok(());
    }
    let family = match family {
        Some(AddressFamily::Inet) => "an IPv4",
        Some(AddressFamily::Inet6) => "an IPv6",
        Some(AddressFamily::Unix) => "a Unix",
        _ => "a",
    };
    let ty = match ty {
        SockType::Stream => "stream",
        SockType::Datagram => "datagram",
        SockType::SeqPacket => "seqpacket",
        SockType::Raw => "raw",
        _ => "other",
    };
    let listens = match (ty, listening) {
        ("stream" | "seqpacket", true) => " that listens",
        ("stream" | "seqpacket", false) => " that does not listen",
        _ => "",
    };
    Err(format!("{family} {ty} socket{listens}"))
}

/// Runs `f` on the passed descriptors, reading the variables first if the start did not;
/// invalid ones count as none here (the start reports them).
fn with_passed<T>(f: impl FnOnce(&mut Passed) -> T) -> T {
    let mut passed = PASSED.lock().unwrap_or_else(PoisonError::into_inner);
    if passed.is_none() {
        match read_env() {
            Ok(found) => *passed = Some(found),
            Err(_) => {
                return f(&mut Passed {
                    all: Vec::new(),
                    left: Vec::new(),
                    names: None,
                });
            }
        }
    }
    f(passed.as_mut().expect("set just above"))
}

fn read_env() -> Result<Passed, Error> {
    let fds = passed()?;
    let names = if fds.is_empty() {
        None
    } else {
        std::env::var_os("LISTEN_FDNAMES").map(|names| {
            names
                .to_string_lossy()
                .split(':')
                .map(str::to_owned)
                .collect()
        })
    };
    Ok(Passed {
        left: fds.iter().copied().map(Some).collect(),
        all: fds,
        names,
    })
}

fn passed() -> Result<Vec<RawFd>, Error> {
    let for_us = std::env::var_os("LISTEN_PID")
        .and_then(|pid| pid.to_str()?.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    if !for_us {
        return Ok(Vec::new());
    }
    let Some(value) = std::env::var_os("LISTEN_FDS") else {
        return Ok(Vec::new());
    };
    let invalid = |why: String| {
        Err(Error::new(
            Step::Activation,
            ErrorKind::InvalidConfig,
            None,
            format!("`$LISTEN_FDS` is `{}`: {why}", Escaped(&value)),
        ))
    };
    // Digits only: no sign, no space, as `sd_listen_fds` parses it.
    let count = match value
        .to_str()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    {
        Some(v) => v.parse::<RawFd>().ok(),
        None => return invalid("not a count of descriptors".to_owned()),
    };
    let Some(count) = count.filter(|n| *n <= RawFd::MAX - FIRST) else {
        return invalid("more descriptors than a process can have".to_owned());
    };
    // Checked one by one, so that an absurd count fails at its first closed descriptor
    // instead of allocating for it.
    let mut fds = Vec::new();
    for fd in FIRST..FIRST + count {
        if sys::set_cloexec(fd).is_err() {
            return invalid(format!("descriptor {fd} is not open"));
        }
        fds.push(fd);
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd as _;

    #[test]
    fn check_tells_each_kind_of_socket_apart() {
        let dir = std::env::temp_dir().join(format!("daemon-rt-activation-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let unix = UnixListener::bind(dir.join("s")).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let cases = [
            (tcp.as_raw_fd(), Kind::TcpListener, Ok(())),
            (
                tcp.as_raw_fd(),
                Kind::UdpSocket,
                Err("an IPv4 stream socket that listens"),
            ),
            (
                tcp.as_raw_fd(),
                Kind::UnixListener,
                Err("an IPv4 stream socket that listens"),
            ),
            (
                stream.as_raw_fd(),
                Kind::TcpListener,
                Err("an IPv4 stream socket that does not listen"),
            ),
            (udp.as_raw_fd(), Kind::UdpSocket, Ok(())),
            (
                udp.as_raw_fd(),
                Kind::TcpListener,
                Err("an IPv4 datagram socket"),
            ),
            (unix.as_raw_fd(), Kind::UnixListener, Ok(())),
            (
                unix.as_raw_fd(),
                Kind::TcpListener,
                Err("a Unix stream socket that listens"),
            ),
            (file.as_raw_fd(), Kind::UdpSocket, Err("not a socket")),
        ];
        for (fd, kind, expected) in cases {
            assert_eq!(
                check(fd, kind),
                expected.map_err(str::to_owned),
                "{}",
                kind.describe()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_find_sockets_as_sd_listen_fds_with_names_does() {
        let names = ["web".to_owned(), "admin".to_owned(), "web".to_owned()];
        let passed = PassedNames {
            count: 3,
            names: Some(&names),
        };
        assert_eq!("web".indexes(&passed), Ok(vec![0, 2]));
        assert_eq!("admin".indexes(&passed), Ok(vec![1]));
        assert_eq!("dns".indexes(&passed), Ok(vec![]));
        assert_eq!(2.indexes(&passed), Ok(vec![2]));
        assert_eq!(3.indexes(&passed), Ok(vec![]));
        let unnamed = PassedNames {
            count: 2,
            names: None,
        };
        assert_eq!("unknown".indexes(&unnamed), Ok(vec![0, 1]));
        assert_eq!("web".indexes(&unnamed), Ok(vec![]));
        let short = PassedNames {
            count: 2,
            names: Some(&names[..1]),
        };
        assert_eq!(
            "web".indexes(&short),
            Err("`$LISTEN_FDNAMES` names 1 socket(s), `$LISTEN_FDS` passes 2".to_owned())
        );
    }
}
