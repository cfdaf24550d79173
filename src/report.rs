//! Rendering: facts, findings and the target table, for humans and as JSON.
//!
//! Machine output is plain serde of the library types, so the JSON keys are the field names
//! documented on [`crate::elf::Facts`] and [`crate::policy::Finding`].
//!
//! Paths and ELF strings are bytes, not text. [`escape_bytes`] is the one human spelling of
//! such bytes (valid UTF-8 as it is, every other byte and every control character as `\xNN`),
//! and [`path_fields`] the one JSON spelling of a path: the escaped form under the field's name
//! plus, whenever that form is not the bytes themselves, `<name>_bytes` with the exact bytes in
//! lower-case hex (see `docs/inspect.md`).

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::elf::{Facts, Linkage, Relro};
use crate::policy::{Finding, Severity};
use crate::target::Target;
use crate::ui::Style;

/// `bytes` for humans: valid UTF-8 sequences as they are, invalid bytes and control characters
/// (`\0`–`\x1f`, `\x7f`) as `\xNN`. The second value is `true` when the text is exactly the
/// bytes (nothing was escaped), so a caller knows when to carry the bytes beside it.
pub fn escape_bytes(bytes: &[u8]) -> (String, bool) {
    let mut out = String::with_capacity(bytes.len());
    let mut exact = true;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii_control() {
                let _ = write!(out, "\\x{:02x}", c as u32);
                exact = false;
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
            exact = false;
        }
    }
    (out, exact)
}

/// A path for humans, escaped as [`escape_bytes`] does (one line, whatever its bytes).
pub fn show_path(path: &Path) -> String {
    escape_bytes(path.as_os_str().as_bytes()).0
}

/// The hex of `bytes` when [`escape_bytes`] cannot show them exactly, else `None`.
pub fn bytes_unless_exact(bytes: &[u8]) -> Option<String> {
    match escape_bytes(bytes) {
        (_, true) => None,
        (_, false) => Some(hex::encode(bytes)),
    }
}

/// Writes `name` (the escaped path) and, when that is not exact, `name_bytes` (hex) into a map.
fn put_path<M: serde::ser::SerializeMap>(map: &mut M, name: &str, path: &Path) -> Result<(), M::Error> {
    let bytes = path.as_os_str().as_bytes();
    let (shown, exact) = escape_bytes(bytes);
    map.serialize_entry(name, &shown)?;
    if !exact {
        map.serialize_entry(&format!("{name}_bytes"), &hex::encode(bytes))?;
    }
    Ok(())
}

/// The JSON spelling of paths, for `#[serde(flatten, serialize_with = "...")]` fields: each
/// function writes its field's name and, for a path that is not plain UTF-8, `<name>_bytes`.
pub mod path_fields {
    use super::{Path, PathBuf, put_path};
    use serde::Serializer;
    use serde::ser::SerializeMap as _;

    /// A `path` field.
    pub fn path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        put_path(&mut map, "path", p)?;
        map.end()
    }

    /// A `dir` field.
    pub fn dir<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        put_path(&mut map, "dir", p)?;
        map.end()
    }

    /// An optional `exported` field (`null` when absent).
    pub fn exported<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match p {
            Some(p) => put_path(&mut map, "exported", p)?,
            None => map.serialize_entry("exported", &None::<String>)?,
        }
        map.end()
    }
}

/// The result of verifying one file, as `kiln verify --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The path as given (`path`, plus `path_bytes` when it is not plain UTF-8).
    #[serde(flatten, serialize_with = "path_fields::path")]
    pub path: PathBuf,
    /// The full target triple.
    pub target: String,
    /// No error finding (and no I/O error).
    pub ok: bool,
    /// Findings in check order.
    pub findings: Vec<Finding>,
    /// Why the file could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The target table as aligned text.
