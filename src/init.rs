//! `kiln init` and `kiln ci init`: add kiln to an existing Rust crate, idempotently.
//!
//! Files kiln owns (`flake.nix`, `rust-toolchain.toml`, `.github/workflows/kiln-release.yml`)
//! start with a marker comment holding the SHA-256 of the rest of the file. On a later run a file
//! whose marker matches its contents is kiln's unmodified output and may be replaced; a file
//! without a marker, or whose contents no longer match, was written or edited by the user and is
//! refused (exit 2, naming it) unless `--force`. Nothing is written when anything is refused.
//!
//! `Cargo.toml` is the user's: kiln appends a `[package.metadata.kiln]` table to its text and
//! leaves every other byte alone; an existing table is kept (replaced only with `--force`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::target::Target;
use crate::workflow::{self, CacheKind, WorkflowSpec};

/// The flake template of `templates/default`, whose kiln input URL is replaced.
const FLAKE_TEMPLATE: &str = include_str!("../templates/default/flake.nix");
/// The kiln input URL in the template: a placeholder the user should replace.
pub const PLACEHOLDER_URL: &str = "github:OWNER/kiln";
/// Where the workflow goes.
pub const WORKFLOW_PATH: &str = ".github/workflows/kiln-release.yml";
const MARKER: &str = "kiln:generated sha256=";

/// Everything `kiln init` (or, with `ci_only`, `kiln ci init`) was asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// The crate directory (holds Cargo.toml).
    pub dir: PathBuf,
    /// The kiln flake reference for the flake input and the workflow.
    pub kiln_url: String,
    /// Targets for Cargo.toml and rust-toolchain.toml.
    pub targets: Vec<&'static Target>,
    /// Archive format for Cargo.toml.
    pub archive: String,
    /// OCI image name for Cargo.toml, if any.
    pub image: Option<String>,
    /// The binary cache kind.
    pub cache: CacheKind,
    /// Cache name or bucket (default: the crate name).
    pub cache_name: Option<String>,
    /// glibc floor for Cargo.toml.
    pub glibc_max: String,
    /// Overwrite edited files.
    pub force: bool,
    /// Only the workflow (`kiln ci init`).
    pub ci_only: bool,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Created,
    /// It already had exactly this content.
    Unchanged,
    /// It was kiln's unmodified output and is replaced by the new one.
    Updated,
    /// It was edited (or not kiln's) and `--force` replaced it.
    Overwritten,
    /// It was edited (or not kiln's); left alone.
    Refused,
}

impl Action {
    /// The word printed for it.
    pub fn word(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Unchanged => "unchanged",
            Action::Updated => "updated",
            Action::Overwritten => "overwrote",
            Action::Refused => "refused",
        }
    }
}

/// One file's planned (then done) change.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Path relative to the crate directory.
    pub rel: String,
    /// What happens.
    pub action: Action,
    content: String,
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `body` with the marker line kiln recognises its own files by.
pub fn stamp(body: &str) -> String {
    format!(
        "# {MARKER}{} (written by kiln init; edit freely, kiln will then leave this file alone)\n{body}",
        sha256_hex(body)
    )
}

/// Whether `text` is kiln's output, unmodified since kiln wrote it.
pub fn is_unmodified(text: &str) -> bool {
    let Some((first, body)) = text.split_once('\n') else {
        return false;
    };
    first
        .split_once(MARKER)
        .and_then(|(_, rest)| rest.get(..64))
        .is_some_and(|h| h == sha256_hex(body))
}

fn plan_owned(dir: &Path, rel: &str, body: &str, force: bool) -> Result<Planned> {
    let content = stamp(body);
    let path = dir.join(rel);
    let action = match fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Action::Created,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(old) if old == content => Action::Unchanged,
        Ok(old) if is_unmodified(&old) => Action::Updated,
        Ok(_) if force => Action::Overwritten,
        Ok(_) => Action::Refused,
    };
    Ok(Planned {
        rel: rel.to_owned(),
        action,
        content,
    })
}

fn toml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn metadata_table(req: &InitRequest) -> String {
    let attrs: Vec<&str> = req.targets.iter().map(|t| t.attr.as_str()).collect();
    let mut t = String::from("[package.metadata.kiln]\n");
    let _ = writeln!(t, "targets = {}", toml_list(&attrs));
    let _ = writeln!(t, "archive = {}", toml_str(&req.archive));
    if let Some(img) = &req.image {
        let _ = writeln!(t, "image = {}", toml_str(img));
    }
    let _ = writeln!(t, "cache = {}", toml_str(req.cache.name()));
    let _ = writeln!(t, "glibc-max = {}", toml_str(&req.glibc_max));
    t
}

/// The byte range of an existing `[package.metadata.kiln]` table: its header line to the next
/// table header (or the end).
fn table_span(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            if start.is_some() {
                return start.map(|s| (s, offset));
            }
            let name: String = t
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if name == "package.metadata.kiln" {
                start = Some(offset);
            }
        }
        offset += line.len();
    }
    start.map(|s| (s, text.len()))
}

