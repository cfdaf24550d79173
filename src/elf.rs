//! ELF inspection: facts about a file, never judgements.
//!
//! [`inspect`] reads a file once through a memory map. One sequential pass feeds the SHA-256 and
//! the `/nix/store` scanner chunk by chunk (dropping each chunk's pages afterwards, so memory stays
//! flat for gigabyte files); the ELF structures are parsed with goblin from the same map. The
//! result, [`Facts`], is what `kiln inspect --json` prints; [`crate::policy`] turns facts into
//! findings for a target.
//!
//! How each fact is decided is documented on its field and in `docs/inspect.md`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use goblin::elf::Elf;
use goblin::elf::dynamic::{DF_1_NOW, DF_1_PIE, DF_BIND_NOW, DT_BIND_NOW, DT_FLAGS, DT_FLAGS_1};
use goblin::elf::header::{ET_CORE, ET_DYN, ET_EXEC, ET_NONE, ET_REL};
use goblin::elf::program_header::{PF_X, PT_DYNAMIC, PT_GNU_RELRO, PT_GNU_STACK};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store_refs::StoreRefScanner;

/// The container format of a file, from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// ELF (`\x7fELF`).
    Elf,
    /// Windows PE/COFF (`MZ`).
    Pe,
    /// Mach-O, thin or fat.
    Macho,
    /// Anything else, including empty files and scripts.
    Unknown,
}

/// How the program gets loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linkage {
    /// No `PT_INTERP`, no `DT_NEEDED`, not position independent.
    Static,
    /// `ET_DYN` with a `PT_DYNAMIC` segment (it relocates itself) but no `PT_INTERP` and no
    /// `DT_NEEDED`: musl's and glibc's static-pie. `ldd` calls these dynamic; they are not.
    StaticPie,
    /// Has a `PT_INTERP` or at least one `DT_NEEDED` entry.
    Dynamic,
}

impl Linkage {
    /// The JSON spelling: `static`, `static-pie` or `dynamic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Linkage::Static => "static",
            Linkage::StaticPie => "static-pie",
            Linkage::Dynamic => "dynamic",
        }
    }
}

/// RELRO level, from `PT_GNU_RELRO` and the dynamic flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relro {
    /// A `PT_GNU_RELRO` segment and nothing bound lazily: `BIND_NOW` (`DT_BIND_NOW`,
    /// `DF_BIND_NOW` or `DF_1_NOW`) or no PLT relocations at all (static binaries).
    Full,
    /// A `PT_GNU_RELRO` segment, but PLT slots are bound lazily and stay writable.
    Partial,
    /// No `PT_GNU_RELRO` segment.
    None,
}

/// Everything `kiln inspect` reports about one file. Field order is the JSON key order.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// The path as given.
    pub path: PathBuf,
    /// Container format from the magic bytes; `None` when the file could not be read.
    pub format: Option<Format>,
    /// `EI_CLASS`: 32 or 64.
    pub class: Option<u8>,
    /// `EI_DATA`: little or big.
    pub endian: Option<crate::target::Endian>,
    /// `e_machine` as a lower-case name (`x86_64`, `aarch64`, …) or `em-<number>`.
    pub machine: Option<String>,
    /// `e_type`: exec, dyn, rel, core, none, or `other-<number>`.
    pub elf_type: Option<String>,
    /// `PT_INTERP` contents.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries in order.
    pub needed: Option<Vec<String>>,
    /// `DT_RPATH`, split on `:`.
    pub rpath: Option<Vec<String>>,
    /// `DT_RUNPATH`, split on `:`.
    pub runpath: Option<Vec<String>>,
    /// Static, static-pie or dynamic; `None` for relocatable objects and core files.
    pub linkage: Option<Linkage>,
    /// The C library, decided from evidence (see `detect_libc`); `None` when there is none.
    pub libc: Option<crate::target::Libc>,
    /// Highest `GLIBC_x.y[.z]` in the version-needs section (`.gnu.version_r`).
    pub glibc_max: Option<String>,
    /// Position-independent executable (`ET_DYN` that is an executable, static-pie included).
    pub pie: Option<bool>,
    /// RELRO level.
    pub relro: Option<Relro>,
    /// Non-executable stack: `PT_GNU_STACK` without `PF_X` (a missing `PT_GNU_STACK` counts as
    /// non-executable only on aarch64, whose kernel never implies an executable stack).
    pub nx: Option<bool>,
    /// Stack protector: a `__stack_chk_fail`/`__stack_chk_guard` symbol in `.dynsym` or `.symtab`.
    /// A stripped static binary hides it, so `false` there means "no evidence".
    pub canary: Option<bool>,
    /// No `.symtab` section (and so no local symbols or debug names to leak).
    pub stripped: Option<bool>,
    /// `NT_GNU_BUILD_ID` note, lower-case hex.
    pub build_id: Option<String>,
    /// Distinct `/nix/store/<hash>-<name>` strings anywhere in the bytes, sorted. Only real
    /// Nix base-32 hashes count, so crane's `eeee…` placeholders do not.
    pub store_references: Vec<String>,
    /// Build profile the bytes show: `debug`, `release` or `unknown` (see [`crate::profile`]);
    /// `None` when the file is not a parsable ELF.
    pub build_profile: Option<crate::profile::Profile>,
    /// The short facts `build_profile` rests on.
    pub profile_evidence: Vec<String>,
    /// File size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: Option<String>,
    /// Why the file could not be inspected, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a file could not be inspected. The variants let callers tell I/O trouble (exit 2 in
