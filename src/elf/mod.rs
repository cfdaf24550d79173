//! ELF inspection: facts about a file, never judgements.
//!
//! [`inspect`] reads a file once through a memory map. One sequential pass feeds the SHA-256 and
//! the `/nix/store` scanner chunk by chunk (dropping each chunk's pages afterwards, so memory stays
//! flat for gigabyte files); the ELF structures are parsed with goblin from the same map. The
//! result, [`Facts`], is what `kiln inspect --json` prints; [`crate::policy`] turns facts into
//! findings for a target.
//!
//! goblin is lenient where the kernel is strict, and the kernel decides what runs. So the
//! loader-facing facts (the interpreter, whether the program headers can be loaded at all, the
//! `DT_NEEDED`/`RPATH`/`RUNPATH` strings) are read from the raw bytes the way Linux's
//! `binfmt_elf` and the dynamic loader read them (see `loader_view`): the *first* `PT_INTERP`,
//! whatever its bytes; problems the kernel would refuse are [`LoadProblem`]s.
//!
//! How each fact is decided is documented on its field and in `docs/inspect.md`.
//!
//! The helpers that read the same bytes live beside it: `mapped` (the memory map, kiln's one
//! use of `unsafe`), [`store_refs`] (finding `/nix/store` paths) and [`profile`] (the build
//! profile the bytes show).

pub(crate) mod mapped;
pub mod profile;
pub mod store_refs;

use std::io;
use std::path::{Path, PathBuf};

use goblin::elf::Elf;
use goblin::elf::dynamic::{DF_1_NOW, DF_1_PIE, DF_BIND_NOW, DT_BIND_NOW, DT_FLAGS, DT_FLAGS_1};
use goblin::elf::header::{ET_CORE, ET_DYN, ET_EXEC, ET_NONE, ET_REL};
use goblin::elf::program_header::{PF_X, PT_DYNAMIC, PT_GNU_RELRO, PT_GNU_STACK, PT_INTERP, PT_LOAD};
use serde::Serialize;
use sha2::{Digest, Sha256};

use store_refs::StoreRefScanner;

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

/// Something that stops Linux from loading the program as the file says, or makes its loader
/// view ambiguous. `code` is one of the finding codes in [`crate::policy::CODES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadProblem {
    /// `multiple-interpreters`, `bad-interpreter`, `no-interpreter` or `unloadable`.
    pub code: &'static str,
    /// One line for humans.
    pub message: String,
}

/// Everything `kiln inspect` reports about one file. Field order is the JSON key order.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// The path as given (`path`, plus `path_bytes` in hex when it is not plain UTF-8).
    #[serde(flatten, serialize_with = "crate::report::path_fields::path")]
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
    /// The first `PT_INTERP`'s path as the kernel opens it (its bytes up to the first NUL),
    /// escaped for humans: invalid UTF-8 and control bytes as `\xNN`.
    pub interpreter: Option<String>,
    /// The exact bytes of `interpreter`, lower-case hex; present only when `interpreter` had to
    /// escape something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter_bytes: Option<String>,
    /// Why the kernel would refuse to load this program (or could load it in more than one way);
    /// present only when there is something to say.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load_problems: Vec<LoadProblem>,
    /// `DT_NEEDED` entries in order (escaped like `interpreter`).
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
    /// The undefined dynamic symbols bound to the highest `GLIBC_` versions, highest first, as
    /// `name@GLIBC_x.y` (at most [`GLIBC_SYMBOLS_KEPT`]): what ties the binary to a newer glibc.
    /// Not part of `inspect --json` (the policy names them in `glibc-too-new`).
    #[serde(skip)]
    pub glibc_symbols: Vec<String>,
    /// Position-independent executable (`ET_DYN` that is an executable, static-pie included).
    pub pie: Option<bool>,
    /// RELRO level.
    pub relro: Option<Relro>,
    /// Non-executable stack: the last `PT_GNU_STACK` (the one the kernel obeys) without `PF_X`
    /// (a missing `PT_GNU_STACK` counts as
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
    /// Build profile the bytes show: `debug`, `release` or `unknown` (see [`profile`]);
    /// `None` when the file is not a parsable ELF.
    pub build_profile: Option<profile::Profile>,
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
            interpreter_bytes: None,
            load_problems: Vec::new(),
            needed: None,
            rpath: None,
            runpath: None,
            linkage: None,
            libc: None,
            glibc_max: None,
            glibc_symbols: Vec::new(),
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
    finish(Facts::empty(path), |facts| bytes_into(bytes, |_, _| true, facts))
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
    use std::os::unix::fs::OpenOptionsExt as _;
    // O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; the file type is
    // checked on the open descriptor before a single byte is read. O_NOCTTY: a terminal never
    // becomes kiln's controlling terminal.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| InspectError::Io(io_message(&e)))?;
    let meta = file.metadata().map_err(|e| InspectError::Io(io_message(&e)))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(InspectError::Io("is a directory".into()));
    }
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt as _;
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else {
            "a special file"
        };
        return Err(InspectError::Io(format!("not a regular file ({what})")));
    }
    let len = meta.len();
    let map = mapped::Mapped::open(&file, len).map_err(|e| InspectError::Io(io_message(&e)))?;
    pause_for_tests();
    let result = bytes_into(
        map.bytes(),
        |start, end| {
            map.release(start, end);
            !map.changed()
        },
        facts,
    );
    let now = file.metadata().map(|m| m.len()).ok();
    if map.changed() || now != Some(len) {
        // Whatever was read is not the file: report nothing but why.
        *facts = Facts::empty(path);
        // A fault without a size change is the disk failing under the map (EIO).
        let why = if now == Some(len) {
            "input/output error while reading the mapped file"
        } else {
            CHANGED
        };
        return Err(InspectError::Io(why.into()));
    }
    result
}

