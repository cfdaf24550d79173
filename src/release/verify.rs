//! `kiln verify-release DIR [--key PUB]`: checks a `dist/` on its own, without Nix, reading it
//! through [`super::read`].
//!
//! Every file's SHA-256 is recomputed (streamed); `SHA256SUMS`, `manifest.json` and the
//! provenance statement's subjects must agree with each other and with the files; the DSSE
//! envelope must verify with the given key (strictly, weak keys refused) and carry exactly
//! `provenance.intoto.json`. Only then are archives opened: each is read whole, as `tar`,
//! `unzip`, `gzip -d`, `xz -d` and `zstd -d` would, streaming and within fixed limits
//! ([`MAX_MEMBER`](crate::archive::MAX_MEMBER), [`MAX_UNPACKED`](crate::archive::MAX_UNPACKED),
//! [`MAX_MEMBERS`](crate::archive::MAX_MEMBERS), [`ZSTD_WINDOW_LOG_MAX`](crate::archive::ZSTD_WINDOW_LOG_MAX)
//! and [`XZ_MEMLIMIT`](crate::archive::XZ_MEMLIMIT); see [`crate::archive::read`]);
//! whatever two extractors could read differently is refused,
//! and every member whose bytes are ELF, whatever its name, is checked again with its target's
//! policy. An OCI image in the release is cross-checked against `manifest.json`: its archive,
//! its layout directory, every blob's digest, and the binaries in its layers against the
//! manifest's. Only regular files directly in DIR are read: symlinks, subdirectories and names
//! with `/` or `..` are problems, never followed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use super::read::{self, MANIFEST_FILE, MAX_DOCUMENT, Opened, SUMS_FILE, open_regular, read_regular};
use crate::archive::{ArchiveFormat, Unpacked, UnpackedMembers, read_archive, read_plain_tar};
use crate::elf::profile::Profile;
use crate::manifest::Manifest;
use crate::policy::{self, Severity};
use crate::provenance::{ENVELOPE_FILE, STATEMENT_FILE};
use crate::sign::{self, Envelope};
use crate::target;

/// What `verify-release` found.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    /// No problem found.
    pub ok: bool,
    /// The directory checked (`dir`, plus `dir_bytes` when it is not plain UTF-8).
    #[serde(flatten, serialize_with = "crate::report::path_fields::dir")]
    pub dir: PathBuf,
    /// Files whose digest was recomputed.
    pub files: Vec<String>,
    /// Binaries re-verified against their target's policy.
    pub binaries: Vec<String>,
    /// Whether an envelope is present.
    pub signed: bool,
    /// The key id the signature was verified with, if it was.
    pub verified_key: Option<String>,
    /// Every problem, one line each.
    pub problems: Vec<String>,
    /// Remarks that are not failures.
    pub notes: Vec<String>,
}

