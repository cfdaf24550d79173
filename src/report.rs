//! Rendering: facts, findings and the target table, for humans and as JSON.
//!
//! Machine output is plain serde of the library types, so the JSON keys are the field names
//! documented on [`crate::elf::Facts`] and [`crate::policy::Finding`].

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::elf::{Facts, Linkage, Relro};
use crate::policy::{Finding, Severity};
use crate::target::Target;
use crate::ui::Style;

/// The result of verifying one file, as `kiln verify --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The path as given.
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
    let mut out = style.bold(&f.path.display().to_string());
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
        v.path.display(),
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
