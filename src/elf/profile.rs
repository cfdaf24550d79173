//! Build profile: whether a binary is a debug or a release build, from what its bytes carry.
//!
//! [`detect`] looks at two kinds of evidence and never at the file name:
//!
//! - **Rust**: a debug build (`debug-assertions`, on in cargo's `dev` profile) keeps the
//!   standard library's undefined-behaviour precondition checks in every generic function it
//!   instantiates, and each check carries its message (`unsafe precondition(s) violated:
//!   slice::get_unchecked …`) in `.rodata`; with `overflow-checks` the compiler adds the
//!   `attempt to add with overflow` family. A release build optimises the checks, and so their
//!   messages, away; `strip` removes symbols and DWARF, not `.rodata`, so the evidence survives
//!   it. A program could print one of these texts itself, so one message proves nothing: the
//!   verdict needs several *distinct* precondition messages (each names the checked function)
//!   and, short of many, an overflow-check message besides. Overflow checks alone are no debug
//!   evidence: a release profile may turn them on (rustc's own release builds do).
//! - **C/C++**: the `DW_AT_producer` of each DWARF compile unit. GCC records its command-line
//!   flags there by default (`GNU C17 12.2.0 -g -O0`); clang (and `zig cc`) only with
//!   `-grecord-command-line`. A unit whose recorded flags have no `-O` level, or `-O0`/`-Og`,
//!   is unoptimised; `-O1`…`-O3`, `-Os`, `-Oz`, `-Ofast` are optimised. A producer without flags
//!   (`clang version 22.1.8`) says nothing about optimisation.
//!
//! DWARF being present is no evidence either way: a release with `debug = true` has it too.
//! When the evidence is weak the answer is [`Profile::Unknown`], never a guess of `debug`. The
//! limits are documented in `docs/inspect.md`.

use std::io::Read;

use goblin::elf::Elf;
use goblin::elf::section_header::SHF_COMPRESSED;
use serde::{Deserialize, Serialize};

/// The build profile a binary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Built without optimisation or with debug assertions: cargo's `dev` profile, C at `-O0`.
    Debug,
    /// Optimised, without debug assertions.
    Release,
    /// The bytes carry no evidence strong enough either way.
    Unknown,
}