/// `verify`) from a file that is simply not a usable ELF (a finding in `verify`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Io(String),
    /// Not an ELF file at all.
    #[error("not an ELF file ({0})")]
    NotElf(&'static str),
    /// ELF magic, but the structures do not parse.
    #[error("malformed ELF: {0}")]
    Malformed(String),
}

impl Facts {
    fn empty(path: &Path) -> Facts {
        Facts {
            path: path.to_path_buf(),
            format: None,
            class: None,
            endian: None,
            machine: None,
            elf_type: None,
            interpreter: None,
            needed: None,
            rpath: None,
            runpath: None,
            linkage: None,
            libc: None,
            glibc_max: None,
            pie: None,
            relro: None,
            nx: None,
            canary: None,
            stripped: None,
            build_id: None,
            store_references: Vec::new(),
            build_profile: None,
            profile_evidence: Vec::new(),
            size: None,
            sha256: None,
            error: None,
        }
    }
}

/// The result of inspecting one file: the facts (always, as far as they go) and the error that
/// stopped inspection, if any.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// What is known.
    pub facts: Facts,
    /// Why inspection stopped early.
    pub error: Option<InspectError>,
}

/// Inspects one file. Never panics on bad input; every failure lands in [`Inspection::error`]
/// (and in `facts.error` as text).
pub fn inspect(path: &Path) -> Inspection {
    finish(Facts::empty(path), |facts| inspect_into(path, facts))
}

/// Inspects bytes already in memory (an archive member, a fuzzer's input) exactly as
/// [`inspect`] inspects a file's mapped bytes; `path` is only recorded in the facts.
pub fn inspect_bytes(path: &Path, bytes: &[u8]) -> Inspection {
    finish(Facts::empty(path), |facts| bytes_into(bytes, |_, _| {}, facts))
}

fn finish(mut facts: Facts, run: impl FnOnce(&mut Facts) -> Result<(), InspectError>) -> Inspection {
    let error = match run(&mut facts) {
        Ok(()) => None,
        Err(e) => {
            facts.error = Some(e.to_string());
            Some(e)
        }
    };
    Inspection { facts, error }
}

fn inspect_into(path: &Path, facts: &mut Facts) -> Result<(), InspectError> {
    let file = File::open(path).map_err(|e| InspectError::Io(io_message(&e)))?;
    let meta = file.metadata().map_err(|e| InspectError::Io(io_message(&e)))?;
    if meta.is_dir() {
        return Err(InspectError::Io("is a directory".into()));
    }
    if !meta.is_file() {
        return Err(InspectError::Io("not a regular file".into()));
    }
    let map = crate::mapped::Mapped::open(&file, meta.len()).map_err(|e| InspectError::Io(io_message(&e)))?;
    bytes_into(map.bytes(), |start, end| map.release(start, end), facts)
}

