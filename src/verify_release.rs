//! `kiln verify-release DIR [--key PUB]`: checks a `dist/` on its own, without Nix.
//!
//! Every file's SHA-256 is recomputed; `SHA256SUMS`, `manifest.json` and the provenance
//! statement's subjects must agree with each other and with the files; the DSSE envelope must
//! verify with the given key and carry exactly `provenance.intoto.json`; and every binary in
//! every archive is read (in memory) and checked again with its target's policy. Only regular
//! files directly in DIR are read: symlinks, subdirectories and names with `/` or `..` are
//! problems, never followed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::archive::ArchiveFormat;
use crate::checksum;
use crate::manifest::Manifest;
use crate::policy::{self, Severity};
use crate::profile::Profile;
use crate::provenance::{ENVELOPE_FILE, STATEMENT_FILE, subjects_of};
use crate::sign::{self, Envelope};
use crate::target;

/// What `verify-release` found.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    /// No problem found.
    pub ok: bool,
    /// The directory checked.
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

/// Reads a regular file directly in `dir`; `None` when it is absent.
fn read_regular(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, String> {
    let path = dir.join(name);
    match fs::symlink_metadata(&path) {
        Err(_) => Ok(None),
        Ok(m) if !m.is_file() => Err(format!("{name} is not a regular file")),
        Ok(_) => fs::read(&path).map(Some).map_err(|e| format!("{name}: {e}")),
    }
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

    let (sums, actual) = check_sums(dir, &present, &mut r);
    for name in &layouts {
        let archive = format!("{name}.tar");
        match actual.get(&archive) {
            Some(bytes) => check_layout(&dir.join(name), name, bytes, &mut r),
            None => r.problems.push(format!(
                "{name} is a directory without its {archive} in SHA256SUMS"
            )),
        }
    }

    let statement_bytes = check_signature(dir, key, &mut r);
    let flags = check_statement(statement_bytes.as_deref(), &sums, &actual, &mut r);
    check_manifest(&sums, &actual, &flags, &mut r);
    r.ok = r.problems.is_empty();
    Ok(r)
}

/// SHA256SUMS against the files of `dir`: every listed file present with its digest, nothing
/// unlisted but the provenance. Returns the parsed sums and the bytes of every file read.
fn check_sums(
    dir: &Path,
    present: &BTreeSet<String>,
    r: &mut ReleaseReport,
) -> (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>) {
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
    let mut actual: BTreeMap<String, Vec<u8>> = BTreeMap::new();
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
        match read_regular(dir, name) {
            Ok(Some(bytes)) => {
                let got = checksum::sha256_bytes(&bytes);
                if &got != want {
                    r.problems.push(format!(
                        "{name}: sha256 {got} does not match SHA256SUMS ({want}): the file was changed"
                    ));
                }
                r.files.push(name.clone());
                actual.insert(name.clone(), bytes);
            }
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
            || name == ENVELOPE_FILE;
        if !known {
            r.problems
                .push(format!("extra file {name}: not listed in SHA256SUMS"));
        }
    }

    (sums, actual)
}

/// An image layout directory must hold exactly what its `.oci.tar` (whose digest SHA256SUMS
/// vouches for) holds: the same files with the same bytes, nothing more. Nothing is followed:
/// a symlink or other special file inside is a problem of its own.
fn check_layout(root: &Path, name: &str, archive: &[u8], r: &mut ReleaseReport) {
    let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut reader = tar::Archive::new(archive);
    let entries = match reader.entries() {
        Ok(e) => e,
        Err(e) => {
            r.problems.push(format!("{name}.tar: {e}"));
            return;
        }
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                r.problems.push(format!("{name}.tar: {e}"));
                return;
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map(|p| p.to_string_lossy().trim_start_matches("./").to_owned());
        let mut bytes = Vec::new();
        if let (Ok(p), Ok(_)) = (path, std::io::Read::read_to_end(&mut entry, &mut bytes)) {
            want.insert(p, bytes);
        } else {
            r.problems.push(format!("{name}.tar: unreadable member"));
            return;
        }
    }
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
    for (path, bytes) in &want {
        match got.get(path).map(fs::read) {
            None => r
                .problems
                .push(format!("{name}/{path} is missing (it is in {name}.tar)")),
            Some(Ok(b)) if &b == bytes => {}
            Some(_) => r.problems.push(format!("{name}/{path} differs from {name}.tar")),
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        r.problems
            .push(format!("extra file {name}/{path}: not in {name}.tar"));
    }
    r.files.push(format!("{name}/"));
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
    actual: &BTreeMap<String, Vec<u8>>,
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
                if let Some(b) = actual.get(name)
                    && &checksum::sha256_bytes(b) != sha
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

/// manifest.json against SHA256SUMS, then every binary against its target's policy.
fn check_manifest(
    sums: &BTreeMap<String, String>,
    actual: &BTreeMap<String, Vec<u8>>,
    flags: &Value,
    r: &mut ReleaseReport,
) {
    let Some(bytes) = actual.get("manifest.json") else {
        if !sums.contains_key("manifest.json") {
            r.problems
                .push("manifest.json is not listed in SHA256SUMS".into());
        }
        return;
    };
    let manifest: Manifest = match serde_json::from_slice(bytes) {
        Ok(m) => m,
        Err(e) => {
            r.problems.push(format!("manifest.json: {e}"));
            return;
        }
    };
    let opts = policy_from_flags(flags);
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
        let Some(bytes) = actual.get(&a.file) else {
            continue;
        };
        if a.size != bytes.len() as u64 {
            r.problems.push(format!(
                "{}: manifest.json says {} bytes, the file has {}",
                a.file,
                a.size,
                bytes.len()
            ));
        }
        if &checksum::sha256_bytes(bytes) != want {
            continue; // already reported; its contents cannot be trusted
        }
        check_binaries(a, bytes, &opts, r);
    }
}

fn check_binaries(
    a: &crate::manifest::Artifact,
    bytes: &[u8],
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
    let members = match read_archive(format, bytes) {
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
    for name in members.keys() {
        let listed = a.binaries.iter().any(|b| &b.path == name)
            || name
                .strip_prefix(stem)
                .and_then(|n| n.strip_prefix('/'))
                .is_some_and(|n| crate::export::DOC_FILES.contains(&n));
        if !listed {
            r.problems.push(format!(
                "{}: {name} is in the archive but not in manifest.json",
                a.file
            ));
        }
    }
    for b in &a.binaries {
        let Some(data) = members.get(&b.path) else {
            r.problems
                .push(format!("{}: {} is missing from the archive", a.file, b.path));
            continue;
        };
        if checksum::sha256_bytes(data) != b.sha256 {
            r.problems.push(format!(
                "{}: {} differs from manifest.json's sha256",
                a.file, b.path
            ));
            continue;
        }
        match policy_check(&b.path, data, t, opts) {
            Ok((errors, shown)) if errors.is_empty() => {
                if let Some(p) = profile_problem(a, b, shown, opts) {
                    r.problems.push(p);
                } else {
                    r.binaries.push(format!("{} ({})", b.path, t.triple));
                }
            }
            Ok((errors, _)) => r.problems.push(format!(
                "{}: {} fails the {} policy: {}",
                a.file,
                b.path,
                t.triple,
                errors.join(", ")
            )),
            Err(e) => r.problems.push(format!("{}: {}: {e}", a.file, b.path)),
        }
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
    crate::profile::mismatch(a.cargo_profile.as_deref(), shown, opts)
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}: {} ({})", a.file, b.path, f.message, f.code))
}

/// The regular-file members of an archive, by name. Refuses absolute names and `..`.
pub fn read_archive(format: ArchiveFormat, bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let tar_bytes = match format {
        ArchiveFormat::Zip => return read_zip(bytes, MAX_UNPACKED),
        ArchiveFormat::TarGz => decompress(flate2::read::GzDecoder::new(bytes))?,
        ArchiveFormat::TarXz => decompress(crate::archive::xz_decoder(bytes).map_err(|e| e.to_string())?)?,
        ArchiveFormat::TarZst => {
            decompress(zstd::stream::read::Decoder::new(bytes).map_err(|e| e.to_string())?)?
        }
    };
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| format!("corrupt tar: {e}"))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        check_member_name(&name)?;
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| format!("{name}: {e}"))?;
            out.insert(name, data);
        } else if !kind.is_dir() {
            return Err(format!(
                "member {name} is a link or special file; a release archive holds regular files only"
            ));
        }
    }
    Ok(out)
}