impl Profile {
    /// The JSON spelling: `debug`, `release` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
            Profile::Unknown => "unknown",
        }
    }

    /// The profile a cargo profile name promises: `release` and `bench` build releases, `dev`
    /// (alias `debug`) and `test` debug builds. A custom profile may inherit from either, so
    /// its name promises nothing (`None`).
    pub fn from_cargo_profile(name: &str) -> Option<Profile> {
        match name {
            "release" | "bench" => Some(Profile::Release),
            "dev" | "debug" | "test" => Some(Profile::Debug),
            _ => None,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `profile-mismatch` finding when the derivation's cargo profile promises one profile and
/// the binary's bytes show the other; nothing when either side is unknown. An error, except that
/// `--allow-debug` makes a release profile's binary that shows debug assertions a warning.
pub fn mismatch(
    cargo_profile: Option<&str>,
    shown: Option<Profile>,
    opts: &crate::policy::Options,
) -> Option<crate::policy::Finding> {
    let name = cargo_profile?;
    let promised = Profile::from_cargo_profile(name)?;
    let shown = shown.filter(|s| *s != Profile::Unknown && *s != promised)?;
    let severity = if opts.allow_debug && shown == Profile::Debug {
        crate::policy::Severity::Warning
    } else {
        crate::policy::Severity::Error
    };
    Some(crate::policy::Finding {
        code: "profile-mismatch".into(),
        severity,
        message: format!(
            "the derivation builds cargo profile {name} (a {promised} build), but the binary shows a {shown} build"
        ),
    })
}

/// A profile and the short facts it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The verdict.
    pub profile: Profile,
    /// One short fact per line, strongest first.
    pub facts: Vec<String>,
}

/// Prefix of every precondition-check message of Rust's core library.
const PRECONDITION: &[u8] = b"unsafe precondition(s) violated: ";

/// The operations of the compiler's overflow-check messages (`overflow-checks = true`):
/// `attempt to <op> with overflow`. Kept apart so kiln's own bytes do not hold the messages.
const OVERFLOW_OPS: &[&str] = &[
    "add",
    "subtract",
    "multiply",
    "negate",
    "shift left",
    "shift right",
];

/// Distinct precondition messages that prove debug assertions by themselves.
const PRECONDITIONS_ALONE: usize = 6;
/// Distinct precondition messages that prove debug assertions together with an overflow-check
/// message. (A release built at `opt-level = 0` keeps one or two of the checks' messages in
/// dead branches; measured: 1 in a small crate, 2 in one using serde_json, against 8 and 25 in
/// their debug builds.)
const PRECONDITIONS_WITH_OVERFLOW: usize = 3;

/// Decides the build profile of an ELF file from its bytes and its parsed structures.
pub fn detect(markers: &RustMarkers, bytes: &[u8], elf: &Elf<'_>) -> Evidence {
    let rust = rust_evidence_of(markers);
    let c = c_evidence(bytes, elf);
    let mut facts = Vec::new();
    let profile = match (rust.profile, c.profile) {
        (Profile::Debug, _) | (_, Profile::Debug) => Profile::Debug,
        (Profile::Release, _) | (_, Profile::Release) => Profile::Release,
        _ => Profile::Unknown,
    };
    // The deciding side's facts first.
    if c.profile == profile && rust.profile != profile {
        facts.extend(c.facts);
        facts.extend(rust.facts);
    } else {
        facts.extend(rust.facts);
        facts.extend(c.facts);
    }
    if facts.is_empty() {
        facts.push("no Rust standard library and no DWARF compile units to judge by".into());
    }
    Evidence { profile, facts }
}

/// Marker strings that say a binary holds Rust's standard library.
const RUST_MARKERS: [&[u8]; 4] = [b"RUST_BACKTRACE", b"/rustc/", b"rust_begin_unwind", b"rust_panic"];

/// How far past a chunk a marker that starts in it may reach: the precondition prefix and the
/// longest name read after it, or the longest other marker.
const TAIL: usize = PRECONDITION.len() + NAME_MAX + 64;

/// The longest function name read after a precondition prefix.
const NAME_MAX: usize = 80;

/// What the Rust side needs from a binary's bytes, collected by the one sequential pass of
/// [`crate::elf`] a chunk at a time (the whole file is never searched again, so its pages stay
/// released): whether Rust's std is there, the distinct precondition-check names and the
/// overflow-check messages.
#[derive(Debug, Default)]
pub struct RustMarkers {
    is_rust: bool,
    names: std::collections::BTreeSet<String>,
    overflow: std::collections::BTreeSet<usize>,
}

impl RustMarkers {
    /// Looks for markers that start in `bytes[start..end]`; the window reaches `TAIL` bytes
    /// past `end` so that a marker straddling the boundary is seen whole, once.
    pub fn scan(&mut self, bytes: &[u8], start: usize, end: usize) {
        let window = &bytes[start..(end + TAIL).min(bytes.len())];
        let here = end - start;
        let starts_here = |m: &[u8]| {
            memchr::memmem::find_iter(window, m)
                .next()
                .is_some_and(|at| at < here)
        };
        if !self.is_rust {
            self.is_rust = RUST_MARKERS.iter().any(|m| starts_here(m));
        }
        for (i, op) in OVERFLOW_OPS.iter().enumerate() {
            if !self.overflow.contains(&i) && starts_here(format!("attempt to {op} with overflow").as_bytes())
            {
                self.overflow.insert(i);
            }
        }
        for at in memchr::memmem::find_iter(window, PRECONDITION) {
            if at >= here || self.names.len() >= 64 {
                break;
            }
            if let Some(name) = precondition_name(&window[at + PRECONDITION.len()..]) {
                self.names.insert(name);
            }
        }
    }

    /// The markers of all of `bytes` (what the sequential pass would collect).
    pub fn of(bytes: &[u8]) -> RustMarkers {
        let mut m = RustMarkers::default();
        let mut start = 0;
        while start < bytes.len() {
            let end = (start + (8 << 20)).min(bytes.len());
            m.scan(bytes, start, end);
            start = end;
        }
        m
    }
}

/// The Rust side of a binary given its bytes (tests; [`detect`] takes the pass's markers).
#[cfg(test)]
fn rust_evidence(bytes: &[u8]) -> Evidence {
    rust_evidence_of(&RustMarkers::of(bytes))
}

/// The Rust side: precondition-check and overflow-check messages the pass found.
fn rust_evidence_of(markers: &RustMarkers) -> Evidence {
    let preconditions: Vec<&String> = markers.names.iter().collect();
    let overflow: Vec<String> = markers
        .overflow
        .iter()
        .map(|&i| format!("attempt to {} with overflow", OVERFLOW_OPS[i]))
        .collect();
    let mut facts = Vec::new();
    let n = preconditions.len();
    let shown = || {
        let names: Vec<&str> = preconditions.iter().take(3).map(|s| s.as_str()).collect();
        let more = if n > 3 { ", …" } else { "" };
        format!("{}{more}", names.join(", "))
    };
    let profile = if n >= PRECONDITIONS_ALONE || (n >= PRECONDITIONS_WITH_OVERFLOW && !overflow.is_empty()) {
        facts.push(format!(
            "Rust debug assertions: {n} distinct \"unsafe precondition(s) violated\" checks of core ({})",
            shown()
        ));
        Profile::Debug
    } else if n > 0 {
        facts.push(format!(
            "{n} Rust precondition-check message(s) ({}): fewer than a debug build keeps",
            shown()
        ));
        Profile::Unknown
    } else if markers.is_rust {
        facts.push("Rust standard library present, none of its debug-assertion precondition checks".into());
        Profile::Release
    } else {
        Profile::Unknown
    };
    if !overflow.is_empty() {
        let text = if profile == Profile::Debug {
            format!("Rust overflow checks on (\"{}\")", overflow[0])
        } else {
            format!(
                "Rust overflow checks on (\"{}\"); a release profile may enable them",
                overflow[0]
            )
        };
        facts.push(text);
    }
    Evidence { profile, facts }
}

/// The function name after one precondition-check prefix, when it looks like a path into core
/// (`slice::get_unchecked`, `Vec::set_len`), so a program that merely holds the prefix text
/// (kiln itself) adds nothing.
fn precondition_name(rest: &[u8]) -> Option<String> {
    let len = rest
        .iter()
        .take(NAME_MAX)
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'<' | b'>'))
        .count();
    let name = &rest[..len];
    let name = name.strip_suffix(b":").unwrap_or(name);
    if memchr::memmem::find(name, b"::").is_some() && !name.starts_with(b":") && !name.ends_with(b":") {
        std::str::from_utf8(name).ok().map(str::to_owned)
    } else {
        None
    }
}

