//! Implementation detail of [`daemon-rt`](https://docs.rs/daemon-rt): the `#[daemon]`
//! attribute. Depend on `daemon-rt`, which re-exports it and documents it; this crate's
//! version is pinned by `daemon-rt` and has no API of its own.
//!
//! The work is split the way the attribute works: `args` parses and checks the arguments,
//! `func` models the annotated function (its body stays unparsed tokens), `expand` writes
//! the code that calls the runtime.
//!
//! `missing_docs` is denied, so `daemon`, the one public item, has a doc comment too. Rustdoc
//! shows it after the documentation `daemon-rt` gives the re-export (`attribute.md`, whose
//! examples compile there), so it is written as the last section of that page.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod expand;
mod func;

/// # Where it is implemented
///
/// In `daemon-macros`, which `daemon-rt` re-exports as `daemon_rt::daemon` and pins to its
/// exact version. The expansion calls `daemon_rt::__private` (or the `crate` argument's
/// path), so depend on `daemon-rt`, never on `daemon-macros` alone.
#[proc_macro_attribute]
pub fn daemon(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::daemon(args.into(), item.into()).into()
}
