//! The expansion: build the runtime's configuration from the arguments, call one entry
//! point, then run the user's body unchanged.
//!
//! ```text
//! #[daemon(pidfile = P, stdout = L)]        fn main() -> R {
//! fn main() -> R { BODY }             =>        let __daemon_running = ::daemon_rt::__private::start({
//!                                                   let d = ::daemon_rt::__private::Daemon::new();
//!                                                   let d = ::daemon_rt::__private::options::pidfile(d, P);
//!                                                   let d = ::daemon_rt::__private::options::stdout(d, L);
//!                                                   d
//!                                               });
//!                                               fn main() -> R { BODY }
//!                                               let __daemon_result = main();
//!                                               // an `Err` before `ready()` fails the start;
//!                                               // a `daemon_rt::Error` exits with its status
//!                                               (&&&&::daemon_rt::__private::Returned(&__daemon_result)).report();
//!                                               __daemon_result
//!                                           }
//! ```
//!
//! A function with parameters (`fn serve(args: A)`) is called as `serve(args)` inside: the
//! arguments read the parameters first, borrowing a path or a user named as a field
//! (`&(args.pidfile)`). With `args = EXPR`, the outer function has no parameters and begins
//! with `let cli: Cli = EXPR;`, so `main` can have one.
//!
//! An `async fn` keeps its runtime attribute (such as `#[tokio::main]`, below `#[daemon]`) on
//! the inner function, called after daemonizing, so the runtime and its threads start in the
//! daemon. With the runtime attribute above `#[daemon]`, that attribute has already made the
//! function synchronous, and the plain expansion daemonizes before the runtime is built.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::args::{Args, Kind};
use crate::func::{DaemonFn, Param, stays_outside};

/// The whole attribute: on any error, the item as written plus the errors, so the function
/// still exists for the IDE and no unrelated errors follow.
pub(crate) fn daemon(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: DaemonFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        // A function that does not parse (`fn main();`): what is wrong with it, where.
        Err(err) if is_fn(&item) => {
            let mut out = item;
            out.extend(err.into_compile_error());
            return out;
        }
        Err(_) => {
            let span = item
                .clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span());
            let first = item
                .clone()
                .into_iter()
                .next()
                .map(|t| t.to_string())
                .unwrap_or_default();
            let err = syn::Error::new(
                span,
                format!("`#[daemon]` goes on a function, such as `fn main()`, not `{first}`"),
            );
            let mut out = item;
            out.extend(err.into_compile_error());
            return out;
        }
    };
    let (args, arg_errors) = match crate::args::parse(args) {
        Ok(args) => (args, None),
        Err(err) => (Args::default(), Some(err)),
    };
    let args_name = args.args.as_ref().map(|(name, _)| name);
    let errors = arg_errors
        .into_iter()
        .chain(func.check(args_name))
        .reduce(|mut all, err| {
            all.combine(err);
            all
        });
    match errors {
        None => expand(&args, &func),
        Some(errors) => {
            let mut out = item;
            out.extend(errors.into_compile_error());
            out
        }
    }
}

