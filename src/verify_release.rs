//! `kiln verify-release DIR [--key PUB]`: checks a `dist/` on its own, without Nix.
//!
//! Every file's SHA-256 is recomputed (streamed); `SHA256SUMS`, `manifest.json` and the
//! provenance statement's subjects must agree with each other and with the files; the DSSE
//! envelope must verify with the given key (strictly, weak keys refused) and carry exactly
//! `provenance.intoto.json`. Only then are archives opened: each is read whole, as `tar`,
//! `unzip`, `gzip -d`, `xz -d` and `zstd -d` would, streaming and within fixed limits
//! ([`MAX_MEMBER`], [`MAX_UNPACKED`], [`MAX_MEMBERS`], [`ZSTD_WINDOW_LOG_MAX`] and
//! [`crate::archive::XZ_MEMLIMIT`]); whatever two extractors could read differently is refused,
//! and every member whose bytes are ELF, whatever its name, is checked again with its target's
//! policy. An OCI image in the release is cross-checked against `manifest.json`: its archive,
//! its layout directory, every blob's digest, and the binaries in its layers against the
//! manifest's. Only regular files directly in DIR are read: symlinks, subdirectories and names
//! with `/` or `..` are problems, never followed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::archive::ArchiveFormat;
use crate::checksum;
use crate::elf::profile::Profile;
use crate::manifest::Manifest;
use crate::policy::{self, Severity};
use crate::provenance::{ENVELOPE_FILE, STATEMENT_FILE, subjects_of};
use crate::sign::{self, Envelope};
use crate::target;

/// The largest `SHA256SUMS`, `manifest.json`, statement or envelope read: 16 MiB.
pub const MAX_DOCUMENT: u64 = 16 << 20;

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

/// Opens a regular file directly in `dir` without following a symlink or blocking on a FIFO;
/// `None` when it is absent.
fn open_regular(dir: &Path, name: &str) -> Result<Option<(File, u64)>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    match fs::symlink_metadata(&path) {
        Err(_) => return Ok(None),
        Ok(m) if !m.is_file() => return Err(format!("{name} is not a regular file")),
        Ok(_) => {}
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("{name}: {e}"))?;
    let m = f.metadata().map_err(|e| format!("{name}: {e}"))?;
    if !m.is_file() {
        return Err(format!("{name} is not a regular file"));
    }
    Ok(Some((f, m.len())))
}

/// Reads a small document (at most [`MAX_DOCUMENT`] bytes) from an open file.
fn read_document(name: &str, f: &mut File, len: u64) -> Result<Vec<u8>, String> {
    if len > MAX_DOCUMENT {
        return Err(format!(
            "{name} is {len} bytes, more than the {MAX_DOCUMENT} bytes verify-release reads of it"
        ));
    }
    let mut v = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.take(MAX_DOCUMENT + 1).read_to_end(&mut v))
        .map_err(|e| format!("{name}: {e}"))?;
    if v.len() as u64 > MAX_DOCUMENT {
        return Err(format!("{name} grew while being read"));
    }
    Ok(v)
}

/// Reads a small regular file directly in `dir`; `None` when it is absent.
fn read_regular(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, String> {
    match open_regular(dir, name)? {
        None => Ok(None),
        Some((mut f, len)) => read_document(name, &mut f, len).map(Some),
    }
}

/// Streams `f` through SHA-256; returns the hex digest and the number of bytes.
fn hash_file(f: &mut File) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    f.seek(SeekFrom::Start(0))?;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), n_total))
}

