//! The attribute's arguments: `name = value` pairs, checked as far as a macro can check them.
//!
//! Values are kept as expressions, evaluated at run time before daemonizing. Literals are
//! checked here where the check is cheap and certain (an empty path, a umask above `0o777`, a
//! literal of the wrong kind); everything else is left to the type checker, whose errors
//! point at the value because the expansion carries its span. Every error is collected, so
//! one build reports them all. A few literals are rewritten into what the runtime takes, at
//! their own span: seconds into a `Duration`, a signal's name into a `Signal`, an unsuffixed
//! ID into a `u32`.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{
    Expr, ExprLit, ExprUnary, Ident, Lit, LitInt, LitStr, Path, Token, UnOp, parse_quote,
    parse_quote_spanned,
};

/// What kind of value an option takes, which decides the literal checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A path (`&str`, `PathBuf`, ...), or an `Option` of one.
    Path,
    /// A file mode creation mask, `u32`.
    Umask,
    /// Descriptors to keep: anything iterable over `RawFd`.
    Fds,
    /// A function or closure.
    Hook,
    /// A `bool`.
    Bool,
    /// When the daemon is up: only the string literal `"started"` or `"manual"`.
    Ready,
    /// A `Duration`; an integer literal is that many seconds.
    Duration,
    /// A `Signal` or an `Option` of one; a string literal names the signal.
    Signal,
    /// A user or group: a name, a numeric ID, or an `Option` of one.
    Id,
    /// Whether to fork: a `Fork`, or the string literal `"auto"`, `"always"` or `"never"`.
    Fork,
    /// A descriptor number a supervisor chose: an `i32`, or an `Option` of one.
    Fd,
    /// Names of environment variables: anything iterable over strings.
    Names,
    /// A resource limit: a number, `"soft:hard"`, `"infinity"`, a `Limit`, or an `Option`.
    Limit,
    /// A nice value, -20..=19: an `i32`, or an `Option` of one.
    Nice,
}

/// Every option, with its kind and an example for error messages. Each is a method of the
/// runtime's `Daemon` and a function of `__private::options`, by the same name.
pub(crate) const OPTIONS: &[(&str, Kind, &str)] = &[
    ("pidfile", Kind::Path, "pidfile = \"/run/name.pid\""),
    ("stdin", Kind::Path, "stdin = \"/dev/null\""),
    ("stdout", Kind::Path, "stdout = \"/var/log/name.log\""),
    ("stderr", Kind::Path, "stderr = \"/var/log/name.log\""),
    ("working_directory", Kind::Path, "working_directory = \"/\""),
    ("umask", Kind::Umask, "umask = 0o027"),
    ("preserve_fds", Kind::Fds, "preserve_fds = [&listener]"),
    (
        "on_started",
        Kind::Hook,
        "on_started = |started| println!(\"{}\", started.pid())",
    ),
    ("foreground", Kind::Bool, "foreground = cli.foreground"),
    ("ready", Kind::Ready, "ready = \"manual\""),
    ("ready_timeout", Kind::Duration, "ready_timeout = 30"),
    ("reopen_logs", Kind::Signal, "reopen_logs = \"SIGUSR1\""),
    ("user", Kind::Id, "user = \"www-data\""),
    ("group", Kind::Id, "group = \"www-data\""),
    ("chroot", Kind::Path, "chroot = \"/var/empty\""),
    ("control", Kind::Bool, "control = true"),
    ("print_pid", Kind::Bool, "print_pid = true"),
    ("strict_paths", Kind::Bool, "strict_paths = false"),
    ("fork", Kind::Fork, "fork = \"always\""),
    ("notify_fd", Kind::Fd, "notify_fd = 3"),
    (
        "keep_env",
        Kind::Names,
        "keep_env = [\"PATH\", \"LANG\", \"TZ\"]",
    ),
    ("prevent_core", Kind::Bool, "prevent_core = true"),
    ("limit_nofile", Kind::Limit, "limit_nofile = 65536"),
    ("limit_core", Kind::Limit, "limit_core = 0"),
    ("limit_nproc", Kind::Limit, "limit_nproc = 64"),
    ("limit_memlock", Kind::Limit, "limit_memlock = \"infinity\""),
    (
        "limit_as",
        Kind::Limit,
        "limit_as = \"1073741824:infinity\"",
    ),
    ("nice", Kind::Nice, "nice = 10"),
];

