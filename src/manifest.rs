//! `manifest.json`: what a `dist/` holds and where every byte came from.
//!
//! The manifest carries no wall-clock time or host detail, so two exports of the same build are
//! byte-identical. Its schema is documented in `docs/build.md`; `schema` changes when a field's
//! meaning changes.

use serde::{Deserialize, Serialize};

use crate::policy::Finding;

/// The manifest's schema identifier.
pub const SCHEMA: &str = "kiln-manifest/v1";
/// The manifest's file name in a dist.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The whole `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Release name (Cargo.toml `package.name`, or the first package's `pname`).
    pub name: String,
    /// Release version.
    pub version: String,
    /// Where the source came from.
    pub source: Source,
    /// The timestamp put on every archive member.
    pub source_date_epoch: i64,
    /// The Nix that built it.
    pub nix: NixInfo,
    /// Archive format of the artifacts.
    pub archive_format: String,
    /// One entry per target, in the order asked for.
    pub artifacts: Vec<Artifact>,
    /// The OCI images made by `kiln image` / `kiln build --image`, when made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<crate::oci::ImageSet>,
}

/// The flake that was built.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// The flake reference as given (`github:owner/repo/ref`, …); for a local flake (a
    /// `path:`, `git+file:` or bare-path reference) its location-free form, `path:.` or
    /// `git+file:.` (plus `?dir=…`), so where the checkout was is not recorded.
    pub flake: String,
    /// The locked URL Nix resolved a remote flake to; `null` for a local flake (its identity is
    /// `revision`, `nar_hash` and `last_modified`).
    pub locked_url: Option<String>,
    /// Git revision, when the source is a clean git tree.
    pub revision: Option<String>,
    /// NAR hash of the source tree.
    pub nar_hash: Option<String>,
    /// `lastModified` of the source.
    pub last_modified: Option<i64>,
}

/// The Nix used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NixInfo {
    /// `nix --version`.
    pub version: String,
    /// The Nix system the flake's packages were taken from.
    pub system: String,
}

/// One target's (or one package's target's) archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    /// Full triple.
    pub target: String,
    /// Flake attribute built (`packages.<system>.<attr>`).
    pub attr: String,
    /// The package (`kiln build --package`), when the flake ships several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Archive file name inside `dist/`.
    pub file: String,
    /// SHA-256 of the archive.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    /// The Nix output the binaries came from.
    pub store_path: String,
    /// The derivation that produced it.
    pub drv_path: String,
    /// Linkage of the binaries (of the first, when several differ).
    pub linkage: Option<String>,
    /// Highest glibc version any binary needs.
    pub glibc_max: Option<String>,
    /// The cargo profile the derivation used, where kiln can read it (see `docs/build.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo_profile: Option<String>,
    /// Every binary in the archive.
    pub binaries: Vec<Binary>,
    /// All findings of all binaries (warnings only, or the export would not exist).
    pub findings: Vec<Finding>,
}

/// One binary inside an archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Binary {
    /// Path inside the archive.
    pub path: String,
    /// SHA-256 of the binary.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// static | static-pie | dynamic.
    pub linkage: Option<String>,
    /// gnu | musl.
    pub libc: Option<String>,
    /// Highest `GLIBC_` version needed.
    pub glibc_max: Option<String>,
    /// The build profile the binary's bytes show: debug | release | unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_profile: Option<String>,
    /// Verification findings.
    pub findings: Vec<Finding>,
    /// The `--smoke` run, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoke: Option<Smoke>,
}

/// Result of running a binary once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Smoke {
    /// Arguments given.
    pub args: Vec<String>,
    /// How it was run: `native` or the qemu binary.
    pub runner: String,
    /// Exit code (`None`: killed by a signal or timed out).
    pub exit_code: Option<i32>,
    /// First line of stdout (or stderr when stdout was empty).
    pub first_line: String,
}