/// The I/O error of a file that shrank or grew while kiln read it.
pub const CHANGED: &str = "changed size while being read";

/// A testing knob: `KILN_INSPECT_PAUSE_MS` sleeps after a file is mapped and before it is read,
/// so tests can change the file under kiln. Unset in normal use.
fn pause_for_tests() {
    if let Some(ms) = std::env::var("KILN_INSPECT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Everything after reading: size, format, digest, store references and the ELF facts.
/// `release(start, end)` is told when the sequential pass is done with a range of `bytes`; it
/// returns `false` to stop the pass (the bytes can no longer be trusted).
fn bytes_into(
    bytes: &[u8],
    release: impl FnMut(usize, usize) -> bool,
    facts: &mut Facts,
) -> Result<(), InspectError> {
    facts.size = Some(bytes.len() as u64);
    facts.format = Some(sniff(bytes));

    let (sha, refs, glibc_strings, rust_markers) = hash_and_scan(bytes, release);
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
    elf_facts(bytes, glibc_strings, &rust_markers, facts)
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

/// The strings glibc links into every static binary (see [`detect_libc`]): its private symbol
/// version, and the prefix of its malloc tunables' names. Each counts only as a whole C string
/// ([`glibc_string_at`]), as glibc stores them; a program that merely mentions them (kiln's own
/// binary holds both, packed among its other literals) is not glibc.
const GLIBC_STRINGS: [&[u8]; 2] = [b"GLIBC_PRIVATE", b"glibc.malloc."];

/// Whether one of [`GLIBC_STRINGS`] starts in `bytes[from..to]` as glibc's C string.
fn glibc_string_in(bytes: &[u8], from: usize, to: usize) -> bool {
    GLIBC_STRINGS
        .iter()
        .any(|m| memchr::memmem::find_iter(&bytes[from..to], m).any(|i| glibc_string_at(bytes, from + i, m)))
}

/// Whether the match of `marker` at `at` is a C string of glibc's: a NUL before it (or the file's
/// start) and a NUL after it, after a tunable's name (`[a-z0-9_]`) for the `glibc.malloc.` prefix.
fn glibc_string_at(bytes: &[u8], at: usize, marker: &[u8]) -> bool {
    if at > 0 && bytes[at - 1] != 0 {
        return false;
    }
    let rest = &bytes[at + marker.len()..];
    let name = if marker.ends_with(b".") {
        rest.iter()
            .take(64)
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || **c == b'_')
            .count()
    } else {
        0
    };
    (name > 0 || !marker.ends_with(b".")) && rest.get(name) == Some(&0)
}

/// One sequential pass: SHA-256, store-reference scan, the search for [`GLIBC_STRINGS`] and
/// the Rust build-profile markers ([`profile::RustMarkers`]), telling `release` about
/// each chunk once it is done with it (and stopping when it says so). Nothing else reads the
/// whole file, so its pages are resident one chunk at a time.
fn hash_and_scan(
    bytes: &[u8],
    mut release: impl FnMut(usize, usize) -> bool,
) -> (String, Vec<String>, bool, profile::RustMarkers) {
    let mut hasher = Sha256::new();
    let mut scanner = StoreRefScanner::new();
    let mut rust = profile::RustMarkers::default();
    let mut glibc_strings = false;
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + CHUNK).min(bytes.len());
        hasher.update(&bytes[start..end]);
        scanner.scan(bytes, start, end);
        rust.scan(bytes, start, end);
        if !glibc_strings {
            // Matches starting in this chunk, so the window reaches a little past its end.
            let longest = GLIBC_STRINGS.iter().map(|m| m.len()).max().unwrap_or(1);
            glibc_strings = glibc_string_in(bytes, start, (end + longest - 1).min(bytes.len()));
        }
        // The window may have peeked past `end` for a reference that straddles it; those pages
        // are released when the next window finishes.
        if !release(start, end) {
            break;
        }
        start = end;
    }
    (
        hex::encode(hasher.finalize()),
        scanner.finish(),
        glibc_strings,
        rust,
    )
}

