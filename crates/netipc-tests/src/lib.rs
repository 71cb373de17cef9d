//! Not a published library: the integration tests of `netipc` are in
//! `tests/`, helpers they share (providers that behave like the reference
//! implementation's, [`reference`]) are here, and the
//! peer process they spawn in `src/bin/`. This target makes the Rust
//! examples of the repository's README doctests (run in the Linux lane), so
//! its library example keeps running as written.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct RepositoryReadme;

pub mod matrix;
pub mod reference;