/// The distinct function names after each precondition-check prefix (see [`precondition_name`]).
#[cfg(test)]
fn precondition_names(bytes: &[u8]) -> Vec<String> {
    RustMarkers::of(bytes).names.into_iter().collect()
}

/// How one compile unit was optimised, from its producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    /// `-O0`, `-Og`, or recorded flags without any `-O`.
    None,
    /// `-O1` and above, `-Os`, `-Oz`, `-Ofast`.
    Optimised,
    /// The producer records no flags.
    NotRecorded,
}

/// Reads the optimisation level from a producer string, or `None` when the producer is not a
/// C/C++ compiler's (Rust's and Zig's own units record no flags at all).
fn producer_opt(producer: &str) -> Option<Opt> {
    if producer.contains("rustc version") || producer.starts_with("zig ") {
        return None;
    }
    let flags: Vec<&str> = producer
        .split_whitespace()
        .filter(|t| t.starts_with('-'))
        .collect();
    if flags.is_empty() {
        return Some(Opt::NotRecorded);
    }
    let level = flags.iter().rev().find_map(|t| t.strip_prefix("-O"));
    Some(match level {
        None | Some("0" | "g") => Opt::None,
        Some(_) => Opt::Optimised,
    })
}

/// The compiler part of a producer: the words before the first flag.
fn producer_name(producer: &str) -> String {
    producer
        .split_whitespace()
        .take_while(|t| !t.starts_with('-'))
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The C/C++ side: the DWARF compile units' producers.
fn c_evidence(bytes: &[u8], elf: &Elf<'_>) -> Evidence {
    let units = match compile_units(bytes, elf) {
        Ok(u) => u,
        Err(why) => {
            return Evidence {
                profile: Profile::Unknown,
                facts: vec![format!("DWARF not read: {why}")],
            };
        }
    };
    let (mut unopt, mut opt, mut silent) = (Vec::new(), 0usize, Vec::new());
    for u in &units {
        // DW_LANG_Mips_Assembler: hand-written assembly has no optimisation level.
        if u.language == Some(0x8001) {
            continue;
        }
        let Some(p) = u.producer.as_deref() else { continue };
        match producer_opt(p) {
            Some(Opt::None) => unopt.push(u),
            Some(Opt::Optimised) => opt += 1,
            Some(Opt::NotRecorded) => silent.push(p),
            None => {}
        }
    }
    let judged = unopt.len() + opt;
    let mut facts = Vec::new();
    let profile = if let Some(first) = unopt.first() {
        let name = first.name.as_deref().unwrap_or("?");
        let base = name.rsplit('/').next().unwrap_or(name);
        facts.push(format!(
            "DWARF: {} of {judged} C/C++ compile unit(s) built without optimisation (first: {base}, {})",
            unopt.len(),
            producer_name(first.producer.as_deref().unwrap_or_default())
        ));
        Profile::Debug
    } else if opt > 0 {
        facts.push(format!(
            "DWARF: all {opt} C/C++ compile unit(s) with recorded flags are optimised"
        ));
        Profile::Release
    } else {
        Profile::Unknown
    };
    if !silent.is_empty() && profile != Profile::Debug {
        facts.push(format!(
            "DWARF: {} C/C++ compile unit(s) record no flags ({}); clang and zig cc need -grecord-command-line",
            silent.len(),
            producer_name(silent[0])
        ));
    }
    Evidence { profile, facts }
}

/// What [`detect`] reads of one compile unit's root DIE.
#[derive(Debug, Default)]
struct Unit {
    producer: Option<String>,
    name: Option<String>,
    language: Option<u64>,
}

/// The most decompressed DWARF read per section.
const MAX_SECTION: u64 = 256 << 20;
/// The most compile units read.
const MAX_UNITS: usize = 100_000;

/// One section's contents by name, decompressed when `SHF_COMPRESSED`.
fn section<'a>(
    bytes: &'a [u8],
    elf: &Elf<'_>,
    name: &str,
) -> Result<Option<std::borrow::Cow<'a, [u8]>>, String> {
    let Some(sh) = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
    else {
        return Ok(None);
    };
    if sh.sh_type == goblin::elf::section_header::SHT_NOBITS {
        return Ok(None);
    }
    let start = usize::try_from(sh.sh_offset).map_err(|_| format!("{name} out of range"))?;
    let len = usize::try_from(sh.sh_size).map_err(|_| format!("{name} out of range"))?;
    let data = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| format!("{name} lies outside the file"))?;
    if sh.sh_flags & u64::from(SHF_COMPRESSED) == 0 {
        return Ok(Some(std::borrow::Cow::Borrowed(data)));
    }
    let r = Reader::new(data, elf.little_endian);
    let (kind, size, header) = if elf.is_64 {
        (r.u32_at(0), r.u64_at(8), 24)
    } else {
        (r.u32_at(0), r.u32_at(4).map(u64::from), 12)
    };
    let (Some(kind), Some(size)) = (kind, size) else {
        return Err(format!("{name}: truncated compression header"));
    };
    if size > MAX_SECTION {
        return Err(format!("{name} unpacks to {size} bytes, more than kiln reads"));
    }
    let body = data.get(header..).unwrap_or_default();
    // The header's size is the file's claim; reserve no more than the input could plausibly
    // hold before the decoder proves it.
    let mut out = Vec::with_capacity(usize::try_from(size.min(16 << 20)).unwrap_or(0));
    let read = match kind {
        1 => flate2::read::ZlibDecoder::new(body)
            .take(size)
            .read_to_end(&mut out),
        2 => zstd::stream::read::Decoder::new(body).and_then(|d| d.take(size).read_to_end(&mut out)),
        n => return Err(format!("{name}: unknown compression type {n}")),
    };
    read.map_err(|e| format!("{name}: {e}"))?;
    Ok(Some(std::borrow::Cow::Owned(out)))
}