fn elf_facts(
    bytes: &[u8],
    glibc_strings: bool,
    rust_markers: &profile::RustMarkers,
    facts: &mut Facts,
) -> Result<(), InspectError> {
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
    let is_program = h.e_type == ET_EXEC || h.e_type == ET_DYN;
    let view = loader_view(bytes, is_program);
    let (interpreter, interpreter_bytes) = match &view.interpreter {
        Some(raw) => {
            let (shown, _) = crate::report::escape_bytes(raw);
            (Some(shown), crate::report::bytes_unless_exact(raw))
        }
        None => (None, None),
    };
    let strings = dynamic_strings(&elf, bytes);
    let needed = strings.needed;
    let split = |v: &[String]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let dynamic = view.has_interp || !needed.is_empty();
    let mut load_problems = view.problems;
    load_problems.extend(strings.problems);

    facts.linkage = if !is_program {
        None
    } else if dynamic {
        Some(Linkage::Dynamic)
    } else if h.e_type == ET_DYN && has_phdr(PT_DYNAMIC) {
        Some(Linkage::StaticPie)
    } else {
        Some(Linkage::Static)
    };

    hardening_facts(&elf, view.has_interp, facts);

    facts.stripped = Some(
        !elf.section_headers
            .iter()
            .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".symtab")),
    );
    facts.build_id = build_id(&elf, bytes);
    let glibc_versions = glibc_needs(&elf);
    facts.glibc_max = glibc_versions.iter().max().map(ToString::to_string);
    facts.glibc_symbols = glibc_symbols(&elf);
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
        glibc_strings,
    });

    // The kernel runs no loader without PT_INTERP, so nothing would load the libraries or
    // resolve the versioned symbols: an executable (not a shared library) that needs them
    // cannot run.
    let executable = h.e_type == ET_EXEC
        || (h.e_type == ET_DYN && facts.pie == Some(true) && elf.soname.is_none() && elf.entry != 0);
    if executable && !view.has_interp && (!needed.is_empty() || !glibc_versions.is_empty()) {
        let what = if needed.is_empty() {
            "GLIBC_ symbol versions".to_owned()
        } else {
            needed.join(", ")
        };
        load_problems.push(LoadProblem {
            code: "no-interpreter",
            message: format!(
                "needs {what} but has no PT_INTERP: the kernel starts it without a dynamic loader"
            ),
        });
    }

    let profile = profile::detect(rust_markers, bytes, &elf);
    facts.build_profile = Some(profile.profile);
    facts.profile_evidence = profile.facts;

    facts.interpreter = interpreter;
    facts.interpreter_bytes = interpreter_bytes;
    facts.load_problems = load_problems;
    facts.needed = Some(needed);
    facts.rpath = Some(split(&strings.rpath));
    facts.runpath = Some(split(&strings.runpath));
    Ok(())
}

/// The longest interpreter path the kernel accepts (`PATH_MAX`, its NUL included).
const INTERP_MAX: u64 = 4096;