/// A file of the release, opened once: what was hashed is what is unpacked.
struct Opened {
    file: File,
    size: u64,
    sha256: String,
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
    let flags = check_statement(statement_bytes.as_deref(), &sums, &actual, &mut r);
    let manifest = check_manifest(&sums, &mut actual, &mut r);
    if r.problems.is_empty() {
        if let Some(m) = &manifest {
            check_images(m, dir, &layouts, &sums, &mut actual, &flags, &mut r);
            check_artifacts(m, &mut actual, &flags, &mut r);
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
    let sums: BTreeMap<String, String> = match read_regular(dir, "SHA256SUMS") {
        Ok(Some(b)) => match checksum::parse_sha256sums(&String::from_utf8_lossy(&b)) {
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                r.problems.push(format!("SHA256SUMS: {e}"));
                BTreeMap::new()
            }
        },
        Ok(None) => {
            r.problems.push("SHA256SUMS is missing".into());
            BTreeMap::new()
        }
        Err(e) => {
            r.problems.push(e);
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
        match open_regular(dir, name) {
            Ok(Some((mut file, _))) => match hash_file(&mut file) {
                Ok((got, size)) => {
                    if &got != want {
                        r.problems.push(format!(
                            "{name}: sha256 {got} does not match SHA256SUMS ({want}): the file was changed"
                        ));
                    }
                    r.files.push(name.clone());
                    actual.insert(
                        name.clone(),
                        Opened {
                            file,
                            size,
                            sha256: got,
                        },
                    );
                }
                Err(e) => r.problems.push(format!("{name}: {e}")),
            },
            Ok(None) => r
                .problems
                .push(format!("missing file {name} (listed in SHA256SUMS)")),
            Err(e) => r.problems.push(e),
        }
    }
    for name in present {
        let known = sums.contains_key(name)
            || name == "SHA256SUMS"
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
            r.problems.push(e);
            None
        }
    };
    let envelope = match read_regular(dir, ENVELOPE_FILE) {
        Ok(b) => b,
        Err(e) => {
            r.problems.push(e);
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
/// build's flags (for the policy re-check).
fn check_statement(
    bytes: Option<&[u8]>,
    sums: &BTreeMap<String, String>,
    actual: &BTreeMap<String, Opened>,
    r: &mut ReleaseReport,
) -> Value {
    let Some(bytes) = bytes else { return Value::Null };
    let statement: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            r.problems.push(format!("{STATEMENT_FILE} is not JSON: {e}"));
            return Value::Null;
        }
    };
    let subjects = match subjects_of(&statement) {
        Ok(s) => s,
        Err(e) => {
            r.problems.push(format!("{STATEMENT_FILE}: {e}"));
            return Value::Null;
        }
    };
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
    statement
        .pointer("/predicate/buildDefinition/externalParameters/flags")
        .cloned()
        .unwrap_or(Value::Null)
}

fn policy_from_flags(flags: &Value) -> policy::Options {
    policy::Options {
        glibc_max: flags
            .get("glibcMax")
            .and_then(Value::as_str)
            .and_then(crate::elf::GlibcVersion::parse),
        allow_needed: flags
            .get("allowNeeded")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        require_stripped: flags
            .get("requireStripped")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        strict: flags.get("strict").and_then(Value::as_bool).unwrap_or(false),
        allow_debug: flags.get("allowDebug").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// manifest.json against SHA256SUMS (no archive is opened here). Returns the manifest when it
/// parses.
fn check_manifest(
    sums: &BTreeMap<String, String>,
    actual: &mut BTreeMap<String, Opened>,
    r: &mut ReleaseReport,
) -> Option<Manifest> {
    let Some(opened) = actual.get_mut("manifest.json") else {
        if !sums.contains_key("manifest.json") {
            r.problems
                .push("manifest.json is not listed in SHA256SUMS".into());
        }
        return None;
    };
    let size = opened.size;
    let bytes = match read_document("manifest.json", &mut opened.file, size) {
        Ok(b) => b,
        Err(e) => {
            r.problems.push(e);
            return None;
        }
    };
    let manifest: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            r.problems.push(format!("manifest.json: {e}"));
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
        let is_archive = ArchiveFormat::ALL
            .iter()
            .any(|f| name.ends_with(&format!(".{}", f.extension())));
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
    flags: &Value,
    r: &mut ReleaseReport,
) {
    let opts = policy_from_flags(flags);
    for a in &manifest.artifacts {
        if let Some(f) = actual.get_mut(&a.file) {
            check_binaries(a, &mut f.file, &opts, r);
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
    let format = ArchiveFormat::ALL
        .into_iter()
        .find(|f| a.file.ends_with(&format!(".{}", f.extension())));
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
    m: &Member,
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

/// Reads a plain (uncompressed) ustar stream, as [`read_archive_keeping`] reads the tar inside
/// a `tar.gz`: the `oci-archive` and the image layers kiln writes.
pub fn read_plain_tar(r: impl Read, keep_all: bool) -> Result<Members, String> {
    let mut sink = Collector::new(keep_all);
    read_tar(&mut Budget::new(r), &mut sink)?;
    sink.finish()
}

/// The blob `digest` (`sha256:<hex>`) of an unpacked image layout.
fn blob<'m>(members: &'m Members, digest: &str) -> Result<&'m Member, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest {digest} is not sha256"))?;
    members
        .get(&format!("blobs/sha256/{hex}"))
        .ok_or_else(|| format!("blob {digest} is missing"))
}

/// A JSON blob or file of an unpacked layout.
fn json_of(m: &Member, what: &str) -> Result<Value, String> {
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
    flags: &Value,
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
    if let Err(e) = check_oci(images, manifest, &members, flags, r) {
        r.problems.push(format!("{name}: {e}"));
    }
}

fn check_oci(
    images: &crate::image::ImageSet,
    manifest: &Manifest,
    members: &Members,
    flags: &Value,
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
    let opts = policy_from_flags(flags);
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
        let file = layer.data.as_ref().ok_or("the layer was not kept")?;
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
            check_elf(name, path, m, t, &opts, r, None);
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
fn check_layout(root: &Path, name: &str, archive: &str, want: &Members, r: &mut ReleaseReport) {
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
        .and_then(|(mut f, _)| hash_file(&mut f).ok())
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

// ---- archive reading ------------------------------------------------------------------------
//
// An archive is read the way `tar`, `unzip`, `gzip -d`, `xz -d` and `zstd -d` read the whole
// file, and anything on which two extractors could disagree is refused: kiln's own writer never
// produces it (see docs/archives.md, "What verify-release accepts").

/// The most one member may unpack to: 1 GiB (the tar or zip header says so before any byte is
/// read).
pub const MAX_MEMBER: u64 = 1 << 30;
/// The most an archive's decompressed stream may hold, headers and padding included: 2 GiB.
pub const MAX_UNPACKED: u64 = 2 << 30;
/// The most members (files and directories) an archive may hold: zip's own limit without zip64.
pub const MAX_MEMBERS: usize = 0xFFFF;
/// The largest zstd window verify-release decodes: 2^24 bytes (16 MiB). kiln's level 19 uses at
/// most 2^23; a frame asking for more is refused before its window is allocated.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;
/// The largest zip central directory read: 16 MiB.
const MAX_ZIP_DIRECTORY: u64 = 16 << 20;
/// Permission bits a member may have: setuid, setgid, sticky and group or world write are
/// refused (kiln writes 0755 and 0644 only).
const ALLOWED_MODE: u32 = 0o755;
const BLOCK: usize = 512;
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// One regular-file member of an archive.
#[derive(Debug)]
pub struct Member {
    /// Its Unix permission bits.
    pub mode: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Whether its bytes start with the ELF magic.
    elf: bool,
    /// Its bytes, kept (in a private, already unlinked temporary file) when they start with
    /// the ELF magic, or for every member when asked.
    data: Option<File>,
}

impl Member {
    /// Whether the member's bytes start with the ELF magic.
    pub fn is_elf(&self) -> bool {
        self.elf
    }

    /// The member's bytes, when they were kept.
    pub fn bytes(&self) -> Option<io::Result<Vec<u8>>> {
        let mut f = self.data.as_ref()?;
        let mut v = Vec::new();
        Some(
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.read_to_end(&mut v))
                .map(|_| v),
        )
    }

    /// Runs `f` over the member's kept bytes, mapped rather than read into memory.
    fn with_mapped<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Option<io::Result<T>> {
        let file = self.data.as_ref()?;
        Some(crate::elf::mapped::Mapped::open(file, self.size).map(|m| f(m.bytes())))
    }
}

/// An archive's regular-file members by (normalised) name.
pub type Members = BTreeMap<String, Member>;

/// Reads a whole `format` archive from `r` (see [`read_archive_keeping`]); only ELF members'
/// bytes are kept.
pub fn read_archive<R: Read + Seek>(format: ArchiveFormat, r: R) -> Result<Members, String> {
    read_archive_keeping(format, r, false)
}

/// Reads a whole `format` archive from `r`, streaming, within [`MAX_MEMBER`], [`MAX_UNPACKED`]
/// and [`MAX_MEMBERS`]: every member is hashed, ELF members (or all, with `keep_all`) are kept
/// in an unlinked temporary file. Refuses what an extractor could read differently from kiln:
/// a second gzip member, xz stream or zstd frame, bytes after the compressed stream, non-zero
/// bytes after the tar's end-of-archive blocks, PAX or GNU extension headers, links and special
/// files, names given twice (also as `./a` or `a//b`) or reaching outside the archive, zip
/// members without a Unix mode, zip records that disagree with their local header or overlap,
/// and modes with setuid, setgid, sticky or group/world write bits.
pub fn read_archive_keeping<R: Read + Seek>(
    format: ArchiveFormat,
    mut r: R,
    keep_all: bool,
) -> Result<Members, String> {
    let mut sink = Collector::new(keep_all);
    match format {
        ArchiveFormat::Zip => read_zip(&mut r, &mut sink)?,
        ArchiveFormat::TarGz => {
            let mut br = BufReader::new(r);
            {
                let mut dec = flate2::bufread::GzDecoder::new(&mut br);
                read_tar(&mut Budget::new(&mut dec), &mut sink)?;
            }
            no_trailing(&mut br, "gzip member", &[GZIP_MAGIC])?;
        }
        ArchiveFormat::TarXz => {
            let mut br = BufReader::new(r);
            {
                let stream = liblzma::stream::Stream::new_stream_decoder(crate::archive::XZ_MEMLIMIT, 0)
                    .map_err(|e| format!("cannot decompress: {e}"))?;
                let mut dec = liblzma::bufread::XzDecoder::new_stream(&mut br, stream);
                read_tar(&mut Budget::new(&mut dec), &mut sink)?;
            }
            no_trailing(&mut br, "xz stream", &[XZ_MAGIC])?;
        }
        ArchiveFormat::TarZst => {
            let mut br = BufReader::new(r);
            {
                let mut dec = zstd::stream::read::Decoder::with_buffer(&mut br)
                    .map_err(|e| format!("cannot decompress: {e}"))?
                    .single_frame();
                dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| format!("cannot decompress: {e}"))?;
                read_tar(&mut Budget::new(&mut dec), &mut sink)?;
            }
            // Skippable frames (magic 0x184D2A50 to 0x184D2A5F) are frames too.
            let skippable: Vec<[u8; 4]> = (0x50..=0x5f).map(|b| [b, 0x2a, 0x4d, 0x18]).collect();
            let mut magics: Vec<&[u8]> = vec![ZSTD_MAGIC];
            magics.extend(skippable.iter().map(|m| &m[..]));
            no_trailing(&mut br, "zstd frame", &magics)?;
        }
    }
    sink.finish()
}

/// A second compressed stream or any other byte after the first is refused: `gzip -d`, `xz -d`
/// and `zstd -d` would unpack (or warn about and skip) what kiln did not verify.
fn no_trailing(br: &mut impl BufRead, what: &str, magics: &[&[u8]]) -> Result<(), String> {
    let rest = br.fill_buf().map_err(|e| format!("reading the archive: {e}"))?;
    if rest.is_empty() {
        return Ok(());
    }
    if magics.iter().any(|m| rest.starts_with(m)) {
        return Err(format!(
            "a second {what} follows the first; kiln reads (and writes) exactly one"
        ));
    }
    Err(format!(
        "data after the end of the {what}; kiln writes none, and an extractor may read it"
    ))
}

/// Counts the decompressed bytes and fails past [`MAX_UNPACKED`].
struct Budget<R> {
    inner: R,
    used: u64,
}

impl<R: Read> Budget<R> {
    fn new(inner: R) -> Self {
        Budget { inner, used: 0 }
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(MAX_UNPACKED + 1 - self.used).unwrap_or(usize::MAX);
        let take = buf.len().min(room);
        let n = self.inner.read(&mut buf[..take])?;
        self.used += n as u64;
        if self.used > MAX_UNPACKED {
            return Err(io::Error::other(too_big(MAX_UNPACKED)));
        }
        Ok(n)
    }
}

fn too_big(limit: u64) -> String {
    format!("decompresses to more than {limit} bytes")
}

fn io_err(e: &io::Error) -> String {
    let text = e.to_string();
    if text.starts_with("decompresses to more than") {
        text
    } else {
        format!("cannot decompress: {text}")
    }
}

/// Fills `block`; `false` at a clean end of input, an error inside a block.
fn read_block(r: &mut impl Read, block: &mut [u8; BLOCK]) -> Result<bool, String> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut block[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err("truncated tar: the stream ends inside a block".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(&e)),
        }
    }
    Ok(true)
}

/// An octal ustar number field (NUL- or space-terminated, leading spaces allowed).
fn octal(field: &[u8], what: &str) -> Result<u64, String> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(format!(
            "tar header with a base-256 {what}; kiln writes plain ustar"
        ));
    }
    let text = field
        .split(|b| *b == 0 || *b == b' ')
        .find(|s| !s.is_empty())
        .unwrap_or(b"");
    let text = std::str::from_utf8(text).map_err(|_| format!("tar header with a bad {what}"))?;
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| format!("tar header with a bad {what}"))
}

