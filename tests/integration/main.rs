//! kiln's integration tests: they drive the built `kiln` binary on real
//! binaries made by `tests/fixtures/elf/build.sh` (see the README there)
//! and on real Nix builds of the fixture flakes in `tests/fixtures/flakes`.
//! One module per command or concern (errors, faults, hermetic, human output, profile, remote).
//! The shared parts: `harness` runs kiln (the `Test` builder) and the other programs, `nixenv`
//! is the test Nix and the fixture flakes, `elf` the ELF fixtures and the `readelf` oracle.

mod build;
mod cache;
mod elf;
mod errors;
mod faults;
mod harness;
mod hermetic;
mod human_output;
mod image;
mod init;
mod inspect;
mod nixenv;
mod profile;
mod readme;
mod release;
mod remote;
mod targets;
mod verify;