/// Cargo.toml with the kiln table added (or, with `force`, replaced); every other byte kept.
pub fn cargo_toml_with_table(text: &str, table: &str, force: bool) -> (String, Action) {
    let Some((a, b)) = table_span(text) else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(table);
        return (out, Action::Updated);
    };
    if text[a..b].trim_end() == table.trim_end() || !force {
        // An edited table is the user's now; keeping it is not a refusal.
        return (text.to_owned(), Action::Unchanged);
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..a]);
    out.push_str(table);
    if b < text.len() {
        out.push('\n');
    }
    out.push_str(&text[b..]);
    (out, Action::Overwritten)
}

fn toolchain(req: &InitRequest) -> String {
    let triples: Vec<&str> = req.targets.iter().map(|t| t.triple.as_str()).collect();
    format!(
        "[toolchain]\nchannel = \"stable\"\nprofile = \"minimal\"\ntargets = {}\n",
        toml_list(&triples)
    )
}

fn crate_name(cargo_toml: &str) -> Option<String> {
    let v: toml::Value = toml::from_str(cargo_toml).ok()?;
    v.get("package")?.get("name")?.as_str().map(str::to_owned)
}

/// Plans and, when nothing is refused, writes every file. Refusals are an error (exit 2) that
/// names the files; nothing is written then.
pub fn run(req: &InitRequest) -> Result<Vec<Planned>> {
    let cargo_path = req.dir.join("Cargo.toml");
    let cargo = fs::read_to_string(&cargo_path)
        .with_context(|| format!("{}: not a Rust crate (no Cargo.toml)", req.dir.display()))?;
    let name = crate_name(&cargo)
        .with_context(|| format!("{}: no [package] name (a workspace root?)", cargo_path.display()))?;
    let spec = WorkflowSpec {
        kiln_flake: req.kiln_url.clone(),
        cache: req.cache,
        cache_name: req.cache_name.clone().unwrap_or_else(|| name.clone()),
    };
    let mut plan = Vec::new();
    if !req.ci_only {
        let flake = FLAKE_TEMPLATE.replace(
            &format!("url = \"{PLACEHOLDER_URL}\";"),
            &format!("url = {};", toml_str(&req.kiln_url).replace("${", "\\${")),
        );
        plan.push(plan_owned(&req.dir, "flake.nix", &flake, req.force)?);
        plan.push(plan_owned(
            &req.dir,
            "rust-toolchain.toml",
            &toolchain(req),
            req.force,
        )?);
        let (content, action) = cargo_toml_with_table(&cargo, &metadata_table(req), req.force);
        plan.push(Planned {
            rel: "Cargo.toml".into(),
            action,
            content,
        });
    }
    plan.push(plan_owned(
        &req.dir,
        WORKFLOW_PATH,
        &workflow::render(&spec),
        req.force,
    )?);

    let refused: Vec<&str> = plan
        .iter()
        .filter(|p| p.action == Action::Refused)
        .map(|p| p.rel.as_str())
        .collect();
    if !refused.is_empty() {
        bail!(
            "refusing to overwrite {} (edited since kiln wrote it, or not written by kiln); \
             nothing written; --force overwrites",
            refused.join(", ")
        );
    }
    for p in &plan {
        if p.action == Action::Unchanged {
            continue;
        }
        let path = req.dir.join(&p.rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&path, &p.content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_know_unmodified_output() {
        let s = stamp("a: 1\n");
        assert!(is_unmodified(&s));
        assert!(!is_unmodified(&s.replace("a: 1", "a: 2")));
        assert!(!is_unmodified("a: 1\n"));
    }

    #[test]
    fn cargo_toml_keeps_other_bytes() {
        let t = "[package]\nname = \"x\" # mine\n\n[dependencies]\n";
        let (out, a) = cargo_toml_with_table(t, "[package.metadata.kiln]\narchive = \"zip\"\n", false);
        assert_eq!(a, Action::Updated);
        assert!(out.starts_with(t));
        let (again, a) = cargo_toml_with_table(&out, "[package.metadata.kiln]\narchive = \"zip\"\n", false);
        assert_eq!((again.as_str(), a), (out.as_str(), Action::Unchanged));
        let edited = out.replace("zip", "tar.xz") + "[features]\n";
        let (kept, a) = cargo_toml_with_table(&edited, "[package.metadata.kiln]\narchive = \"zip\"\n", false);
        assert_eq!((kept.as_str(), a), (edited.as_str(), Action::Unchanged));
        let (forced, a) =
            cargo_toml_with_table(&edited, "[package.metadata.kiln]\narchive = \"zip\"\n", true);
        assert_eq!(a, Action::Overwritten);
        assert!(
            forced.contains("archive = \"zip\"") && forced.ends_with("[features]\n"),
            "{forced}"
        );
    }
}