/// A plain POSIX ustar stream, to its end: members, the two zero blocks, then nothing but zero
/// bytes (GNU tar pads to its record size with zeros and ignores them; anything else after the
/// end is refused).
fn read_tar(r: &mut impl Read, sink: &mut Collector) -> Result<(), String> {
    let mut h = [0u8; BLOCK];
    loop {
        if !read_block(r, &mut h)? {
            return Err("truncated tar: no end-of-archive blocks".into());
        }
        if h.iter().all(|b| *b == 0) {
            if !read_block(r, &mut h)? || h.iter().any(|b| *b != 0) {
                return Err(
                    "a single zero block inside the tar: the end-of-archive marker is two, and GNU tar reads on after one"
                        .into(),
                );
            }
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) if buf[..n].iter().any(|b| *b != 0) => {
                        return Err(
                            "data after the tar's end-of-archive blocks; an extractor reading on (tar --ignore-zeros) would unpack it"
                                .into(),
                        );
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err(&e)),
                }
            }
        }
        let sum = octal(&h[148..156], "checksum")?;
        let want: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(*b)
                }
            })
            .sum();
        if sum != want {
            return Err("corrupt tar: a header's checksum does not match".into());
        }
        if &h[257..263] != b"ustar\0" || &h[263..265] != b"00" {
            return Err("not a POSIX ustar header; kiln writes plain ustar".into());
        }
        let field = |b: &[u8]| {
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            b[..end].to_vec()
        };
        let (name, prefix) = (field(&h[0..100]), field(&h[345..500]));
        let mut raw = prefix;
        if !raw.is_empty() {
            raw.push(b'/');
        }
        raw.extend_from_slice(&name);
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let mode = u32::try_from(octal(&h[100..108], "mode")?).map_err(|_| "tar header with a bad mode")?;
        let size = octal(&h[124..136], "size")?;
        match h[156] {
            b'0' | 0 => {
                if raw.ends_with('/') {
                    // Old tars mark directories so, and GNU tar still extracts one as a directory.
                    return Err(format!(
                        "member {raw} is a regular file whose name ends in `/`: tar makes it a directory"
                    ));
                }
                if size > MAX_MEMBER {
                    return Err(format!(
                        "member {raw} is {size} bytes, more than the {MAX_MEMBER} bytes verify-release unpacks"
                    ));
                }
                sink.file(&raw, mode, size, &mut r.take(size))?;
                let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
                io::copy(&mut r.take(pad), &mut io::sink()).map_err(|e| io_err(&e))?;
            }
            b'5' => {
                if size != 0 {
                    return Err(format!("directory member {raw} has a size"));
                }
                sink.dir(&raw, mode)?;
            }
            b'x' | b'g' | b'L' | b'K' => {
                return Err(format!(
                    "a PAX or GNU extension header (type {}) before {raw}: it renames or changes a member for some extractors; kiln writes plain ustar",
                    char::from(h[156])
                ));
            }
            _ => {
                return Err(format!(
                    "member {raw} is a link or special file; a release archive holds regular files only"
                ));
            }
        }
    }
}

