//! Release assembly: the verified targets' archives, SBOMs, `manifest.json`, the provenance
//! (signed with `--sign-key`) and `SHA256SUMS`, written through [`crate::export`]'s staging
//! directory and published as `dist/` in one step.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use super::outcome::{Status, TargetReport};
use super::pipeline::Stop;
use super::request::BuildRequest;
use crate::elf::GlibcVersion;
use crate::export::{self, DistFile, ExportError, Staging};
use crate::manifest::{self, Artifact, Binary, Manifest, NixInfo, Source};
use crate::nix::{self, Nix};
use crate::proc::Interrupt;
use crate::provenance;
use crate::sbom;

/// What the release assembly reads besides the reports.
pub(super) struct ExportContext<'a> {
    pub(super) req: &'a BuildRequest,
    pub(super) nix: &'a Nix,
    pub(super) system: &'a str,
    pub(super) root: &'a Path,
    pub(super) metadata: &'a nix::FlakeMetadata,
    pub(super) sandbox: Option<&'a str>,
    pub(super) started: std::time::SystemTime,
}

/// SOURCE_DATE_EPOCH: the environment's, else the flake's lastModified, else 1980-01-01.
pub fn source_date_epoch(metadata_last_modified: Option<i64>) -> Result<i64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| anyhow!("SOURCE_DATE_EPOCH='{v}' is not a non-negative integer"));
    }
    Ok(metadata_last_modified.filter(|n| *n > 0).unwrap_or(315_532_800))
}

/// The manifest's view of one target's binaries.
fn manifest_binaries(r: &TargetReport, stem: &str) -> Vec<Binary> {
    r.bins
        .iter()
        .zip(&r.binaries)
        .map(|((n, _, facts), v)| Binary {
            path: format!("{stem}/{n}"),
            sha256: facts.sha256.clone().unwrap_or_default(),
            size: facts.size.unwrap_or(0),
            linkage: facts.linkage.map(|l| l.as_str().to_owned()),
            libc: facts.libc.map(|l| l.to_string()),
            glibc_max: facts.glibc_max.clone(),
            build_profile: facts.build_profile.map(|p| p.to_string()),
            findings: v.findings.clone(),
            smoke: r.smokes.get(n).cloned(),
        })
        .collect()
}

/// Writes `provenance.intoto.json` (and, with a key, its envelope) into the staging directory.
/// The provenance names every file in `sums`; it and its envelope stay out of SHA256SUMS, which
/// is thus the same for two runs of the same build.
fn write_provenance(
    ctx: &ExportContext<'_>,
    staging: &Staging,
    sums: &[(String, String)],
    outputs: &[provenance::BuiltOutput],
) -> Result<(), ExportError> {
    let req = ctx.req;
    let statement = provenance::statement_bytes(&provenance::Inputs {
        subjects: sums,
        flake: &req.flake,
        metadata: ctx.metadata,
        outputs,
        flags: provenance::Flags {
            archive: req.archive.to_string(),
            check_reproducible: req.check_reproducible,
            keep_going: req.keep_going,
            smoke: req.smoke.clone(),
            system: req.system.clone(),
            ..provenance::Flags::of_policy(&req.policy)
        },
        nix_version: &ctx.nix.version.to_string(),
        system: ctx.system,
        sandbox: ctx.sandbox,
        env: provenance::ci_env(),
        started: ctx.started,
        finished: std::time::SystemTime::now(),
        invocation_id: provenance::random_invocation_id(),
    });
    if let Some(key) = &req.sign_key {
        staging.write(&DistFile::Bytes {
            file: provenance::ENVELOPE_FILE.into(),
            bytes: key.envelope_line(&statement),
        })?;
    }
    staging.write(&DistFile::Bytes {
        file: provenance::STATEMENT_FILE.into(),
        bytes: statement,
    })?;
    Ok(())
}

/// The flake's own directory on disk (`?dir=` of a git or path flake).
fn flake_dir(ctx: &ExportContext<'_>) -> Option<PathBuf> {
    ctx.metadata.path.as_deref().map(|p| {
        let dir = ctx
            .metadata
            .locked
            .get("dir")
            .and_then(|d| d.as_str())
            .unwrap_or("");
        nix::on_disk(ctx.root, p).join(dir)
    })
}

