//! What a `kiln build` ended with: each target's [`Status`] and [`TargetReport`], the whole
//! [`BuildReport`] that `--json` prints, and the human [`summary`] printed otherwise.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::elf;
use crate::manifest::{Manifest, Smoke};
use crate::nix::PackageInfo;
use crate::policy::Severity;
use crate::report::Verdict;
use crate::ui::Style;

/// Where a target ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not built yet / pending.
    Pending,
    /// nix failed to build it.
    BuildFailed,
    /// nix stopped before building it, because another target failed (no `--keep-going`).
    NotBuilt,
    /// A rebuild gave other bytes.
    NotReproducible,
    /// A binary failed its policy, or the output has no binaries.
    VerifyFailed,
    /// The smoke run failed.
    SmokeFailed,
    /// Verified; not exported because another target failed.
    Verified,
    /// In `dist/`.
    Exported,
}

/// One target's outcome, as `kiln build --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// Full triple.
    pub target: String,
    /// Flake attribute.
    pub attr: String,
    /// The package (`--package`), when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Outcome.
    pub status: Status,
    /// Derivation.
    pub drv_path: Option<String>,
    /// Output.
    pub store_path: Option<String>,
    /// What went wrong, on one line.
    pub error: Option<String>,
    /// The last lines of the build log of a failed build.
    pub log_tail: Vec<String>,
    /// Verification of each binary.
    pub binaries: Vec<Verdict>,
    /// Archive file name once exported.
    pub file: Option<String>,
    /// What the evaluation said of its derivation.
    #[serde(skip)]
    pub(super) info: Option<PackageInfo>,
    /// Each file of its `bin/`: name, path on disk and the facts verification read.
    #[serde(skip)]
    pub(super) bins: Vec<(String, PathBuf, elf::Facts)>,
    /// Each binary's smoke run, by name.
    #[serde(skip)]
    pub(super) smokes: BTreeMap<String, Smoke>,
}

/// The whole run, as `kiln build --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// Every target exported and nothing failed.
    pub ok: bool,
    /// The flake reference.
    pub flake: String,
    /// The Nix system used.
    pub system: String,
    /// The Nix version used.
    pub nix_version: String,
    /// Where `dist/` was written, if it was (`exported`, plus `exported_bytes` when it is not
    /// plain UTF-8).
    #[serde(flatten, serialize_with = "crate::report::path_fields::exported")]
    pub exported: Option<PathBuf>,
    /// Per target.
    pub targets: Vec<TargetReport>,
    /// The manifest written, if any.
    pub manifest: Option<Manifest>,
}

/// How the run ended.
pub enum BuildEnd {
    /// Finished; `ok` says whether everything held.
    Done(Box<BuildReport>),
    /// A signal arrived; the exit code to use.
    Interrupted(u8),
}

/// The human summary printed on stdout after a build.
pub fn summary(report: &BuildReport, style: Style) -> String {
    let mut s = String::new();
    for r in &report.targets {
        let (head, what) = match r.status {
            Status::Exported => (style.green("ok   "), r.file.clone().unwrap_or_default()),
            Status::Verified => (style.green("ok   "), "verified (not exported)".into()),
            _ => (
                style.red("FAIL "),
                r.error.clone().unwrap_or_else(|| format!("{:?}", r.status)),
            ),
        };
        let _ = writeln!(s, "{head} {:<28} {what}", r.target);
        for v in &r.binaries {
            for f in &v.findings {
                let sev = match f.severity {
                    Severity::Error => style.red("error"),
                    Severity::Warning => style.yellow("warning"),
                };
                let _ = writeln!(s, "        {} {sev} {}: {}", v.path.display(), f.code, f.message);
            }
        }
        for l in &r.log_tail {
            let _ = writeln!(s, "        | {l}");
        }
    }
    match &report.exported {
        Some(dir) => {
            let n = report
                .targets
                .iter()
                .filter(|r| r.status == Status::Exported)
                .count();
            let _ = writeln!(
                s,
                "exported {n} archive(s), manifest.json, SHA256SUMS and the provenance to {}",
                dir.display()
            );
        }
        None => {
            let _ = writeln!(s, "nothing exported");
        }
    }
    s
}