/// The name an extractor writes to: no empty or `.` components; refuses absolute names and `..`.
fn normalize(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') || raw.split('/').any(|c| c == "..") {
        return Err(format!("member {raw} points outside the archive"));
    }
    let parts: Vec<&str> = raw.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() {
        return Err(format!("member {raw:?} has an empty name"));
    }
    Ok(parts.join("/"))
}

/// Collects members as they are read: names, modes, digests and (some) bytes.
struct Collector {
    keep_all: bool,
    files: Members,
    /// Every name seen, with the name as written (for the duplicate message).
    seen: BTreeMap<String, String>,
}

impl Collector {
    fn new(keep_all: bool) -> Self {
        Collector {
            keep_all,
            files: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    fn claim(&mut self, raw: &str, mode: u32) -> Result<String, String> {
        let name = normalize(raw)?;
        if let Some(first) = self.seen.get(&name) {
            return Err(format!(
                "member {raw} is given twice (also as {first}); extractors disagree on which copy wins"
            ));
        }
        if self.seen.len() >= MAX_MEMBERS {
            return Err(format!("more than {MAX_MEMBERS} members"));
        }
        if mode & 0o7777 & !ALLOWED_MODE != 0 {
            return Err(format!(
                "member {raw} has mode {:04o}: setuid, setgid, sticky and group- or world-writable members are refused",
                mode & 0o7777
            ));
        }
        self.seen.insert(name.clone(), raw.to_owned());
        Ok(name)
    }

    fn dir(&mut self, raw: &str, mode: u32) -> Result<(), String> {
        self.claim(raw, mode).map(|_| ())
    }

    /// Streams one file member of `size` bytes from `r`.
    fn file(&mut self, raw: &str, mode: u32, size: u64, r: &mut impl Read) -> Result<(), String> {
        let name = self.claim(raw, mode)?;
        let mut hasher = Sha256::new();
        // The first bytes, until there are enough to tell an ELF file.
        let mut pending: Vec<u8> = Vec::new();
        let mut keep: Option<bool> = None;
        let mut elf = false;
        let mut data: Option<File> = None;
        let mut buf = vec![0u8; 64 << 10];
        let mut total: u64 = 0;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("{raw}: {}", io_err(&e))),
            };
            total += n as u64;
            if total > size {
                return Err(format!("{raw}: more bytes than its header says"));
            }
            hasher.update(&buf[..n]);
            match keep {
                Some(true) => {
                    if let Some(f) = data.as_mut() {
                        f.write_all(&buf[..n]).map_err(|e| spill_err(&e))?;
                    }
                }
                Some(false) => {}
                None => {
                    pending.extend_from_slice(&buf[..n]);
                    if pending.len() >= 4 {
                        elf = pending.starts_with(b"\x7fELF");
                        keep = Some(elf || self.keep_all);
                        if elf || self.keep_all {
                            data = Some(spill(&pending)?);
                        }
                        pending = Vec::new();
                    }
                }
            }
        }
        if total != size {
            return Err(format!("truncated archive: member {raw} ends early"));
        }
        if keep.is_none() && self.keep_all {
            data = Some(spill(&pending)?);
        }
        let sha256 = hex::encode(hasher.finalize());
        self.files.insert(
            name,
            Member {
                mode,
                size,
                sha256,
                elf,
                data,
            },
        );
        Ok(())
    }

    /// A file that is also another member's directory cannot be extracted.
    fn finish(self) -> Result<Members, String> {
        for name in self.files.keys() {
            for (i, _) in name.match_indices('/') {
                if self.files.contains_key(&name[..i]) {
                    return Err(format!(
                        "member {} is a file, but {name} needs it to be a directory",
                        &name[..i]
                    ));
                }
            }
        }
        Ok(self.files)
    }
}