fn expand(args: &Args, func: &DaemonFn) -> TokenStream {
    let krate = args.runtime();
    // Names the body cannot see or clash with (mixed-site hygiene).
    let builder = syn::Ident::new("__daemon", Span::mixed_site());
    let running = syn::Ident::new("__daemon_running", Span::mixed_site());
    let params = func.params();
    let settings = args.settings.iter().map(|setting| {
        let name = &setting.name;
        let value = &setting.value;
        let span = value.span();
        // A path or a name read from a parameter (`cli.pidfile`) is borrowed, not moved out
        // of it: the body receives the parameter whole, and the builder copies what it needs.
        let value = if matches!(setting.kind, Kind::Path | Kind::Id) && reads_param(value, &params)
        {
            quote_spanned!(span=> &(#value))
        } else {
            quote!(#value)
        };
        // The call carries the value's span: a type error points at what the user wrote.
        quote_spanned! {span=>
            let #builder = #krate::__private::options::#name(#builder, #value);
        }
    });
    // `args = EXPR`: the parameter's value, computed first, under the parameter's own name,
    // so that the other arguments can read it; the function is then called without it.
    let computed = args.args.as_ref().and_then(|(_, expr)| {
        let param = params.first()?;
        let (name, ty) = (param.name, param.ty);
        Some(quote_spanned!(expr.span()=> let #name: #ty = #expr;))
    });
    let start = quote! {
        #computed
        let #running = #krate::__private::start({
            let #builder = #krate::__private::Daemon::new();
            #(#settings)*
            #builder
        });
    };

    let DaemonFn {
        attrs,
        vis,
        sig,
        inner_attrs,
        body,
    } = func;
    // The body goes into an inner function of the same name, which shadows the outer one
    // inside it, so that what it returns (through `?` and `return` too) is seen before
    // `main` returns: an `Err` before `ready()` fails the start with its message. An `async
    // fn` keeps its runtime attribute (such as `#[tokio::main]`, below `#[daemon]`) on the
    // inner function (`#[async_std::main]` accepts only `main`), so the runtime and its
    // threads start in the daemon. With the runtime attribute above `#[daemon]`, that
    // attribute has already made the function synchronous, and the plain form daemonizes
    // before the runtime is built.
    let (outer, inner): (Vec<_>, Vec<_>) = if sig.asyncness.is_some() {
        attrs.iter().partition(|a| stays_outside(a))
    } else {
        (attrs.iter().collect(), Vec::new())
    };
    let mut outer_sig = sig.clone();
    outer_sig.asyncness = None;
    if computed.is_some() {
        outer_sig.inputs.clear();
    }
    // The outer function only passes its parameters on: `mut` stays on the inner one.
    for input in &mut outer_sig.inputs {
        if let syn::FnArg::Typed(typed) = input
            && let syn::Pat::Ident(ident) = &mut *typed.pat
        {
            ident.mutability = None;
        }
    }
    let passed = params.iter().map(|p| p.name);
    // `#[tokio::main]` refuses a function named `main` that takes parameters: with `args`,
    // an `async fn main` is called under another name inside.
    // A parameter named like the function (`fn serve(serve: Serve)`) would be shadowed, in
    // the arguments and the call, by the inner function's item: that one is renamed too.
    let mut inner_sig = sig.clone();
    if (sig.asyncness.is_some() && !params.is_empty() && sig.ident == "main")
        || params.iter().any(|p| *p.name == sig.ident)
    {
        inner_sig.ident = syn::Ident::new("__daemon_main", Span::mixed_site());
    }
    // A parameter that only the arguments read is used all the same: without this, the inner
    // function would warn that it is unused (an error under `-D warnings`).
    let used = params
        .iter()
        .filter(|p| {
            args.settings.iter().any(|setting| {
                let value = &setting.value;
                names(quote!(#value), p.name)
            })
        })
        .map(|p| p.name);
    let used = quote!(#(let _ = &#used;)*);
    let sig = &inner_sig;
    let name = &sig.ident;
    let result = syn::Ident::new("__daemon_result", Span::mixed_site());
    // A `-> !` body never returns, and code after it would be unreachable.
    let never =
        matches!(&sig.output, syn::ReturnType::Type(_, ty) if matches!(**ty, syn::Type::Never(_)));
    let call = quote!(#name(#(#passed),*));
    let finish = if never {
        call
    } else {
        quote! {
            let #result = #call;
            {
                use #krate::__private::{
                    ReportDebug as _, ReportDisplay as _, ReportExit as _, ReportOther as _,
                };
                (&&&&#krate::__private::Returned(&#result)).report();
            }
            #result
        }
    };
    quote! {
        #(#outer)*
        #vis #outer_sig {
            #start
            #(#inner)*
            #sig {
                #(#inner_attrs)*
                #used
                #body
            }
            #finish
        }
    }
}

/// Whether the item is a function, by its `fn` keyword before any body or other item.
fn is_fn(item: &TokenStream) -> bool {
    item.clone().into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "fn",
        _ => false,
    })
}

/// Whether `tokens` name `ident` anywhere, such as `cli` in `cli.log.as_ref().map(...)`.
fn names(tokens: TokenStream, ident: &syn::Ident) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(found) => found == *ident,
        proc_macro2::TokenTree::Group(group) => names(group.stream(), ident),
        _ => false,
    })
}

