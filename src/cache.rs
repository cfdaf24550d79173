//! `kiln cache`: binary caches for the outputs `kiln build` builds.
//!
//! The outputs are found the way `kiln build` finds them: the same units (every package for
//! every target, [`crate::build::Unit`]) and one `nix eval` of their `packages.<system>.<attr>`,
//! so a cache entry is exactly the store path a build of the same flake would produce (no
//! `dist/` is needed, and a stale `dist/` cannot point at the wrong path). With
//! `--from-dist DIR` they are read from `DIR/manifest.json` (`artifacts[].store_path`, through
//! [`crate::release::read`]) instead, without evaluating anything, and `--target`/`--package` pick among its units
//! ([`Unit::is_picked`]). Either way `--package` names are checked as `kiln build` checks them.
//! Then:
//!
//! - `push --to URI [--key SECRET]`: the outputs must be built locally; with a key (the
//!   `nix key generate-secret` format) they are signed with their closures
//!   (`nix store sign --recursive`), then copied with `nix copy --to URI`;
//! - `status --from URI`: per target, whether the output is in the store at URI
//!   (`nix path-info --store URI --json`); exit 1 when something is missing;
//! - `pull --from URI [--trust PUBLIC-KEY]...`: `nix copy --from URI` into the local store,
//!   accepting only paths signed by a trusted key. Nix's refusals (no trusted signature, a NAR
//!   whose hash differs from its narinfo) become one line naming the store path.
//!
//! Every nix call goes through [`crate::nix`].

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use serde::Serialize;

use crate::build::{Unit, check_package_name};
use crate::nix::{Nix, NixError, NixErrorKind};
use crate::target::Target;

/// What the cache commands act on.
#[derive(Debug, Clone)]
pub struct CacheRequest {
    /// Flake reference.
    pub flake: String,
    /// Targets in the order asked for.
    pub targets: Vec<&'static Target>,
    /// Packages (`--package`, `[package.metadata.kiln] packages`); empty: the targets' own
    /// attributes. With the targets they make the units `kiln build` builds.
    pub packages: Vec<String>,
    /// `packages.<system>` to use instead of nix's own system.
    pub system: Option<String>,
    /// Print the nix commands run.
    pub verbose: bool,
    /// Take the outputs from this `dist/`'s manifest.json instead of evaluating; `targets`
    /// then filters them (empty: all of the manifest's).
    pub from_dist: Option<PathBuf>,
}

/// One unit's output and what happened to it: a line of the human output, an object of `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct OutputReport {
    /// Target triple.
    pub target: String,
    /// Flake attribute.
    pub attr: String,
    /// The package, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The output's store path.
    pub store_path: String,
    /// `pushed`, `present`, `missing`, `pulled` or `refused`.
    pub status: &'static str,
    /// Why a pull was refused, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OutputReport {
    /// One line for humans.
    pub fn line(&self) -> String {
        match &self.error {
            Some(e) => format!("{:<28} {:<8} {}: {e}", self.target, self.status, self.store_path),
            None => format!("{:<28} {:<8} {}", self.target, self.status, self.store_path),
        }
    }
}

/// The output of one unit, as `kiln build` builds it: its flake attribute and store path.
struct UnitOutput {
    unit: Unit,
    /// `packages.<system>.<attr>`: [`Unit::attr`], or what the dist's manifest recorded.
    attr: String,
    path: String,
}

/// `--package` as `kiln build` takes it: each name checked (it becomes part of a flake attribute
/// and of file names), in build's words.
fn check_packages(packages: &[String]) -> Result<()> {
    for p in packages {
        check_package_name(p).map_err(|e| anyhow!("--package: {e}"))?;
    }
    Ok(())
}

fn outputs_from_dist(req: &CacheRequest, dist: &std::path::Path) -> Result<Vec<UnitOutput>> {
    let path = dist.join(crate::release::read::MANIFEST_FILE);
    let manifest = crate::release::read::manifest(dist).map_err(|e| match e {
        crate::release::read::ReadError::Missing { .. } => {
            anyhow!("reading {}: no such file", path.display())
        }
        e => anyhow!("reading {}: {e}", dist.display()),
    })?;
    let outs: Vec<UnitOutput> = manifest
        .artifacts
        .into_iter()
        .filter_map(|a| {
            let unit = Unit {
                target: crate::target::lookup(&a.target).ok()?,
                package: a.package,
            };
            unit.is_picked(&req.targets, &req.packages).then_some(UnitOutput {
                unit,
                attr: a.attr,
                path: a.store_path,
            })
        })
        .collect();
    if outs.is_empty() {
        anyhow::bail!("{}: no artifacts for the targets asked for", path.display());
    }
    Ok(outs)
}

fn outputs(nix: &Nix, req: &CacheRequest) -> Result<Vec<UnitOutput>> {
    check_packages(&req.packages)?;
    if let Some(dist) = &req.from_dist {
        return outputs_from_dist(req, dist);
    }
    let system = match &req.system {
        Some(s) => s.clone(),
        None => nix
            .config()?
            .get("system")
            .cloned()
            .ok_or_else(|| anyhow!("nix reports no `system` setting; pass --system"))?,
    };
    let units = Unit::expand(&req.targets, &req.packages);
    let attrs: Vec<String> = units.iter().map(Unit::attr).collect();
    let refs: Vec<&str> = attrs.iter().map(String::as_str).collect();
    let packages = nix.eval_packages(&req.flake, &system, &refs)?;
    units
        .into_iter()
        .zip(attrs)
        .map(|(unit, attr)| {
            let info = packages.get(&attr).cloned().flatten().ok_or_else(|| {
                anyhow!(
                    "flake '{}' has no packages.{system}.{attr} (target {})",
                    req.flake,
                    unit.target.triple
                )
            })?;
            Ok(UnitOutput {
                unit,
                attr,
                path: info.out_path,
            })
        })
        .collect()
}

