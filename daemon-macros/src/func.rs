//! The annotated function, modelled without parsing its body.
//!
//! The attributes and the signature are parsed; the body stays a token stream, so a large
//! `main` costs no parsing and rustc, not this macro, reports the user's own syntax errors.

use proc_macro2::{Delimiter, Group, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, Ident, Pat, PatIdent, PatType, Signature, Type, Visibility};

use crate::args::written;

/// `#[attrs] vis sig { body }`, the body kept as tokens.
pub(crate) struct DaemonFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// The inner attributes at the top of the body (`#![allow(...)]`), which must stay first.
    pub(crate) inner_attrs: Vec<Attribute>,
    /// The rest of the body.
    pub(crate) body: TokenStream,
}

impl Parse for DaemonFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body_error = |span, written: String| {
            syn::Error::new(
                span,
                format!("expected the function's body, `{{ ... }}`, not `{written}`"),
            )
        };
        let group: Group = match input.parse() {
            Ok(group) => group,
            Err(err) => {
                let written = input
                    .cursor()
                    .token_tree()
                    .map_or_else(|| "nothing".to_owned(), |(tree, _)| tree.to_string());
                return Err(body_error(err.span(), written));
            }
        };
        if group.delimiter() != Delimiter::Brace {
            return Err(body_error(group.span(), group.to_string()));
        }
        let (inner_attrs, body) = syn::parse::Parser::parse2(
            |content: ParseStream<'_>| {
                let inner = content.call(Attribute::parse_inner)?;
                Ok((inner, content.parse::<TokenStream>()?))
            },
            group.stream(),
        )?;
        Ok(DaemonFn {
            attrs,
            vis,
            sig,
            inner_attrs,
            body,
        })
    }
}

/// One parameter of the function: a simple name and its type.
pub(crate) struct Param<'a> {
    pub(crate) name: &'a Ident,
    pub(crate) ty: &'a Type,
}