/// Checks the release in `dir`. `Err` only for a directory that cannot be read at all.
pub fn verify(dir: &Path, key: Option<&ed25519_dalek::VerifyingKey>) -> Result<ReleaseReport> {
    // DIR itself may be a symlink the user named; nothing inside it is followed.
    let meta = fs::metadata(dir).with_context(|| format!("{}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let mut r = ReleaseReport {
        ok: false,
        dir: dir.to_path_buf(),
        files: Vec::new(),
        binaries: Vec::new(),
        signed: false,
        verified_key: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    // Every entry of DIR: regular files only, and image layout directories.
    let mut present = BTreeSet::new();
    let mut layouts = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let e = e.with_context(|| format!("{}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = e.file_type().with_context(|| name.clone())?;
        if ft.is_symlink() {
            r.problems
                .push(format!("{name} is a symlink; a release holds regular files only"));
        } else if ft.is_dir() && Path::new(&name).extension().is_some_and(|e| e == "oci") {
            // An OCI image layout: checked below against the `.oci.tar` that SHA256SUMS covers.
            layouts.push(name);
        } else if !ft.is_file() {
            r.problems.push(format!("{name} is not a regular file"));
        } else {
            present.insert(name);
        }
    }

    // Digests and the signature first; nothing is decompressed before they hold.
    let (sums, mut actual) = check_sums(dir, &present, &mut r);
    let statement_bytes = check_signature(dir, key, &mut r);
    let policy = check_statement(statement_bytes.as_deref(), &sums, &actual, &mut r);
    let manifest = check_manifest(&sums, &mut actual, &mut r);
    if r.problems.is_empty() {
        // Both are there: a missing or unreadable manifest or statement is a problem.
        if let (Some(m), Some(opts)) = (&manifest, &policy) {
            check_images(m, dir, &layouts, &sums, &mut actual, opts, &mut r);
            check_artifacts(m, &mut actual, opts, &mut r);
        }
    } else {
        r.notes.push(
            "archives and images were not unpacked: the digests, manifest or signature already failed".into(),
        );
    }
    r.ok = r.problems.is_empty();
    Ok(r)
}

/// SHA256SUMS against the files of `dir`: every listed file present with its digest, nothing
/// unlisted but the provenance. Returns the parsed sums and every listed file, opened.
fn check_sums(
    dir: &Path,
    present: &BTreeSet<String>,
    r: &mut ReleaseReport,
) -> (BTreeMap<String, String>, BTreeMap<String, Opened>) {
    let sums: BTreeMap<String, String> = match read::sums(dir) {
        Ok(v) => v,
        Err(read::ReadError::Missing { .. }) => {
            r.problems.push(format!("{SUMS_FILE} is missing"));
            BTreeMap::new()
        }
        Err(e) => {
            r.problems.push(e.to_string());
            BTreeMap::new()
        }
    };
    let mut actual: BTreeMap<String, Opened> = BTreeMap::new();
    for (name, want) in &sums {
        if name.contains('/') {
            r.problems.push(format!(
                "SHA256SUMS lists {name}: a release has no subdirectories"
            ));
            continue;
        }
        if !present.contains(name) {
            r.problems
                .push(format!("missing file {name} (listed in SHA256SUMS)"));
            continue;
        }
        match read::open_hashed(dir, name) {
            Ok(Some(opened)) => {
                if &opened.sha256 != want {
                    r.problems.push(format!(
                        "{name}: sha256 {} does not match SHA256SUMS ({want}): the file was changed",
                        opened.sha256
                    ));
                }
                r.files.push(name.clone());
                actual.insert(name.clone(), opened);
            }
            Ok(None) => r
                .problems
                .push(format!("missing file {name} (listed in SHA256SUMS)")),
            Err(e) => r.problems.push(e.to_string()),
        }
    }
    for name in present {
        let known = sums.contains_key(name)
            || name == SUMS_FILE
            || name == STATEMENT_FILE
            || name == ENVELOPE_FILE
            || (name == crate::export::MARKER_FILE
                && read_regular(dir, name).is_ok_and(|b| b.is_some_and(|b| crate::export::is_marker(&b))));
        if !known {
            r.problems
                .push(format!("extra file {name}: not listed in SHA256SUMS"));
        }
    }

    (sums, actual)
}

/// The envelope: present, well-formed, signed by `key` and carrying exactly the statement file.
/// Returns the statement's bytes.
fn check_signature(
    dir: &Path,
    key: Option<&ed25519_dalek::VerifyingKey>,
    r: &mut ReleaseReport,
) -> Option<Vec<u8>> {
    let statement = match read_regular(dir, STATEMENT_FILE) {
        Ok(Some(b)) => Some(b),
        Ok(None) => {
            r.problems.push(format!("{STATEMENT_FILE} is missing"));
            None
        }
        Err(e) => {
            r.problems.push(e.to_string());
            None
        }
    };
    let envelope = match read_regular(dir, ENVELOPE_FILE) {
        Ok(b) => b,
        Err(e) => {
            r.problems.push(e.to_string());
            return statement;
        }
    };
    let Some(envelope) = envelope else {
        if key.is_some() {
            r.problems
                .push(format!("the release is not signed: {ENVELOPE_FILE} is missing"));
        } else {
            r.notes
                .push("unsigned release (no provenance.intoto.jsonl)".into());
        }
        return statement;
    };
    r.signed = true;
    let text = String::from_utf8_lossy(&envelope);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let [one] = lines.as_slice() else {
        r.problems.push(format!(
            "{ENVELOPE_FILE} must hold exactly one DSSE envelope, found {} lines",
            lines.len()
        ));
        return statement;
    };
    let env: Envelope = match serde_json::from_str(one) {
        Ok(env) => env,
        Err(e) => {
            r.problems.push(format!(
                "{ENVELOPE_FILE} is not a valid DSSE envelope (truncated or edited?): {e}"
            ));
            return statement;
        }
    };
    let payload = if let Some(k) = key {
        match sign::verify_envelope(&env, k) {
            Ok(p) => {
                r.verified_key = Some(sign::key_id(k));
                p
            }
            Err(e) => {
                r.problems.push(format!("{ENVELOPE_FILE}: {e}"));
                return statement;
            }
        }
    } else {
        r.notes
            .push("signature not checked: give --key PUB to check it".into());
        match sign::payload(&env) {
            Ok(p) => p,
            Err(e) => {
                r.problems.push(format!("{ENVELOPE_FILE}: {e}"));
                return statement;
            }
        }
    };
    if statement.as_deref() != Some(payload.as_slice()) {
        r.problems.push(format!(
            "{STATEMENT_FILE} differs from the statement signed in {ENVELOPE_FILE}"
        ));
    }
    Some(payload)
}

/// The statement's subjects must be exactly SHA256SUMS, with the files' digests. Returns the
/// policy the build recorded in its flags (for the policy re-check).
fn check_statement(
    bytes: Option<&[u8]>,
    sums: &BTreeMap<String, String>,
    actual: &BTreeMap<String, Opened>,
    r: &mut ReleaseReport,
) -> Option<policy::Options> {
    let statement = match read::parse_statement(bytes?) {
        Ok(s) => s,
        Err(e) => {
            r.problems.push(e.to_string());
            return None;
        }
    };
    let subjects = &statement.subjects;
    for (name, want) in sums {
        match subjects.get(name) {
            None => r
                .problems
                .push(format!("{name} is not a subject of the provenance statement")),
            Some(sha) if sha != want => r.problems.push(format!(
                "{name}: the provenance subject's sha256 {sha} differs from SHA256SUMS ({want})"
            )),
            Some(sha) => {
                if let Some(f) = actual.get(name)
                    && &f.sha256 != sha
                {
                    r.problems
                        .push(format!("{name}: the file does not match its provenance subject"));
                }
            }
        }
    }
    for name in subjects.keys() {
        if !sums.contains_key(name) {
            r.problems
                .push(format!("provenance subject {name} is not in SHA256SUMS"));
        }
    }
    match statement.flags.policy() {
        Ok(opts) => Some(opts),
        Err(e) => {
            r.problems
                .push(format!("{STATEMENT_FILE}: externalParameters.flags: {e}"));
            None
        }
    }
}

/// manifest.json against SHA256SUMS (no archive is opened here). Returns the manifest when it
/// parses.
fn check_manifest(
    sums: &BTreeMap<String, String>,
    actual: &mut BTreeMap<String, Opened>,
    r: &mut ReleaseReport,
) -> Option<Manifest> {
    let Some(opened) = actual.get_mut(MANIFEST_FILE) else {
        if !sums.contains_key(MANIFEST_FILE) {
            r.problems
                .push("manifest.json is not listed in SHA256SUMS".into());
        }
        return None;
    };
    let size = opened.size;
    let manifest = match read::read_document(MANIFEST_FILE, &mut opened.file, size)
        .and_then(|b| read::parse_manifest(&b))
    {
        Ok(m) => m,
        Err(e) => {
            r.problems.push(e.to_string());
            return None;
        }
    };
    if manifest.artifacts.is_empty() {
        r.problems
            .push("manifest.json lists no artifacts: an empty release verifies nothing".into());
    }
    let mut seen_files = BTreeSet::new();
    let mut seen_targets = BTreeSet::new();
    for a in &manifest.artifacts {
        if !seen_files.insert(a.file.as_str()) {
            r.problems
                .push(format!("manifest.json lists the artifact {} twice", a.file));
        }
        if !seen_targets.insert((a.package.as_deref(), a.target.as_str())) {
            r.problems.push(format!(
                "manifest.json lists target {} twice{}",
                a.target,
                a.package
                    .as_deref()
                    .map(|p| format!(" for package {p}"))
                    .unwrap_or_default()
            ));
        }
    }
    let listed: BTreeSet<&str> = manifest.artifacts.iter().map(|a| a.file.as_str()).collect();
    for name in sums.keys() {
        let is_archive = ArchiveFormat::of_file(name).is_some();
        if is_archive && !listed.contains(name.as_str()) {
            r.problems
                .push(format!("{name} is an archive that manifest.json does not list"));
        }
    }
    for a in &manifest.artifacts {
        let Some(want) = sums.get(&a.file) else {
            r.problems
                .push(format!("manifest.json lists {} but SHA256SUMS does not", a.file));
            continue;
        };
        if &a.sha256 != want {
            r.problems.push(format!(
                "{}: manifest.json says sha256 {}, SHA256SUMS says {want}",
                a.file, a.sha256
            ));
        }
        if let Some(f) = actual.get(&a.file)
            && a.size != f.size
        {
            r.problems.push(format!(
                "{}: manifest.json says {} bytes, the file has {}",
                a.file, a.size, f.size
            ));
        }
    }
    Some(manifest)
}

/// Every artifact's archive, unpacked and checked (once the digests and signature held).
fn check_artifacts(
    manifest: &Manifest,
    actual: &mut BTreeMap<String, Opened>,
    opts: &policy::Options,
    r: &mut ReleaseReport,
) {
    for a in &manifest.artifacts {
        if let Some(f) = actual.get_mut(&a.file) {
            check_binaries(a, &mut f.file, opts, r);
        }
    }
}

fn check_binaries(
    a: &crate::manifest::Artifact,
    file: &mut File,
    opts: &policy::Options,
    r: &mut ReleaseReport,
) {
    let Ok(t) = target::lookup(&a.target) else {
        r.problems
            .push(format!("{}: unknown target {}", a.file, a.target));
        return;
    };
    let format = ArchiveFormat::of_file(&a.file);
    let Some(format) = format else {
        r.problems.push(format!("{}: not a known archive format", a.file));
        return;
    };
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        r.problems.push(format!("{}: {e}", a.file));
        return;
    }
    let members = match read_archive(format, &mut *file) {
        Ok(m) => m,
        Err(e) => {
            r.problems.push(format!("{}: {e}", a.file));
            return;
        }
    };
    // Nothing in the archive but the manifest's binaries and the documents kiln copies.
    let stem = a
        .file
        .strip_suffix(&format!(".{}", format.extension()))
        .unwrap_or(&a.file);
    for (name, m) in &members {
        let binary = a.binaries.iter().any(|b| &b.path == name);
        let doc = name
            .strip_prefix(stem)
            .and_then(|n| n.strip_prefix('/'))
            .is_some_and(|n| crate::export::DOC_FILES.contains(&n));
        if !binary && !doc {
            r.problems.push(format!(
                "{}: {name} is in the archive but not in manifest.json",
                a.file
            ));
        }
        // An ELF file is checked whatever its name: a document slot holds no unchecked program.
        if !binary && m.is_elf() {
            check_elf(&a.file, name, m, t, opts, r, None);
        }
    }
    for b in &a.binaries {
        let Some(m) = members.get(&b.path) else {
            r.problems
                .push(format!("{}: {} is missing from the archive", a.file, b.path));
            continue;
        };
        if m.sha256 != b.sha256 {
            r.problems.push(format!(
                "{}: {} differs from manifest.json's sha256",
                a.file, b.path
            ));
            continue;
        }
        check_elf(&a.file, &b.path, m, t, opts, r, Some((a, b)));
    }
}

/// One member against `t`'s policy; a member that is not ELF fails it as kiln inspect says.
/// For a binary the manifest lists (`listed`), the build profile it shows must also agree with
/// what the manifest records.
fn check_elf(
    file: &str,
    name: &str,
    m: &Unpacked,
    t: &target::Target,
    opts: &policy::Options,
    r: &mut ReleaseReport,
    listed: Option<(&crate::manifest::Artifact, &crate::manifest::Binary)>,
) {
    let checked = match m.with_mapped(|data| policy_check(name, data, t, opts)) {
        Some(Ok(c)) => c,
        None => policy_check(name, &[], t, opts),
        Some(Err(e)) => Err(format!("cannot map the unpacked member: {e}")),
    };
    match checked {
        Ok((errors, shown)) if errors.is_empty() => {
            match listed.and_then(|(a, b)| profile_problem(a, b, shown, opts)) {
                Some(p) => r.problems.push(p),
                None => r.binaries.push(format!("{name} ({})", t.triple)),
            }
        }
        Ok((errors, _)) => r.problems.push(format!(
            "{file}: {name} fails the {} policy: {}",
            t.triple,
            errors.join(", ")
        )),
        Err(e) => r.problems.push(format!("{file}: {name}: {e}")),
    }
}

/// Inspects `data` (in memory, as [`crate::elf::inspect_bytes`]) and returns the codes of its
/// error findings and the build profile it shows.
fn policy_check(
    name: &str,
    data: &[u8],
    t: &target::Target,
    opts: &policy::Options,
) -> Result<(Vec<String>, Option<Profile>), String> {
    let inspection = crate::elf::inspect_bytes(Path::new(name), data);
    let findings = policy::check(&inspection, t, opts)?;
    let errors = findings
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code)
        .collect();
    Ok((errors, inspection.facts.build_profile))
}

/// The build profile a binary shows against what manifest.json says: the profile recorded for
/// the binary, and the cargo profile recorded for its artifact.
fn profile_problem(
    a: &crate::manifest::Artifact,
    b: &crate::manifest::Binary,
    shown: Option<Profile>,
    opts: &policy::Options,
) -> Option<String> {
    let shown_str = shown.map_or("none", Profile::as_str);
    if let Some(recorded) = &b.build_profile
        && recorded != shown_str
    {
        return Some(format!(
            "{}: {} shows a {shown_str} build, manifest.json records {recorded}",
            a.file, b.path
        ));
    }
    crate::elf::profile::mismatch(a.cargo_profile.as_deref(), shown, opts)
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}: {} ({})", a.file, b.path, f.message, f.code))
}

