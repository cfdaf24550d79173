//! Writing `dist/` atomically, and replacing only what kiln wrote.
//!
//! Everything is written into a staging directory beside the destination
//! (`.<name>.kiln-staging-<pid>`), each file fsynced, the directory fsynced, and only then
//! swapped into place with renames: the old `dist/` moves aside, the new one takes its name,
//! the old one is removed. SIGINT/SIGTERM are held as flags during the swap (see
//! `crate::proc::Interrupt`), and any failure or interrupt before it removes the staging
//! directory, so a previous `dist/` survives everything short of a power cut between the two
//! renames (after which it is still there under `.<name>.kiln-old-<pid>`).
//!
//! kiln replaces only a destination that is absent, an empty directory, or a dist kiln wrote:
//! one that holds the [`MARKER_FILE`] with its format line and nothing but the files kiln
//! writes into a dist (those listed in its `SHA256SUMS`, which must list `manifest.json`, the
//! provenance and the image layout directories of the `.oci.tar` files it lists). Anything else
//! ([`check_destination`]) is refused before anything is built, and checked again right before
//! the swap; an old dist is removed entry by entry, never with a blind recursive delete.
//! Leftovers of a killed run (staging and old directories carrying the marker) are removed by
//! the next run that holds the destination's lock.
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::archive::{self, ArchiveFormat, Member, MemberSource};
use crate::checksum;
use crate::proc::Interrupt;

/// Failures while exporting; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Building an archive failed.
    #[error("{file}: {source}")]
    Archive {
        /// The archive being written.
        file: String,
        /// What went wrong.
        source: archive::ArchiveError,
    },
    /// SIGINT or SIGTERM arrived; nothing was published.
    #[error("interrupted; {0} left as it was")]
    Interrupted(PathBuf),
    /// The destination is not something kiln may replace; nothing was touched.
    #[error(
        "{path}: {why}; kiln replaces only an empty directory or a dist it wrote, so nothing was touched \
         (choose another --out or remove it yourself)"
    )]
    Refused {
        /// The destination as given.
        path: PathBuf,
        /// Why, naming the entry that is not kiln's where there is one.
        why: String,
    },
}

/// The marker file kiln writes into every dist (and staging directory) it creates. It is not
/// listed in `SHA256SUMS` (it is not part of the release) and, being a dot file, not uploaded
/// by `dist/*`.
pub const MARKER_FILE: &str = ".kiln-dist";

/// The marker's contents: one format line.
pub const MARKER: &str = "kiln-dist v1\n";

/// Whether `bytes` are the marker's contents.
pub fn is_marker(bytes: &[u8]) -> bool {
    bytes == MARKER.as_bytes()
}

/// What a destination holds, when kiln may replace it.
#[derive(Debug)]
pub enum Existing {
    /// Nothing by that name.
    Absent,
    /// An empty directory.
    Empty,
    /// A dist kiln wrote; the entries to remove, deepest first.
    Dist(Vec<PathBuf>),
}

/// What a kiln directory may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A published dist: every file accounted for by `SHA256SUMS`.
    Dist,
    /// A staging directory of a killed run: the marker and regular files or image layouts.
    Staging,
}

