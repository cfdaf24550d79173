//! Policy: judging a binary's [`Facts`] against a [`Target`].
//!
//! Each check has a stable code (documented in `docs/verify.md`) and a default severity. The
//! defaults judge binaries the way users ship them: the official release builds of well-known
//! Rust tools (static non-PIE aarch64 musl, static-pie x86_64 musl, glibc-2.17 gnu) pass their
//! own target. Correctness problems (wrong architecture, a loader or library that will not exist
//! on the server, a glibc too new, store paths) are errors; hardening gaps are warnings unless
//! the user asks for more with `--strict` or `--require-stripped`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::elf::{Facts, GlibcVersion, InspectError, Inspection, Linkage, Relro};
use crate::target::{ExpectedLinkage, Libc, Target};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; does not fail verification.
    Warning,
    /// Fails verification (exit 1).
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable machine-readable code, e.g. `glibc-too-new`.
    pub code: String,
    /// Error or warning.
    pub severity: Severity,
    /// One line for humans.
    pub message: String,
}

/// User choices that tighten or widen the target's policy.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Overrides the target's glibc floor (`--glibc-max`).
    pub glibc_max: Option<GlibcVersion>,
    /// Extra libraries allowed in `DT_NEEDED` (`--allow-needed`), as a soname or its stem.
    pub allow_needed: Vec<String>,
    /// Makes `not-stripped` an error.
    pub require_stripped: bool,
    /// Makes every warning an error.
    pub strict: bool,
    /// Makes `debug-build` a warning (`--allow-debug`), for a release profile that keeps debug
    /// assertions on purpose.
    pub allow_debug: bool,
}

/// Libraries every glibc system has, by stem (`libm` matches `libm.so.6`).
pub const DEFAULT_ALLOWED_NEEDED: &[&str] = &[
    "libc",
    "libm",
    "libpthread",
    "libdl",
    "librt",
    "libgcc_s",
    "libutil",
];

/// The checks, in the order findings are reported.
pub const CODES: &[(&str, &str)] = &[
    ("not-elf", "the file is not an ELF binary"),
    ("malformed-elf", "ELF magic, but the structures do not parse"),
    ("wrong-class", "ELF class (32/64-bit) differs from the target's"),
    ("wrong-endian", "byte order differs from the target's"),
    (
        "wrong-machine",
        "e_machine differs from the target's architecture",
    ),
    ("not-executable", "an object or core file, not a program"),
    (
        "unloadable",
        "the kernel would refuse to load it: no or impossible program headers or segments",
    ),
    (
        "bad-interpreter",
        "the first PT_INTERP is unreadable, of impossible size or not NUL-terminated",
    ),
    (
        "multiple-interpreters",
        "more than one PT_INTERP (the kernel uses the first)",
    ),
    (
        "no-interpreter",
        "an executable that needs shared libraries or glibc versions but has no PT_INTERP",
    ),
    ("not-static", "a musl target's binary is dynamically linked"),
    ("wrong-libc", "linked against another C library than the target's"),
    (
        "nonstandard-interpreter",
        "a gnu binary's loader is not the FHS path",
    ),
    ("store-reference", "a /nix/store path is embedded in the file"),
    ("store-rpath", "RPATH/RUNPATH points into /nix/store"),
    ("glibc-too-new", "needs a glibc symbol version above the floor"),
    (
        "needed-not-allowed",
        "DT_NEEDED names a library outside the allowlist",
    ),
    (
        "debug-build",
        "the bytes show a debug build (warning with --allow-debug)",
    ),
    ("not-pie", "not a position-independent executable (warning)"),
    ("no-relro", "no RELRO segment (warning)"),
    ("exec-stack", "the stack is executable (warning)"),
    (
        "not-stripped",
        "has a symbol table (warning; error with --require-stripped)",
    ),
    (
        "profile-mismatch",
        "the derivation's cargo profile differs from the profile the binary shows (kiln build, verify-release)",
    ),
];

/// Judges one inspection against a target. Returns `Err` only for I/O problems (the file could
/// not be read), which are not findings.
pub fn check(inspection: &Inspection, target: &Target, opts: &Options) -> Result<Vec<Finding>, String> {
    let mut out = Findings::default();
    match &inspection.error {
        Some(InspectError::Io(msg)) => return Err(msg.clone()),
        Some(InspectError::NotElf(what)) => {
            out.error("not-elf", format!("not an ELF binary ({what})"));
            return Ok(out.finish(opts));
        }
        Some(InspectError::Malformed(msg)) => {
            out.error("malformed-elf", format!("malformed ELF: {msg}"));
            return Ok(out.finish(opts));
        }
        None => {}
    }
    check_facts(&inspection.facts, target, opts, &mut out);
    Ok(out.finish(opts))
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, code: &'static str, message: String) {
        self.0.push(Finding {
            code: code.to_owned(),
            severity: Severity::Error,
            message,
        });
    }
    fn warning(&mut self, code: &'static str, message: String) {
        self.0.push(Finding {
            code: code.to_owned(),
            severity: Severity::Warning,
            message,
        });
    }
    fn finish(mut self, opts: &Options) -> Vec<Finding> {
        if opts.strict {
            for f in &mut self.0 {
                f.severity = Severity::Error;
            }
        }
        self.0
    }
}