/// The most a release archive may unpack to, all members together: 4 GiB.
const MAX_UNPACKED: u64 = 4 << 30;

fn decompress(r: impl Read) -> Result<Vec<u8>, String> {
    let v = read_at_most(r, MAX_UNPACKED)?;
    if v.len() as u64 > MAX_UNPACKED {
        return Err(too_big(MAX_UNPACKED));
    }
    Ok(v)
}

/// Reads `r` to its end or to one byte past `budget`, whichever comes first, so the caller
/// can tell whether there was more.
fn read_at_most(r: impl Read, budget: u64) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    r.take(budget + 1)
        .read_to_end(&mut v)
        .map_err(|e| format!("cannot decompress: {e}"))?;
    Ok(v)
}

fn too_big(limit: u64) -> String {
    format!("decompresses to more than {limit} bytes")
}

fn check_member_name(name: &str) -> Result<(), String> {
    if name.starts_with('/') || name.split('/').any(|c| c == "..") {
        return Err(format!("member {name} points outside the archive"));
    }
    Ok(())
}

fn le16(b: &[u8], at: usize) -> Result<usize, String> {
    b.get(at..at + 2)
        .map(|s| usize::from(u16::from_le_bytes([s[0], s[1]])))
        .ok_or_else(|| "truncated zip".to_owned())
}