/// The root DIE of every compile unit in `.debug_info`, as far as it parses.
fn compile_units(bytes: &[u8], elf: &Elf<'_>) -> Result<Vec<Unit>, String> {
    let Some(info) = section(bytes, elf, ".debug_info")? else {
        return Ok(Vec::new());
    };
    let abbrev = section(bytes, elf, ".debug_abbrev")?.unwrap_or_default();
    let strs = Strings {
        str: section(bytes, elf, ".debug_str")?.unwrap_or_default(),
        line_str: section(bytes, elf, ".debug_line_str")?.unwrap_or_default(),
        offsets: section(bytes, elf, ".debug_str_offsets")?.unwrap_or_default(),
        le: elf.little_endian,
    };
    let mut units = Vec::new();
    let mut at = 0usize;
    while at < info.len() && units.len() < MAX_UNITS {
        let Some((unit, next)) = read_unit(&info, at, &abbrev, &strs, elf.little_endian) else {
            break;
        };
        if let Some(u) = unit {
            units.push(u);
        }
        at = next;
    }
    Ok(units)
}

/// The string sections a DIE's string forms point into.
struct Strings<'a> {
    str: std::borrow::Cow<'a, [u8]>,
    line_str: std::borrow::Cow<'a, [u8]>,
    offsets: std::borrow::Cow<'a, [u8]>,
    le: bool,
}