/// Names users reach for, and the option they mean. Matched ignoring case and underscores.
const ALIASES: &[(&str, &str)] = &[
    ("pid", "pidfile"),
    ("pid_file", "pidfile"),
    ("pidfile_path", "pidfile"),
    ("workdir", "working_directory"),
    ("work_dir", "working_directory"),
    ("working_dir", "working_directory"),
    ("cwd", "working_directory"),
    ("chdir", "working_directory"),
    ("directory", "working_directory"),
    ("dir", "working_directory"),
    ("log", "stdout"),
    ("logfile", "stdout"),
    ("log_file", "stdout"),
    ("output", "stdout"),
    ("error", "stderr"),
    ("errors", "stderr"),
    ("input", "stdin"),
    ("mask", "umask"),
    ("keep_fds", "preserve_fds"),
    ("files_preserve", "preserve_fds"),
    ("preserve_fd", "preserve_fds"),
    ("fds", "preserve_fds"),
    ("started", "on_started"),
    ("on_start", "on_started"),
    ("no_fork", "foreground"),
    ("nofork", "foreground"),
    ("no_daemon", "foreground"),
    ("nodaemon", "foreground"),
    ("fg", "foreground"),
    ("readiness", "ready"),
    ("notify", "ready"),
    ("timeout", "ready_timeout"),
    ("start_timeout", "ready_timeout"),
    ("timeout_start_sec", "ready_timeout"),
    ("reopen_on", "reopen_logs"),
    ("reopen_logs_on", "reopen_logs"),
    ("log_reopen", "reopen_logs"),
    ("reopen_signal", "reopen_logs"),
    ("logrotate", "reopen_logs"),
    ("uid", "user"),
    ("username", "user"),
    ("run_as", "user"),
    ("setuid", "user"),
    ("gid", "group"),
    ("groupname", "group"),
    ("setgid", "group"),
    ("root", "chroot"),
    ("chroot_directory", "chroot"),
    ("root_directory", "chroot"),
    ("commands", "control"),
    ("init_script", "control"),
    ("lsb", "control"),
    ("show_pid", "print_pid"),
    ("echo_pid", "print_pid"),
    ("strict_modes", "strict_paths"),
    ("check_paths", "strict_paths"),
    ("unsafe_paths", "strict_paths"),
    ("forking", "fork"),
    ("notification_fd", "notify_fd"),
    ("ready_fd", "notify_fd"),
    ("readiness_fd", "notify_fd"),
    ("pipefd", "notify_fd"),
    ("env_keep", "keep_env"),
    ("keep_environment", "keep_env"),
    ("clear_env", "keep_env"),
    ("clean_env", "keep_env"),
    ("environment", "keep_env"),
    ("env", "keep_env"),
    ("no_core", "prevent_core"),
    ("nocore", "prevent_core"),
    ("core_dump", "prevent_core"),
    ("disable_core_dumps", "prevent_core"),
    ("nofile", "limit_nofile"),
    ("rlimit_nofile", "limit_nofile"),
    ("max_files", "limit_nofile"),
    ("open_files", "limit_nofile"),
    ("ulimit", "limit_nofile"),
    ("rlimit_core", "limit_core"),
    ("rlimit_nproc", "limit_nproc"),
    ("max_processes", "limit_nproc"),
    ("rlimit_memlock", "limit_memlock"),
    ("rlimit_as", "limit_as"),
    ("max_memory", "limit_as"),
    ("priority", "nice"),
    ("niceness", "nice"),
];

/// The signals `reopen_logs` accepts by name, without their `SIG`: those a daemon has no
/// other use for. `PWR` exists on Linux only; elsewhere the compiler reports that
/// `Signal::SIGPWR` does not exist, at the literal.
const REOPEN_SIGNALS: &[&str] = &["HUP", "USR1", "USR2", "WINCH", "ALRM", "IO", "PWR"];

/// Signals that cannot be caught, so can never reopen anything.
const UNCATCHABLE_SIGNALS: &[&str] = &["KILL", "STOP"];

/// One checked option and its value.
pub(crate) struct Setting {
    pub(crate) name: Ident,
    pub(crate) value: Expr,
    /// The option's kind: a path or an ID named by a parameter's field is borrowed.
    pub(crate) kind: Kind,
}

/// The checked arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// `crate = "path"`: where the runtime is, for crates that re-export it.
    pub(crate) krate: Option<Path>,
    /// `args = EXPR`: the value of the function's one parameter, computed before daemonizing
    /// (`main` cannot take parameters), with the `args` name for errors.
    pub(crate) args: Option<(Ident, Expr)>,
    pub(crate) settings: Vec<Setting>,
}

impl Args {
    /// The path of the runtime crate: `crate = ...`, or `::daemon_rt`.
    pub(crate) fn runtime(&self) -> Path {
        match &self.krate {
            Some(path) => path.clone(),
            None => parse_quote!(::daemon_rt),
        }
    }
}

/// One `name = value` as written, before any check.
struct RawArg {
    name: Ident,
    value: Expr,
}

impl Parse for RawArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `crate` is a keyword; `parse_any` takes it as a name like any other.
        let name = Ident::parse_any(input).map_err(|e| {
            let written = input
                .cursor()
                .token_tree()
                .map(|(tree, _)| tree.to_string())
                .unwrap_or_default();
            syn::Error::new(
                e.span(),
                format!(
                    "expected `name = value`, such as `pidfile = \"/run/name.pid\"`, not `{written}`"
                ),
            )
        })?;
        if !input.peek(Token![=]) {
            let example = example_for(&name.to_string());
            return Err(syn::Error::new(
                name.span(),
                format!("`{name}` needs a value: `{example}`"),
            ));
        }
        input.parse::<Token![=]>()?;
        let value = input.parse()?;
        Ok(RawArg { name, value })
    }
}

/// Parses and checks the arguments; on failure, every error found, combined.
pub(crate) fn parse(tokens: TokenStream) -> Result<Args, syn::Error> {
    let raw = Punctuated::<RawArg, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut args = Args::default();
    let mut errors = Errors::default();
    let mut seen: Vec<Ident> = Vec::new();
    let mut checked: Vec<(Ident, Expr, Checked, Kind)> = Vec::new();
    for RawArg { name, value } in raw {
        let key = name.to_string();
        if let Some(first) = seen.iter().find(|s| **s == name) {
            errors.push(syn::Error::new(
                name.span(),
                format!("duplicate argument `{key}`"),
            ));
            errors.push(syn::Error::new(
                first.span(),
                format!("`{key}` is first given here"),
            ));
            continue;
        }
        seen.push(name.clone());
        if key == "crate" {
            match crate_path(&value) {
                Ok(path) => args.krate = Some(path),
                Err(e) => errors.push(e),
            }
            continue;
        }
        if key == "args" {
            args.args = Some((name, value));
            continue;
        }
        let Some(&(_, kind, example)) = OPTIONS.iter().find(|(n, ..)| *n == key) else {
            errors.push(unknown(&name));
            continue;
        };
        match check_value(&key, kind, example, &value) {
            Ok(check) => checked.push((name, value, check, kind)),
            Err(e) => errors.push(e),
        }
    }
    errors.finish()?;
    // Rewritten only now: `crate` may come after the values that name the runtime.
    let krate = args.runtime();
    args.settings = checked
        .into_iter()
        .map(|(name, value, check, kind)| {
            let value = match check {
                Checked::AsWritten => value,
                Checked::Replaced(expr) => expr,
                Checked::Signal(variant) => {
                    parse_quote_spanned!(variant.span()=> #krate::__private::Signal::#variant)
                }
                Checked::Fork(variant) => {
                    parse_quote_spanned!(variant.span()=> #krate::__private::Fork::#variant)
                }
            };
            Setting { name, value, kind }
        })
        .collect();
    Ok(args)
}

/// What a value that passed its checks becomes in the expansion. Whatever replaces a literal
/// carries the literal's span, so errors still point at what the user wrote.
enum Checked {
    /// The value as written.
    AsWritten,
    /// Another expression: seconds as a `Duration`, an ID as a `u32`.
    Replaced(Expr),
    /// `<runtime>::__private::Signal::<variant>`, for a signal named by a string literal.
    Signal(Ident),
    /// `<runtime>::__private::Fork::<variant>`, for `fork = "always"` and the like.
    Fork(Ident),
}

/// Errors collected so that one build reports them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// `crate = "path"`, or `crate = path` written as a path.
fn crate_path(value: &Expr) -> syn::Result<Path> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => s.parse().map_err(|_| {
            syn::Error::new(s.span(), format!("`crate` takes the path of the runtime crate, not {}: `crate = \"my_crate::daemon_rt\"`", written(s)))
        }),
        Expr::Path(p) if p.qself.is_none() => Ok(p.path.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!(
                "`crate` takes the path of the runtime crate, not {}: `crate = \"my_crate::daemon_rt\"`",
                written(other)
            ),
        )),
    }
}