fn le32(b: &[u8], at: usize) -> Result<usize, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
        .ok_or_else(|| "truncated zip".to_owned())
}

/// Reads the zip layout kiln writes (no comment, no zip64, stored or deflated members),
/// unpacking at most `limit` bytes in all: central records may share one member's data, so a
/// per-member limit alone would let a small zip claim the same data thousands of times.
#[allow(clippy::many_single_char_names)]
fn read_zip(b: &[u8], limit: u64) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let end = b.len().checked_sub(22).ok_or("not a zip: too short")?;
    if le32(b, end)? != 0x0605_4b50 {
        return Err("not a zip kiln wrote: no end record in the last 22 bytes".into());
    }
    let count = le16(b, end + 10)?;
    let mut at = le32(b, end + 16)?;
    let mut out = BTreeMap::new();
    let mut unpacked: u64 = 0;
    for _ in 0..count {
        if le32(b, at)? != 0x0201_4b50 {
            return Err("corrupt zip central directory".into());
        }
        let method = le16(b, at + 10)?;
        let csize = le32(b, at + 20)?;
        let usize_ = le32(b, at + 24)?;
        let (n, e, c) = (le16(b, at + 28)?, le16(b, at + 30)?, le16(b, at + 32)?);
        let external = le32(b, at + 38)?;
        let local = le32(b, at + 42)?;
        let name = String::from_utf8_lossy(b.get(at + 46..at + 46 + n).ok_or("truncated zip")?).into_owned();
        at += 46 + n + e + c;
        check_member_name(&name)?;
        let mode = external >> 16;
        if name.ends_with('/') || mode & 0o170_000 != 0o100_000 {
            continue;
        }
        if le32(b, local)? != 0x0403_4b50 {
            return Err(format!("{name}: corrupt local header"));
        }
        let start = local + 30 + le16(b, local + 26)? + le16(b, local + 28)?;
        let raw = b.get(start..start + csize).ok_or("truncated zip")?;
        let budget = limit - unpacked;
        let data = match method {
            0 if raw.len() as u64 > budget => return Err(too_big(limit)),
            0 => raw.to_vec(),
            8 => read_at_most(flate2::read::DeflateDecoder::new(raw), budget)?,
            m => return Err(format!("{name}: unsupported zip method {m}")),
        };
        unpacked += data.len() as u64;
        if unpacked > limit {
            return Err(too_big(limit));
        }
        if data.len() != usize_ {
            return Err(format!("{name}: size differs from the zip's record"));
        }
        out.insert(name, data);
    }
    Ok(out)
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
            let m = read_archive(f, &bytes).unwrap();
            assert_eq!(m.len(), 2, "{f}");
            assert_eq!(m["top/bin"], b"\x7fELF...", "{f}");
            assert_eq!(m["top/README"], b"hi\n", "{f}");
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
            record[46..46 + name_len].copy_from_slice(format!("{i:0name_len$}").as_bytes());
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
    fn zip_records_sharing_data_count_against_one_limit() {
        let data = vec![0u8; 1000];
        let zip = archive_bytes(ArchiveFormat::Zip, &[Entry::bytes("member00", data, 0o644)], 0).unwrap();
        // Three records naming the one member unpack to 3000 bytes: within a 3000-byte limit.
        let three = read_zip(&overlapping_zip(&zip, 3), 3000).unwrap();
        assert_eq!(three.len(), 3);
        assert!(three.values().all(|v| v.len() == 1000));
        // A fourth passes the limit although no member alone does.
        let err = read_zip(&overlapping_zip(&zip, 4), 3000).unwrap_err();
        assert_eq!(err, "decompresses to more than 3000 bytes");
    }

    #[test]
    fn xz_dictionary_size_is_not_trusted() {
        // 152 bytes whose LZMA2 block header asks for a 4 GiB dictionary (the CRC32 fixed up),
        // which liblzma allocated up front: the fuzz target's 2 GiB malloc limit caught it.
        let bytes = include_bytes!("../tests/fixtures/fuzz/archive-xz-4gib-dictionary.tar.xz");
        let err = read_archive(ArchiveFormat::TarXz, bytes).unwrap_err();
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
        let err = read_archive(ArchiveFormat::TarGz, &gz.finish().unwrap()).unwrap_err();
        assert!(err.contains("member top/bin is a link"), "{err}");
    }

    #[test]
    fn refuses_names_outside_the_archive() {
        assert!(check_member_name("../x").is_err());
        assert!(check_member_name("/etc/passwd").is_err());
        assert!(check_member_name("a/../../x").is_err());
        assert!(check_member_name("top/bin").is_ok());
    }
}