/// Whether `value` is a place in a parameter: the parameter itself or a field of it, such as
/// `cli.pidfile` or `args.log.path`.
fn reads_param(value: &syn::Expr, params: &[Param<'_>]) -> bool {
    match value {
        syn::Expr::Path(path) => {
            path.path
                .get_ident()
                .is_some_and(|ident| params.iter().any(|p| p.name == ident))
                && path.qself.is_none()
        }
        syn::Expr::Field(field) => reads_param(&field.base, params),
        syn::Expr::Paren(paren) => reads_param(&paren.expr, params),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::daemon;
    use proc_macro2::TokenStream;

    fn tokens(s: &str) -> TokenStream {
        s.parse().unwrap()
    }

    /// The body is never parsed: tokens that are no Rust statement at all pass through
    /// untouched, for rustc to judge (and report at the user's own line).
    #[test]
    fn the_body_passes_through_unparsed() {
        let body = "this is @ not ; rust ! ( at all ) 42 'x' \"s\"";
        let out = daemon(
            tokens("pidfile = \"/run/x.pid\""),
            tokens(&format!("fn main() {{ {body} }}")),
        );
        let out = out.to_string();
        assert!(out.contains(&tokens(body).to_string()), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains(":: daemon_rt :: __private :: start"), "{out}");
    }

    /// A path or a user read from a parameter's field is borrowed, a `bool` is copied, and
    /// the inner function is called with the parameters.
    #[test]
    fn parameters_are_borrowed_then_passed() {
        let out = daemon(
            tokens("pidfile = args.pidfile, user = args.user, foreground = args.foreground"),
            tokens("fn serve(mut args: Args) { args.port += 1; }"),
        )
        .to_string();
        assert!(
            out.contains("pidfile (__daemon , & (args . pidfile))"),
            "{out}"
        );
        assert!(out.contains("user (__daemon , & (args . user))"), "{out}");
        assert!(
            out.contains("foreground (__daemon , args . foreground)"),
            "{out}"
        );
        assert!(out.contains("fn serve (args : Args)"), "{out}");
        assert!(out.contains("fn serve (mut args : Args)"), "{out}");
        assert!(out.contains("serve (args)"), "{out}");
    }

    /// `args = EXPR` is bound to the parameter first; the outer function takes nothing.
    #[test]
    fn args_computes_the_parameter_first() {
        let out = daemon(
            tokens("args = Cli::parse(), stdout = cli.log"),
            tokens("fn main(cli: Cli) {}"),
        )
        .to_string();
        let bound = out.find("let cli : Cli = Cli :: parse () ;").expect(&out);
        let started = out.find(":: daemon_rt :: __private :: start").expect(&out);
        assert!(bound < started, "{out}");
        assert!(out.starts_with("fn main () {"), "{out}");
        assert!(out.contains("stdout (__daemon , & (cli . log))"), "{out}");
    }

    /// On an error the function is emitted unchanged next to the errors.
    #[test]
    fn errors_keep_the_function() {
        let out = daemon(
            tokens("pid_file = \"/x\""),
            tokens("fn main() { let kept = 1; }"),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("let kept = 1"), "{out}");
        assert!(!out.contains("__private"), "{out}");
    }
}
