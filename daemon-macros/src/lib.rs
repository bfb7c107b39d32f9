//! Implementation detail of [`daemon-rt`](https://docs.rs/daemon-rt): the `#[daemon]`
//! attribute will live here. Depend on `daemon-rt`, which re-exports it; this crate's
//! version is pinned by `daemon-rt` and has no API of its own.
#![forbid(unsafe_code)]