fn check_facts(f: &Facts, t: &Target, opts: &Options, out: &mut Findings) {
    check_identity(f, t, out);
    check_loadable(f, out);
    check_linkage(f, t, opts, out);
    check_leaks(f, out);
    check_glibc(f, t, opts, out);
    check_profile(f, opts, out);
    check_hardening(f, opts, out);
}

/// Release mode only: a binary whose bytes show a debug build is an error.
fn check_profile(f: &Facts, opts: &Options, out: &mut Findings) {
    if f.build_profile == Some(crate::elf::profile::Profile::Debug) {
        let evidence = f.profile_evidence.first().map_or("", String::as_str);
        let msg = format!("a debug build, not a release: {evidence}");
        if opts.allow_debug {
            out.warning("debug-build", msg);
        } else {
            out.error("debug-build", format!("{msg} (allow it with --allow-debug)"));
        }
    }
}

/// Identity: a binary for another machine is wrong whatever else holds.
fn check_identity(f: &Facts, t: &Target, out: &mut Findings) {
    if let Some(class) = f.class
        && class != t.elf_class
    {
        out.error(
            "wrong-class",
            format!("{class}-bit ELF, target {} is {}-bit", t.triple, t.elf_class),
        );
    }
    if let Some(endian) = f.endian
        && endian != t.elf_endian
    {
        out.error(
            "wrong-endian",
            format!("{endian}-endian, target {} is {}-endian", t.triple, t.elf_endian),
        );
    }
    if let Some(machine) = &f.machine
        && *machine != t.elf_machine
    {
        out.error(
            "wrong-machine",
            format!("built for {machine}, target {} is {}", t.triple, t.elf_machine),
        );
    }
    if let Some(ty) = &f.elf_type
        && ty != "exec"
        && ty != "dyn"
    {
        out.error("not-executable", format!("ELF type {ty} is not a program"));
    }
}

/// The kernel's view: what it would refuse to run is an error, never "ok".
fn check_loadable(f: &Facts, out: &mut Findings) {
    for p in &f.load_problems {
        let code = CODES
            .iter()
            .map(|(c, _)| *c)
            .find(|c| *c == p.code)
            .unwrap_or("unloadable");
        out.error(code, p.message.clone());
    }
}

/// Linkage, C library, loader and needed libraries.
fn check_linkage(f: &Facts, t: &Target, opts: &Options, out: &mut Findings) {
    if t.linkage == ExpectedLinkage::Static && f.linkage == Some(Linkage::Dynamic) {
        let how = match &f.interpreter {
            Some(i) => format!("loader {i}"),
            None => format!("needs {}", f.needed.as_deref().unwrap_or_default().join(", ")),
        };
        out.error(
            "not-static",
            format!("dynamically linked ({how}); {} binaries must be static", t.triple),
        );
    }
    if let Some(libc) = f.libc
        && libc != t.libc
    {
        out.error(
            "wrong-libc",
            format!(
                "linked against {}, target {} uses {}",
                libc_name(libc),
                t.triple,
                libc_name(t.libc)
            ),
        );
    }
    if t.libc == Libc::Gnu
        && let (Some(found), Some(want)) = (&f.interpreter, &t.interpreter)
        && found != want
    {
        out.error(
            "nonstandard-interpreter",
            format!(
                "loader is {found}, which a plain {} Linux host does not have; expected {want}",
                t.arch
            ),
        );
    }

    for lib in f.needed.iter().flatten() {
        if !needed_allowed(lib, t, &opts.allow_needed) {
            out.error(
                "needed-not-allowed",
                format!(
                    "needs {lib}, which a plain {} host may lack (allow it with --allow-needed {lib})",
                    t.arch
                ),
            );
        }
    }
}

/// Nix leaks: store paths in the bytes or in the library search path.
fn check_leaks(f: &Facts, out: &mut Findings) {
    if !f.store_references.is_empty() {
        let n = f.store_references.len();
        let shown: Vec<&str> = f.store_references.iter().take(3).map(String::as_str).collect();
        let more = if n > 3 {
            format!(" and {} more", n - 3)
        } else {
            String::new()
        };
        out.error(
            "store-reference",
            format!("{n} /nix/store path(s) embedded: {}{more}", shown.join(", ")),
        );
    }
    for (kind, entries) in [("RPATH", &f.rpath), ("RUNPATH", &f.runpath)] {
        for e in entries.iter().flatten().filter(|e| e.contains("/nix/store/")) {
            out.error(
                "store-rpath",
                format!("{kind} entry {e} points into the Nix store"),
            );
        }
    }
}