/// The blob `digest` (`sha256:<hex>`) of an unpacked image layout.
fn blob<'m>(members: &'m UnpackedMembers, digest: &str) -> Result<&'m Unpacked, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest {digest} is not sha256"))?;
    members
        .get(&format!("blobs/sha256/{hex}"))
        .ok_or_else(|| format!("blob {digest} is missing"))
}

/// A JSON blob or file of an unpacked layout.
fn json_of(m: &Unpacked, what: &str) -> Result<Value, String> {
    if m.size > MAX_DOCUMENT {
        return Err(format!("{what} is more than {MAX_DOCUMENT} bytes"));
    }
    let bytes = m
        .bytes()
        .unwrap_or_else(|| Ok(Vec::new()))
        .map_err(|e| format!("{what}: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{what} is not JSON: {e}"))
}

/// The digests listed under `manifests` (an index) or `layers` (a manifest).
fn digests(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.get("digest").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The OCI image of the release: described by manifest.json's `images`, its archive and
/// layout directory identical, every blob's digest true, the index, manifests and configs those
/// manifest.json names, and kiln's layer (the top one) holding exactly the artifact's binaries,
/// each passing its target's policy. An image that manifest.json does not describe is refused.
fn check_images(
    manifest: &Manifest,
    dir: &Path,
    layouts: &[String],
    sums: &BTreeMap<String, String>,
    actual: &mut BTreeMap<String, Opened>,
    opts: &policy::Options,
    r: &mut ReleaseReport,
) {
    let archives: Vec<&String> = sums.keys().filter(|n| n.ends_with(".oci.tar")).collect();
    let Some(images) = &manifest.images else {
        for n in archives {
            r.problems.push(format!(
                "{n} is an OCI image that manifest.json does not describe (no images section)"
            ));
        }
        for l in layouts {
            r.problems.push(format!(
                "{l} is an OCI image layout that manifest.json does not describe (no images section)"
            ));
        }
        return;
    };
    for n in archives.iter().filter(|n| ***n != images.archive) {
        r.problems.push(format!(
            "{n} is an OCI image that manifest.json does not describe (its image is {})",
            images.archive
        ));
    }
    for l in layouts.iter().filter(|l| **l != images.layout) {
        r.problems.push(format!(
            "{l} is an OCI image layout that manifest.json does not describe (its layout is {})",
            images.layout
        ));
    }
    if !layouts.contains(&images.layout) {
        r.problems.push(format!(
            "{} is missing (manifest.json's images name it)",
            images.layout
        ));
    }
    let Some(opened) = actual.get_mut(&images.archive) else {
        r.problems.push(format!(
            "{} is missing or not in SHA256SUMS (manifest.json's images name it)",
            images.archive
        ));
        return;
    };
    if opened.sha256 != images.archive_sha256 || opened.size != images.archive_size {
        r.problems.push(format!(
            "{}: sha256 {} ({} bytes) differs from manifest.json's images ({}, {} bytes)",
            images.archive, opened.sha256, opened.size, images.archive_sha256, images.archive_size
        ));
        return;
    }
    let name = &images.archive;
    let members = match opened
        .file
        .seek(SeekFrom::Start(0))
        .map_err(|e| e.to_string())
        .and_then(|_| read_plain_tar(&mut opened.file, true))
    {
        Ok(m) => m,
        Err(e) => {
            r.problems.push(format!("{name}: {e}"));
            return;
        }
    };
    if layouts.contains(&images.layout) {
        check_layout(&dir.join(&images.layout), &images.layout, name, &members, r);
    }
    if let Err(e) = check_oci(images, manifest, &members, opts, r) {
        r.problems.push(format!("{name}: {e}"));
    }
}

fn check_oci(
    images: &crate::oci::ImageSet,
    manifest: &Manifest,
    members: &UnpackedMembers,
    opts: &policy::Options,
    r: &mut ReleaseReport,
) -> Result<(), String> {
    let name = &images.archive;
    for (path, m) in members {
        match path.strip_prefix("blobs/sha256/") {
            Some(hex) if *hex == m.sha256 => {}
            Some(hex) => return Err(format!("blob {hex}: its bytes have sha256 {}", m.sha256)),
            None if path == "index.json" || path == "oci-layout" => {}
            None => return Err(format!("{path} is not part of an OCI image layout")),
        }
    }
    let top = json_of(
        members.get("index.json").ok_or("index.json is missing")?,
        "index.json",
    )?;
    if !digests(&top, "manifests").contains(&images.index) {
        return Err(format!(
            "index.json does not name the index {} of manifest.json",
            images.index
        ));
    }
    let index = json_of(blob(members, &images.index)?, "the image index")?;
    let mut want: Vec<String> = images.platforms.iter().map(|p| p.manifest.clone()).collect();
    let mut got = digests(&index, "manifests");
    want.sort();
    got.sort();
    if want != got {
        return Err("the image index's manifests differ from manifest.json's platforms".into());
    }
    for p in &images.platforms {
        let m = json_of(
            blob(members, &p.manifest)?,
            &format!("the manifest of {}", p.platform),
        )?;
        let config = m.pointer("/config/digest").and_then(Value::as_str);
        if config != Some(p.config.as_str()) || digests(&m, "layers") != p.layers {
            return Err(format!(
                "the image manifest of {} differs from manifest.json's config and layers",
                p.platform
            ));
        }
        blob(members, &p.config)?;
        let t = target::lookup(&p.target).map_err(|e| e.to_string())?;
        let a = manifest
            .artifacts
            .iter()
            .find(|a| a.target == p.target)
            .ok_or_else(|| format!("{} is imaged but not an artifact of manifest.json", p.target))?;
        let top_layer = p
            .layers
            .last()
            .ok_or_else(|| format!("{} has no layers", p.platform))?;
        let layer = blob(members, top_layer)?;
        let file = layer.kept().ok_or("the layer was not kept")?;
        let mut file = file.try_clone().map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        let files = read_plain_tar(&mut file, false).map_err(|e| format!("layer {top_layer}: {e}"))?;
        let mut elf: Vec<&str> = Vec::new();
        for (path, m) in &files {
            if !m.is_elf() {
                continue;
            }
            if !a.binaries.iter().any(|b| b.sha256 == m.sha256) {
                r.problems.push(format!(
                    "{name}: {path} in the {} layer is not a binary of manifest.json",
                    p.platform
                ));
            }
            elf.push(&m.sha256);
            check_elf(name, path, m, t, opts, r, None);
        }
        for b in &a.binaries {
            if !elf.contains(&b.sha256.as_str()) {
                r.problems.push(format!(
                    "{name}: the {} layer does not hold {} of manifest.json",
                    p.platform, b.path
                ));
            }
        }
    }
    Ok(())
}

/// An image layout directory must hold exactly what its `.oci.tar` (whose digest SHA256SUMS
/// vouches for) holds: the same files with the same bytes, nothing more. Nothing is followed:
/// a symlink or other special file inside is a problem of its own.
fn check_layout(root: &Path, name: &str, archive: &str, want: &UnpackedMembers, r: &mut ReleaseReport) {
    let mut got: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = fs::read_dir(root.join(&rel)) else {
            r.problems.push(format!("{name}/{}: unreadable", rel.display()));
            continue;
        };
        for e in rd.flatten() {
            let rel = rel.join(e.file_name());
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(rel),
                Ok(t) if t.is_file() => {
                    got.insert(rel.to_string_lossy().into_owned(), root.join(&rel));
                }
                _ => r
                    .problems
                    .push(format!("{name}/{} is not a regular file", rel.display())),
            }
        }
    }
    for (path, m) in want {
        let Some(file) = got.get(path) else {
            r.problems
                .push(format!("{name}/{path} is missing (it is in {archive})"));
            continue;
        };
        let same = open_regular(
            file.parent().unwrap_or(root),
            path.rsplit('/').next().unwrap_or(path),
        )
        .ok()
        .flatten()
        .and_then(|(mut f, _)| read::hash_file(&mut f).ok())
        .is_some_and(|(sha, size)| sha == m.sha256 && size == m.size);
        if !same {
            r.problems.push(format!("{name}/{path} differs from {archive}"));
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        r.problems
            .push(format!("extra file {name}/{path}: not in {archive}"));
    }
    r.files.push(format!("{name}/"));
}

/// The human report.
pub fn render(r: &ReleaseReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for p in &r.problems {
        let _ = writeln!(s, "FAIL {p}");
    }
    for n in &r.notes {
        let _ = writeln!(s, "note {n}");
    }
    if r.ok {
        let _ = writeln!(
            s,
            "ok   {}: {} file(s) match SHA256SUMS, manifest.json and the provenance; {} {}; signature {}",
            r.dir.display(),
            r.files.len(),
            r.binaries.len(),
            if r.binaries.len() == 1 {
                "binary passes its target's policy"
            } else {
                "binaries pass their targets' policies"
            },
            match &r.verified_key {
                Some(k) => format!("verified with key {k}"),
                None if r.signed => "not checked".to_owned(),
                None => "absent".to_owned(),
            }
        );
    } else {
        let _ = writeln!(
            s,
            "verification of {} failed: {} problem(s)",
            r.dir.display(),
            r.problems.len()
        );
    }
    s
}
