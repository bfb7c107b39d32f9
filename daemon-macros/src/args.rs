//! The attribute's arguments: `name = value` pairs, checked as far as a macro can check them.
//!
//! Values are kept as expressions, evaluated at run time before daemonizing. Literals are
//! checked here where the check is cheap and certain (an empty path, a umask above `0o777`, a
//! literal of the wrong kind); everything else is left to the type checker, whose errors
//! point at the value because the expansion carries its span. Every error is collected, so
//! one build reports them all.

use proc_macro2::TokenStream;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Ident, Lit, Path, Token};

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
    (
        "preserve_fds",
        Kind::Fds,
        "preserve_fds = [listener.as_raw_fd()]",
    ),
    (
        "on_started",
        Kind::Hook,
        "on_started = |started| println!(\"{}\", started.pid())",
    ),
];

/// Names users reach for, and the option they mean.
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
];

/// One checked option and its value.
pub(crate) struct Setting {
    pub(crate) name: Ident,
    pub(crate) value: Expr,
}

/// The checked arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// `crate = "path"`: where the runtime is, for crates that re-export it.
    pub(crate) krate: Option<Path>,
    pub(crate) settings: Vec<Setting>,
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
            syn::Error::new(
                e.span(),
                "expected `name = value`, such as `pidfile = \"/run/name.pid\"`",
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
        let Some(&(_, kind, example)) = OPTIONS.iter().find(|(n, ..)| *n == key) else {
            errors.push(unknown(&name));
            continue;
        };
        match check_literal(&key, kind, example, &value) {
            Ok(()) => args.settings.push(Setting { name, value }),
            Err(e) => errors.push(e),
        }
    }
    errors.finish().map(|()| args)
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
            syn::Error::new(s.span(), "`crate` takes the path of the runtime crate, such as `crate = \"my_crate::daemon_rt\"`")
        }),
        Expr::Path(p) if p.qself.is_none() => Ok(p.path.clone()),
        other => Err(syn::Error::new(
            other.span(),
            "`crate` takes the path of the runtime crate, such as `crate = \"my_crate::daemon_rt\"`",
        )),
    }
}

/// The checks a literal value allows; any other expression is left to the type checker.
fn check_literal(name: &str, kind: Kind, example: &str, value: &Expr) -> syn::Result<()> {
    let Expr::Lit(ExprLit { lit, .. }) = value else {
        return Ok(());
    };
    let wrong = |what: &str| {
        Err(syn::Error::new(
            lit.span(),
            format!("`{name}` takes {what}: `{example}`"),
        ))
    };
    match (kind, lit) {
        (Kind::Path, Lit::Str(s)) if s.value().is_empty() => Err(syn::Error::new(
            s.span(),
            format!("`{name}` is an empty path: `{example}`"),
        )),
        (Kind::Path, Lit::Str(s)) if s.value().contains('\0') => Err(syn::Error::new(
            s.span(),
            format!("`{name}` contains a NUL byte, which no path can hold"),
        )),
        (Kind::Path, Lit::Str(_)) => Ok(()),
        (Kind::Path, _) => wrong("a path"),
        (Kind::Umask, Lit::Int(i)) => match i.base10_parse::<u32>() {
            Ok(mask) if mask <= 0o777 => Ok(()),
            _ => Err(syn::Error::new(
                i.span(),
                format!("`umask` must be at most 0o777, not {i}: `{example}`"),
            )),
        },
        (Kind::Umask, Lit::Str(_)) => wrong("an integer, written in octal (not a string)"),
        (Kind::Umask, _) => wrong("an integer, written in octal"),
        (Kind::Fds, _) => wrong("a list of file descriptors"),
        (Kind::Hook, _) => wrong("a function or closure"),
    }
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
        None => format!("unknown argument `{key}`; the arguments are {valid} and `crate`"),
    };
    syn::Error::new(name.span(), message)
}

/// The option `key` most likely stands for: a known alias, the same name in another case or
/// without underscores, or one at most two edits away.
fn suggest(key: &str) -> Option<&'static str> {
    let lower = key.to_lowercase();
    if let Some((_, option)) = ALIASES.iter().find(|(alias, _)| *alias == lower) {
        return Some(option);
    }
    let squash = |s: &str| s.replace(['_', '-'], "").to_lowercase();
    let names = OPTIONS.iter().map(|(n, ..)| *n).chain(["crate"]);
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
    fn collects_every_error() {
        let tokens: TokenStream = "pid_file = \"/x\", umask = 0o1777, stdout = \"\", umask = 1"
            .parse()
            .unwrap();
        let err = parse(tokens).err().unwrap();
        assert_eq!(err.into_iter().count(), 5);
    }
}
