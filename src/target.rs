//! The target table: the four Linux triples kiln builds and verifies.
//!
//! The table is data, not code. It lives in `nix/targets.json`, which the Nix side reads with
//! `builtins.fromJSON` and this module embeds at compile time, so the flake and the CLI can never
//! disagree about a loader path, a glibc floor or a flake attribute name. Edit the JSON file, not
//! this module.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The embedded `nix/targets.json`.
const TABLE_JSON: &str = include_str!("../nix/targets.json");

/// The C library a target links against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// GNU C library: dynamically linked through the FHS loader, with a glibc version floor.
    Gnu,
    /// musl: linked fully statically (static or static-pie).
    Musl,
}

impl fmt::Display for Libc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Libc::Gnu => "gnu",
            Libc::Musl => "musl",
        })
    }
}

/// How a target's binaries are expected to be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedLinkage {
    /// No `PT_INTERP`, no `DT_NEEDED`: plain static or static-pie.
    Static,
    /// Loaded by the target's FHS dynamic loader.
    Dynamic,
}

/// Byte order of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

impl fmt::Display for Endian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endian::Little => "little",
            Endian::Big => "big",
        })
    }
}

/// One supported target, exactly as recorded in `nix/targets.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Rust target triple, e.g. `x86_64-unknown-linux-musl`.
    pub triple: String,
    /// Flake attribute under `packages.<system>`, e.g. `x86_64-musl`.
    pub attr: String,
    /// CPU architecture name, e.g. `aarch64`.
    pub arch: String,
    /// Nix system the binary runs on, e.g. `aarch64-linux`.
    pub system: String,
    /// The C library.
    pub libc: Libc,
    /// Expected linkage of shipped binaries.
    pub linkage: ExpectedLinkage,
    /// ELF class: 32 or 64.
    pub elf_class: u8,
    /// ELF byte order.
    pub elf_endian: Endian,
    /// ELF machine name as kiln's inspector reports it (`x86_64`, `aarch64`).
    pub elf_machine: String,
    /// Numeric `e_machine` value.
    pub e_machine: u16,
    /// FHS dynamic loader (gnu targets only).
    pub interpreter: Option<String>,
    /// Highest glibc symbol version a binary may need (gnu targets only).
    pub glibc_floor: Option<String>,
    /// qemu user-mode emulator that runs the target's binaries on another host.
    pub qemu: String,
    /// zig target name without the glibc suffix, e.g. `aarch64-linux-gnu`.
    pub zig_target: String,
    /// nixpkgs `lib.systems.examples` name for `pkgsCross`.
    pub nixpkgs_cross: String,
    /// OCI platform architecture (`amd64`, `arm64`).
    pub oci_arch: String,
    /// One line for humans.
    pub description: String,
}

impl Target {
    /// The basename of the FHS loader, e.g. `ld-linux-aarch64.so.1`.
    pub fn loader_name(&self) -> Option<&str> {
        self.interpreter
            .as_deref()
            .map(|p| p.rsplit('/').next().unwrap_or(p))
    }

    /// The Rust-style environment suffix for cargo variables, e.g. `AARCH64_UNKNOWN_LINUX_GNU`.
    pub fn cargo_env(&self) -> String {
        self.triple.replace('-', "_").to_ascii_uppercase()
    }
}

/// The whole table file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[allow(dead_code)]
    schema: u32,
    #[allow(dead_code)]
    comment: String,
    default_glibc_floor: String,
    build_systems: Vec<String>,
    targets: Vec<Target>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The file is embedded at compile time and covered by a unit test, so a parse failure
        // here is a build defect, not a user error.
        serde_json::from_str(TABLE_JSON).expect("nix/targets.json is valid (see target tests)")
    })
}

/// Every supported target, in table order.
pub fn all() -> &'static [Target] {
    &table().targets
}

/// The glibc floor that applies when neither the target nor the user names one.
pub fn default_glibc_floor() -> &'static str {
    &table().default_glibc_floor
}

/// Nix systems the flake builds on.
pub fn build_systems() -> &'static [String] {
    &table().build_systems
}

/// A target name that is neither a known triple nor a known flake attribute.
#[derive(Debug, thiserror::Error)]
#[error("unknown target '{name}' (known: {})", known_list())]
pub struct UnknownTarget {
    /// What the user typed.
    pub name: String,
}

/// `triple (attr), …` for error messages.
pub fn known_list() -> String {
    all()
        .iter()
        .map(|t| format!("{} ({})", t.triple, t.attr))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks a target up by full triple or by flake attribute name.
pub fn lookup(name: &str) -> Result<&'static Target, UnknownTarget> {
    all()
        .iter()
        .find(|t| t.triple == name || t.attr == name)
        .ok_or_else(|| UnknownTarget {
            name: name.to_owned(),
        })
}

/// Resolves a list of names, keeping order and dropping duplicates.
pub fn lookup_many<S: AsRef<str>>(names: &[S]) -> Result<Vec<&'static Target>, UnknownTarget> {
    let mut out: Vec<&'static Target> = Vec::new();
    for name in names {
        let t = lookup(name.as_ref())?;
        if !out.iter().any(|o| o.triple == t.triple) {
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_has_the_four_targets() {
        let triples: Vec<_> = all().iter().map(|t| t.triple.as_str()).collect();
        assert_eq!(
            triples,
            [
                "x86_64-unknown-linux-gnu",
                "x86_64-unknown-linux-musl",
                "aarch64-unknown-linux-gnu",
                "aarch64-unknown-linux-musl"
            ]
        );
    }

    #[test]
    fn gnu_targets_have_loader_and_floor_musl_have_neither() {
        for t in all() {
            match t.libc {
                Libc::Gnu => {
                    assert!(t.interpreter.as_deref().unwrap().starts_with("/lib"));
                    assert_eq!(t.glibc_floor.as_deref(), Some(default_glibc_floor()));
                    assert_eq!(t.linkage, ExpectedLinkage::Dynamic);
                }
                Libc::Musl => {
                    assert!(t.interpreter.is_none() && t.glibc_floor.is_none());
                    assert_eq!(t.linkage, ExpectedLinkage::Static);
                }
            }
            assert_eq!(t.attr, format!("{}-{}", t.arch, t.libc));
            assert!(t.triple.starts_with(&t.arch) && t.triple.ends_with(&t.libc.to_string()));
            assert!(build_systems().contains(&t.system));
        }
    }

    #[test]
    fn lookup_accepts_triple_and_attr() {
        assert_eq!(
            lookup("aarch64-musl").unwrap().triple,
            "aarch64-unknown-linux-musl"
        );
        assert_eq!(lookup("x86_64-unknown-linux-gnu").unwrap().attr, "x86_64-gnu");
        let err = lookup("riscv64-gnu").unwrap_err().to_string();
        assert!(
            err.starts_with("unknown target 'riscv64-gnu' (known: x86_64-unknown-linux-gnu (x86_64-gnu)")
        );
        assert_eq!(
            lookup("aarch64-gnu").unwrap().loader_name(),
            Some("ld-linux-aarch64.so.1")
        );
        assert_eq!(
            lookup("aarch64-gnu").unwrap().cargo_env(),
            "AARCH64_UNKNOWN_LINUX_GNU"
        );
    }

    #[test]
    fn lookup_many_dedups_in_order() {
        let ts = lookup_many(&["aarch64-musl", "x86_64-gnu", "aarch64-unknown-linux-musl"]).unwrap();
        let attrs: Vec<_> = ts.iter().map(|t| t.attr.as_str()).collect();
        assert_eq!(attrs, ["aarch64-musl", "x86_64-gnu"]);
    }
}