/// A new temporary file holding `head`.
fn spill(head: &[u8]) -> Result<File, String> {
    let mut f = spill_file().map_err(|e| spill_err(&e))?;
    f.write_all(head).map_err(|e| spill_err(&e))?;
    Ok(f)
}

fn spill_err(e: &io::Error) -> String {
    format!("cannot keep an archive member in a temporary file: {e}")
}

/// A private temporary file that no other process can open: `O_TMPFILE` in the temporary
/// directory, or a fresh name removed right after it is created.
fn spill_file() -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir();
    if let Ok(f) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
    {
        return Ok(f);
    }
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".kiln-member-{}-{n}", std::process::id()));
        match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn zip_io(e: &io::Error) -> String {
    format!("reading the zip: {e}")
}

/// Reads the zip layout kiln writes: local headers and their data back to back from offset 0,
/// then the central directory, then a 22-byte end record with no comment; no zip64, no
/// encryption, no data descriptors, stored or deflated members made on Unix. Every central
/// record must agree with its local header (name, method, CRC, sizes) and the members must tile
/// the file in order, so no two records share data and nothing hides between them; every
/// member's CRC-32 and size are checked.
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
fn read_zip<R: Read + Seek>(r: &mut R, sink: &mut Collector) -> Result<(), String> {
    let len = r.seek(SeekFrom::End(0)).map_err(|e| zip_io(&e))?;
    let end_at = len.checked_sub(22).ok_or("not a zip: too short")?;
    let mut end = [0u8; 22];
    r.seek(SeekFrom::Start(end_at)).map_err(|e| zip_io(&e))?;
    r.read_exact(&mut end).map_err(|e| zip_io(&e))?;
    if le32(&end, 0) != 0x0605_4b50 {
        return Err(
            "not a zip kiln wrote: no end record in the last 22 bytes (a comment or data after it)".into(),
        );
    }
    let (disk, cd_disk) = (le16(&end, 4), le16(&end, 6));
    let (here, count) = (le16(&end, 8), le16(&end, 10));
    let (cd_size, cd_at) = (u64::from(le32(&end, 12)), u64::from(le32(&end, 16)));
    if disk != 0 || cd_disk != 0 || here != count {
        return Err("a multi-disk zip; kiln writes one file".into());
    }
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_at == 0xFFFF_FFFF {
        return Err("a zip64 archive; kiln writes no zip64".into());
    }
    if cd_at + cd_size != end_at {
        return Err("the zip's central directory does not end at its end record".into());
    }
    if cd_size > MAX_ZIP_DIRECTORY {
        return Err(format!(
            "the zip's central directory is more than {MAX_ZIP_DIRECTORY} bytes"
        ));
    }
    let mut cd = vec![0u8; usize::try_from(cd_size).map_err(|_| "zip too large")?];
    r.seek(SeekFrom::Start(cd_at)).map_err(|e| zip_io(&e))?;
    r.read_exact(&mut cd).map_err(|e| zip_io(&e))?;
    let mut at = 0usize;
    // Where the next local header must start: the members tile the file from offset 0.
    let mut next_local: u64 = 0;
    for _ in 0..count {
        let rec = cd.get(at..at + 46).ok_or("corrupt zip central directory")?;
        if le32(rec, 0) != 0x0201_4b50 {
            return Err("corrupt zip central directory".into());
        }
        let made_by = le16(rec, 4);
        let flags = le16(rec, 8);
        let method = le16(rec, 10);
        let crc = le32(rec, 16);
        let csize = u64::from(le32(rec, 20));
        let usize_ = u64::from(le32(rec, 24));
        let (n, e, c) = (
            usize::from(le16(rec, 28)),
            usize::from(le16(rec, 30)),
            usize::from(le16(rec, 32)),
        );
        let external = le32(rec, 38);
        let local = u64::from(le32(rec, 42));
        let name_bytes = cd
            .get(at + 46..at + 46 + n)
            .ok_or("corrupt zip central directory")?
            .to_vec();
        let raw = String::from_utf8_lossy(&name_bytes).into_owned();
        at += 46 + n + e + c;
        if at > cd.len() {
            return Err("corrupt zip central directory".into());
        }
        if made_by >> 8 != 3 {
            return Err(format!(
                "zip member {raw} has no Unix mode (made by system {}); unzip would pick its own",
                made_by >> 8
            ));
        }
        if flags & 1 != 0 {
            return Err(format!("zip member {raw} is encrypted"));
        }
        if flags & 8 != 0 {
            return Err(format!(
                "zip member {raw} uses a data descriptor; kiln writes none"
            ));
        }
        let mode = external >> 16;
        let kind = mode & 0o170_000;
        if kind == 0o120_000 {
            return Err(format!(
                "zip member {raw} is a symlink; a release archive holds regular files only"
            ));
        }
        if mode == 0 {
            return Err(format!("zip member {raw} has no Unix mode"));
        }
        if local != next_local {
            return Err(format!(
                "zip member {raw}: its data is not where the previous member ends (overlapping or hidden data)"
            ));
        }
        let mut lh = [0u8; 30];
        r.seek(SeekFrom::Start(local)).map_err(|e| zip_io(&e))?;
        r.read_exact(&mut lh).map_err(|e| zip_io(&e))?;
        if le32(&lh, 0) != 0x0403_4b50 {
            return Err(format!("zip member {raw}: corrupt local header"));
        }
        let (ln, le) = (usize::from(le16(&lh, 26)), u64::from(le16(&lh, 28)));
        let mut lname = vec![0u8; ln];
        r.read_exact(&mut lname).map_err(|e| zip_io(&e))?;
        let same = lname == name_bytes
            && le16(&lh, 6) == flags
            && le16(&lh, 8) == method
            && le32(&lh, 14) == crc
            && u64::from(le32(&lh, 18)) == csize
            && u64::from(le32(&lh, 22)) == usize_;
        if !same {
            return Err(format!(
                "zip member {raw}: the local header and the central directory disagree"
            ));
        }
        let start = local + 30 + ln as u64 + le;
        next_local = start + csize;
        if next_local > cd_at {
            return Err(format!(
                "zip member {raw}: its data runs into the central directory"
            ));
        }
        r.seek(SeekFrom::Start(start)).map_err(|e| zip_io(&e))?;
        match kind {
            0o040_000 => {
                if !raw.ends_with('/') || usize_ != 0 || csize != 0 {
                    return Err(format!("zip directory member {raw} is malformed"));
                }
                sink.dir(&raw, mode & 0o7777)?;
                continue;
            }
            0o100_000 if !raw.ends_with('/') => {}
            _ => {
                return Err(format!(
                    "zip member {raw} is a link or special file; a release archive holds regular files only"
                ));
            }
        }
        if usize_ > MAX_MEMBER {
            return Err(format!(
                "member {raw} is {usize_} bytes, more than the {MAX_MEMBER} bytes verify-release unpacks"
            ));
        }
        let raw_data = (&mut *r).take(csize);
        let got_crc = match method {
            0 => {
                if csize != usize_ {
                    return Err(format!("zip member {raw}: stored with two sizes"));
                }
                let mut cr = flate2::CrcReader::new(raw_data);
                sink.file(&raw, mode & 0o7777, usize_, &mut cr)?;
                cr.crc().sum()
            }
            8 => {
                let mut cr = flate2::CrcReader::new(flate2::read::DeflateDecoder::new(raw_data));
                sink.file(&raw, mode & 0o7777, usize_, &mut (&mut cr).take(usize_ + 1))?;
                cr.crc().sum()
            }
            m => return Err(format!("zip member {raw}: unsupported method {m}")),
        };
        if got_crc != crc {
            return Err(format!("zip member {raw}: CRC-32 mismatch"));
        }
    }
    if at != cd.len() {
        return Err("the zip's central directory holds more than its records".into());
    }
    if next_local != cd_at {
        return Err("data between the last zip member and the central directory".into());
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Entry, archive_bytes};

    #[test]
    fn reads_every_archive_format_kiln_writes() {
        let entries = vec![
            Entry::bytes("top/bin", b"\x7fELF...".to_vec(), 0o755),
            Entry::bytes("top/README", b"hi\n".to_vec(), 0o644),
        ];
        for f in ArchiveFormat::ALL {
            let bytes = archive_bytes(f, &entries, 315_532_800).unwrap();
            let m = read_archive_keeping(f, std::io::Cursor::new(&bytes), true).unwrap();
            assert_eq!(m.len(), 2, "{f}");
            assert_eq!(m["top/bin"].bytes().unwrap().unwrap(), b"\x7fELF...", "{f}");
            assert!(m["top/bin"].is_elf(), "{f}");
            assert_eq!(m["top/README"].bytes().unwrap().unwrap(), b"hi\n", "{f}");
            assert!(!m["top/README"].is_elf(), "{f}");
            assert_eq!(m["top/bin"].mode, 0o755, "{f}");
            // Without keep_all only the ELF member's bytes are kept.
            let m = read_archive(f, std::io::Cursor::new(&bytes)).unwrap();
            assert!(
                m["top/bin"].bytes().is_some() && m["top/README"].bytes().is_none(),
                "{f}"
            );
        }
    }

    /// `zip` with its central directory replaced by `copies` records that all point at the
    /// first file member's local header, under names of the same length.
    fn overlapping_zip(zip: &[u8], copies: u16) -> Vec<u8> {
        let u16_at = |at: usize| usize::from(u16::from_le_bytes([zip[at], zip[at + 1]]));
        let u32_at = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap()) as usize;
        let end = zip.len() - 22;
        let cd = u32_at(end + 16);
        let record_len = 46 + u16_at(cd + 28) + u16_at(cd + 30) + u16_at(cd + 32);
        let name_len = u16_at(cd + 28);
        let mut out = zip[..cd].to_vec();
        for i in 0..copies {
            let mut record = zip[cd..cd + record_len].to_vec();
            if i > 0 {
                record[46..46 + name_len].copy_from_slice(format!("{i:0name_len$}").as_bytes());
            }
            out.extend_from_slice(&record);
        }
        let mut eocd = zip[end..].to_vec();
        eocd[8..10].copy_from_slice(&copies.to_le_bytes());
        eocd[10..12].copy_from_slice(&copies.to_le_bytes());
        let cd_size = u32::try_from(record_len * usize::from(copies)).unwrap();
        eocd[12..16].copy_from_slice(&cd_size.to_le_bytes());
        eocd[16..20].copy_from_slice(&u32::try_from(cd).unwrap().to_le_bytes());
        out.extend_from_slice(&eocd);
        out
    }

    #[test]
    fn zip_records_sharing_data_are_refused() {
        let data = vec![0u8; 1000];
        let zip = archive_bytes(ArchiveFormat::Zip, &[Entry::bytes("member00", data, 0o644)], 0).unwrap();
        read_archive(
            ArchiveFormat::Zip,
            std::io::Cursor::new(&overlapping_zip(&zip, 1)),
        )
        .unwrap();
        // A second record pointing at the first member's data: the members no longer tile the
        // file, so no data is ever counted (or unpacked) twice.
        let err = read_archive(
            ArchiveFormat::Zip,
            std::io::Cursor::new(&overlapping_zip(&zip, 2)),
        )
        .unwrap_err();
        assert!(err.contains("overlapping or hidden data"), "{err}");
    }

    #[test]
    fn xz_dictionary_size_is_not_trusted() {
        // 152 bytes whose LZMA2 block header asks for a 4 GiB dictionary (the CRC32 fixed up),
        // which liblzma allocated up front: the fuzz target's 2 GiB malloc limit caught it.
        let bytes = include_bytes!("../tests/fixtures/fuzz/archive-xz-4gib-dictionary.tar.xz");
        let err = read_archive(ArchiveFormat::TarXz, std::io::Cursor::new(bytes)).unwrap_err();
        assert!(err.starts_with("cannot decompress: "), "{err}");
    }

    #[test]
    fn refuses_links_in_archives() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "top/bin", "/etc/passwd").unwrap();
        let tar_bytes = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
        let err = read_archive(ArchiveFormat::TarGz, std::io::Cursor::new(gz.finish().unwrap())).unwrap_err();
        assert!(err.contains("member top/bin is a link"), "{err}");
    }

    #[test]
    fn refuses_names_outside_the_archive() {
        assert!(normalize("../x").is_err());
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("a/../../x").is_err());
        assert_eq!(normalize("top/bin").unwrap(), "top/bin");
        assert_eq!(normalize("./top//bin").unwrap(), "top/bin");
        assert_eq!(normalize("top/./bin/").unwrap(), "top/bin");
    }
}