/// The smallest page size Linux uses: segment offsets and addresses must agree modulo it.
const MIN_PAGE: u64 = 4096;

/// What Linux's ELF loader makes of a file's program headers.
#[derive(Debug, Default)]
struct LoaderView {
    /// The first `PT_INTERP`'s bytes up to its first NUL, as the kernel opens it.
    interpreter: Option<Vec<u8>>,
    /// There is a `PT_INTERP` header, readable or not.
    has_interp: bool,
    problems: Vec<LoadProblem>,
}

/// One program header, widened to 64 bits (fields named as in the ELF specification).
#[allow(clippy::struct_field_names)]
#[derive(Debug, Clone, Copy)]
struct Phdr {
    p_type: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_filesz: u64,
    p_memsz: u64,
}

/// Reads the ELF identification's class and byte order and returns a reader of unsigned
/// fields at an offset (`None` past the end).
fn field_reader(bytes: &[u8]) -> Option<(bool, impl Fn(usize, usize) -> Option<u64> + '_)> {
    let is_64 = match bytes.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match bytes.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let read = move |at: usize, len: usize| -> Option<u64> {
        let b = bytes.get(at..at.checked_add(len)?)?;
        let mut v = 0u64;
        if big {
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
        } else {
            for &x in b.iter().rev() {
                v = (v << 8) | u64::from(x);
            }
        }
        Some(v)
    };
    Some((is_64, read))
}

/// The program headers as `binfmt_elf` reads them; `Err` says why it would refuse the table.
fn program_headers(bytes: &[u8]) -> Result<Vec<Phdr>, String> {
    let Some((is_64, read)) = field_reader(bytes) else {
        return Err("the ELF identification has an unknown class or byte order".into());
    };
    let bad = || "the ELF header is cut off".to_owned();
    let (phoff, phentsize, phnum, entsize) = if is_64 {
        (
            read(32, 8).ok_or_else(bad)?,
            read(54, 2).ok_or_else(bad)?,
            read(56, 2).ok_or_else(bad)?,
            56,
        )
    } else {
        (
            read(28, 4).ok_or_else(bad)?,
            read(42, 2).ok_or_else(bad)?,
            read(44, 2).ok_or_else(bad)?,
            32,
        )
    };
    if phnum == 0 {
        return Err("no program headers (e_phnum is 0): the kernel refuses to execute it".into());
    }
    if phentsize != entsize {
        return Err(format!(
            "e_phentsize is {phentsize}, not {entsize}: the kernel refuses to execute it"
        ));
    }
    if phnum * entsize > 65536 {
        return Err(format!("{phnum} program headers, more than the kernel reads"));
    }
    let end = phoff.checked_add(phnum * entsize);
    if end.is_none_or(|e| e > bytes.len() as u64) {
        return Err(format!(
            "the program header table (offset {phoff}, {phnum} entries) lies past the end of the file"
        ));
    }
    let mut out = Vec::new();
    for i in 0..phnum {
        // In bounds: checked against the file length above.
        let at = usize::try_from(phoff + i * entsize).map_err(|_| bad())?;
        let f = |off: usize, len: usize| read(at + off, len).unwrap_or(0);
        out.push(if is_64 {
            Phdr {
                p_type: u32::try_from(f(0, 4)).unwrap_or(u32::MAX),
                p_offset: f(8, 8),
                p_vaddr: f(16, 8),
                p_filesz: f(32, 8),
                p_memsz: f(40, 8),
            }
        } else {
            Phdr {
                p_type: u32::try_from(f(0, 4)).unwrap_or(u32::MAX),
                p_offset: f(4, 4),
                p_vaddr: f(8, 4),
                p_filesz: f(16, 4),
                p_memsz: f(20, 4),
            }
        });
    }
    Ok(out)
}

