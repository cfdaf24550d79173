//! `kiln image`: OCI images from an exported `dist/`, added to it atomically.
//!
//! `manifest.json` says which archive holds which binaries and their SHA-256; each archive is
//! checked against the manifest, the binaries are read out of it and checked again, so the
//! image holds exactly the bytes `kiln build` verified. Only static (musl) targets make a
//! scratch image: a gnu target asked for by name is refused, unless `--base` names an OCI
//! image layout to build on. The whole `dist/` is then
//! re-staged with the image files (`<name>-<version>.oci/` and `<name>-<version>.oci.tar`),
//! `manifest.json` gains its `images` section, `SHA256SUMS` covers the `.oci.tar`, and the new
//! directory replaces the old one the way `kiln build` publishes it. Only a dist kiln wrote is
//! taken (see [`crate::export::check_destination`]): a directory holding anything else is
//! refused, never partly deleted. With `--sign-key` the dist must first pass
//! `kiln verify-release` (with that key when it is signed): kiln signs only a release it has
//! verified.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::archive::{ArchiveFormat, read_archive};
use crate::checksum;
use crate::export::{self, DistFile, Existing, Staging};
use crate::manifest::{Artifact, Manifest};
use crate::oci::layout::{self, BaseImage, ImageInput, ImageOptions, ImageSet, Layout};
use crate::proc::Interrupt;
use crate::provenance;
use crate::release::read::{self, ReadError};
use crate::target::{self, ExpectedLinkage, Libc, Target};

/// What `kiln image` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ImageRequest {
    /// The `dist/` to read and extend.
    pub dist: PathBuf,
    /// Targets to include (triples or attributes); empty = every static target in the dist.
    pub targets: Vec<String>,
    /// CA bundle file.
    pub ca_certs: Option<PathBuf>,
    /// zoneinfo directory.
    pub tzdata: Option<PathBuf>,
    /// An OCI image layout to build on (lets gnu targets in).
    pub base: Option<PathBuf>,
    /// Signs the restated provenance (`kiln build --image --sign-key`, `kiln image --sign-key`).
    pub sign_key: Option<crate::sign::SecretKey>,
}

/// Reads `manifest.json` of `dist` (through [`crate::release::read`]).
pub fn read_manifest(dist: &Path) -> Result<Manifest> {
    read::manifest(dist).map_err(|e| match e {
        ReadError::Missing { .. } => anyhow!("{}: {e}; run kiln build first", dist.display()),
        e => anyhow!("{}: {e}", dist.display()),
    })
}

/// The artifacts to image, with their targets; refuses gnu targets asked for by name.
fn select<'m>(
    manifest: &'m Manifest,
    wanted: &[String],
    has_base: bool,
) -> Result<Vec<(&'static Target, &'m Artifact)>> {
    let packages: std::collections::BTreeSet<&str> = manifest
        .artifacts
        .iter()
        .filter_map(|a| a.package.as_deref())
        .collect();
    if packages.len() > 1 {
        let names: Vec<&str> = packages.into_iter().collect();
        bail!(
            "the dist holds several packages ({}); an image holds one program, so build a dist \
             of one package for it",
            names.join(", ")
        );
    }
    let mut out = Vec::new();
    if wanted.is_empty() {
        for a in &manifest.artifacts {
            let t = target::lookup(&a.target)?;
            if t.linkage == ExpectedLinkage::Static {
                out.push((t, a));
            }
        }
        if out.is_empty() {
            bail!(
                "the dist has no static (musl) target; a scratch image needs a static binary \
                 (build x86_64-musl and/or aarch64-musl)"
            );
        }
        return Ok(out);
    }
    for name in wanted {
        let t = target::lookup(name)?;
        if !has_base && (t.libc == Libc::Gnu || t.linkage != ExpectedLinkage::Static) {
            bail!(
                "{}: a dynamically linked (gnu) binary cannot run in a scratch image; \
                 use the musl target ({}) or --base",
                t.triple,
                t.triple.replace("-gnu", "-musl")
            );
        }
        if let Some((other, _)) = out.iter().find(|(o, _)| o.oci_arch == t.oci_arch) {
            bail!(
                "{} and {} are both linux/{}; an image index holds one image per platform",
                other.triple,
                t.triple,
                t.oci_arch
            );
        }
        let a = manifest
            .artifacts
            .iter()
            .find(|a| a.target == t.triple)
            .ok_or_else(|| anyhow!("{}: not in the dist's manifest.json", t.triple))?;
        out.push((t, a));
    }
    Ok(out)
}