#[cfg(test)]
mod refusals {
    use super::*;
    use crate::archive::{Entry, archive_bytes};
    use std::io::Cursor;

    const EPOCH: u64 = 315_532_800;

    fn entries() -> Vec<Entry> {
        vec![
            Entry::bytes("top/bin", b"\x7fELF...".to_vec(), 0o755),
            Entry::bytes("top/README.md", b"hi\n".to_vec(), 0o644),
        ]
    }

    fn read(f: ArchiveFormat, bytes: &[u8]) -> Result<Members, String> {
        read_archive(f, Cursor::new(bytes))
    }

    fn gz(tar: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    }

    fn xz(tar: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    }

    fn zst(tar: &[u8]) -> Vec<u8> {
        zstd::encode_all(tar, 1).unwrap()
    }

    fn compress(f: ArchiveFormat, tar: &[u8]) -> Vec<u8> {
        match f {
            ArchiveFormat::TarGz => gz(tar),
            ArchiveFormat::TarXz => xz(tar),
            ArchiveFormat::TarZst => zst(tar),
            ArchiveFormat::Zip => unreachable!(),
        }
    }

    const TARS: [ArchiveFormat; 3] = [ArchiveFormat::TarGz, ArchiveFormat::TarXz, ArchiveFormat::TarZst];

