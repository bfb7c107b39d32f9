//! The annotated function, modelled without parsing its body.
//!
//! The attributes and the signature are parsed; the body stays a token stream, so a large
//! `main` costs no parsing and rustc, not this macro, reports the user's own syntax errors.

use proc_macro2::{Delimiter, Group, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, Signature, Visibility};

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
        let group: Group = input.parse()?;
        if group.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(
                group.span(),
                "expected the function's body",
            ));
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

impl DaemonFn {
    /// The signature problems that make the function unusable as a daemon's entry point,
    /// each on the offending tokens.
    pub(crate) fn check(&self) -> Vec<syn::Error> {
        let sig = &self.sig;
        let mut errors = Vec::new();
        if let Some(token) = &sig.constness {
            errors.push(syn::Error::new(
                token.span,
                "`#[daemon]` cannot be used on a `const fn`: daemonizing happens at run time",
            ));
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.push(syn::Error::new_spanned(
                &sig.generics,
                "a `#[daemon]` function cannot be generic: it is an entry point, called as `name()`",
            ));
        }
        for input in &sig.inputs {
            let what = match input {
                FnArg::Receiver(_) => "`self`",
                FnArg::Typed(_) => "parameters",
            };
            errors.push(syn::Error::new_spanned(
                input,
                format!(
                    "a `#[daemon]` function takes no {what}: compute values in the attribute's \
                     arguments (they run before daemonizing) or in the body"
                ),
            ));
        }
        if let Some(variadic) = &sig.variadic {
            errors.push(syn::Error::new_spanned(
                variadic,
                "a `#[daemon]` function takes no parameters",
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
