//! kiln's integration tests: they drive the built `kiln` binary on real
//! binaries made by `tests/fixtures/elf/build.sh` (see the README there)
//! and on real Nix builds of the fixture flakes in `tests/fixtures/flakes`.
//! One module per command or concern (errors, faults, hermetic, profile, remote); `util` and
//! `nixenv` are the shared harnesses.

mod build;
mod cache;
mod errors;
mod faults;
mod hermetic;
mod image;
mod init;
mod inspect;
mod nixenv;
mod profile;
mod release;
mod remote;
mod targets;
mod util;
mod verify;