    /// A ustar stream of `(name, mode, kind, data)` members, as the tar crate writes them.
    fn raw_tar(members: &[(&str, u32, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, mode, kind, data) in members {
            let mut h = tar::Header::new_ustar();
            h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
            h.set_mode(*mode);
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn issue13_second_stream_and_trailing_data_are_refused() {
        for f in TARS {
            let one = archive_bytes(f, &entries(), EPOCH).unwrap();
            read(f, &one).unwrap();
            let two = [one.clone(), one.clone()].concat();
            let err = read(f, &two).unwrap_err();
            assert!(err.contains("a second"), "{f}: {err}");
            let junk = [one.clone(), b"junk".to_vec()].concat();
            let err = read(f, &junk).unwrap_err();
            assert!(err.contains("data after the end of the"), "{f}: {err}");
            let zeros = [one, vec![0; 8]].concat();
            assert!(read(f, &zeros).is_err(), "{f}: stream padding");
        }
    }

    #[test]
    fn issue13_data_after_the_tar_end_is_refused_zero_padding_is_not() {
        let tar = crate::archive::ustar_bytes(&entries(), EPOCH).unwrap();
        let hidden = raw_tar(&[("top/evil", 0o755, tar::EntryType::Regular, b"\x7fELF evil")]);
        for f in TARS {
            let padded = [tar.clone(), vec![0; 10240]].concat();
            read(f, &compress(f, &padded)).unwrap();
            let after = [tar.clone(), hidden.clone()].concat();
            let err = read(f, &compress(f, &after)).unwrap_err();
            assert!(
                err.contains("after the tar's end-of-archive blocks"),
                "{f}: {err}"
            );
            // One zero block, then a member: GNU tar warns and reads on.
            let lone = [&tar[..tar.len() - 512], &hidden[..]].concat();
            let err = read(f, &compress(f, &lone)).unwrap_err();
            assert!(err.contains("single zero block"), "{f}: {err}");
        }
    }

    #[test]
    fn issue13_duplicate_members_are_refused() {
        use tar::EntryType::Regular;
        for (a, b) in [
            ("top/bin", "top/bin"),
            ("top/bin", "./top/bin"),
            ("top/bin", "top//bin"),
        ] {
            let tar = raw_tar(&[
                (a, 0o755, Regular, b"\x7fELF one"),
                (b, 0o755, Regular, b"\x7fELF two"),
            ]);
            for f in TARS {
                let err = read(f, &compress(f, &tar)).unwrap_err();
                assert!(err.contains("is given twice"), "{f} {a} {b}: {err}");
            }
        }
        let tar = raw_tar(&[("top/bin/", 0o755, Regular, b"\x7fELF")]);
        let err = read(ArchiveFormat::TarGz, &gz(&tar)).unwrap_err();
        assert!(err.contains("tar makes it a directory"), "{err}");
        let tar = raw_tar(&[("top", 0o644, Regular, b"x"), ("top/bin", 0o755, Regular, b"y")]);
        let err = read(ArchiveFormat::TarGz, &gz(&tar)).unwrap_err();
        assert!(err.contains("needs it to be a directory"), "{err}");
    }

    #[test]
    fn issue13_unsafe_modes_are_refused() {
        for mode in [0o4755, 0o2755, 0o1755, 0o757, 0o775, 0o666] {
            let tar = raw_tar(&[("top/bin", mode, tar::EntryType::Regular, b"\x7fELF")]);
            let err = read(ArchiveFormat::TarZst, &zst(&tar)).unwrap_err();
            assert!(err.contains(&format!("mode {mode:04o}")), "{err}");
        }
        let tar = raw_tar(&[("top/bin", 0o700, tar::EntryType::Regular, b"\x7fELF")]);
        read(ArchiveFormat::TarZst, &zst(&tar)).unwrap();
    }

    #[test]
    fn issue13_extension_headers_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("top/{}", "n".repeat(120)), &b"x"[..])
            .unwrap();
        let err = read(ArchiveFormat::TarGz, &gz(&b.into_inner().unwrap())).unwrap_err();
        assert!(err.contains("plain ustar"), "{err}");
    }

    /// The kiln zip of [`entries`] with the central record of `top/bin` edited by `edit`
    /// (given the record's bytes).
    fn edited_zip(edit: impl Fn(&mut [u8])) -> Vec<u8> {
        let mut zip = archive_bytes(ArchiveFormat::Zip, &entries(), EPOCH).unwrap();
        let end = zip.len() - 22;
        let mut at = le32(&zip, end + 16) as usize;
        loop {
            let n = usize::from(le16(&zip, at + 28));
            if &zip[at + 46..at + 46 + n] == b"top/bin" {
                edit(&mut zip[at..at + 46]);
                return zip;
            }
            at += 46 + n + usize::from(le16(&zip, at + 30)) + usize::from(le16(&zip, at + 32));
        }
    }

    #[test]
    fn issue13_zip_symlinks_and_members_without_unix_mode_are_refused() {
        read(ArchiveFormat::Zip, &edited_zip(|_| {})).unwrap();
        let symlink = edited_zip(|rec| rec[38..42].copy_from_slice(&(0o120_777u32 << 16).to_le_bytes()));
        let err = read(ArchiveFormat::Zip, &symlink).unwrap_err();
        assert!(err.contains("is a symlink"), "{err}");
        let dos = edited_zip(|rec| rec[5] = 0);
        let err = read(ArchiveFormat::Zip, &dos).unwrap_err();
        assert!(err.contains("has no Unix mode"), "{err}");
        let no_mode = edited_zip(|rec| rec[38..42].copy_from_slice(&0u32.to_le_bytes()));
        let err = read(ArchiveFormat::Zip, &no_mode).unwrap_err();
        assert!(err.contains("has no Unix mode"), "{err}");
        let setuid = edited_zip(|rec| rec[38..42].copy_from_slice(&(0o104_755u32 << 16).to_le_bytes()));
        let err = read(ArchiveFormat::Zip, &setuid).unwrap_err();
        assert!(err.contains("mode 4755"), "{err}");
        let zip = edited_zip(|_| {});
        let err = read(ArchiveFormat::Zip, &[zip.clone(), b"x".to_vec()].concat()).unwrap_err();
        assert!(err.contains("no end record"), "{err}");
    }

    #[test]
    fn issue13_declared_sizes_past_the_limits_are_refused_before_reading() {
        // A header declaring 3.5 GB: refused from the header alone.
        let mut h = tar::Header::new_ustar();
        h.set_path("top/README.md").unwrap();
        h.set_size(3_500_000_000);
        h.set_mode(0o644);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&[0; 4096]);
        for f in TARS {
            let err = read(f, &compress(f, &tar)).unwrap_err();
            assert!(err.contains("more than the 1073741824 bytes"), "{f}: {err}");
        }
    }