/// The verified binaries of one artifact, read from its archive (through
/// [`crate::release::read`] and [`crate::archive::read`]) and checked against the manifest's
/// SHA-256 of the archive and of every binary. What was hashed is what is unpacked.
fn binaries_of(dist: &Path, t: &'static Target, a: &Artifact, base: Option<BaseImage>) -> Result<ImageInput> {
    let format = match ArchiveFormat::of_file(&a.file) {
        Some(ArchiveFormat::Zip) | None => bail!(
            "{}: kiln image reads tar.gz, tar.xz or tar.zst archives, not zip",
            dist.join(&a.file).display()
        ),
        Some(f) => f,
    };
    let Some(mut opened) =
        read::open_hashed(dist, &a.file).map_err(|e| anyhow!("{}: {e}", dist.display()))?
    else {
        bail!("{}: {} is missing", dist.display(), a.file);
    };
    if opened.sha256 != a.sha256 {
        bail!("{}: SHA-256 differs from manifest.json", a.file);
    }
    for b in a.binaries.iter().filter(|_| base.is_none()) {
        if b.libc.as_deref() == Some("gnu") || b.linkage.as_deref() == Some("dynamic") {
            bail!(
                "{}: {} is dynamically linked; a scratch image needs a static binary",
                a.file,
                b.path
            );
        }
    }
    opened
        .file
        .seek(SeekFrom::Start(0))
        .with_context(|| a.file.clone())?;
    let members = read_archive(format, &mut opened.file).map_err(|e| anyhow!("{}: {e}", a.file))?;
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, m) in &members {
        let Some(b) = a.binaries.iter().find(|b| &b.path == name) else {
            continue;
        };
        let bytes = m
            .bytes()
            .unwrap_or_else(|| Ok(Vec::new()))
            .with_context(|| format!("{}: {name}", a.file))?;
        if checksum::sha256_bytes(&bytes) != b.sha256 {
            bail!("{}: {name}: SHA-256 differs from manifest.json", a.file);
        }
        let base = name.rsplit('/').next().unwrap_or(name).to_owned();
        found.push((base, bytes));
    }
    if found.len() != a.binaries.len() || found.is_empty() {
        bail!("{}: does not hold the binaries manifest.json lists", a.file);
    }
    Ok(ImageInput {
        target: t,
        binaries: found,
        base,
    })
}

/// The base name of the image files: `<name>-<version>` (or `<name>`).
pub fn stem(manifest: &Manifest) -> String {
    if manifest.version.is_empty() {
        manifest.name.clone()
    } else {
        format!("{}-{}", manifest.name, manifest.version)
    }
}

/// Builds the image layout of a dist's static targets (in memory).
pub fn build_layout(req: &ImageRequest, manifest: &Manifest) -> Result<Layout> {
    let chosen = select(manifest, &req.targets, req.base.is_some())?;
    let mut bases = match &req.base {
        Some(dir) => layout::read_base(dir)?,
        None => BTreeMap::new(),
    };
    let inputs: Vec<ImageInput> = chosen
        .into_iter()
        .map(|(t, a)| {
            let base = match &req.base {
                Some(dir) => Some(bases.remove(&t.oci_arch).ok_or_else(|| {
                    anyhow!(
                        "--base {}: no image for linux/{} ({})",
                        dir.display(),
                        t.oci_arch,
                        t.triple
                    )
                })?),
                None => None,
            };
            binaries_of(&req.dist, t, a, base)
        })
        .collect::<Result<_>>()?;
    let opts = ImageOptions {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        epoch: u64::try_from(manifest.source_date_epoch).unwrap_or(0),
        source: manifest
            .source
            .locked_url
            .clone()
            .or_else(|| Some(manifest.source.flake.clone())),
        revision: manifest.source.revision.clone(),
        ca_certs: req.ca_certs.clone(),
        tzdata: req.tzdata.clone(),
    };
    layout::build(&inputs, &opts)
}

/// Whether a `dist/` entry is an image file this module writes (replaced on every run).
fn is_image_file(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("oci"))
        || name.ends_with(".oci.tar")
}

/// The release's provenance names every file in SHA256SUMS, so adding images means restating
/// it with the new subjects. The old signature no longer covers that statement: with a key it is
/// signed again, without one the envelope is dropped (and kiln says so; `kiln sign` adds it back).
fn restate_provenance(req: &ImageRequest, staging: &Staging, sums: &[(String, String)]) -> Result<()> {
    let path = req.dist.join(provenance::STATEMENT_FILE);
    let Some(text) = read::read_regular(&req.dist, provenance::STATEMENT_FILE)
        .map_err(|e| anyhow!("{}: {e}", req.dist.display()))?
    else {
        return Ok(());
    };
    let old = read::parse_statement(&text).map_err(|e| anyhow!("{}: {e}", req.dist.display()))?;
    let statement = provenance::restate(&old.value, sums, std::time::SystemTime::now())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let was_signed = req.dist.join(provenance::ENVELOPE_FILE).exists();
    if let Some(key) = &req.sign_key {
        staging.write(&DistFile::Bytes {
            file: provenance::ENVELOPE_FILE.into(),
            bytes: key.envelope_line(&statement),
        })?;
    } else if was_signed {
        crate::stderr_line(&format!(
            "kiln: the images changed the release, so its signature was removed; sign it again with `kiln sign --key SECRET {}`",
            req.dist.display()
        ));
    }
    staging.write(&DistFile::Bytes {
        file: provenance::STATEMENT_FILE.into(),
        bytes: statement,
    })?;
    Ok(())
}

