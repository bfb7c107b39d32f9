//! Implementation detail of [`daemon-rt`](https://docs.rs/daemon-rt): the `#[daemon]`
//! attribute. Depend on `daemon-rt`, which re-exports it and documents it; this crate's
//! version is pinned by `daemon-rt` and has no API of its own.
//!
//! The work is split the way the attribute works: `args` parses and checks the arguments,
//! `func` models the annotated function (its body stays unparsed tokens), `expand` writes
//! the code that calls the runtime.
#![forbid(unsafe_code)]

mod args;
mod expand;
mod func;

// Documented on its re-export, `daemon_rt::daemon`, where the examples can compile.
#[proc_macro_attribute]
pub fn daemon(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::daemon(args.into(), item.into()).into()
}