/// The checks a literal value allows; any other expression is left to the type checker,
/// except for `ready`, which must be a literal.
fn check_value(name: &str, kind: Kind, example: &str, value: &Expr) -> syn::Result<Checked> {
    let error = |span: Span, message: String| Err(syn::Error::new(span, message));
    if let Expr::Unary(ExprUnary {
        op: UnOp::Neg(_),
        expr,
        ..
    }) = value
        && matches!(
            **expr,
            Expr::Lit(ExprLit {
                lit: Lit::Int(_) | Lit::Float(_),
                ..
            })
        )
        && matches!(
            kind,
            Kind::Umask | Kind::Duration | Kind::Id | Kind::Fd | Kind::Limit
        )
    {
        // Spanned over the whole expression: `span()` alone would mark the `-` only.
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`{name}` cannot be negative, not {}: `{example}`",
                written(value)
            ),
        ));
    }
    let not_a_string = || {
        Err(syn::Error::new_spanned(
            value,
            format!(
                "`ready` takes a string literal, {READY_VALUES}, not {}: `{example}`",
                written(value)
            ),
        ))
    };
    match (kind, value) {
        (Kind::Nice, _) => return nice(value, example),
        (Kind::Names, Expr::Array(array)) => return names(array),
        (Kind::Names, Expr::Reference(r)) if matches!(*r.expr, Expr::Array(_)) => {
            if let Expr::Array(array) = &*r.expr {
                return names(array);
            }
        }
        _ => {}
    }
    let Expr::Lit(ExprLit { lit, .. }) = value else {
        if kind == Kind::Ready {
            return not_a_string();
        }
        return Ok(Checked::AsWritten);
    };
    let wrong = |what: &str| {
        let lit = written(lit);
        error(
            value.span(),
            format!("`{name}` takes {what}, not {lit}: `{example}`"),
        )
    };
    match (kind, lit) {
        (Kind::Path, Lit::Str(s)) if s.value().is_empty() => {
            error(s.span(), format!("`{name}` is an empty path: `{example}`"))
        }
        (Kind::Path, Lit::Str(s)) if s.value().contains('\0') => error(
            s.span(),
            format!("`{name}` contains a NUL byte, which no path can hold"),
        ),
        (Kind::Path, Lit::Str(_)) => Ok(Checked::AsWritten),
        (Kind::Path, _) => wrong("a path"),
        (Kind::Umask, Lit::Int(i)) => match i.base10_parse::<u32>() {
            Ok(mask) if mask <= 0o777 => Ok(Checked::AsWritten),
            _ => error(
                i.span(),
                format!("`umask` must be at most 0o777, not {i}: `{example}`"),
            ),
        },
        (Kind::Umask, _) => wrong("an integer, written in octal"),
        (Kind::Fds, _) => wrong("a list of file descriptors"),
        (Kind::Hook, _) => wrong("a function or closure"),
        (Kind::Bool, Lit::Bool(_)) => Ok(Checked::AsWritten),
        (Kind::Bool, _) => wrong("a bool"),
        (Kind::Ready, Lit::Str(s)) if matches!(s.value().as_str(), "started" | "manual") => {
            Ok(Checked::AsWritten)
        }
        (Kind::Ready, Lit::Str(s)) if s.value().starts_with(|c: char| c.is_ascii_digit()) => {
            match after(&s.value()) {
                Some(0) => error(
                    s.span(),
                    format!(
                        "`ready` {} is zero; a daemon must stay up a while: `ready = \"500ms\"`",
                        s.token()
                    ),
                ),
                Some(_) => Ok(Checked::AsWritten),
                None => error(
                    s.span(),
                    format!(
                        "`ready` {} is not a time: a number and `ms`, `s` or `m`, such as `ready = \"500ms\"`",
                        s.token()
                    ),
                ),
            }
        }
        (Kind::Ready, Lit::Str(s)) => error(
            s.span(),
            format!("`ready` is {READY_VALUES}, not {}: `{example}`", written(s)),
        ),
        (Kind::Ready, _) => not_a_string(),
        (Kind::Duration, Lit::Int(i)) => seconds(name, i).map(Checked::Replaced),
        (Kind::Duration, Lit::Float(f)) => {
            let millis = f
                .base10_parse::<f64>()
                .map(|secs| secs * 1000.0)
                .ok()
                .filter(|ms| (ms.round() - ms).abs() < 1e-6 && *ms < 1e15);
            let message = match millis {
                Some(ms) => format!(
                    "`{name}` is whole seconds or a `Duration`: for {} seconds, \
                     `{name} = std::time::Duration::from_millis({ms})`",
                    f.base10_digits()
                ),
                None => format!(
                    "`{name}` is whole seconds or a `Duration`: \
                     `{name} = std::time::Duration::from_millis(1500)`"
                ),
            };
            error(f.span(), message)
        }
        (Kind::Duration, _) => wrong("a number of seconds or a `Duration`"),
        (Kind::Signal, Lit::Str(s)) => signal_by_name(name, s).map(Checked::Signal),
        (Kind::Signal, Lit::Bool(b)) if !b.value => error(
            b.span(),
            format!(
                "`{name} = false` is written `{name} = None`, which leaves the signal's default action"
            ),
        ),
        (Kind::Signal, Lit::Bool(b)) => error(
            b.span(),
            format!("`{name}` takes a signal (SIGHUP unless told otherwise): `{example}`"),
        ),
        // A number is left to the type checker, whose message names the type.
        (Kind::Signal, _) => Ok(Checked::AsWritten),
        (Kind::Id, Lit::Str(s)) => id_name(name, s).map(|()| Checked::AsWritten),
        (Kind::Id, Lit::Int(i)) => match i.base10_parse::<u32>() {
            // Unsuffixed, it would be an `i32` to the type checker.
            Ok(id) if i.suffix().is_empty() => Ok(Checked::Replaced(Expr::Lit(ExprLit {
                attrs: Vec::new(),
                lit: Lit::Int(LitInt::new(&format!("{id}u32"), i.span())),
            }))),
            Ok(_) => Ok(Checked::AsWritten),
            Err(_) => error(
                i.span(),
                format!(
                    "`{name}` is a name or a numeric ID, at most {}, not {i}",
                    u32::MAX
                ),
            ),
        },
        (Kind::Id, _) => wrong("a name or a numeric ID"),
        (Kind::Fork, Lit::Str(s)) => match s.value().as_str() {
            "auto" => Ok(Checked::Fork(Ident::new("Auto", s.span()))),
            "always" => Ok(Checked::Fork(Ident::new("Always", s.span()))),
            "never" => Ok(Checked::Fork(Ident::new("Never", s.span()))),
            _ => error(
                s.span(),
                format!("`fork` is {FORK_VALUES}, not {}: `{example}`", written(s)),
            ),
        },
        (Kind::Fork, _) => wrong(&format!("{FORK_VALUES}, or a `Fork`")),
        (Kind::Fd, Lit::Int(i)) => match i.base10_parse::<i32>() {
            Ok(0..=2) => error(
                i.span(),
                format!(
                    "`notify_fd` cannot be {i}, a standard stream: the supervisor's descriptor is \
                     3 or above (`{example}`)"
                ),
            ),
            Ok(_) => Ok(Checked::AsWritten),
            Err(_) => error(
                i.span(),
                format!("`notify_fd` is a descriptor number, at most {}", i32::MAX),
            ),
        },
        (Kind::Fd, _) => wrong("a descriptor number"),
        (Kind::Names, _) => wrong("a list of variable names"),
        (Kind::Limit, Lit::Int(i)) => match i.base10_parse::<u64>().ok() {
            Some(n) => match limit_sides(name, Some(n), Some(n)) {
                Ok(()) => limit_number(name, i),
                Err(why) => error(i.span(), format!("`{name}` {why}: `{example}`")),
            },
            None => limit_number(name, i),
        },
        (Kind::Limit, Lit::Str(s)) => match limit_text(name, &s.value()) {
            Ok(()) => Ok(Checked::AsWritten),
            Err(why) => error(s.span(), format!("`{name}` {why}: `{example}`")),
        },
        (Kind::Limit, _) => wrong(LIMIT_VALUES),
        (Kind::Nice, _) => unreachable!("handled above"),
    }
}