fn refused(path: &Path, why: impl Into<String>) -> ExportError {
    ExportError::Refused {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// The last component of `dest` must be a name (not `.`, `..` or `/`), and the path is read
/// without a trailing slash (which would make `lstat` follow a symlink).
fn normalized(dest: &Path) -> Result<PathBuf, ExportError> {
    let p: PathBuf = dest.components().collect();
    match p.components().next_back() {
        Some(std::path::Component::Normal(_)) => Ok(p),
        _ => Err(refused(
            dest,
            "does not end in a directory name of its own (., .. and / are never replaced)",
        )),
    }
}

/// `/`, `$HOME` and the current directory: never replaced, nor anything that contains them.
fn default_guards() -> Vec<PathBuf> {
    let mut g = vec![PathBuf::from("/")];
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        g.push(PathBuf::from(home));
    }
    if let Ok(cwd) = std::env::current_dir() {
        g.push(cwd);
    }
    g
}

/// Whether kiln may replace `dest` and what it holds. Refused (with the reason): a symlink, a
/// file, `/`, `$HOME`, the current directory, any of `guards` (e.g. the flake's directory) or a
/// directory containing one of them, and any non-empty directory that is not a dist kiln wrote
/// (see the module documentation). Reads only; touches nothing.
pub fn check_destination(dest: &Path, guards: &[PathBuf]) -> Result<Existing, ExportError> {
    let norm = normalized(dest)?;
    let meta = match fs::symlink_metadata(&norm) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(source) => {
            return Err(ExportError::Io {
                path: dest.to_path_buf(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Err(refused(dest, "is a symlink"));
    }
    if !meta.is_dir() {
        return Err(refused(dest, "exists and is not a directory"));
    }
    let canon = fs::canonicalize(&norm).map_err(io_err(dest))?;
    for g in default_guards().iter().chain(guards) {
        let Ok(g) = fs::canonicalize(g) else { continue };
        if g == canon {
            return Err(refused(
                dest,
                format!(
                    "is {}",
                    if g == Path::new("/") {
                        "/".into()
                    } else {
                        g.display().to_string()
                    }
                ),
            ));
        }
        if g.starts_with(&canon) {
            return Err(refused(dest, format!("contains {}", g.display())));
        }
    }
    plan_removal(&norm, Kind::Dist)
        .map(|plan| {
            if plan.is_empty() {
                Existing::Empty
            } else {
                Existing::Dist(plan)
            }
        })
        .map_err(|why| refused(dest, why))
}

/// The entries of the kiln directory `dir`, deepest first, or why it is not one (naming the
/// first entry kiln did not write). Empty for an empty directory. Nothing is followed.
fn plan_removal(dir: &Path, kind: Kind) -> Result<Vec<PathBuf>, String> {
    let mut names: Vec<(String, fs::FileType)> = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| format!("cannot be read ({e})"))? {
        let e = e.map_err(|e| format!("cannot be read ({e})"))?;
        let ft = e.file_type().map_err(|e| format!("cannot be read ({e})"))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            return Err(format!(
                "holds {}, which kiln did not write",
                Path::new(&name).display()
            ));
        };
        names.push((name.to_owned(), ft));
    }
    if names.is_empty() {
        return Ok(Vec::new());
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let marker_ok = names.iter().any(|(n, ft)| n == MARKER_FILE && ft.is_file())
        && read_small(&dir.join(MARKER_FILE)).is_some_and(|b| is_marker(&b));
    if !marker_ok {
        let first = names
            .iter()
            .map(|(n, _)| n.as_str())
            .find(|n| *n != MARKER_FILE)
            .unwrap_or(MARKER_FILE);
        return Err(format!(
            "is not empty and is not a dist kiln wrote (no valid {MARKER_FILE} marker; it holds {first})"
        ));
    }
    let listed: Option<std::collections::BTreeSet<String>> = if kind == Kind::Dist {
        let sums_ok = names.iter().any(|(n, ft)| n == "SHA256SUMS" && ft.is_file());
        let text = sums_ok
            .then(|| fs::read(dir.join("SHA256SUMS")).ok())
            .flatten()
            .and_then(|b| String::from_utf8(b).ok());
        let parsed = text.and_then(|t| checksum::parse_sha256sums(&t).ok());
        let Some(parsed) = parsed else {
            return Err(
                "has the kiln marker but no readable SHA256SUMS, so not every file can be \
                        accounted for"
                    .into(),
            );
        };
        let set: std::collections::BTreeSet<String> = parsed.into_iter().map(|(n, _)| n).collect();
        if !set.contains("manifest.json") {
            return Err("has the kiln marker but its SHA256SUMS does not list manifest.json".into());
        }
        Some(set)
    } else {
        None
    };
    let mut plan = Vec::new();
    for (name, ft) in &names {
        let path = dir.join(name);
        let fixed = [
            MARKER_FILE,
            "SHA256SUMS",
            crate::provenance::STATEMENT_FILE,
            crate::provenance::ENVELOPE_FILE,
        ]
        .contains(&name.as_str());
        let in_sums = listed.as_ref().is_none_or(|l| l.contains(name));
        let signing_tmp = name
            .strip_prefix(&format!(".{}.tmp-", crate::provenance::ENVELOPE_FILE))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if ft.is_file() && !name.contains('/') && (fixed || in_sums || signing_tmp) {
            if name != MARKER_FILE {
                plan.push(path);
            }
            continue;
        }
        let layout_listed = listed.as_ref().is_none_or(|l| l.contains(&format!("{name}.tar")));
        if ft.is_dir() && Path::new(name).extension().is_some_and(|e| e == "oci") && layout_listed {
            layout_plan(&path, name, &mut plan)?;
            continue;
        }
        return Err(format!("holds {name}, which kiln did not write"));
    }
    // The marker goes last, so a removal cut short leaves a directory still recognised.
    plan.push(dir.join(MARKER_FILE));
    Ok(plan)
}

/// The files and directories of an OCI image layout kiln wrote (`oci-layout`, `index.json`,
/// `blobs/sha256/<hex>`), deepest first; anything else is not kiln's.
fn layout_plan(root: &Path, name: &str, plan: &mut Vec<PathBuf>) -> Result<(), String> {
    let foreign = |rel: &str| format!("holds {name}/{rel}, which kiln did not write");
    let entries = |dir: &Path, rel: &str| -> Result<Vec<(String, fs::FileType)>, String> {
        let mut v = Vec::new();
        for e in fs::read_dir(dir).map_err(|_| foreign(rel))? {
            let e = e.map_err(|_| foreign(rel))?;
            let ft = e.file_type().map_err(|_| foreign(rel))?;
            let n = e
                .file_name()
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| foreign(rel))?;
            v.push((n, ft));
        }
        Ok(v)
    };
    for (n, ft) in entries(root, "")? {
        match n.as_str() {
            "oci-layout" | "index.json" if ft.is_file() => plan.push(root.join(&n)),
            "blobs" if ft.is_dir() => {
                for (a, aft) in entries(&root.join("blobs"), "blobs")? {
                    if a != "sha256" || !aft.is_dir() {
                        return Err(foreign(&format!("blobs/{a}")));
                    }
                    let dir = root.join("blobs/sha256");
                    for (b, bft) in entries(&dir, "blobs/sha256")? {
                        let hex = b.len() == 64
                            && b.bytes()
                                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                        if !hex || !bft.is_file() {
                            return Err(foreign(&format!("blobs/sha256/{b}")));
                        }
                        plan.push(dir.join(&b));
                    }
                    plan.push(dir);
                }
                plan.push(root.join("blobs"));
            }
            _ => return Err(foreign(&n)),
        }
    }
    plan.push(root.to_path_buf());
    Ok(())
}

/// The first bytes of a small regular file (the marker), without following a symlink.
fn read_small(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 4096 {
        return None;
    }
    let mut buf = Vec::new();
    File::open(path).ok()?.take(4096).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Removes exactly the entries of `plan` (files, then the directories they were in) and then
/// `dir` itself; something that appeared meanwhile stops the removal and is left, with `dir`.
fn remove_planned(dir: &Path, plan: &[PathBuf]) -> std::io::Result<()> {
    for p in plan {
        let meta = fs::symlink_metadata(p)?;
        if meta.is_dir() {
            fs::remove_dir(p)?;
        } else {
            fs::remove_file(p)?;
        }
    }
    fs::remove_dir(dir)
}

/// `.<name>.kiln-<what>-<pid>[-<n>]` in `parent`, the first that does not exist yet.
fn private_name(parent: &Path, name: &str, what: &str) -> PathBuf {
    let base = format!(".{name}.kiln-{what}-{}", std::process::id());
    let mut p = parent.join(&base);
    let mut n = 1;
    while fs::symlink_metadata(&p).is_ok() {
        p = parent.join(format!("{base}-{n}"));
        n += 1;
    }
    p
}

/// Whether `entry` is a staging (`Some(Kind::Staging)`) or old (`Some(Kind::Dist)`) directory
/// name of destination `name`.
fn leftover_kind(entry: &str, name: &str) -> Option<Kind> {
    let rest = entry.strip_prefix(&format!(".{name}.kiln-"))?;
    let (kind, id) = if let Some(id) = rest.strip_prefix("staging-") {
        (Kind::Staging, id)
    } else {
        (Kind::Dist, rest.strip_prefix("old-")?)
    };
    let mut parts = id.splitn(2, '-');
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(parts.next()?) && parts.next().is_none_or(digits)).then_some(kind)
}

/// Removes the staging and old directories a killed run left beside `dest`. Called with the
/// destination's lock held, so no live kiln is writing them. Only directories that carry the
/// marker and nothing kiln did not write are removed; anything else is left (and named).
fn clean_leftovers(parent: &Path, name: &str) {
    let Ok(rd) = fs::read_dir(parent) else { return };
    for e in rd.flatten() {
        let Some(entry) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(kind) = leftover_kind(&entry, name) else {
            continue;
        };
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = e.path();
        let done = plan_removal(&path, kind)
            .and_then(|plan| remove_planned(&path, &plan).map_err(|e| e.to_string()));
        if let Err(why) = done {
            crate::stderr_line(&format!(
                "kiln: warning: left {} of an earlier run alone: it {why}",
                path.display()
            ));
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file of the release, to be written into the staging directory.
pub enum DistFile {
    /// An archive built from entries.
    Archive {
        /// File name in `dist/`.
        file: String,
        /// Its format.
        format: ArchiveFormat,
        /// Its members.
        entries: Vec<Member>,
    },
    /// A file with given contents.
    Bytes {
        /// File name in `dist/`.
        file: String,
        /// Contents.
        bytes: Vec<u8>,
    },
}

/// A staging directory that removes itself unless published.
pub struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    mtime: u64,
    interrupt: Interrupt,
    published: bool,
}

impl Staging {
    /// Creates the staging directory next to `dest` (with the marker in it), after removing
    /// what killed runs left beside it. Call with the destination's lock held.
    pub fn new(dest: &Path, mtime: u64, interrupt: Interrupt) -> Result<Staging, ExportError> {
        let dest = normalized(dest)?;
        let parent = parent_of(&dest);
        fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let name = dest_name(&dest);
        clean_leftovers(&parent, &name);
        let dir = private_name(&parent, &name, "staging");
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        let staging = Staging {
            dir,
            dest,
            mtime,
            interrupt,
            published: false,
        };
        let marker = staging.dir.join(MARKER_FILE);
        fs::write(&marker, MARKER).map_err(io_err(&marker))?;
        Ok(staging)
    }

    /// The staging directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_interrupt(&self) -> Result<(), ExportError> {
        if self.interrupt.is_set() {
            return Err(ExportError::Interrupted(self.dest.clone()));
        }
        Ok(())
    }

    /// Writes `manifest.json` (pretty JSON and a newline), fsynced, and records its SHA-256 in
    /// `sums`: the one place a dist's manifest is written, for `kiln build` and `kiln image`.
    pub fn write_manifest(
        &self,
        manifest: &crate::manifest::Manifest,
        sums: &mut Vec<(String, String)>,
    ) -> Result<(), ExportError> {
        // Plain structs of strings, numbers and maps: serializing cannot fail.
        let mut bytes = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
        bytes.push(b'\n');
        let (sha, _) = self.write(&DistFile::Bytes {
            file: crate::manifest::MANIFEST_FILE.into(),
            bytes,
        })?;
        sums.push((crate::manifest::MANIFEST_FILE.into(), sha));
        Ok(())
    }

    /// Writes one output, fsynced; returns its SHA-256 and size.
    pub fn write(&self, output: &DistFile) -> Result<(String, u64), ExportError> {
        self.check_interrupt()?;
        pause_for_tests();
        let name = match output {
            DistFile::Archive { file, .. } | DistFile::Bytes { file, .. } => file,
        };
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let file = File::create(&path).map_err(io_err(&path))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        match output {
            DistFile::Archive {
                file,
                format,
                entries,
            } => {
                archive::write_archive(*format, entries, self.mtime, &mut w).map_err(|source| {
                    ExportError::Archive {
                        file: file.clone(),
                        source,
                    }
                })?;
            }
            DistFile::Bytes { bytes, .. } => w.write_all(bytes).map_err(io_err(&path))?,
        }
        let file = w.into_inner().map_err(|e| ExportError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_err(&path))?;
        drop(file);
        let sha = checksum::sha256_file(&path).map_err(io_err(&path))?;
        let size = fs::metadata(&path).map_err(io_err(&path))?.len();
        self.check_interrupt()?;
        Ok((sha, size))
    }

    /// Writes `SHA256SUMS` over every file written so far, fsyncs the directory and swaps it
    /// into place.
    pub fn publish(mut self, sums: &[(String, String)]) -> Result<PathBuf, ExportError> {
        let text = checksum::write_sha256sums(sums).map_err(|e| ExportError::Io {
            path: self.dir.join("SHA256SUMS"),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.write(&DistFile::Bytes {
            file: "SHA256SUMS".into(),
            bytes: text.into_bytes(),
        })?;
        sync_dir(&self.dir)?;
        self.check_interrupt()?;
        // From here on signals are only flags: nothing checks them until the swap is done.
        // What is at the destination is checked again: it may have changed during the build.
        let existing = check_destination(&self.dest, &[])?;
        let parent = parent_of(&self.dest);
        let old = private_name(&parent, &dest_name(&self.dest), "old");
        let had_old = !matches!(existing, Existing::Absent);
        if had_old {
            fs::rename(&self.dest, &old).map_err(io_err(&self.dest))?;
            // Moved out of the way, it is read once more: nothing may have slipped in between.
            if let Err(why) = plan_removal(&old, Kind::Dist) {
                let _ = fs::rename(&old, &self.dest);
                return Err(refused(&self.dest, why));
            }
        }
        if let Err(source) = fs::rename(&self.dir, &self.dest) {
            if had_old {
                let _ = fs::rename(&old, &self.dest);
            }
            return Err(ExportError::Io {
                path: self.dest.clone(),
                source,
            });
        }
        self.published = true;
        sync_dir(&parent)?;
        if had_old {
            let removed = plan_removal(&old, Kind::Dist)
                .map_err(std::io::Error::other)
                .and_then(|plan| remove_planned(&old, &plan));
            if let Err(e) = removed {
                crate::stderr_line(&format!(
                    "kiln: warning: the previous dist is left at {}: {e}",
                    old.display()
                ));
            }
        }
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The destination's file name, which names its staging, old and lock files.
fn dest_name(dest: &Path) -> String {
    dest.file_name()
        .map_or_else(|| "dist".into(), |n| n.to_string_lossy().into_owned())
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// A testing knob: `KILN_EXPORT_PAUSE_MS` sleeps before each file is written, so tests can
/// deliver a signal while an export is in progress. Unset in normal use.
fn pause_for_tests() {
    if let Some(ms) = std::env::var("KILN_EXPORT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Archive entries for one target: `<top>/<binary>` (0755) for each binary and `<top>/<doc>`
/// (0644) for each document.
pub fn target_entries(top: &str, binaries: &[(String, PathBuf)], docs: &[(String, PathBuf)]) -> Vec<Member> {
    let mut entries = Vec::new();
    for (name, path) in binaries {
        entries.push(Member {
            name: format!("{top}/{name}"),
            source: MemberSource::File(path.clone()),
            mode: 0o755,
        });
    }
    for (name, path) in docs {
        entries.push(Member {
            name: format!("{top}/{name}"),
            source: MemberSource::File(path.clone()),
            mode: 0o644,
        });
    }
    entries
}

/// Files copied next to the binaries when the source tree has them.
pub const DOC_FILES: &[&str] = &[
    "README",
    "README.md",
    "README.txt",
    "LICENSE",
    "LICENSE.md",
    "LICENSE.txt",
    "LICENSE-MIT",
    "LICENSE-APACHE",
    "COPYING",
    "NOTICE",
];

/// The documents present in `dir` (regular files only, never symlinks).
pub fn find_docs(dir: &Path) -> Vec<(String, PathBuf)> {
    DOC_FILES
        .iter()
        .map(|n| ((*n).to_owned(), dir.join(n)))
        .filter(|(_, p)| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish_into(dest: &Path, files: &[&str]) -> Result<PathBuf, ExportError> {
        let s = Staging::new(dest, 0, Interrupt::never())?;
        let mut sums = Vec::new();
        for f in files {
            let (sha, _) = s.write(&DistFile::Bytes {
                file: (*f).into(),
                bytes: f.as_bytes().to_vec(),
            })?;
            sums.push(((*f).to_owned(), sha));
        }
        s.publish(&sums)
    }

    #[test]
    fn only_empty_dirs_and_kiln_dists_are_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dist");
        assert!(matches!(check_destination(&dest, &[]), Ok(Existing::Absent)));
        fs::create_dir(&dest).unwrap();
        assert!(matches!(check_destination(&dest, &[]), Ok(Existing::Empty)));
        publish_into(&dest, &["a.tar.gz", "manifest.json"]).unwrap();
        assert!(matches!(check_destination(&dest, &[]), Ok(Existing::Dist(_))));
        publish_into(&dest, &["b.tar.gz", "manifest.json"]).unwrap();
        let mut names: Vec<String> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [MARKER_FILE, "SHA256SUMS", "b.tar.gz", "manifest.json"]);
        // Nothing but the dist is left beside it.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

        // A planted file makes it foreign, and it is named.
        fs::write(dest.join("notes.txt"), "mine").unwrap();
        let err = check_destination(&dest, &[]).unwrap_err().to_string();
        assert!(err.contains("notes.txt"), "{err}");
        assert!(publish_into(&dest, &["manifest.json"]).is_err());
        assert_eq!(fs::read(dest.join("notes.txt")).unwrap(), b"mine");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn foreign_dirs_symlinks_and_guards_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        fs::create_dir_all(home.join(".ssh")).unwrap();
        let err = check_destination(&home, &[]).unwrap_err().to_string();
        assert!(err.contains(".ssh") && err.contains("home"), "{err}");
        // A marker alone does not make a directory kiln's.
        fs::write(home.join(MARKER_FILE), MARKER).unwrap();
        assert!(check_destination(&home, &[]).is_err());
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&home, &link).unwrap();
        let err = check_destination(&link, &[]).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
        let slash = PathBuf::from(format!("{}/", link.display()));
        let err = check_destination(&slash, &[]).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
        let empty = tmp.path().join("flake");
        fs::create_dir(&empty).unwrap();
        let err = check_destination(tmp.path(), std::slice::from_ref(&empty))
            .unwrap_err()
            .to_string();
        assert!(err.contains("contains"), "{err}");
        assert!(check_destination(&empty, std::slice::from_ref(&empty)).is_err());
        for p in [".", "..", "/", "a/.."] {
            assert!(check_destination(Path::new(p), &[]).is_err(), "{p}");
        }
    }

    #[test]
    fn leftovers_of_killed_runs_are_cleaned_only_when_kiln_s() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dist");
        let stale = tmp.path().join(".dist.kiln-staging-999999");
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join(MARKER_FILE), MARKER).unwrap();
        fs::write(stale.join("x.tar.gz"), "partial").unwrap();
        let old = tmp.path().join(".dist.kiln-old-999998");
        publish_into(&old, &["manifest.json"]).unwrap();
        let foreign = tmp.path().join(".dist.kiln-old-999997");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("keep"), "mine").unwrap();
        publish_into(&dest, &["manifest.json"]).unwrap();
        assert!(!stale.exists() && !old.exists());
        assert_eq!(fs::read(foreign.join("keep")).unwrap(), b"mine");
        assert_eq!(
            leftover_kind(".dist.kiln-old-12-3", "dist").map(|k| k == Kind::Dist),
            Some(true)
        );
        assert!(leftover_kind(".dist.kiln-old-", "dist").is_none());
        assert!(leftover_kind(".dist.kiln-old-1x", "dist").is_none());
    }
}