pub fn targets_table(targets: &[Target], style: Style) -> String {
    let header = [
        "TRIPLE", "ATTR", "SYSTEM", "LIBC", "LINKAGE", "LOADER", "GLIBC", "QEMU",
    ];
    let rows: Vec<[String; 8]> = targets
        .iter()
        .map(|t| {
            [
                t.triple.clone(),
                t.attr.clone(),
                t.system.clone(),
                t.libc.to_string(),
                format!("{:?}", t.linkage).to_lowercase(),
                t.interpreter.clone().unwrap_or_else(|| "-".into()),
                t.glibc_floor.clone().unwrap_or_else(|| "-".into()),
                t.qemu.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        s.push('\n');
        s
    };
    let mut out = style.bold(line(&header.map(str::to_owned)).trim_end());
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

fn list_or_none(v: Option<&Vec<String>>) -> String {
    match v {
        Some(v) if !v.is_empty() => v.join(", "),
        _ => "(none)".into(),
    }
}

/// One readable block per file.
pub fn facts_block(f: &Facts, style: Style) -> String {
    let mut out = style.bold(&show_path(&f.path));
    out.push('\n');
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "  {k:<12} {v}");
    };
    if let Some(err) = &f.error {
        row("error", style.red(err));
    }
    if f.machine.is_some() {
        row(
            "format",
            format!(
                "ELF {}-bit {}-endian {}, {}",
                f.class.map_or("?".into(), |c| c.to_string()),
                f.endian.map_or("?".into(), |e| e.to_string()),
                f.machine.as_deref().unwrap_or("?"),
                f.elf_type.as_deref().unwrap_or("?")
            ),
        );
        let linkage = f.linkage.map_or("-", Linkage::as_str);
        let libc = f.libc.map_or("unknown".into(), |l| l.to_string());
        row("linkage", format!("{linkage}, libc {libc}"));
        row(
            "interpreter",
            f.interpreter.clone().unwrap_or_else(|| "(none)".into()),
        );
        for p in &f.load_problems {
            row("loader", style.red(&format!("{}: {}", p.code, p.message)));
        }
        row("needed", list_or_none(f.needed.as_ref()));
        row("rpath", list_or_none(f.rpath.as_ref()));
        row("runpath", list_or_none(f.runpath.as_ref()));
        row(
            "glibc max",
            f.glibc_max.clone().unwrap_or_else(|| "(none)".into()),
        );
        let relro = match f.relro {
            Some(Relro::Full) => "full",
            Some(Relro::Partial) => "partial",
            Some(Relro::None) => "none",
            None => "?",
        };
        row(
            "hardening",
            format!(
                "pie {}, relro {relro}, nx {}, canary {}",
                yes_no(f.pie),
                yes_no(f.nx),
                yes_no(f.canary)
            ),
        );
        row("stripped", yes_no(f.stripped).into());
        if let Some(p) = f.build_profile {
            row("profile", format!("{p} ({})", f.profile_evidence.join("; ")));
        }
        row("build-id", f.build_id.clone().unwrap_or_else(|| "(none)".into()));
    } else if let Some(format) = f.format {
        row("format", format!("{format:?}").to_lowercase());
    }
    if f.size.is_some() {
        if f.store_references.is_empty() {
            row("store refs", "(none)".into());
        } else {
            row(
                "store refs",
                style.yellow(&f.store_references.join("\n               ")),
            );
        }
    }
    if let Some(size) = f.size {
        row("size", format!("{size} bytes"));
    }
    if let Some(sha) = &f.sha256 {
        row("sha256", sha.clone());
    }
    out
}

/// `ok`/`FAIL` line plus one indented line per finding.
pub fn verdict_lines(v: &Verdict, style: Style) -> String {
    let mut out = String::new();
    let head = match (&v.error, v.ok) {
        (Some(_), _) => style.red("ERROR"),
        (None, true) => style.green("ok   "),
        (None, false) => style.red("FAIL "),
    };
    let _ = writeln!(
        out,
        "{head} {}  {}",
        show_path(&v.path),
        style.dim(&format!("({})", v.target))
    );
    if let Some(e) = &v.error {
        let _ = writeln!(out, "      {e}");
    }
    for f in &v.findings {
        let sev = match f.severity {
            Severity::Error => style.red("error"),
            Severity::Warning => style.yellow("warning"),
        };
        let _ = writeln!(out, "      {sev} {}: {}", f.code, f.message);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;

    use super::*;

    #[test]
    fn escapes_only_what_is_not_plain_text() {
        assert_eq!(
            escape_bytes(b"/lib/ld-musl.so.1"),
            ("/lib/ld-musl.so.1".into(), true)
        );
        assert_eq!(escape_bytes("caf\u{e9}".as_bytes()), ("caf\u{e9}".into(), true));
        assert_eq!(
            escape_bytes(b"/lib/ld-\xff.so"),
            ("/lib/ld-\\xff.so".into(), false)
        );
        assert_eq!(escape_bytes(b"a\nb\x7f"), ("a\\x0ab\\x7f".into(), false));
        assert_eq!(bytes_unless_exact(b"\xfe"), Some("fe".into()));
        assert_eq!(bytes_unless_exact(b"ok"), None);
    }

    #[test]
    fn paths_serialize_losslessly() {
        #[derive(Serialize)]
        struct T {
            #[serde(flatten, serialize_with = "path_fields::exported")]
            exported: Option<PathBuf>,
            #[serde(flatten, serialize_with = "path_fields::dir")]
            dir: PathBuf,
        }
        let t = T {
            exported: Some(PathBuf::from(OsStr::from_bytes(b"out\xff"))),
            dir: PathBuf::from("plain"),
        };
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"exported": "out\\xff", "exported_bytes": "6f7574ff", "dir": "plain"})
        );
        let t = T {
            exported: None,
            dir: PathBuf::from("d"),
        };
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"exported": null, "dir": "d"})
        );
    }
}