/// What a limit takes, for its messages.
const LIMIT_VALUES: &str = "a number, \"soft:hard\" or \"infinity\"";

/// `limit_nofile = 65536`: an unsuffixed integer becomes a `u64`, which the runtime takes (an
/// `i32` would do too, but a limit above `i32::MAX`, such as a size in bytes, would not).
fn limit_number(name: &str, lit: &LitInt) -> syn::Result<Checked> {
    match lit.base10_parse::<u64>() {
        Ok(n) if lit.suffix().is_empty() => Ok(Checked::Replaced(Expr::Lit(ExprLit {
            attrs: Vec::new(),
            lit: Lit::Int(LitInt::new(&format!("{n}u64"), lit.span())),
        }))),
        Ok(_) => Ok(Checked::AsWritten),
        Err(_) => Err(syn::Error::new(
            lit.span(),
            format!(
                "`{name}` is at most {} (or \"infinity\"), not {lit}",
                u64::MAX
            ),
        )),
    }
}

/// Checks `"N"`, `"soft:hard"` or `"infinity"` as the runtime's `Limit` reads it: the reason
/// it is not one, if it is not.
fn limit_text(name: &str, text: &str) -> Result<(), String> {
    let side = |part: &str| match part {
        "infinity" => Some(None),
        _ if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => {
            part.parse::<u64>().ok().map(Some)
        }
        _ => None,
    };
    let parsed = match text.split_once(':') {
        Some((soft, hard)) => side(soft).zip(side(hard)),
        None => side(text).map(|both| (both, both)),
    };
    match parsed {
        None => Err(format!("takes {LIMIT_VALUES}, not {text:?}")),
        Some((None, Some(_))) => Err("has a soft limit (infinity) above the hard one".to_owned()),
        Some((Some(soft), Some(hard))) if soft > hard => Err(format!(
            "has a soft limit ({soft}) above the hard one ({hard})"
        )),
        Some((soft, hard)) => limit_sides(name, soft, hard),
    }
}

/// What every start refuses of a well-formed limit: `RLIM_INFINITY`'s value written as a
/// number, and a soft `limit_nofile` of 3 or less (0, 1 and 2 are always open, so the daemon
/// could open nothing).
fn limit_sides(name: &str, soft: Option<u64>, hard: Option<u64>) -> Result<(), String> {
    if let Some(n) = [soft, hard].into_iter().flatten().find(|n| *n == u64::MAX) {
        return Err(format!("{n} is `RLIM_INFINITY`: write \"infinity\""));
    }
    match soft {
        Some(n) if name == "limit_nofile" && n <= 3 => Err(format!(
            "{n} leaves the daemon no descriptor to open (0, 1 and 2 are always open)"
        )),
        _ => Ok(()),
    }
}