fn entry(o: &UnitOutput, status: &'static str, error: Option<String>) -> OutputReport {
    OutputReport {
        target: o.unit.target.triple.clone(),
        attr: o.attr.clone(),
        package: o.unit.package.clone(),
        store_path: o.path.clone(),
        status,
        error,
    }
}

/// Signs (with `key`) and copies every target's output to `to`. All outputs must be built.
pub fn push(req: &CacheRequest, to: &str, key: Option<&PathBuf>) -> Result<Vec<OutputReport>> {
    if let Some(k) = key.filter(|k| !k.is_file()) {
        anyhow::bail!("--key {}: no such file", k.display());
    }
    let nix = Nix::detect(req.verbose)?;
    let outs = outputs(&nix, req)?;
    let paths: Vec<&str> = outs.iter().map(|o| o.path.as_str()).collect();
    let valid = nix.valid_paths(&paths)?;
    let unbuilt: Vec<String> = outs
        .iter()
        .filter(|o| !valid.get(&o.path).copied().unwrap_or(false))
        .map(|o| format!("{} ({})", o.unit.target.triple, o.path))
        .collect();
    if !unbuilt.is_empty() {
        anyhow::bail!(
            "not built in the local store, run `kiln build` first: {}",
            unbuilt.join(", ")
        );
    }
    if let Some(k) = key {
        nix.sign(k, &paths)
            .map_err(|e| anyhow!("signing with {}: {}", k.display(), one_line(&e)))?;
    }
    nix.copy_to(to, &paths)
        .map_err(|e| anyhow!("copying to {to}: {}", one_line(&e)))?;
    Ok(outs.iter().map(|o| entry(o, "pushed", None)).collect())
}

/// Which outputs the store at `from` already has.
pub fn status(req: &CacheRequest, from: &str) -> Result<Vec<OutputReport>> {
    let nix = Nix::detect(req.verbose)?;
    let outs = outputs(&nix, req)?;
    outs.iter()
        .map(|o| {
            let there = nix
                .valid_in(from, &o.path)
                .map_err(|e| anyhow!("asking {from} about {}: {}", o.path, one_line(&e)))?;
            Ok(entry(o, if there { "present" } else { "missing" }, None))
        })
        .collect()
}

/// Copies every output from `from` into the local store, trusting `keys` (public keys).
pub fn pull(req: &CacheRequest, from: &str, keys: &[String]) -> Result<Vec<OutputReport>> {
    let nix = Nix::detect(req.verbose)?;
    let outs = outputs(&nix, req)?;
    Ok(outs
        .iter()
        .map(|o| match nix.copy_from(from, keys, &[o.path.as_str()]) {
            Ok(()) => entry(o, "pulled", None),
            Err(NixError::Failed { kind, stderr, .. }) => {
                entry(o, "refused", Some(refusal(kind, &stderr, from)))
            }
            Err(e) => entry(o, "refused", Some(one_line(&e))),
        })
        .collect())
}

/// Nix's reason for refusing a substitute (of the `kind` [`crate::nix::classify()`] read from
/// its `stderr`), as one line.
pub fn refusal(kind: NixErrorKind, stderr: &str, from: &str) -> String {
    match kind {
        NixErrorKind::Unsigned => format!(
            "refused by nix: not signed by a trusted key in {from} (wrong key, or a tampered narinfo)"
        ),
        NixErrorKind::HashMismatch => format!(
            "refused by nix: NAR hash mismatch in {from} (the cached data was corrupted or tampered with)"
        ),
        NixErrorKind::NotInStore => format!("not in {from}"),
        _ => crate::nix::error_summary(stderr),
    }
}

fn one_line(e: &NixError) -> String {
    match e {
        NixError::Failed { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(stderr: &str, from: &str) -> String {
        refusal(crate::nix::classify(stderr).kind, stderr, from)
    }

    #[test]
    fn refusals_are_named() {
        let sig = "copying 1 paths...\nerror: cannot add path '/nix/store/x-a' because it lacks a valid signature\n";
        assert!(refused(sig, "file:///c").contains("not signed by a trusted key in file:///c"));
        let nar =
            "error: hash mismatch importing path '/nix/store/x-a';\n  specified: sha256:1\n  got: sha256:2\n";
        assert!(refused(nar, "file:///c").contains("NAR hash mismatch"));
        assert_eq!(refused("warning: w\nerror: boom\n", "u"), "error: boom");
    }

    // issue 18 item 1: `--package` is checked as `kiln build` checks it, with or without
    // `--from-dist` (which read it unchecked, so a name build refuses was "no artifacts").
    #[test]
    fn issue18_package_names_are_checked_as_build_checks_them() {
        let err = check_packages(&["ok".into(), "a/b".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("--package: {}", check_package_name("a/b").unwrap_err())
        );
        assert!(check_packages(&["server".into(), "c++".into()]).is_ok());
    }
}