impl DaemonFn {
    /// The parameters, for those that are simple names (`name: Type`, `mut name: Type`);
    /// [`check`](Self::check) reports the others.
    pub(crate) fn params(&self) -> Vec<Param<'_>> {
        self.sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(PatType { pat, ty, .. }) => match &**pat {
                    Pat::Ident(PatIdent {
                        by_ref: None,
                        subpat: None,
                        ident,
                        ..
                    }) => Some(Param { name: ident, ty }),
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            })
            .collect()
    }

    /// The signature problems that make the function unusable as a daemon's entry point,
    /// each on the offending tokens. `args` is the `args = ...` argument's name, if given.
    pub(crate) fn check(&self, args: Option<&Ident>) -> Vec<syn::Error> {
        let sig = &self.sig;
        let mut errors = Vec::new();
        if let Some(second) = self.attrs.iter().find(|a| is_daemon_attr(a)) {
            errors.push(syn::Error::new_spanned(
                second,
                format!(
                    "`#[daemon]` is given twice: remove {}, a function daemonizes once",
                    written(second)
                ),
            ));
        }
        if let Some(token) = &sig.constness {
            errors.push(syn::Error::new(
                token.span,
                "`#[daemon]` cannot be used on a `const fn`: daemonizing happens at run time",
            ));
        }
        // Lifetimes are no generic types: `fn serve<'a>(cli: &'a Cli)` is called once as well.
        let generic = sig
            .generics
            .params
            .iter()
            .any(|p| !matches!(p, syn::GenericParam::Lifetime(_)));
        if generic || sig.generics.where_clause.is_some() {
            let generics = &sig.generics;
            let where_clause = &generics.where_clause;
            let text = quote::quote!(#generics #where_clause);
            errors.push(syn::Error::new_spanned(
                &sig.generics,
                format!(
                    "a `#[daemon]` function cannot be generic: {}; it is called once, with \
                     the types its parameters name",
                    written(&text)
                ),
            ));
        }
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                    receiver,
                    format!(
                        "a `#[daemon]` function cannot take {}: it is a free function, such as \
                         `fn serve(args: Args)`",
                        written(receiver)
                    ),
                )),
                FnArg::Typed(PatType { pat, attrs, .. }) => {
                    // The function is called with every parameter: one compiled out would be
                    // passed anyway.
                    if let Some(cfg) = attrs
                        .iter()
                        .find(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
                    {
                        errors.push(syn::Error::new_spanned(
                            cfg,
                            format!(
                                "a `#[daemon]` function's parameter cannot be conditional: {} \
                                 on {}; the function is called with all its parameters, so put \
                                 the condition on a field of the parameter's type, or on the \
                                 whole function",
                                written(cfg),
                                written(pat)
                            ),
                        ));
                    }
                    if !matches!(
                        &**pat,
                        Pat::Ident(PatIdent {
                            by_ref: None,
                            subpat: None,
                            ..
                        })
                    ) {
                        errors.push(syn::Error::new_spanned(
                            pat,
                            format!(
                                "a `#[daemon]` function's parameters are simple names, such as \
                                 `args: Args`, not {}: the attribute's arguments read them by \
                                 name; destructure in the body",
                                written(pat)
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(variadic) = &sig.variadic {
            errors.push(syn::Error::new_spanned(
                variadic,
                format!(
                    "a `#[daemon]` function cannot be variadic: {}",
                    written(variadic)
                ),
            ));
        }
        let count = sig.inputs.len();
        match args {
            Some(args) if count != 1 => {
                let has = match count {
                    0 => "none".to_owned(),
                    n => format!("{n}"),
                };
                errors.push(syn::Error::new(
                    args.span(),
                    format!(
                        "`args` gives the value of the function's one parameter, and `{}` has \
                         {has}: write `fn {}(cli: Cli)` to receive it",
                        sig.ident, sig.ident
                    ),
                ));
            }
            None if sig.ident == "main" && count > 0 => {
                if let Some(first) = sig.inputs.first() {
                    let ty = match first {
                        FnArg::Typed(typed) => written(&typed.ty).replace('`', ""),
                        FnArg::Receiver(_) => "Cli".to_owned(),
                    };
                    errors.push(syn::Error::new_spanned(
                        first,
                        format!(
                            "`main` is called without arguments, so {} needs `args` to compute \
                             it before daemonizing, such as `#[daemon(args = {ty}::parse())]` \
                             for a `{ty}` that derives `clap::Parser`",
                            written(first)
                        ),
                    ));
                }
            }
            _ => {}
        }
        // The body moves into a function nested in this one, where an `impl`'s `Self` does
        // not exist: rustc would say "can't use `Self` from outer item" about an inner
        // function the user never wrote.
        let written_sig = quote::quote!(#sig);
        if let Some(token) = find_self(written_sig).or_else(|| find_self(self.body.clone())) {
            errors.push(syn::Error::new(
                token.span(),
                "a `#[daemon]` function cannot use `Self`: its body runs in a function nested \
                 inside it, outside the `impl`; name the type instead, or put `#[daemon]` on a \
                 free function that the method calls",
            ));
        }
        if let Some(token) = &sig.asyncness
            && !self.attrs.iter().any(is_runtime_attr)
        {
            errors.push(syn::Error::new(
                token.span,
                "an `async fn` needs an async runtime attribute below `#[daemon]`, such as \
                 `#[tokio::main]`: `#[daemon]` forks first, then the runtime starts in the \
                 daemon",
            ));
        }
        errors
    }
}

/// Another `#[daemon]` below the one expanding: `#[daemon]`, `#[daemon_rt::daemon]`, or the
/// attribute under any path that ends in `daemon`.
fn is_daemon_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "daemon")
}

/// An attribute that turns an `async fn` into a sync one by starting a runtime: its path ends
/// in `main` (`#[tokio::main]`, `#[async_std::main]`, `#[actix_web::main]`, ...).
fn is_runtime_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "main")
}

/// Whether an attribute of an `async fn` stays on the outer, synchronous function: its docs,
/// and `cfg`/`cfg_attr`, so that compiling it out removes the whole function. Every other
/// attribute (the runtime's, lints) goes with the body to the inner function.
pub(crate) fn stays_outside(attr: &Attribute) -> bool {
    ["doc", "cfg", "cfg_attr"]
        .iter()
        .any(|name| attr.path().is_ident(name))
}

/// The first `Self` in `tokens` that would refer to an enclosing `impl`. The body of an item
/// the body declares itself is skipped, since a `Self` there names that item: the brace group
/// after `impl`, `trait` or `macro_rules`, the brace or parenthesis group after `struct`,
/// `enum` or `union`.
fn find_self(tokens: TokenStream) -> Option<Ident> {
    let mut skip_next_brace = false;
    let mut skip_next_paren = false;
    for token in tokens {
        match token {
            proc_macro2::TokenTree::Ident(ident) => {
                if ident == "Self" {
                    return Some(ident);
                }
                if ["impl", "trait", "macro_rules"]
                    .iter()
                    .any(|keyword| ident == keyword)
                {
                    skip_next_brace = true;
                }
                if ["struct", "enum", "union"]
                    .iter()
                    .any(|keyword| ident == keyword)
                {
                    skip_next_brace = true;
                    skip_next_paren = true;
                }
            }
            proc_macro2::TokenTree::Group(group) => {
                let skip = match group.delimiter() {
                    Delimiter::Brace => skip_next_brace,
                    Delimiter::Parenthesis => skip_next_paren,
                    _ => false,
                };
                if skip {
                    skip_next_brace = false;
                    skip_next_paren = false;
                    continue;
                }
                if let Some(found) = find_self(group.stream()) {
                    return Some(found);
                }
            }
            proc_macro2::TokenTree::Punct(punct) => {
                // `struct A;` and `struct A(Box<Self>);` end without a brace group.
                if punct.as_char() == ';' {
                    skip_next_brace = false;
                    skip_next_paren = false;
                }
            }
            proc_macro2::TokenTree::Literal(_) => {}
        }
    }
    None
}