/// Everything after reading: size, format, digest, store references and the ELF facts.
/// `release(start, end)` is told when the sequential pass is done with a range of `bytes`.
fn bytes_into(
    bytes: &[u8],
    release: impl FnMut(usize, usize),
    facts: &mut Facts,
) -> Result<(), InspectError> {
    facts.size = Some(bytes.len() as u64);
    facts.format = Some(sniff(bytes));

    let (sha, refs) = hash_and_scan(bytes, release);
    facts.sha256 = Some(sha);
    facts.store_references = refs;

    match facts.format {
        Some(Format::Elf) => {}
        Some(Format::Pe) => return Err(InspectError::NotElf("PE")),
        Some(Format::Macho) => return Err(InspectError::NotElf("Mach-O")),
        _ if bytes.is_empty() => return Err(InspectError::NotElf("empty file")),
        _ if bytes.starts_with(b"#!") => return Err(InspectError::NotElf("script")),
        _ => return Err(InspectError::NotElf("unknown format")),
    }
    elf_facts(bytes, facts)
}

fn io_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Decides the container format from magic bytes alone.
pub fn sniff(bytes: &[u8]) -> Format {
    const MH_MAGICS: [[u8; 4]; 6] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
        [0xbe, 0xba, 0xfe, 0xca],
    ];
    if bytes.starts_with(b"\x7fELF") {
        Format::Elf
    } else if bytes.starts_with(b"MZ") {
        Format::Pe
    } else if bytes.len() >= 4 && MH_MAGICS.iter().any(|m| bytes[..4] == m[..]) {
        Format::Macho
    } else {
        Format::Unknown
    }
}

/// How many bytes one pass step covers before its pages are released.
const CHUNK: usize = 8 << 20;

/// One sequential pass: SHA-256 and store-reference scan, telling `release` about each chunk
/// once it is done with it.
fn hash_and_scan(bytes: &[u8], mut release: impl FnMut(usize, usize)) -> (String, Vec<String>) {
    let mut hasher = Sha256::new();
    let mut scanner = StoreRefScanner::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + CHUNK).min(bytes.len());
        hasher.update(&bytes[start..end]);
        scanner.scan(bytes, start, end);
        // The window may have peeked past `end` for a reference that straddles it; those pages
        // are released when the next window finishes.
        release(start, end);
        start = end;
    }
    (hex(&hasher.finalize()), scanner.finish())
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn elf_facts(bytes: &[u8], facts: &mut Facts) -> Result<(), InspectError> {
    let elf = parse_elf(bytes)?;
    // Set only once the whole file parses: a file that cannot be inspected reports no ELF facts.
    if bytes.len() >= 6 {
        facts.class = match bytes[4] {
            1 => Some(32),
            2 => Some(64),
            _ => None,
        };
        facts.endian = match bytes[5] {
            1 => Some(crate::target::Endian::Little),
            2 => Some(crate::target::Endian::Big),
            _ => None,
        };
    }
    let h = &elf.header;
    facts.machine = Some(machine_name(h.e_machine, elf.is_64));
    facts.elf_type = Some(type_name(h.e_type));

    let has_phdr = |t: u32| elf.program_headers.iter().any(|p| p.p_type == t);
    let interpreter = elf.interpreter.map(str::to_owned);
    let needed: Vec<String> = elf.libraries.iter().map(|s| (*s).to_owned()).collect();
    let split = |v: &[&str]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let is_program = h.e_type == ET_EXEC || h.e_type == ET_DYN;
    let dynamic = interpreter.is_some() || !needed.is_empty();

    facts.linkage = if !is_program {
        None
    } else if dynamic {
        Some(Linkage::Dynamic)
    } else if h.e_type == ET_DYN && has_phdr(PT_DYNAMIC) {
        Some(Linkage::StaticPie)
    } else {
        Some(Linkage::Static)
    };

    hardening_facts(&elf, facts);

    facts.stripped = Some(
        !elf.section_headers
            .iter()
            .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".symtab")),
    );
    facts.build_id = build_id(&elf, bytes);
    let glibc_versions = glibc_needs(&elf);
    facts.glibc_max = glibc_versions.iter().max().map(ToString::to_string);
    facts.libc = detect_libc(&LibcEvidence {
        interpreter: interpreter.as_deref(),
        needed: &needed,
        glibc_version_needs: !glibc_versions.is_empty(),
        gnu_abi_note: has_gnu_abi_note(&elf, bytes),
        go_binary: elf
            .section_headers
            .iter()
            .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".go.buildinfo")),
        static_program: is_program && !dynamic,
        bytes,
    });

    let profile = crate::profile::detect(bytes, &elf);
    facts.build_profile = Some(profile.profile);
    facts.profile_evidence = profile.facts;

    facts.interpreter = interpreter;
    facts.needed = Some(needed);
    facts.rpath = Some(split(&elf.rpaths));
    facts.runpath = Some(split(&elf.runpaths));
    Ok(())
}

