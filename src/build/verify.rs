//! Verification of what nix built: each binary judged against its target's policy, and for
//! `--check-reproducible`, the first file in which a rebuild's bytes differ.

use std::fs;
use std::path::{Path, PathBuf};

use super::outcome::{Status, TargetReport};
use crate::elf;
use crate::nix;
use crate::policy::{self, Severity};
use crate::report::Verdict;
use crate::target::Target;

/// The first path (relative, in sorted walk order) whose type, mode or bytes differ.
pub fn first_difference(a: &Path, b: &Path) -> Option<String> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(root.join(rel)) else {
            return;
        };
        let mut names: Vec<_> = rd.filter_map(Result::ok).map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            out.push(r.clone());
            if fs::symlink_metadata(root.join(&r)).is_ok_and(|m| m.is_dir()) {
                walk(root, &r, out);
            }
        }
    }
    let (mut la, mut lb) = (Vec::new(), Vec::new());
    walk(a, Path::new(""), &mut la);
    walk(b, Path::new(""), &mut lb);
    let mut all: Vec<&PathBuf> = la.iter().chain(lb.iter()).collect();
    all.sort();
    all.dedup();
    for rel in all {
        let (pa, pb) = (a.join(rel), b.join(rel));
        let (ma, mb) = (fs::symlink_metadata(&pa).ok(), fs::symlink_metadata(&pb).ok());
        let same = match (&ma, &mb) {
            (Some(x), Some(y)) if x.is_file() && y.is_file() => fs::read(&pa).ok() == fs::read(&pb).ok(),
            (Some(x), Some(y)) if x.is_dir() && y.is_dir() => true,
            (Some(x), Some(y)) if x.is_symlink() && y.is_symlink() => {
                fs::read_link(&pa).ok() == fs::read_link(&pb).ok()
            }
            _ => false,
        };
        if !same {
            return Some(rel.display().to_string());
        }
    }
    None
}

/// Judges every file in the target's output `bin/` by the target's policy (and the cargo profile
/// the derivation names): the verdicts go into `r.binaries`, the facts into `r.bins`; a
/// failure sets `r.status` and `r.error`. A `bin/` that is missing, empty or holds anything but
/// regular files fails too: kiln ships regular files only.
pub(super) fn verify_target(r: &mut TargetReport, t: &Target, root: &Path, opts: &policy::Options) {
    let out = nix::on_disk(root, r.store_path.as_deref().unwrap_or_default());
    let bin = out.join("bin");
    let entries = match fs::read_dir(&bin) {
        Ok(rd) => {
            let mut v: Vec<_> = rd.filter_map(Result::ok).collect();
            v.sort_by_key(std::fs::DirEntry::file_name);
            v
        }
        Err(e) => {
            r.status = Status::VerifyFailed;
            r.error = Some(format!(
                "{}: no bin/ directory ({e})",
                r.store_path.as_deref().unwrap_or("?")
            ));
            return;
        }
    };
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(err) => {
                r.status = Status::VerifyFailed;
                r.error = Some(format!("{}: {err}", path.display()));
                return;
            }
        };
        if !meta.is_file() {
            r.status = Status::VerifyFailed;
            r.error = Some(format!(
                "bin/{name} in {} is a symlink or not a regular file; kiln ships regular files only",
                r.store_path.as_deref().unwrap_or("?")
            ));
            return;
        }
        let inspection = elf::inspect(&path);
        let cargo_profile = r.info.as_ref().and_then(|i| i.cargo_profile.as_deref());
        let mut verdict = match policy::check(&inspection, t, opts) {
            Ok(findings) => Verdict {
                path: PathBuf::from(format!("bin/{name}")),
                target: t.triple.clone(),
                ok: !findings.iter().any(|f| f.severity == Severity::Error),
                findings,
                error: None,
            },
            Err(e) => Verdict {
                path: PathBuf::from(format!("bin/{name}")),
                target: t.triple.clone(),
                ok: false,
                findings: Vec::new(),
                error: Some(e),
            },
        };
        if verdict.error.is_none()
            && let Some(f) =
                crate::elf::profile::mismatch(cargo_profile, inspection.facts.build_profile, opts)
        {
            verdict.ok &= f.severity != Severity::Error;
            verdict.findings.push(f);
        }
        if !verdict.ok {
            r.status = Status::VerifyFailed;
            let codes: Vec<&str> = verdict
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| f.code.as_str())
                .collect();
            r.error = Some(format!(
                "bin/{name} failed verification for {}: {}",
                t.triple,
                codes.join(", ")
            ));
        }
        r.binaries.push(verdict);
        r.bins.push((name, path, inspection.facts));
    }
    if r.bins.is_empty() && r.status == Status::Pending {
        r.status = Status::VerifyFailed;
        r.error = Some(format!(
            "{}/bin is empty: nothing to ship",
            r.store_path.as_deref().unwrap_or("?")
        ));
    }
}