/// The glibc floor.
fn check_glibc(f: &Facts, t: &Target, opts: &Options, out: &mut Findings) {
    if t.libc == Libc::Gnu
        && let Some(max) = f.glibc_max.as_deref().and_then(GlibcVersion::parse)
    {
        let floor = opts
            .glibc_max
            .clone()
            .or_else(|| t.glibc_floor.as_deref().and_then(GlibcVersion::parse));
        if let Some(floor) = floor
            && max > floor
        {
            out.error("glibc-too-new", glibc_too_new(f, &max, &floor));
        }
    }
}

/// How many of the symbols above the floor `glibc-too-new` names.
const GLIBC_SYMBOLS_NAMED: usize = 3;

/// `needs GLIBC_2.34 (pthread_create@GLIBC_2.34, getrandom@GLIBC_2.25), above the floor 2.17; …`:
/// the highest few symbols above the floor, then the fix.
fn glibc_too_new(f: &Facts, max: &GlibcVersion, floor: &GlibcVersion) -> String {
    let above: Vec<&str> = f
        .glibc_symbols
        .iter()
        .filter(|s| {
            s.rsplit_once("@GLIBC_")
                .and_then(|(_, v)| GlibcVersion::parse(v))
                .is_some_and(|v| v > *floor)
        })
        .map(String::as_str)
        .collect();
    let symbols = match above.len() {
        0 => String::new(),
        n if n <= GLIBC_SYMBOLS_NAMED => format!(" ({})", above.join(", ")),
        _ => format!(" ({}, …)", above[..GLIBC_SYMBOLS_NAMED].join(", ")),
    };
    format!(
        "needs GLIBC_{max}{symbols}, above the floor {floor}; it will not run on older hosts \
         (fix: build with the flake's gnu targets, which pin the glibc floor, or use a musl target)"
    )
}

/// Hardening: warnings unless asked for more.
fn check_hardening(f: &Facts, opts: &Options, out: &mut Findings) {
    if f.pie == Some(false) && f.elf_type.as_deref() == Some("exec") {
        out.warning(
            "not-pie",
            "not a position-independent executable (no ASLR for the main binary)".into(),
        );
    }
    if f.relro == Some(Relro::None) {
        out.warning(
            "no-relro",
            "no RELRO segment: relocated data stays writable".into(),
        );
    }
    if f.nx == Some(false) {
        out.warning(
            "exec-stack",
            "the stack is executable (PT_GNU_STACK has PF_X, or is missing)".into(),
        );
    }
    if f.stripped == Some(false) {
        let msg = "has a symbol table (.symtab); strip release binaries".to_owned();
        if opts.require_stripped {
            out.error("not-stripped", msg);
        } else {
            out.warning("not-stripped", msg);
        }
    }
}

fn libc_name(l: Libc) -> &'static str {
    match l {
        Libc::Gnu => "glibc",
        Libc::Musl => "musl",
    }
}

/// Whether a `DT_NEEDED` soname is allowed: a default stem, the target's loader, or a
/// user-allowed name (exact soname or stem).
pub fn needed_allowed(lib: &str, t: &Target, extra: &[String]) -> bool {
    let stem_matches = |stem: &str| {
        let stem = stem.strip_suffix(".so").unwrap_or(stem);
        lib == stem
            || lib
                .strip_prefix(stem)
                .and_then(|rest| rest.strip_prefix(".so"))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    t.loader_name() == Some(lib)
        || DEFAULT_ALLOWED_NEEDED.iter().any(|s| stem_matches(s))
        || extra.iter().any(|s| s == lib || stem_matches(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::lookup;

    #[test]
    fn needed_allowlist() {
        let t = lookup("x86_64-gnu").unwrap();
        for ok in [
            "libc.so.6",
            "libm.so.6",
            "libpthread.so.0",
            "libgcc_s.so.1",
            "ld-linux-x86-64.so.2",
            "libdl.so.2",
        ] {
            assert!(needed_allowed(ok, t, &[]), "{ok}");
        }
        for bad in [
            "libssl.so.3",
            "libcrypto.so",
            "libcx.so.6",
            "libc.musl-x86_64.so.1",
            "ld-linux-aarch64.so.1",
        ] {
            assert!(!needed_allowed(bad, t, &[]), "{bad}");
        }
        assert!(needed_allowed("libssl.so.3", t, &["libssl".into()]));
        assert!(needed_allowed("libssl.so.3", t, &["libssl.so".into()]));
        assert!(needed_allowed("libssl.so.3", t, &["libssl.so.3".into()]));
        assert!(!needed_allowed("libssl.so.3", t, &["libssl.so.1".into()]));
    }

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for (code, _) in CODES {
            assert!(seen.insert(code), "{code}");
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        }
    }
}