/// PIE, RELRO, NX and canary: the checksec-style properties.
fn hardening_facts(elf: &Elf<'_>, facts: &mut Facts) {
    let h = &elf.header;
    let has_phdr = |t: u32| elf.program_headers.iter().any(|p| p.p_type == t);
    let has_interp = elf.interpreter.is_some();
    let (flags, flags_1, bind_now_tag) = match &elf.dynamic {
        Some(d) => (
            tag_value(d, DT_FLAGS),
            tag_value(d, DT_FLAGS_1),
            d.dyns.iter().any(|x| x.d_tag == DT_BIND_NOW),
        ),
        None => (0, 0, false),
    };
    facts.pie = Some(
        h.e_type == ET_DYN
            && (flags_1 & DF_1_PIE != 0 || has_interp || (elf.soname.is_none() && elf.entry != 0)),
    );

    let bind_now = bind_now_tag || flags & DF_BIND_NOW != 0 || flags_1 & DF_1_NOW != 0;
    let lazy_plt = elf.dynamic.as_ref().is_some_and(|d| d.info.pltrelsz > 0);
    facts.relro = Some(if !has_phdr(PT_GNU_RELRO) {
        Relro::None
    } else if bind_now || !lazy_plt {
        Relro::Full
    } else {
        Relro::Partial
    });

    facts.nx = Some(
        match elf.program_headers.iter().find(|p| p.p_type == PT_GNU_STACK) {
            Some(p) => p.p_flags & PF_X == 0,
            None => h.e_machine == goblin::elf::header::EM_AARCH64,
        },
    );

    let sym_named = |names: &[&str]| {
        let dynsyms = elf.dynsyms.iter().filter_map(|s| elf.dynstrtab.get_at(s.st_name));
        let syms = elf.syms.iter().filter_map(|s| elf.strtab.get_at(s.st_name));
        dynsyms.chain(syms).any(|n| names.contains(&n))
    };
    facts.canary = Some(sym_named(&[
        "__stack_chk_fail",
        "__stack_chk_guard",
        "__stack_chk_fail_local",
    ]));
}

/// Parses with goblin, turning both errors and (defensively) parser panics into
/// [`InspectError::Malformed`].
fn parse_elf(bytes: &[u8]) -> Result<Elf<'_>, InspectError> {
    std::panic::catch_unwind(|| Elf::parse(bytes))
        .map_err(|_| InspectError::Malformed("the ELF parser gave up on this file".into()))?
        .map_err(|e| InspectError::Malformed(one_line(&e.to_string())))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tag_value(d: &goblin::elf::Dynamic, tag: u64) -> u64 {
    d.dyns.iter().find(|x| x.d_tag == tag).map_or(0, |x| x.d_val)
}

/// Lower-case machine names for the `e_machine` values kiln users meet; `em-<n>` otherwise.
pub fn machine_name(e_machine: u16, is_64: bool) -> String {
    use goblin::elf::header as h;
    let name = match e_machine {
        h::EM_X86_64 => "x86_64",
        h::EM_AARCH64 => "aarch64",
        h::EM_386 => "x86",
        h::EM_ARM => "arm",
        h::EM_RISCV if is_64 => "riscv64",
        h::EM_RISCV => "riscv32",
        h::EM_PPC64 => "powerpc64",
        h::EM_PPC => "powerpc",
        h::EM_S390 => "s390x",
        h::EM_MIPS => "mips",
        h::EM_LOONGARCH => "loongarch64",
        h::EM_SPARCV9 => "sparc64",
        _ => return format!("em-{e_machine}"),
    };
    name.to_owned()
}