/// Before `--sign-key` signs a restated provenance, the dist must pass `kiln verify-release`
/// as it is: signed, with the key's own public half; unsigned, every digest, the manifest and
/// every archive. A tampered dist or one with stray files is refused, never re-signed.
fn verify_before_signing(dist: &Path, key: &crate::sign::SecretKey) -> Result<()> {
    let public = key.public();
    let signed = fs::symlink_metadata(dist.join(provenance::ENVELOPE_FILE)).is_ok();
    let report = crate::release::verify(dist, signed.then_some(&public))?;
    if let Some(first) = report.problems.first() {
        bail!(
            "{}: refusing to sign: the dist does not verify ({first}{}); see `kiln verify-release {}`",
            dist.display(),
            match report.problems.len() {
                1 => String::new(),
                n => format!(", and {} more problem(s)", n - 1),
            },
            dist.display()
        );
    }
    Ok(())
}

/// Refuses a `--from` that is not a dist kiln wrote (see [`crate::export::check_destination`]):
/// its files are re-staged and the old directory replaced, so anything in it that kiln did not
/// write would be lost.
pub fn check_dist(dist: &Path) -> Result<()> {
    match export::check_destination(dist, &[])? {
        Existing::Dist(_) => Ok(()),
        Existing::Absent => bail!("{}: no such directory; run kiln build first", dist.display()),
        Existing::Empty => bail!(
            "{}: an empty directory, not a dist; run kiln build first",
            dist.display()
        ),
    }
}

/// The file names `SHA256SUMS` of `dist` lists, sorted.
fn listed_files(dist: &Path) -> Result<Vec<String>> {
    let sums = read::sums(dist).map_err(|e| anyhow!("{}: {e}", dist.display()))?;
    Ok(sums.into_keys().collect())
}

/// Makes the images and publishes `dist/` again with them; returns the new manifest and the
/// layout (for `--push`).
pub fn add_images(req: &ImageRequest, interrupt: &Interrupt) -> Result<(Manifest, Layout)> {
    check_dist(&req.dist)?;
    if let Some(key) = &req.sign_key {
        verify_before_signing(&req.dist, key)?;
    }
    let mut manifest = read_manifest(&req.dist)?;
    let layout = build_layout(req, &manifest)?;
    let stem = stem(&manifest);
    let layout_dir = format!("{stem}.oci");
    let archive_name = format!("{stem}.oci.tar");
    let epoch = u64::try_from(manifest.source_date_epoch).unwrap_or(0);
    let staging = Staging::new(&req.dist, epoch, interrupt.clone())?;
    let mut sums = Vec::new();
    // The release files are those its SHA256SUMS lists (check_dist made sure nothing else is
    // there); the manifest, the provenance and the images are made anew.
    for name in listed_files(&req.dist)? {
        if name == "manifest.json" || is_image_file(&name) {
            continue;
        }
        let path = req.dist.join(&name);
        let bytes = fs::read(&path).with_context(|| path.display().to_string())?;
        let (sha, _) = staging.write(&DistFile::Bytes {
            file: name.clone(),
            bytes,
        })?;
        sums.push((name, sha));
    }
    for (rel, bytes) in layout.files() {
        staging.write(&DistFile::Bytes {
            file: format!("{layout_dir}/{rel}"),
            bytes: bytes.to_vec(),
        })?;
    }
    let (archive_sha256, archive_size) = staging.write(&DistFile::Bytes {
        file: archive_name.clone(),
        bytes: layout.oci_archive()?,
    })?;
    sums.push((archive_name.clone(), archive_sha256.clone()));
    manifest.images = Some(ImageSet {
        layout: layout_dir,
        archive: archive_name,
        archive_sha256,
        archive_size,
        index: layout.index.digest.clone(),
        tag: layout.tag.clone(),
        platforms: layout.platforms.clone(),
    });
    staging.write_manifest(&manifest, &mut sums)?;
    sums.sort();
    restate_provenance(req, &staging, &sums)?;
    staging.publish(&sums)?;
    Ok((manifest, layout))
}