/// `nice = 10`, `nice = -5`: a literal must be within -20..=19; any other expression is left
/// to the type checker and the runtime's check.
fn nice(value: &Expr, example: &str) -> syn::Result<Checked> {
    let (negative, lit) = match value {
        Expr::Lit(ExprLit { lit, .. }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit { lit, .. }) => (true, lit),
            _ => return Ok(Checked::AsWritten),
        },
        _ => return Ok(Checked::AsWritten),
    };
    let Lit::Int(i) = lit else {
        let written = quote::ToTokens::to_token_stream(value).to_string();
        return Err(syn::Error::new_spanned(
            value,
            format!("`nice` takes a number from -20 to 19, not `{written}`: `{example}`"),
        ));
    };
    let n = i
        .base10_parse::<i64>()
        .ok()
        .map(|n| if negative { -n } else { n });
    match n {
        Some(-20..=19) => Ok(Checked::AsWritten),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`nice` is from -20 (first served) to 19 (last), not {}{i}: `{example}`",
                if negative { "-" } else { "" }
            ),
        )),
    }
}

/// `keep_env = ["PATH", "TZ"]`: each literal name must be one a variable can have. An empty
/// list becomes one of `&str`, which the type checker could not otherwise infer.
fn names(array: &syn::ExprArray) -> syn::Result<Checked> {
    if array.elems.is_empty() {
        return Ok(Checked::Replaced(
            parse_quote_spanned!(array.span()=> ::core::iter::empty::<&'static str>()),
        ));
    }
    let mut errors = Errors::default();
    for elem in &array.elems {
        let Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) = elem
        else {
            continue;
        };
        let value = s.value();
        let message = if value.is_empty() {
            "`keep_env` lists an empty name".to_owned()
        } else if value.contains('=') {
            format!("`keep_env` lists {value:?}: a variable's name cannot hold `=`")
        } else if value.contains('\0') {
            format!("`keep_env` lists {value:?}: a variable's name cannot hold a NUL byte")
        } else {
            continue;
        };
        errors.push(syn::Error::new(s.span(), message));
    }
    errors.finish().map(|()| Checked::AsWritten)
}

/// The three values of `fork`, for its messages.
const FORK_VALUES: &str = "\"auto\" (the default), \"always\" or \"never\"";

/// The values of `ready`, for its messages.
const READY_VALUES: &str = "\"started\" (the default), \"manual\" or a time such as \"500ms\"";

/// `ready = "500ms"`: the time in nanoseconds, if the literal is a number (with an optional
/// fraction) and `ms`, `s` or `m`; the runtime reads it by the same rule.
fn after(text: &str) -> Option<u128> {
    let (number, unit) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000u128)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000_000)
    } else {
        (text.strip_suffix('m')?, 60_000_000_000)
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(fraction)) || fraction.len() > 9 {
        return None;
    }
    let scale = 10u128.pow(fraction.len() as u32);
    let value =
        whole.parse::<u128>().ok()?.checked_mul(scale)? + fraction.parse::<u128>().unwrap_or(0);
    let nanos = value.checked_mul(unit)? / scale;
    (nanos / 1_000_000_000 <= u128::from(u64::MAX)).then_some(nanos)
}

/// `ready_timeout = 30`: thirty seconds, as a `Duration`.
fn seconds(name: &str, lit: &LitInt) -> syn::Result<Expr> {
    const INTEGERS: &[&str] = &[
        "", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
    ];
    if !INTEGERS.contains(&lit.suffix()) {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{name}` is a number of seconds, not `{lit}`: `{name} = 30`, or \
                 `{name} = std::time::Duration::from_millis(1500)`"
            ),
        ));
    }
    let Ok(secs) = lit.base10_parse::<u64>() else {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{name}` must be at most {} seconds, not {lit}", u64::MAX),
        ));
    };
    let secs = LitInt::new(&secs.to_string(), lit.span());
    Ok(parse_quote_spanned!(lit.span()=> ::core::time::Duration::from_secs(#secs)))
}

/// `reopen_logs = "SIGUSR1"`: the signal's `Signal` variant, spanned at the literal.
fn signal_by_name(name: &str, lit: &LitStr) -> syn::Result<Ident> {
    let written = lit.value();
    let upper = written.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if REOPEN_SIGNALS.contains(&bare) {
        return Ok(Ident::new(&format!("SIG{bare}"), lit.span()));
    }
    let accepted = match REOPEN_SIGNALS.split_last() {
        Some((last, rest)) => {
            let rest: Vec<String> = rest.iter().map(|s| format!("SIG{s}")).collect();
            format!("{} or SIG{last}", rest.join(", "))
        }
        None => String::new(),
    };
    let message = if UNCATCHABLE_SIGNALS.contains(&bare) {
        format!(
            "SIG{bare} cannot be caught, so it cannot reopen logs; `{name}` takes {accepted}: \
             `{name} = \"SIGUSR1\"`"
        )
    } else {
        format!("`{name}` takes {accepted}, not {written:?}: `{name} = \"SIGUSR1\"`")
    };
    Err(syn::Error::new(lit.span(), message))
}

/// `user = "www-data"`: one name the user and group databases could hold.
fn id_name(name: &str, lit: &LitStr) -> syn::Result<()> {
    let value = lit.value();
    let message = if value.is_empty() {
        format!("`{name}` is an empty name: `{name} = \"www-data\"`")
    } else if value.contains('\0') {
        format!("`{name}` contains a NUL byte, which no name can hold")
    } else if let Some((_, group)) = value.split_once(':') {
        match name {
            "user" if !group.is_empty() && !group.contains(':') => {
                format!("`user` takes one name; set the group with `group = {group:?}`")
            }
            "user" => "`user` takes one name; set the group with `group = ...`".to_owned(),
            _ => format!("`{name}` takes one name: `{name} = \"www-data\"`"),
        }
    } else {
        return Ok(());
    };
    Err(syn::Error::new(lit.span(), message))
}

/// The tokens as written, in backticks, for a message that names them.
/// The spaces that printing tokens puts around punctuation are taken out again, so that
/// `cli.pidfile` reads as the user wrote it, not as `cli . pidfile`.
pub(crate) fn written(tokens: &dyn quote::ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" . ", "."),
        ("& ", "&"),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" [", "["),
        ("[ ", "["),
        (" ]", "]"),
        (" ,", ","),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" :", ":"),
        ("! ", "!"),
        ("- ", "-"),
    ] {
        text = text.replace(spaced, tight);
    }
    format!("`{text}`")
}