fn type_name(e_type: u16) -> String {
    match e_type {
        ET_NONE => "none".into(),
        ET_REL => "rel".into(),
        ET_EXEC => "exec".into(),
        ET_DYN => "dyn".into(),
        ET_CORE => "core".into(),
        n => format!("other-{n}"),
    }
}

/// `NT_GNU_BUILD_ID` from the note segments (or note sections when there are no segments).
fn build_id(elf: &Elf<'_>, bytes: &[u8]) -> Option<String> {
    notes(elf, bytes)
        .into_iter()
        .find(|(name, ty, _)| name == "GNU" && *ty == goblin::elf::note::NT_GNU_BUILD_ID)
        .map(|(_, _, desc)| hex(&desc))
}

/// `NT_GNU_ABI_TAG` (`.note.ABI-tag`): glibc's crt1.o carries it; musl's does not.
fn has_gnu_abi_note(elf: &Elf<'_>, bytes: &[u8]) -> bool {
    notes(elf, bytes)
        .into_iter()
        .any(|(name, ty, _)| name == "GNU" && ty == goblin::elf::note::NT_GNU_ABI_TAG)
}

fn notes(elf: &Elf<'_>, bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let iter = elf
        .iter_note_headers(bytes)
        .or_else(|| elf.iter_note_sections(bytes, None));
    if let Some(iter) = iter {
        // A malformed note ends the walk; the notes read so far still count.
        for note in iter.take(256) {
            match note {
                Ok(n) => out.push((
                    n.name.trim_end_matches('\0').to_owned(),
                    n.n_type,
                    n.desc.to_vec(),
                )),
                Err(_) => break,
            }
        }
    }
    out
}

/// A `GLIBC_x.y[.z]` version, ordered numerically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub Vec<u32>);