/// The flake directory's crate and the packages of its `Cargo.lock`, when it has one.
fn cargo_lock(dir: Option<&Path>) -> Result<Option<sbom::Crate>> {
    match dir.map(|d| (d, d.join("Cargo.lock"))) {
        Some((d, p)) if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) => {
            let text = fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
            Ok(Some(sbom::Crate {
                dir: d.to_owned(),
                lock: sbom::parse_cargo_lock(&text).with_context(|| format!("{}", p.display()))?,
            }))
        }
        _ => Ok(None),
    }
}

/// What the provenance records of one exported target.
fn provenance_output(system: &str, r: &TargetReport) -> provenance::BuiltOutput {
    provenance::BuiltOutput {
        target: r.target.clone(),
        attribute: format!("packages.{system}.{}", r.attr),
        store_path: r.store_path.clone().unwrap_or_default(),
        drv_path: r.drv_path.clone().unwrap_or_default(),
        verification: serde_json::to_value(&r.binaries).unwrap_or_default(),
    }
}

/// An archive that failed because its target's output is no longer in the store (deleted or
/// garbage-collected after the build) says so, naming the store path.
fn gone_from_store(e: ExportError, store_path: Option<&str>) -> Stop {
    match (&e, store_path) {
        (
            ExportError::Archive {
                source: crate::archive::ArchiveError::ReadSource { source, .. },
                ..
            },
            Some(out),
        ) if source.kind() == std::io::ErrorKind::NotFound && fs::symlink_metadata(out).is_err() => {
            Stop::Error(anyhow!(
                "{out} is no longer in the Nix store (deleted or garbage-collected after it was built); \
                 nothing exported, build again"
            ))
        }
        _ => e.into(),
    }
}

/// The release name the derivations give, one for all targets: the first target's `pname`
/// without its own attribute suffix (kiln's Nix library names a target's package
/// `<pname>-<attr>`, e.g. `app-x86_64-musl`), so every archive carries the same name.
fn release_name(reports: &[TargetReport]) -> Option<String> {
    reports.iter().find_map(|r| {
        let info = r.info.as_ref()?;
        let stripped = info
            .pname
            .strip_suffix(&r.attr)
            .and_then(|s| s.strip_suffix('-'))
            .filter(|s| !s.is_empty());
        Some(stripped.unwrap_or(&info.pname).to_owned())
    })
}

/// `(name, version, <name>-<version>-<triple>)` of a target's archive. A package's archives
/// carry the package's name and (without a Cargo.toml version) its derivation's version.
fn archive_stem<'a>(
    r: &'a TargetReport,
    name: &'a str,
    version: &str,
    cargo_version: Option<&str>,
) -> (&'a str, String, String) {
    let (name, version) = match &r.package {
        Some(p) => (
            p.as_str(),
            cargo_version
                .map(str::to_owned)
                .or_else(|| r.info.as_ref().map(|i| i.version.clone()))
                .unwrap_or_default(),
        ),
        None => (name, version.to_owned()),
    };
    let stem = if version.is_empty() {
        format!("{name}-{}", r.target)
    } else {
        format!("{name}-{version}-{}", r.target)
    };
    (name, version, stem)
}