/// The bytes `offset..offset+len` of the file, if they all exist.
fn file_range(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// The kernel's view of a program: `binfmt_elf` reads the program header table (refusing an
/// empty or oversized one), takes the *first* `PT_INTERP` (2 to `PATH_MAX` bytes at
/// `p_offset`, which must end in a NUL; the path is the bytes before the first NUL) and maps
/// every `PT_LOAD` (whose file part must lie inside the file, no larger than its memory part,
/// at an offset congruent to its address modulo the page size). Relocatable objects and core
/// files (`is_program` false) are not looked at.
fn loader_view(bytes: &[u8], is_program: bool) -> LoaderView {
    let mut view = LoaderView::default();
    if !is_program {
        return view;
    }
    let unloadable = |message: String| LoadProblem {
        code: "unloadable",
        message,
    };
    let phdrs = match program_headers(bytes) {
        Ok(p) => p,
        Err(message) => {
            view.problems.push(unloadable(message));
            return view;
        }
    };
    let interps: Vec<&Phdr> = phdrs.iter().filter(|p| p.p_type == PT_INTERP).collect();
    if let Some(first) = interps.first() {
        view.has_interp = true;
        let bad = |message: String| LoadProblem {
            code: "bad-interpreter",
            message,
        };
        match file_range(bytes, first.p_offset, first.p_filesz) {
            _ if first.p_filesz < 2 || first.p_filesz > INTERP_MAX => view.problems.push(bad(format!(
                "PT_INTERP is {} bytes; the kernel accepts 2 to {INTERP_MAX}",
                first.p_filesz
            ))),
            None => view.problems.push(bad(format!(
                "PT_INTERP (offset {}, {} bytes) lies past the end of the file",
                first.p_offset, first.p_filesz
            ))),
            Some(raw) => {
                let path = raw.split(|&b| b == 0).next().unwrap_or_default();
                view.interpreter = Some(path.to_vec());
                if raw.last() != Some(&0) {
                    view.interpreter = Some(raw.to_vec());
                    view.problems.push(bad(
                        "PT_INTERP does not end in a NUL byte: the kernel refuses to execute it".into(),
                    ));
                }
            }
        }
    }
    if interps.len() > 1 {
        view.problems.push(LoadProblem {
            code: "multiple-interpreters",
            message: format!(
                "{} PT_INTERP headers; the kernel uses only the first, other tools may read another",
                interps.len()
            ),
        });
    }
    let loads: Vec<(usize, &Phdr)> = phdrs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.p_type == PT_LOAD)
        .collect();
    if loads.is_empty() {
        view.problems.push(unloadable(
            "no PT_LOAD segment: the kernel maps nothing to run".into(),
        ));
    }
    for (i, p) in loads {
        let problem = if p.p_filesz > p.p_memsz {
            Some("its file size is larger than its memory size".to_owned())
        } else if p.p_vaddr.checked_add(p.p_memsz).is_none() {
            Some("its address range overflows".to_owned())
        } else if p.p_filesz > 0 && file_range(bytes, p.p_offset, p.p_filesz).is_none() {
            Some(format!(
                "its file part (offset {}, {} bytes) lies past the end of the file",
                p.p_offset, p.p_filesz
            ))
        } else if p.p_filesz > 0 && p.p_offset.wrapping_sub(p.p_vaddr) % MIN_PAGE != 0 {
            Some("its offset and address differ modulo the page size".to_owned())
        } else {
            None
        };
        if let Some(why) = problem {
            view.problems.push(unloadable(format!(
                "PT_LOAD (program header {i}) cannot be mapped: {why}"
            )));
        }
    }
    view
}

/// `DT_NEEDED`, `DT_RPATH` and `DT_RUNPATH` read from the dynamic string table's raw bytes, the
/// way the dynamic loader reads them: every entry counts, whatever its bytes.
#[derive(Debug, Default)]
struct DynamicStrings {
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    problems: Vec<LoadProblem>,
}

fn dynamic_strings(elf: &Elf<'_>, bytes: &[u8]) -> DynamicStrings {
    use goblin::elf::dynamic::{DT_NEEDED, DT_RPATH, DT_RUNPATH};
    let mut out = DynamicStrings::default();
    let Some(d) = &elf.dynamic else { return out };
    let table = bytes
        .get(d.info.strtab..)
        .map(|t| &t[..d.info.strsz.min(t.len())])
        .unwrap_or_default();
    for entry in &d.dyns {
        let (list, name) = match entry.d_tag {
            DT_NEEDED => (&mut out.needed, "DT_NEEDED"),
            DT_RPATH => (&mut out.rpath, "DT_RPATH"),
            DT_RUNPATH => (&mut out.runpath, "DT_RUNPATH"),
            _ => continue,
        };
        let string = usize::try_from(entry.d_val)
            .ok()
            .and_then(|at| table.get(at..))
            .and_then(|rest| rest.iter().position(|&b| b == 0).map(|n| &rest[..n]));
        match string {
            Some(s) => list.push(crate::report::escape_bytes(s).0),
            None => out.problems.push(LoadProblem {
                code: "unloadable",
                message: format!(
                    "a {name} entry (string offset {}) points outside the dynamic string table",
                    entry.d_val
                ),
            }),
        }
    }
    out
}