impl Strings<'_> {
    fn at(section: &[u8], offset: u64) -> Option<String> {
        let rest = section.get(usize::try_from(offset).ok()?..)?;
        let end = memchr::memchr(0, rest)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

/// A string attribute's value before `DW_AT_str_offsets_base` is known.
enum StrValue {
    Inline(String),
    Strp(u64),
    LineStrp(u64),
    Strx(u64),
}

/// DW_AT_* and DW_FORM_* values used here.
mod dw {
    pub(super) const AT_NAME: u64 = 0x03;
    pub(super) const AT_LANGUAGE: u64 = 0x13;
    pub(super) const AT_PRODUCER: u64 = 0x25;
    pub(super) const AT_STR_OFFSETS_BASE: u64 = 0x72;
    pub(super) const TAG_COMPILE_UNIT: u64 = 0x11;
    pub(super) const TAG_PARTIAL_UNIT: u64 = 0x3c;
    pub(super) const TAG_SKELETON_UNIT: u64 = 0x4a;
}

/// Reads the unit at `at`: its root DIE when it is a compile unit, and where the next unit
/// starts. `None` when the header is malformed (the walk ends there).
fn read_unit(
    info: &[u8],
    at: usize,
    abbrev: &[u8],
    strs: &Strings<'_>,
    le: bool,
) -> Option<(Option<Unit>, usize)> {
    let r = Reader::new(info, le);
    let mut pos = at;
    let mut length = u64::from(r.u32(&mut pos)?);
    let offset_size = if length == 0xffff_ffff {
        length = r.u64(&mut pos)?;
        8
    } else {
        4
    };
    let end = pos.checked_add(usize::try_from(length).ok()?)?;
    if end > info.len() {
        return None;
    }
    let version = r.u16(&mut pos)?;
    let (abbrev_offset, address_size) = match version {
        2..=4 => {
            let off = r.offset(&mut pos, offset_size)?;
            (off, r.u8(&mut pos)?)
        }
        5 => {
            let unit_type = r.u8(&mut pos)?;
            let address_size = r.u8(&mut pos)?;
            let off = r.offset(&mut pos, offset_size)?;
            match unit_type {
                // DW_UT_skeleton, DW_UT_split_compile: a dwo id.
                4 | 5 => pos += 8,
                // DW_UT_type, DW_UT_split_type: not compile units.
                2 | 6 => return Some((None, end)),
                _ => {}
            }
            (off, address_size)
        }
        _ => return Some((None, end)),
    };
    let unit = root_die(
        &Reader { end, ..r },
        pos,
        abbrev,
        abbrev_offset,
        UnitShape {
            version,
            offset_size,
            address_size,
        },
        strs,
    );
    Some((unit, end))
}

/// What the forms of a unit's DIEs are sized by.
#[derive(Clone, Copy)]
struct UnitShape {
    version: u16,
    offset_size: u8,
    address_size: u8,
}

/// The compile unit's root DIE: producer, name and language.
fn root_die(
    r: &Reader<'_>,
    mut pos: usize,
    abbrev: &[u8],
    abbrev_offset: u64,
    shape: UnitShape,
    strs: &Strings<'_>,
) -> Option<Unit> {
    let code = r.uleb(&mut pos)?;
    let (tag, specs) = find_abbrev(abbrev, usize::try_from(abbrev_offset).ok()?, code, r.le)?;
    if ![dw::TAG_COMPILE_UNIT, dw::TAG_PARTIAL_UNIT, dw::TAG_SKELETON_UNIT].contains(&tag) {
        return None;
    }
    let (mut producer, mut name, mut language, mut str_base) = (None, None, None, None);
    for (attr, form, implicit) in specs {
        let value = read_form(r, &mut pos, form, implicit, shape)?;
        match (attr, value) {
            (dw::AT_PRODUCER, FormValue::Str(s)) => producer = Some(s),
            (dw::AT_NAME, FormValue::Str(s)) => name = Some(s),
            (dw::AT_LANGUAGE, FormValue::Num(n)) => language = Some(n),
            (dw::AT_STR_OFFSETS_BASE, FormValue::Num(n)) => str_base = Some(n),
            _ => {}
        }
    }
    let resolve = |v: Option<StrValue>| -> Option<String> {
        match v? {
            StrValue::Inline(s) => Some(s),
            StrValue::Strp(o) => Strings::at(&strs.str, o),
            StrValue::LineStrp(o) => Strings::at(&strs.line_str, o),
            StrValue::Strx(i) => {
                let size = u64::from(shape.offset_size);
                // Without DW_AT_str_offsets_base, the first table's entries follow its header.
                let base = str_base.unwrap_or(2 * size);
                let at = usize::try_from(base.checked_add(i.checked_mul(size)?)?).ok()?;
                let mut p = at;
                let o = Reader::new(&strs.offsets, strs.le).offset(&mut p, shape.offset_size)?;
                Strings::at(&strs.str, o)
            }
        }
    };
    Some(Unit {
        producer: resolve(producer),
        name: resolve(name),
        language,
    })
}

/// An attribute value, as far as [`root_die`] cares.
enum FormValue {
    Str(StrValue),
    Num(u64),
    Other,
}

/// One attribute specification: attribute, form, implicit constant.
type Spec = (u64, u64, i64);

/// Finds abbreviation `code` in the table at `offset`: its tag and attribute specifications.
fn find_abbrev(abbrev: &[u8], offset: usize, code: u64, le: bool) -> Option<(u64, Vec<Spec>)> {
    let r = Reader::new(abbrev, le);
    let mut pos = offset;
    loop {
        let c = r.uleb(&mut pos)?;
        if c == 0 {
            return None;
        }
        let tag = r.uleb(&mut pos)?;
        let _children = r.u8(&mut pos)?;
        let mut specs = Vec::new();
        loop {
            let attr = r.uleb(&mut pos)?;
            let form = r.uleb(&mut pos)?;
            if attr == 0 && form == 0 {
                break;
            }
            // DW_FORM_implicit_const carries its value in the abbreviation.
            let implicit = if form == 0x21 { r.sleb(&mut pos)? } else { 0 };
            specs.push((attr, form, implicit));
            if specs.len() > 1024 {
                return None;
            }
        }
        if c == code {
            return Some((tag, specs));
        }
    }
}

/// Reads one attribute value of `form`, moving `pos` past it. `None` for a form this reader
/// does not know (the unit is then skipped).
fn read_form(r: &Reader<'_>, pos: &mut usize, form: u64, implicit: i64, s: UnitShape) -> Option<FormValue> {
    let skip = |pos: &mut usize, n: usize| -> Option<FormValue> {
        *pos = pos.checked_add(n).filter(|p| *p <= r.end)?;
        Some(FormValue::Other)
    };
    let num = |v: u64| Some(FormValue::Num(v));
    let strx = |v: u64| Some(FormValue::Str(StrValue::Strx(v)));
    match form {
        // Fixed-size values: addresses, flags, data, references and address indices.
        0x01 => skip(pos, usize::from(s.address_size)),
        0x10 if s.version == 2 => skip(pos, usize::from(s.address_size)),
        0x0b | 0x11 => num(r.uint(pos, 1)?),
        0x05 | 0x12 => num(r.uint(pos, 2)?),
        0x06 | 0x13 | 0x1c => num(r.uint(pos, 4)?),
        0x07 | 0x14 | 0x20 | 0x24 => num(r.u64(pos)?),
        0x0c | 0x29 => skip(pos, 1),
        0x2a => skip(pos, 2),
        0x2b => skip(pos, 3),
        0x2c => skip(pos, 4),
        0x1e => skip(pos, 16),
        0x19 => Some(FormValue::Other),
        0x21 => num(implicit.cast_unsigned()),
        // Blocks with a length prefix.
        0x03 => {
            let n = r.u16(pos)?;
            skip(pos, usize::from(n))
        }
        0x04 => {
            let n = r.u32(pos)?;
            skip(pos, usize::try_from(n).ok()?)
        }
        0x09 | 0x18 => {
            let n = r.uleb(pos)?;
            skip(pos, usize::try_from(n).ok()?)
        }
        0x0a => {
            let n = r.u8(pos)?;
            skip(pos, usize::from(n))
        }
        // Variable-length numbers and section offsets.
        0x0d => r.sleb(pos).map(|v| FormValue::Num(v.cast_unsigned())),
        0x0f | 0x15 | 0x1b | 0x22 | 0x23 | 0x1f01 => num(r.uleb(pos)?),
        0x10 | 0x17 | 0x1d | 0x1f20 | 0x1f21 => num(r.offset(pos, s.offset_size)?),
        // Strings.
        0x08 => {
            let rest = r.data.get(*pos..r.end)?;
            let len = memchr::memchr(0, rest)?;
            let text = String::from_utf8_lossy(&rest[..len]).into_owned();
            *pos += len + 1;
            Some(FormValue::Str(StrValue::Inline(text)))
        }
        0x0e => Some(FormValue::Str(StrValue::Strp(r.offset(pos, s.offset_size)?))),
        0x1f => Some(FormValue::Str(StrValue::LineStrp(r.offset(pos, s.offset_size)?))),
        0x1a | 0x1f02 => strx(r.uleb(pos)?),
        0x25 => strx(r.uint(pos, 1)?),
        0x26 => strx(r.uint(pos, 2)?),
        0x27 => strx(r.uint(pos, 3)?),
        0x28 => strx(r.uint(pos, 4)?),
        0x16 => {
            let actual = r.uleb(pos)?;
            if actual == 0x16 {
                return None;
            }
            read_form(r, pos, actual, implicit, s)
        }
        _ => None,
    }
}

/// Bounds-checked little- or big-endian reads.
#[derive(Clone, Copy)]
struct Reader<'a> {
    data: &'a [u8],
    end: usize,
    le: bool,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], le: bool) -> Reader<'a> {
        Reader {
            data,
            end: data.len(),
            le,
        }
    }

    fn uint(&self, pos: &mut usize, n: usize) -> Option<u64> {
        let end = pos.checked_add(n).filter(|e| *e <= self.end)?;
        let bytes = self.data.get(*pos..end)?;
        *pos = end;
        let mut v = 0u64;
        for (i, b) in bytes.iter().enumerate() {
            let shift = if self.le { i } else { n - 1 - i };
            v |= u64::from(*b) << (8 * shift);
        }
        Some(v)
    }
    fn u8(&self, pos: &mut usize) -> Option<u8> {
        self.uint(pos, 1).and_then(|v| u8::try_from(v).ok())
    }
    fn u16(&self, pos: &mut usize) -> Option<u16> {
        self.uint(pos, 2).and_then(|v| u16::try_from(v).ok())
    }
    fn u32(&self, pos: &mut usize) -> Option<u32> {
        self.uint(pos, 4).and_then(|v| u32::try_from(v).ok())
    }
    fn u64(&self, pos: &mut usize) -> Option<u64> {
        self.uint(pos, 8)
    }
    fn u32_at(&self, at: usize) -> Option<u32> {
        self.u32(&mut { at })
    }
    fn u64_at(&self, at: usize) -> Option<u64> {
        self.u64(&mut { at })
    }
    fn offset(&self, pos: &mut usize, size: u8) -> Option<u64> {
        self.uint(pos, usize::from(size))
    }
    fn uleb(&self, pos: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(pos)?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn sleb(&self, pos: &mut usize) -> Option<i64> {
        let mut v = 0i64;
        let mut shift = 0;
        loop {
            let b = self.u8(pos)?;
            if shift < 64 {
                v |= i64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Some(v);
            }
            if shift > 70 {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producers_give_optimisation_levels() {
        let o = producer_opt;
        assert_eq!(
            o("GNU C17 12.2.0 -mtune=generic -march=x86-64 -g -O0"),
            Some(Opt::None)
        );
        assert_eq!(
            o("GNU C17 12.2.0 -mtune=generic -march=x86-64 -g"),
            Some(Opt::None)
        );
        assert_eq!(o("GNU C17 12.2.0 -g -Og"), Some(Opt::None));
        assert_eq!(o("GNU C17 12.2.0 -g -O2"), Some(Opt::Optimised));
        assert_eq!(o("GNU C++17 12.2.0 -O0 -g -O3"), Some(Opt::Optimised));
        assert_eq!(o("GNU C17 12.2.0 -O2 -O0"), Some(Opt::None));
        assert_eq!(o("clang version 22.1.8 zig c.c -O0 -c"), Some(Opt::None));
        assert_eq!(o("clang version 22.1.8 zig c.c -Os -c"), Some(Opt::Optimised));
        assert_eq!(o("clang version 22.1.8"), Some(Opt::NotRecorded));
        assert_eq!(
            o("clang LLVM (rustc version 1.95.0 (59807616e 2026-04-14))"),
            None
        );
        assert_eq!(o("zig 0.17.1"), None);
    }

    #[test]
    fn precondition_names_need_a_path() {
        let mut bytes = b"..unsafe precondition(s) violated: slice::get_unchecked requires".to_vec();
        bytes.extend_from_slice(b"unsafe precondition(s) violated: hint::unreachable_unchecked must");
        bytes.extend_from_slice(b"unsafe precondition(s) violated: slice::get_unchecked again");
        bytes.extend_from_slice(b"unsafe precondition(s) violated: some words");
        bytes.extend_from_slice(b"unsafe precondition(s) violated: ");
        assert_eq!(
            precondition_names(&bytes),
            ["hint::unreachable_unchecked", "slice::get_unchecked"]
        );
    }

    #[test]
    fn one_message_is_not_a_debug_build() {
        let bytes = b"RUST_BACKTRACE attempt to add with overflow unsafe precondition(s) violated: a::b ";
        let e = rust_evidence(bytes);
        assert_eq!(e.profile, Profile::Unknown, "{:?}", e.facts);
        let e = rust_evidence(b"RUST_BACKTRACE attempt to add with overflow");
        assert_eq!(e.profile, Profile::Release, "{:?}", e.facts);
    }

    #[test]
    fn cargo_profile_names() {
        assert_eq!(Profile::from_cargo_profile("release"), Some(Profile::Release));
        assert_eq!(Profile::from_cargo_profile("dev"), Some(Profile::Debug));
        assert_eq!(Profile::from_cargo_profile("dist"), None);
    }

    #[test]
    fn leb128() {
        let r = Reader::new(&[0xe5, 0x8e, 0x26, 0x7f, 0x80, 0x7f], true);
        let mut p = 0;
        assert_eq!(r.uleb(&mut p), Some(624_485));
        assert_eq!(r.sleb(&mut p), Some(-1));
        assert_eq!(r.sleb(&mut p), Some(-128));
    }
}