fn example_for(name: &str) -> String {
    OPTIONS
        .iter()
        .find(|(n, ..)| *n == name)
        .map_or_else(|| format!("{name} = ..."), |(_, _, e)| (*e).to_owned())
}

/// "unknown argument", with the option the user most likely meant.
fn unknown(name: &Ident) -> syn::Error {
    let key = name.to_string();
    let valid = OPTIONS
        .iter()
        .map(|(n, ..)| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match suggest(&key) {
        Some(option) => format!("unknown argument `{key}`; did you mean `{option}`?"),
        None => format!("unknown argument `{key}`; the arguments are {valid}, `crate` and `args`"),
    };
    syn::Error::new(name.span(), message)
}

/// The option `key` most likely stands for: a known alias, the same name in another case or
/// without underscores, or one at most two edits away.
fn suggest(key: &str) -> Option<&'static str> {
    let squash = |s: &str| s.replace(['_', '-'], "").to_lowercase();
    if let Some((_, option)) = ALIASES
        .iter()
        .find(|(alias, _)| squash(alias) == squash(key))
    {
        return Some(option);
    }
    let names = OPTIONS.iter().map(|(n, ..)| *n).chain(["crate", "args"]);
    names
        .map(|n| (n, edit_distance(&squash(key), &squash(n))))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(n, _)| n)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_what_users_mean() {
        assert_eq!(suggest("pid_file"), Some("pidfile"));
        assert_eq!(suggest("PidFile"), Some("pidfile"));
        assert_eq!(suggest("workdir"), Some("working_directory"));
        assert_eq!(suggest("stdot"), Some("stdout"));
        assert_eq!(suggest("umsk"), Some("umask"));
        assert_eq!(suggest("colour"), None);
    }

    #[test]
    fn suggests_the_new_options() {
        for (alias, option) in [
            ("no_fork", "foreground"),
            ("NoDaemon", "foreground"),
            ("readiness", "ready"),
            ("notify", "ready"),
            ("timeout", "ready_timeout"),
            ("start_timeout", "ready_timeout"),
            ("TimeoutStartSec", "ready_timeout"),
            ("reopen_on", "reopen_logs"),
            ("reopen_logs_on", "reopen_logs"),
            ("logrotate", "reopen_logs"),
            ("uid", "user"),
            ("run_as", "user"),
            ("runas", "user"),
            ("setuid", "user"),
            ("gid", "group"),
            ("setgid", "group"),
            ("root", "chroot"),
            ("root_directory", "chroot"),
            ("init_script", "control"),
            ("lsb", "control"),
            ("show_pid", "print_pid"),
            ("echo_pid", "print_pid"),
            ("printpid", "print_pid"),
            ("foregroud", "foreground"),
        ] {
            assert_eq!(suggest(alias), Some(option), "{alias}");
        }
        // The opposite of `foreground` is not suggested as if it were the same.
        assert_eq!(suggest("detach"), None);
        assert_eq!(suggest("daemonize"), None);
    }

    #[test]
    fn every_alias_names_an_option() {
        for (alias, option) in ALIASES {
            assert!(
                OPTIONS.iter().any(|(n, ..)| n == option),
                "{alias} -> {option}"
            );
            assert!(
                !OPTIONS.iter().any(|(n, ..)| n == alias),
                "{alias} is an option"
            );
        }
    }

    #[test]
    fn unknown_argument_lists_every_option() {
        let name = Ident::new("colour", Span::call_site());
        let message = unknown(&name).to_string();
        for (option, ..) in OPTIONS {
            assert!(message.contains(&format!("`{option}`")), "{message}");
        }
        assert!(message.ends_with("`crate` and `args`"), "{message}");
    }

    /// The one error `args` gives, or a panic.
    fn error(args: &str) -> String {
        match parse(args.parse().unwrap()) {
            Ok(_) => panic!("`{args}` was accepted"),
            Err(err) => {
                assert_eq!(err.clone().into_iter().count(), 1, "{args}: {err}");
                err.to_string()
            }
        }
    }

    /// The value of the one setting `args` gives, as tokens.
    fn value(args: &str) -> String {
        let args = parse(args.parse().unwrap()).unwrap_or_else(|e| panic!("{args}: {e}"));
        assert_eq!(args.settings.len(), 1);
        let value = &args.settings[0].value;
        quote::quote!(#value).to_string()
    }

    #[test]
    fn fork_is_a_literal_or_a_value() {
        assert_eq!(
            value("fork = \"always\""),
            ":: daemon_rt :: __private :: Fork :: Always"
        );
        assert_eq!(value("fork = cli.fork"), "cli . fork");
        assert_eq!(
            error("fork = \"sometimes\""),
            "`fork` is \"auto\" (the default), \"always\" or \"never\", not `\"sometimes\"`: \
             `fork = \"always\"`"
        );
        assert_eq!(
            error("fork = true"),
            "`fork` takes \"auto\" (the default), \"always\" or \"never\", or a `Fork`, not \
             `true`: `fork = \"always\"`"
        );
    }

    #[test]
    fn notify_fd_is_a_descriptor_above_the_standard_streams() {
        assert_eq!(value("notify_fd = 3"), "3");
        assert_eq!(value("notify_fd = cli.notify_fd"), "cli . notify_fd");
        assert!(error("notify_fd = 1").starts_with("`notify_fd` cannot be 1, a standard stream"));
        assert_eq!(
            error("notify_fd = -3"),
            "`notify_fd` cannot be negative, not `-3`: `notify_fd = 3`"
        );
        assert_eq!(
            error("notify_fd = \"3\""),
            "`notify_fd` takes a descriptor number, not `\"3\"`: `notify_fd = 3`"
        );
    }

    #[test]
    fn keep_env_lists_names() {
        assert_eq!(
            value("keep_env = [\"PATH\", \"TZ\"]"),
            "[\"PATH\" , \"TZ\"]"
        );
        assert_eq!(value("keep_env = cli.keep"), "cli . keep");
        assert_eq!(
            value("keep_env = []"),
            ":: core :: iter :: empty :: < & 'static str > ()"
        );
        assert_eq!(
            error("keep_env = [\"PATH\", \"A=B\"]"),
            "`keep_env` lists \"A=B\": a variable's name cannot hold `=`"
        );
        assert_eq!(
            error("keep_env = &[\"\"]"),
            "`keep_env` lists an empty name"
        );
        assert!(error("keep_env = [\"A\\0\"]").contains("NUL"));
        assert!(
            error("keep_env = \"PATH\"").starts_with("`keep_env` takes a list of variable names")
        );
        assert_eq!(suggest("env_keep"), Some("keep_env"));
        assert_eq!(suggest("clear_env"), Some("keep_env"));
    }

    #[test]
    fn limits_are_numbers_or_soft_hard() {
        assert_eq!(value("limit_nofile = 65536"), "65536u64");
        assert_eq!(value("limit_nofile = 1024u32"), "1024u32");
        assert_eq!(value("limit_as = \"1024:infinity\""), "\"1024:infinity\"");
        assert_eq!(value("limit_core = \"infinity\""), "\"infinity\"");
        assert_eq!(value("limit_nproc = cli.nproc"), "cli . nproc");
        assert!(error("limit_nofile = -1").starts_with("`limit_nofile` cannot be negative"));
        assert_eq!(
            error("limit_nofile = \"4096:1024\""),
            "`limit_nofile` has a soft limit (4096) above the hard one (1024): \
             `limit_nofile = 65536`"
        );
        assert_eq!(
            error("limit_memlock = \"unlimited\""),
            "`limit_memlock` takes a number, \"soft:hard\" or \"infinity\", not \"unlimited\": \
             `limit_memlock = \"infinity\"`"
        );
        assert!(error("limit_core = \"infinity:0\"").contains("soft limit (infinity)"));
        // Refused by every start: 0, 1 and 2 are open, so no descriptor is left below 3.
        assert_eq!(
            error("limit_nofile = 3"),
            "`limit_nofile` 3 leaves the daemon no descriptor to open (0, 1 and 2 are \
             always open): `limit_nofile = 65536`"
        );
        assert!(error("limit_nofile = \"0:1024\"").starts_with("`limit_nofile` 0 leaves"));
        assert_eq!(value("limit_nofile = 4"), "4u64");
        assert_eq!(value("limit_core = 0"), "0u64");
        // `RLIM_INFINITY`'s own value, which no `rlim_t` can hold as a number.
        assert_eq!(
            error("limit_as = 18446744073709551615"),
            "`limit_as` 18446744073709551615 is `RLIM_INFINITY`: write \"infinity\": \
             `limit_as = \"1073741824:infinity\"`"
        );
        assert!(error("limit_as = \"1:18446744073709551615\"").contains("write \"infinity\""));
        assert!(error("limit_as = 1.5").contains("takes a number"));
        assert!(error("limit_as = 99999999999999999999").contains("at most"));
        assert_eq!(suggest("LimitNOFILE"), Some("limit_nofile"));
        assert_eq!(suggest("rlimit_core"), Some("limit_core"));
    }

    #[test]
    fn nice_is_within_minus_20_and_19() {
        assert_eq!(value("nice = 10"), "10");
        assert_eq!(value("nice = -20"), "- 20");
        assert_eq!(value("nice = 19"), "19");
        assert_eq!(value("nice = cli.nice"), "cli . nice");
        assert_eq!(
            error("nice = 20"),
            "`nice` is from -20 (first served) to 19 (last), not 20: `nice = 10`"
        );
        assert!(error("nice = -21").contains("not -21"));
        assert_eq!(
            error("nice = \"10\""),
            "`nice` takes a number from -20 to 19, not `\"10\"`: `nice = 10`"
        );
        assert_eq!(suggest("priority"), Some("nice"));
    }

    #[test]
    fn prevent_core_is_a_bool() {
        assert_eq!(value("prevent_core = true"), "true");
        assert!(error("prevent_core = 1").starts_with("`prevent_core` takes a bool"));
    }

    #[test]
    fn bools() {
        assert_eq!(
            error("foreground = \"yes\""),
            "`foreground` takes a bool, not `\"yes\"`: `foreground = cli.foreground`"
        );
        assert_eq!(
            error("print_pid = 1"),
            "`print_pid` takes a bool, not `1`: `print_pid = true`"
        );
        assert_eq!(value("control = false"), "false");
        assert_eq!(value("foreground = !cli.daemon"), "! cli . daemon");
    }

    #[test]
    fn ready_is_one_of_two_literals() {
        assert_eq!(value("ready = \"manual\""), "\"manual\"");
        assert_eq!(value("ready = \"started\""), "\"started\"");
        let listed = |v: &str| {
            format!(
                "`ready` is \"started\" (the default), \"manual\" or a time such as \"500ms\", \
                 not `{v}`: `ready = \"manual\"`"
            )
        };
        assert_eq!(error("ready = \"Manual\""), listed("\"Manual\""));
        assert_eq!(error("ready = \"soon\""), listed("\"soon\""));
        let literal = |v: &str| {
            format!(
                "`ready` takes a string literal, \"started\" (the default), \"manual\" or a time \
                 such as \"500ms\", not `{v}`: `ready = \"manual\"`"
            )
        };
        assert_eq!(error("ready = MODE"), literal("MODE"));
        assert_eq!(
            error("ready = daemon_rt::Ready::Manual"),
            literal("daemon_rt::Ready::Manual")
        );
        assert_eq!(error("ready = true"), literal("true"));
    }

    #[test]
    fn ready_after_a_time() {
        assert_eq!(value("ready = \"500ms\""), "\"500ms\"");
        assert_eq!(value("ready = \"1.5s\""), "\"1.5s\"");
        assert_eq!(value("ready = \"1m\""), "\"1m\"");
        assert_eq!(
            error("ready = \"0s\""),
            "`ready` \"0s\" is zero; a daemon must stay up a while: `ready = \"500ms\"`"
        );
        for bad in ["5", "5h", "1.s", "1 s", "2sec"] {
            assert_eq!(
                error(&format!("ready = \"{bad}\"")),
                format!(
                    "`ready` \"{bad}\" is not a time: a number and `ms`, `s` or `m`, such as \
                     `ready = \"500ms\"`"
                )
            );
        }
    }

    #[test]
    fn ready_timeout_in_seconds() {
        assert_eq!(
            value("ready_timeout = 30"),
            ":: core :: time :: Duration :: from_secs (30)"
        );
        assert_eq!(
            value("ready_timeout = 1_000u64"),
            ":: core :: time :: Duration :: from_secs (1000)"
        );
        assert_eq!(value("ready_timeout = TIMEOUT"), "TIMEOUT");
        assert_eq!(
            error("ready_timeout = 1.5"),
            "`ready_timeout` is whole seconds or a `Duration`: for 1.5 seconds, \
             `ready_timeout = std::time::Duration::from_millis(1500)`"
        );
        assert!(error("ready_timeout = \"30s\"").contains("not `\"30s\"`"));
        assert!(error("ready_timeout = 1500ms").contains("not `1500ms`"));
        assert!(error("ready_timeout = -1").contains("cannot be negative"));
        assert!(error("ready_timeout = 99999999999999999999").contains("at most"));
    }

    #[test]
    fn reopen_logs_names_a_signal() {
        let hup = ":: daemon_rt :: __private :: Signal :: SIGHUP";
        assert_eq!(value("reopen_logs = \"SIGHUP\""), hup);
        assert_eq!(value("reopen_logs = \"HUP\""), hup);
        assert_eq!(value("reopen_logs = \"sighup\""), hup);
        assert_eq!(
            value("reopen_logs = \"usr1\""),
            ":: daemon_rt :: __private :: Signal :: SIGUSR1"
        );
        // Expressions are left to the runtime's `SignalValue`.
        assert_eq!(value("reopen_logs = None"), "None");
        assert_eq!(value("reopen_logs = 1u8"), "1u8");
        assert_eq!(
            error("reopen_logs = \"SIGKILL\""),
            "SIGKILL cannot be caught, so it cannot reopen logs; `reopen_logs` takes SIGHUP, \
             SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGIO or SIGPWR: `reopen_logs = \"SIGUSR1\"`"
        );
        assert!(error("reopen_logs = \"STOP\"").starts_with("SIGSTOP cannot be caught"));
        assert_eq!(
            error("reopen_logs = \"SIGTERM\""),
            "`reopen_logs` takes SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGIO or SIGPWR, \
             not \"SIGTERM\": `reopen_logs = \"SIGUSR1\"`"
        );
        assert!(error("reopen_logs = \"\"").contains("not \"\""));
        assert!(error("reopen_logs = false").contains("`reopen_logs = None`"));
        assert!(error("reopen_logs = true").contains("SIGHUP unless told otherwise"));
    }

    #[test]
    fn the_signal_goes_through_the_crate_argument_given_after_it() {
        let args = parse(
            "reopen_logs = \"USR2\", crate = \"crate::rt\""
                .parse()
                .unwrap(),
        )
        .unwrap();
        let value = &args.settings[0].value;
        assert_eq!(
            quote::quote!(#value).to_string(),
            "crate :: rt :: __private :: Signal :: SIGUSR2"
        );
    }

    #[test]
    fn users_and_groups() {
        assert_eq!(value("user = \"nobody\""), "\"nobody\"");
        assert_eq!(value("group = 65534"), "65534u32");
        assert_eq!(value("group = 0u32"), "0u32");
        assert_eq!(value("user = cli.user"), "cli . user");
        assert_eq!(
            error("user = \"\""),
            "`user` is an empty name: `user = \"www-data\"`"
        );
        assert_eq!(
            error("user = \"www:adm\""),
            "`user` takes one name; set the group with `group = \"adm\"`"
        );
        assert_eq!(
            error("user = \"www:\""),
            "`user` takes one name; set the group with `group = ...`"
        );
        assert_eq!(
            error("group = \"www:adm\""),
            "`group` takes one name: `group = \"www-data\"`"
        );
        assert!(error("user = \"a\\0b\"").contains("NUL"));
        assert!(error("user = 4294967296").contains("at most 4294967295"));
        assert!(error("gid = 1").contains("did you mean `group`?"));
        assert!(error("group = -1").contains("cannot be negative"));
        assert_eq!(
            error("user = 1.5"),
            "`user` takes a name or a numeric ID, not `1.5`: `user = \"www-data\"`"
        );
    }

    #[test]
    fn chroot_is_a_path() {
        assert_eq!(value("chroot = \"/var/empty\""), "\"/var/empty\"");
        assert_eq!(
            error("chroot = \"\""),
            "`chroot` is an empty path: `chroot = \"/var/empty\"`"
        );
        assert!(error("chroot = 1").contains("`chroot` takes a path"));
    }

    #[test]
    fn needs_a_value() {
        assert_eq!(
            error("foreground"),
            "`foreground` needs a value: `foreground = cli.foreground`"
        );
    }

    #[test]
    fn collects_every_error() {
        let tokens: TokenStream = "pid_file = \"/x\", umask = 0o1777, stdout = \"\", umask = 1"
            .parse()
            .unwrap();
        let err = parse(tokens).err().unwrap();
        assert_eq!(err.into_iter().count(), 5);
    }
}