    #[test]
    fn issue13_fuzz_seeds_are_read_as_intended() {
        let seed = |name: &str| {
            fs::read(format!(
                "{}/fuzz/seeds/archive/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        for (name, f) in [
            ("hello.tar.gz", ArchiveFormat::TarGz),
            ("hello.tar.xz", ArchiveFormat::TarXz),
            ("hello.tar.zst", ArchiveFormat::TarZst),
            ("hello.zip", ArchiveFormat::Zip),
            (
                "hello-0.1.0-x86_64-unknown-linux-gnu.tar.gz",
                ArchiveFormat::TarGz,
            ),
        ] {
            read(f, &seed(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for (name, f, why) in [
            (
                "multi-member.tar.gz",
                ArchiveFormat::TarGz,
                "a second gzip member",
            ),
            ("multi-stream.tar.xz", ArchiveFormat::TarXz, "a second xz stream"),
            (
                "multi-frame.tar.zst",
                ArchiveFormat::TarZst,
                "a second zstd frame",
            ),
            (
                "trailing-garbage.tar.gz",
                ArchiveFormat::TarGz,
                "data after the end of the gzip",
            ),
            ("duplicate-member.tar.gz", ArchiveFormat::TarGz, "is given twice"),
            ("duplicate-member.zip", ArchiveFormat::Zip, "is given twice"),
            (
                "member-after-end.tar.gz",
                ArchiveFormat::TarGz,
                "after the tar's end-of-archive blocks",
            ),
        ] {
            let err = read(f, &seed(name)).unwrap_err();
            assert!(err.contains(why), "{name}: {err}");
        }
    }
}