impl GlibcVersion {
    /// Parses `2.17` or `2.3.4`; `None` for anything else.
    pub fn parse(s: &str) -> Option<GlibcVersion> {
        let parts: Option<Vec<u32>> = s.split('.').map(|p| p.parse().ok()).collect();
        match parts {
            Some(p) if (2..=3).contains(&p.len()) => Some(GlibcVersion(p)),
            _ => None,
        }
    }
}

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Every `GLIBC_x.y` named in the version-needs section (`GLIBC_PRIVATE` is not a version).
fn glibc_needs(elf: &Elf<'_>) -> Vec<GlibcVersion> {
    let mut out = Vec::new();
    if let Some(verneed) = &elf.verneed {
        for need in verneed {
            for aux in &need {
                if let Some(v) = elf
                    .dynstrtab
                    .get_at(aux.vna_name)
                    .and_then(|n| n.strip_prefix("GLIBC_"))
                    .and_then(GlibcVersion::parse)
                {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// What [`detect_libc`] looks at.
#[derive(Clone, Copy)]
struct LibcEvidence<'a> {
    interpreter: Option<&'a str>,
    needed: &'a [String],
    glibc_version_needs: bool,
    gnu_abi_note: bool,
    go_binary: bool,
    static_program: bool,
    bytes: &'a [u8],
}

/// Decides the C library from evidence, strongest first:
///
/// 1. the interpreter: `ld-linux*` is glibc's loader, `ld-musl-*` musl's;
/// 2. `DT_NEEDED`: `libc.so.6` is glibc, `libc.musl-*` / `libc.so` musl;
/// 3. `GLIBC_*` version needs: only glibc versions its symbols;
/// 4. the `NT_GNU_ABI_TAG` note, which glibc's start files carry and musl's do not;
/// 5. for a static program with none of the above: the strings glibc links into every static
///    binary (`GLIBC_PRIVATE`, `glibc.` tunables) mean glibc; a Go build-info section means no
///    libc at all; otherwise musl, whose static binaries carry no marker of their own.
///
/// A dynamic binary with no evidence (rare: a hand-written loader setup) reports `None`.
fn detect_libc(ev: &LibcEvidence<'_>) -> Option<crate::target::Libc> {
    use crate::target::Libc;
    if let Some(interp) = ev.interpreter {
        let base = interp.rsplit('/').next().unwrap_or(interp);
        if base.starts_with("ld-musl-") {
            return Some(Libc::Musl);
        }
        if base.starts_with("ld-linux") || base.starts_with("ld64.so") || base == "ld.so.1" {
            return Some(Libc::Gnu);
        }
    }
    for n in ev.needed {
        if n == "libc.so.6" {
            return Some(Libc::Gnu);
        }
        if n.starts_with("libc.musl-") || n == "libc.so" {
            return Some(Libc::Musl);
        }
    }
    if ev.glibc_version_needs || ev.gnu_abi_note {
        return Some(Libc::Gnu);
    }
    if ev.static_program {
        if memchr::memmem::find(ev.bytes, b"GLIBC_PRIVATE").is_some()
            || memchr::memmem::find(ev.bytes, b"glibc.malloc.").is_some()
        {
            return Some(Libc::Gnu);
        }
        if ev.go_binary {
            return None;
        }
        return Some(Libc::Musl);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_order_numerically() {
        let v = |s| GlibcVersion::parse(s).unwrap();
        assert!(v("2.17") < v("2.28"));
        assert!(v("2.3.4") < v("2.17"));
        assert!(v("2.9") < v("2.10"));
        assert_eq!(v("2.3.4").to_string(), "2.3.4");
        assert!(GlibcVersion::parse("PRIVATE").is_none());
        assert!(GlibcVersion::parse("2").is_none());
    }

    #[test]
    fn sniff_formats() {
        assert_eq!(sniff(b"\x7fELF\x02\x01"), Format::Elf);
        assert_eq!(sniff(b"MZ\x90\x00"), Format::Pe);
        assert_eq!(sniff(&[0xcf, 0xfa, 0xed, 0xfe, 7]), Format::Macho);
        assert_eq!(sniff(b"#!/bin/sh\n"), Format::Unknown);
        assert_eq!(sniff(b""), Format::Unknown);
    }

    #[test]
    fn libc_from_interpreter_and_needed() {
        use crate::target::Libc;
        let base = LibcEvidence {
            interpreter: None,
            needed: &[],
            glibc_version_needs: false,
            gnu_abi_note: false,
            go_binary: false,
            static_program: false,
            bytes: b"",
        };
        assert_eq!(
            detect_libc(&LibcEvidence {
                interpreter: Some("/lib/ld-musl-aarch64.so.1"),
                ..base
            }),
            Some(Libc::Musl)
        );
        let needed = ["libc.so.6".to_owned()];
        assert_eq!(
            detect_libc(&LibcEvidence {
                needed: &needed,
                ..base
            }),
            Some(Libc::Gnu)
        );
        assert_eq!(
            detect_libc(&LibcEvidence {
                static_program: true,
                ..base
            }),
            Some(Libc::Musl)
        );
        assert_eq!(
            detect_libc(&LibcEvidence {
                static_program: true,
                bytes: b"..GLIBC_PRIVATE..",
                ..base
            }),
            Some(Libc::Gnu)
        );
        assert_eq!(
            detect_libc(&LibcEvidence {
                static_program: true,
                go_binary: true,
                ..base
            }),
            None
        );
        assert_eq!(detect_libc(&base), None);
    }

    #[test]
    fn bytes_and_files_inspect_alike() {
        let dir = tempfile::tempdir().unwrap();
        let store = b"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-foo-1.0";
        let inputs: [&[u8]; 5] = [b"", b"#!/bin/sh\n", b"MZ\x90\x00", b"\x7fELF\x02\x01\x01", store];
        for (i, bytes) in inputs.iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, bytes).unwrap();
            let from_file = inspect(&p);
            let from_bytes = inspect_bytes(&p, bytes);
            assert_eq!(from_bytes.error, from_file.error, "{i}");
            assert_eq!(
                serde_json::to_value(&from_bytes.facts).unwrap(),
                serde_json::to_value(&from_file.facts).unwrap(),
                "{i}"
            );
        }
    }

    #[test]
    fn garbage_after_magic_is_malformed_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        for (i, len) in [4usize, 16, 52, 64, 200].iter().enumerate() {
            let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
            bytes.resize(*len, 0xff);
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, &bytes).unwrap();
            let r = inspect(&p);
            assert!(
                matches!(r.error, Some(InspectError::Malformed(_))),
                "{len}: {:?}",
                r.error
            );
            assert_eq!(r.facts.size, Some(*len as u64));
        }
    }
}