/// PIE, RELRO, NX and canary: the checksec-style properties.
fn hardening_facts(elf: &Elf<'_>, has_interp: bool, facts: &mut Facts) {
    let h = &elf.header;
    let has_phdr = |t: u32| elf.program_headers.iter().any(|p| p.p_type == t);
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
        // binfmt_elf walks every program header and the last PT_GNU_STACK sets the stack.
        match elf
            .program_headers
            .iter()
            .rev()
            .find(|p| p.p_type == PT_GNU_STACK)
        {
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
        .map(|(_, _, desc)| hex::encode(desc))
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

/// How many of the symbols behind `glibc_max` [`Facts::glibc_symbols`] keeps.
pub const GLIBC_SYMBOLS_KEPT: usize = 8;

/// The undefined dynamic symbols whose version (`.gnu.version`, matched to a `.gnu.version_r`
/// entry by its index) is a `GLIBC_` one, highest version first, then by name; at most
/// [`GLIBC_SYMBOLS_KEPT`].
fn glibc_symbols(elf: &Elf<'_>) -> Vec<String> {
    let (Some(verneed), Some(versym)) = (&elf.verneed, &elf.versym) else {
        return Vec::new();
    };
    let mut by_index = std::collections::BTreeMap::new();
    for need in verneed {
        for aux in &need {
            if let Some(name) = elf.dynstrtab.get_at(aux.vna_name)
                && let Some(v) = name.strip_prefix("GLIBC_").and_then(GlibcVersion::parse)
            {
                by_index.insert(aux.vna_other, (v, name));
            }
        }
    }
    let mut found: Vec<(&GlibcVersion, &str, &str)> = elf
        .dynsyms
        .iter()
        .enumerate()
        .filter(|(_, sym)| sym.st_shndx == 0)
        .filter_map(|(i, sym)| {
            let (v, vname) = by_index.get(&versym.get_at(i)?.version())?;
            let name = elf.dynstrtab.get_at(sym.st_name).filter(|n| !n.is_empty())?;
            Some((v, name, *vname))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(a.0).then(a.1.cmp(b.1)));
    found.dedup();
    found
        .into_iter()
        .take(GLIBC_SYMBOLS_KEPT)
        .map(|(_, name, v)| format!("{name}@{v}"))
        .collect()
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
    /// One of [`GLIBC_STRINGS`] is somewhere in the file.
    glibc_strings: bool,
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
        if ev.glibc_strings {
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

    // glibc's markers count as its C strings only: kiln's own static musl build holds both
    // among its literals ("...scriptGLIBC_PRIVATEglibc.malloc.") and is not glibc.
    #[test]
    fn glibc_strings_only_as_whole_c_strings() {
        let found = |bytes: &[u8]| glibc_string_in(bytes, 0, bytes.len());
        assert!(found(b"sh\0GLIBC_PRIVATE\0\0"));
        assert!(found(b"\0\0glibc.malloc.trim_threshold\0"));
        assert!(found(b"GLIBC_PRIVATE\0"));
        assert!(!found(b"formatscriptGLIBC_PRIVATEglibc.malloc.ld-linux"));
        assert!(!found(b"\0GLIBC_PRIVATEx\0"));
        assert!(!found(b"\0glibc.malloc.\0"));
        assert!(!found(b"\0glibc.malloc.Tunable\0"));
        assert!(!found(b"\0glibc.malloc.arena"));
    }

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
            glibc_strings: false,
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
                glibc_strings: true,
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

    /// `(p_type, p_offset, p_vaddr, p_filesz, p_memsz)` of one program header.
    type TinyPhdr = (u32, u64, u64, u64, u64);

    /// A minimal ELF of `class` (32/64) and byte order with the given program headers
    /// (`(type, offset, vaddr, filesz, memsz)`) and `tail` appended after them.
    fn tiny_elf(is_64: bool, big: bool, phdrs: &[TinyPhdr], tail: &[u8]) -> Vec<u8> {
        let put = |v: &mut Vec<u8>, x: u64, n: usize| {
            let b = x.to_le_bytes();
            if big {
                v.extend(b[..n].iter().rev());
            } else {
                v.extend(&b[..n]);
            }
        };
        let (ehsize, phentsize) = if is_64 { (64u64, 56u64) } else { (52, 32) };
        let mut v = b"\x7fELF".to_vec();
        v.extend([if is_64 { 2 } else { 1 }, if big { 2 } else { 1 }, 1]);
        v.resize(16, 0);
        put(&mut v, 2, 2); // e_type ET_EXEC
        put(&mut v, 62, 2); // e_machine
        put(&mut v, 1, 4); // e_version
        let word = if is_64 { 8 } else { 4 };
        put(&mut v, 0x40_0000, word); // e_entry
        put(&mut v, ehsize, word); // e_phoff
        put(&mut v, 0, word); // e_shoff
        put(&mut v, 0, 4); // e_flags
        put(&mut v, ehsize, 2);
        put(&mut v, phentsize, 2);
        put(&mut v, phdrs.len() as u64, 2);
        put(&mut v, 0, 6); // e_shentsize, e_shnum, e_shstrndx
        for &(kind, offset, vaddr, filesz, memsz) in phdrs {
            if is_64 {
                put(&mut v, u64::from(kind), 4);
                put(&mut v, 5, 4);
                for x in [offset, vaddr, vaddr, filesz, memsz, 0x1000] {
                    put(&mut v, x, 8);
                }
            } else {
                put(&mut v, u64::from(kind), 4);
                for x in [offset, vaddr, vaddr, filesz, memsz, 5, 0x1000] {
                    put(&mut v, x, 4);
                }
            }
        }
        v.extend(tail);
        v
    }

    fn codes(view: &LoaderView) -> Vec<&'static str> {
        view.problems.iter().map(|p| p.code).collect()
    }

    #[test]
    fn loader_view_takes_the_first_interpreter_in_every_class_and_byte_order() {
        for (is_64, big) in [(true, false), (true, true), (false, false), (false, true)] {
            let tail_at: u64 = if is_64 { 64 + 3 * 56 } else { 52 + 3 * 32 };
            let tail = b"/lib/ld-\xff.so\0/other\0";
            let at = tail_at;
            let bytes = tiny_elf(
                is_64,
                big,
                &[
                    (PT_LOAD, 0, 0x40_0000, at + 20, at + 20),
                    (PT_INTERP, at, 0, 13, 13),
                    (PT_INTERP, at + 13, 0, 7, 7),
                ],
                tail,
            );
            let view = loader_view(&bytes, true);
            assert_eq!(
                view.interpreter.as_deref(),
                Some(&b"/lib/ld-\xff.so"[..]),
                "{is_64} {big}"
            );
            assert_eq!(codes(&view), ["multiple-interpreters"], "{is_64} {big}");
        }
    }

    #[test]
    fn loader_view_refuses_what_the_kernel_refuses() {
        let load = (PT_LOAD, 0, 0x40_0000, 0x100, 0x100);
        let cases: [(&[TinyPhdr], &str); 6] = [
            (&[], "unloadable"),
            (&[load, (PT_INTERP, 200, 0, 4, 4)], "bad-interpreter"),
            (&[load, (PT_INTERP, 1 << 40, 0, 4, 4)], "bad-interpreter"),
            (&[load, (PT_INTERP, 200, 0, 1, 1)], "bad-interpreter"),
            (&[(PT_LOAD, 1 << 30, 0x40_0000, 0x100, 0x100)], "unloadable"),
            (&[(PT_LOAD, 0x10, 0x40_0000, 0x100, 0x100)], "unloadable"),
        ];
        for (i, (phdrs, code)) in cases.iter().enumerate() {
            let bytes = tiny_elf(true, false, phdrs, &[b'x'; 0x100]);
            let view = loader_view(&bytes, true);
            assert_eq!(codes(&view), [*code], "case {i}: {:?}", view.problems);
        }
        // Not a program: not looked at.
        assert!(codes(&loader_view(&tiny_elf(true, false, &[], &[]), false)).is_empty());
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