/// Writes every verified target's archive (and SBOM), `manifest.json`, the provenance and
/// `SHA256SUMS` through a staging directory, then publishes it as `--out`; the exported
/// targets become [`Status::Exported`]. An interrupt stops it as [`Stop::Interrupted`], with
/// `--out` left as it was.
pub(super) fn export_release(
    ctx: &ExportContext<'_>,
    reports: &mut [TargetReport],
    interrupt: &Interrupt,
) -> Result<Manifest, Stop> {
    let req = ctx.req;
    let first = reports.iter().find_map(|r| r.info.clone());
    let name = req
        .name
        .clone()
        .or_else(|| release_name(reports))
        .unwrap_or_else(|| "release".into());
    let version = req
        .version
        .clone()
        .or_else(|| first.as_ref().map(|p| p.version.clone()))
        .unwrap_or_default();
    let epoch = source_date_epoch(ctx.metadata.last_modified).map_err(Stop::Error)?;
    // The flake's own directory (`?dir=` of a git or path flake): README/LICENSE, Cargo.lock.
    let flake_dir = flake_dir(ctx);
    let docs = flake_dir.as_deref().map(export::find_docs).unwrap_or_default();
    let lock = cargo_lock(flake_dir.as_deref()).map_err(Stop::Error)?;
    let mut outputs = Vec::new();

    let staging = Staging::new(&req.out, u64::try_from(epoch).unwrap_or(0), interrupt.clone())?;
    let mut sums: Vec<(String, String)> = Vec::new();
    let mut artifacts = Vec::new();
    for r in reports.iter_mut().filter(|r| r.status == Status::Verified) {
        let (name, version, stem) = archive_stem(r, &name, &version, req.version.as_deref());
        let file = format!("{stem}.{}", req.archive.extension());
        let bins: Vec<(String, PathBuf)> = r.bins.iter().map(|(n, p, _)| (n.clone(), p.clone())).collect();
        let entries = export::target_entries(&stem, &bins, &docs);
        let (sha, size) = staging
            .write(&DistFile::Archive {
                file: file.clone(),
                format: req.archive,
                entries,
            })
            .map_err(|e| gone_from_store(e, r.store_path.as_deref()))?;
        sums.push((file.clone(), sha.clone()));
        if let Some(packages) = &lock {
            let sbom_file = sbom::file_name(&stem);
            let (sbom_sha, _) = staging.write(&DistFile::Bytes {
                file: sbom_file.clone(),
                bytes: packages.sbom(name, &version, &r.target, &stem),
            })?;
            sums.push((sbom_file, sbom_sha));
        }
        outputs.push(provenance_output(ctx.system, r));
        let binaries = manifest_binaries(r, &stem);
        let glibc_max = binaries
            .iter()
            .filter_map(|b| b.glibc_max.as_deref().and_then(GlibcVersion::parse))
            .max()
            .map(|v| v.to_string());
        artifacts.push(Artifact {
            target: r.target.clone(),
            attr: r.attr.clone(),
            package: r.package.clone(),
            file: file.clone(),
            sha256: sha,
            size,
            store_path: r.store_path.clone().unwrap_or_default(),
            drv_path: r.drv_path.clone().unwrap_or_default(),
            linkage: binaries.first().and_then(|b| b.linkage.clone()),
            glibc_max,
            cargo_profile: r.info.as_ref().and_then(|i| i.cargo_profile.clone()),
            findings: binaries.iter().flat_map(|b| b.findings.clone()).collect(),
            binaries,
        });
        r.file = Some(file);
    }
    let (flake, locked_url) = provenance::source_identity(&req.flake, ctx.metadata);
    let manifest = Manifest {
        schema: manifest::SCHEMA.into(),
        name,
        version,
        source: Source {
            flake,
            locked_url,
            revision: ctx.metadata.revision.clone(),
            nar_hash: ctx.metadata.nar_hash().map(str::to_owned),
            last_modified: ctx.metadata.last_modified,
        },
        source_date_epoch: epoch,
        nix: NixInfo {
            version: ctx.nix.version.to_string(),
            system: ctx.system.to_owned(),
        },
        archive_format: req.archive.to_string(),
        artifacts,
        images: None,
    };
    staging.write_manifest(&manifest, &mut sums)?;
    write_provenance(ctx, &staging, &sums, &outputs)?;
    staging.publish(&sums)?;
    for r in reports.iter_mut().filter(|r| r.status == Status::Verified) {
        r.status = Status::Exported;
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 18 item 4: an interrupt seen while archiving stays an interrupt (it used to be
    // wrapped in anyhow here and found again by downcasting).
    #[test]
    fn issue18_an_interrupted_archive_is_a_typed_interrupt() {
        let stop = gone_from_store(
            ExportError::Interrupted(PathBuf::from("dist")),
            Some("/nix/store/00000000000000000000000000000000-gone"),
        );
        assert!(matches!(stop, Stop::Interrupted));
    }
}
