//! `kiln init` and `kiln ci init`: add kiln to an existing Rust crate, idempotently.
//!
//! Files kiln owns (`flake.nix`, `.github/workflows/kiln-release.yml`) start with a marker
//! comment holding the SHA-256 of the rest of the file. On a later run a file whose marker
//! matches its contents is kiln's unmodified output and may be replaced; a file without a marker,
//! or whose contents no longer match, was written or edited by the user and is refused (exit 2,
//! naming it) unless it is skipped (`--skip flake`) or forced (`--force flake.nix`; a bare
//! `--force` names every file). Nothing is written when anything is refused, and nothing at all
//! with `--dry-run`, which prints what would change as a unified diff instead.
//!
//! A later run keeps what the first one chose: the kiln URL is read back from the generated
//! flake (else the workflow), the cache name from the workflow, the rest from Cargo.toml's kiln
//! table; only what the command line repeats changes.
//!
//! The workflow triggers on the repository's default branch (git's `origin/HEAD`, else the
//! current branch, else `main`) and runs kiln pinned by revision when the URL carries one
//! (`--kiln-rev` adds it). The generated flake names the crate's binary (`[[bin]]`,
//! `default-run`) as `mainProgram` when it is not the package name.
//!
//! The toolchain file is the crate's: an existing `rust-toolchain.toml` or legacy
//! `rust-toolchain` is kept as it is (even with `--force`; it is not opened, and a link there is
//! not followed), and the generated flake's `toolchainFile` names the one rustup uses (the legacy
//! file when both exist). Only when there is neither does kiln write a `rust-toolchain.toml`
//! (without a marker: from then on it is the crate's too).
//!
//! `Cargo.toml` is the user's: kiln edits it as a TOML document (`toml_edit`), adding a
//! `[package.metadata.kiln]` table and leaving every other byte alone. An existing table is
//! found whatever its form (header, quoted header, dotted keys, inline table) and kept, except
//! that the keys given on the command line (`--target`, `--archive`, ...) are set in it; with
//! `--force` every key kiln writes is set, in the table's own form.
//!
//! With `--hermetic` the flake is `templates/hermetic` instead (no nixpkgs; kiln's source is its
//! one input, `flake = false`), which builds with kiln's pinned Debian Rust: no toolchain file
//! is written or read. Its needs are checked before anything is written, each an error naming
//! the file: one package (not a workspace root), a `Cargo.lock` (kiln does not resolve
//! dependencies), no git dependency or other registry in it, and a `rust-version` the pinned
//! Rust meets. A later run keeps the kind of flake it finds unless `--hermetic` or
//! `--no-hermetic` is given; replacing one kind by the other follows the rules above.
//!
//! Every file is written as a temporary file renamed over the old one in the same directory,
//! and nothing is written through a symbolic link: a link on any path component below the
//! crate directory (`flake.nix`, `.github`, `.github/workflows`, the workflow, `Cargo.toml`)
//! is an error naming it, before anything is written.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::target::Target;
use crate::workflow::{self, CacheKind, WorkflowSpec};

/// The flake template of `templates/default`, whose kiln input URL is replaced.
const FLAKE_TEMPLATE: &str = include_str!("../templates/default/flake.nix");
/// The flake template of `templates/hermetic` (`--hermetic`), whose kiln input URL is replaced.
const HERMETIC_TEMPLATE: &str = include_str!("../templates/hermetic/flake.nix");
/// The line by which a flake is known to build through kiln's hermetic provider.
const HERMETIC_IMPORT: &str = "hermetic = import \"${kiln}/nix/hermetic\" { };";
/// The end of the hermetic template's `crateSource` call, after which a `mainProgram` goes.
const HERMETIC_SRC_END: &str = "          exclude = [ ];\n        };\n";
/// kiln's pins of the hermetic toolchain's Debian packages: `rustc-web` is its Rust.
const HERMETIC_PINS: &str = include_str!("../nix/hermetic/debian.json");
/// The hermetic provider's vendoring, whose `defaultRegistry` is the one source it fetches.
const HERMETIC_CRATES_NIX: &str = include_str!("../nix/hermetic/crates.nix");
/// The kiln input URL in the template: a placeholder the user should replace.
pub const PLACEHOLDER_URL: &str = "github:OWNER/kiln";
/// The template's toolchain line, naming the file kiln writes when the crate has none.
const TOOLCHAIN_LINE: &str = "toolchainFile = ./rust-toolchain.toml;";
/// The toolchain file kiln writes when the crate has none.
const TOOLCHAIN_TOML: &str = "rust-toolchain.toml";
/// rustup's legacy toolchain file (a channel on one line, or TOML); rustup prefers it when both
/// exist.
const TOOLCHAIN_LEGACY: &str = "rust-toolchain";
/// Where the workflow goes.
pub const WORKFLOW_PATH: &str = ".github/workflows/kiln-release.yml";
const MARKER: &str = "kiln:generated sha256=";
/// The template's `mainProgram` line: the package name, replaced when the binary differs.
const MAIN_PROGRAM_LINE: &str = "mainProgram = cargoToml.package.name;";
/// kiln's own toolchain file: the Rust version a new `rust-toolchain.toml` pins.
const KILN_TOOLCHAIN: &str = include_str!("../rust-toolchain.toml");

/// The files `--skip` and `--force` name: each file's short name and its path.
pub const FILE_NAMES: [(&str, &str); 4] = [
    ("flake", "flake.nix"),
    ("workflow", WORKFLOW_PATH),
    ("cargo", "Cargo.toml"),
    ("toolchain", TOOLCHAIN_TOML),
];

/// The path of the file `name` names (a short name of [`FILE_NAMES`], its path, or the file
/// name of the path), or an error listing the names.
pub fn file_named(name: &str) -> Result<&'static str> {
    FILE_NAMES
        .iter()
        .find(|(short, path)| name == *short || name == *path || path.rsplit('/').next() == Some(name))
        .map(|(_, path)| *path)
        .with_context(|| {
            let known: Vec<String> = FILE_NAMES.iter().map(|(s, p)| format!("{s} ({p})")).collect();
            format!("unknown file '{name}' (known: {})", known.join(", "))
        })
}

/// The Rust version kiln's own `rust-toolchain.toml` pins (its `channel`), which a new
/// `rust-toolchain.toml` of a crate pins too.
pub fn pinned_rust_version() -> String {
    toml::from_str::<toml::Value>(KILN_TOOLCHAIN)
        .ok()
        .and_then(|v| v.get("toolchain")?.get("channel")?.as_str().map(str::to_owned))
        .expect("kiln's rust-toolchain.toml has a [toolchain] channel")
}

/// The Rust version of kiln's hermetic toolchain: the upstream part of the Debian version of
/// `rustc-web` pinned in `nix/hermetic/debian.json` (`1.96.0+dfsg1-...` is `1.96.0`).
pub fn hermetic_rust_version() -> String {
    let pins: serde_json::Value =
        serde_json::from_str(HERMETIC_PINS).expect("nix/hermetic/debian.json is JSON");
    let debian = pins["packages"]["rustc-web"]["version"]
        .as_str()
        .expect("nix/hermetic/debian.json pins rustc-web");
    debian.split(['+', '~', '-']).next().unwrap_or(debian).to_owned()
}

/// The one registry the hermetic provider vendors from, as Cargo.lock names it (the
/// `defaultRegistry` of `nix/hermetic/crates.nix`).
fn hermetic_registry() -> &'static str {
    HERMETIC_CRATES_NIX
        .lines()
        .find_map(|l| l.trim().strip_prefix("defaultRegistry = \""))
        .and_then(|rest| rest.strip_suffix("\";"))
        .expect("nix/hermetic/crates.nix sets defaultRegistry")
}

/// A Rust version `X`, `X.Y` or `X.Y.Z` as three numbers (missing parts are 0).
fn rust_version_parts(v: &str) -> Option<[u64; 3]> {
    let mut parts = [0; 3];
    let mut count = 0;
    for (i, p) in v.split('.').enumerate() {
        *parts.get_mut(i)? = p.parse().ok()?;
        count = i + 1;
    }
    (count > 0).then_some(parts)
}

/// Whether `flake` is a hermetic one (it imports kiln's `nix/hermetic`).
fn is_hermetic_flake(flake: &str) -> bool {
    flake.lines().any(|l| l.trim() == HERMETIC_IMPORT)
}

/// What `--hermetic` needs of the crate, checked before anything is written; each refusal is
/// one line naming the file. `workspace`: init is at a workspace root.
fn check_hermetic(
    dir: &Path,
    parsed: Option<&toml::Value>,
    cargo_path: &Path,
    workspace: bool,
) -> Result<()> {
    if workspace {
        bail!(
            "{}: a workspace root; --hermetic builds one package from its own Cargo.lock \
             (templates/hermetic has no workspace members): run kiln init --package without \
             --hermetic here",
            cargo_path.display()
        );
    }
    let package = parsed.and_then(|v| v.get("package"));
    let rust_version = match package.and_then(|p| p.get("rust-version")) {
        Some(toml::Value::Table(t)) if t.get("workspace").and_then(toml::Value::as_bool) == Some(true) => {
            parsed.and_then(|v| v.get("workspace")?.get("package")?.get("rust-version")?.as_str())
        }
        Some(v) => v.as_str(),
        None => None,
    };
    if let Some(wanted) = rust_version {
        let have = hermetic_rust_version();
        let newer = match (rust_version_parts(wanted), rust_version_parts(&have)) {
            (Some(w), Some(h)) => w > h,
            (None, _) => bail!(
                "{}: rust-version {wanted:?} is not a version like 1.85",
                cargo_path.display()
            ),
            (_, None) => false,
        };
        if newer {
            bail!(
                "{}: rust-version {wanted} is newer than Rust {have}, the hermetic toolchain's \
                 (kiln's pinned Debian rustc-web); lower it, or run kiln init without --hermetic",
                cargo_path.display()
            );
        }
    }
    let lock_path = dir.join("Cargo.lock");
    let lock = read_regular(&lock_path, true)?.with_context(|| {
        format!(
            "{}: missing; the hermetic provider builds from the crate's Cargo.lock and kiln init \
             resolves no dependencies: run `cargo generate-lockfile` first, or kiln init without \
             --hermetic",
            lock_path.display()
        )
    })?;
    let lock: toml::Value = toml::from_str(&lock).map_err(|e| {
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        anyhow::anyhow!("{}: {message}", lock_path.display())
    })?;
    let packages = lock.get("package").and_then(toml::Value::as_array);
    for p in packages.into_iter().flatten() {
        let Some(source) = p.get("source").and_then(toml::Value::as_str) else {
            continue; // a path dependency or the crate itself
        };
        let field = |k: &str| p.get(k).and_then(toml::Value::as_str).unwrap_or("?");
        let (name, version) = (field("name"), field("version"));
        if source.starts_with("git+") {
            bail!(
                "{}: {name} {version} is a git dependency ({source}); the hermetic provider \
                 vendors registry crates only: publish it or make it a path dependency, or run \
                 kiln init without --hermetic",
                lock_path.display()
            );
        }
        if source != hermetic_registry() {
            bail!(
                "{}: {name} {version} comes from the registry {source}; the hermetic provider \
                 fetches from the default registry only: run kiln init without --hermetic",
                lock_path.display()
            );
        }
    }
    Ok(())
}

/// Everything `kiln init` (or, with `ci_only`, `kiln ci init`) was asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// The crate directory (holds Cargo.toml).
    pub dir: PathBuf,
    /// The kiln flake reference for the flake input and the workflow (default: the one the
    /// existing flake or workflow has, else the template's placeholder).
    pub kiln_url: Option<String>,
    /// A 40-hex revision to pin the kiln URL to.
    pub kiln_rev: Option<String>,
    /// Targets for Cargo.toml (and a new rust-toolchain.toml).
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
    /// The `[package.metadata.kiln]` keys given on the command line: set in an existing table
    /// even without `force`.
    pub explicit: Vec<&'static str>,
    /// The files (paths of [`FILE_NAMES`]) to overwrite even when edited.
    pub force: Vec<&'static str>,
    /// The files (paths of [`FILE_NAMES`]) to leave alone, neither read nor written.
    pub skip: Vec<&'static str>,
    /// Plan only: write nothing, refuse nothing (the plan's diffs say what would change).
    pub dry_run: bool,
    /// Only the workflow (`kiln ci init`).
    pub ci_only: bool,
    /// At a workspace root: the members whose binaries the flake builds (default: the
    /// `packages` of `[workspace.metadata.kiln]`, else every member with a binary).
    pub packages: Vec<String>,
    /// The hermetic flake (`Some(true)`, `--hermetic`) or the default one (`Some(false)`,
    /// `--no-hermetic`); `None`: the kind the existing flake is, else the default.
    pub hermetic: Option<bool>,
    /// Print the plan as JSON.
    pub json: bool,
}

/// What `kiln init` planned (and, unless dry, did).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each file's change, in the order they are printed.
    pub files: Vec<Planned>,
    /// Whether the flake is (or would be, or with `--skip flake` is meant to be) the hermetic one.
    pub hermetic: bool,
}

impl InitRequest {
    fn forced(&self, rel: &str) -> bool {
        self.force.contains(&rel)
    }
    fn skipped(&self, rel: &str) -> bool {
        self.skip.contains(&rel)
    }
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
    /// It is the crate's own (a toolchain file); left alone, whatever `--force` says.
    Kept,
    /// `--skip` named it; not read, not written.
    Skipped,
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
            Action::Kept => "kept",
            Action::Skipped => "skipped",
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
    /// What the file holds now (`None`: it does not exist, or is not read).
    old: Option<String>,
    /// The directory `rel` is relative to, when it is not the crate directory (the workflow of
    /// a crate below its git repository's root goes to that root).
    pub root: Option<PathBuf>,
}

impl Planned {
    /// Whether the run writes this file (or, dry, would).
    pub fn writes(&self) -> bool {
        matches!(
            self.action,
            Action::Created | Action::Updated | Action::Overwritten
        )
    }

    /// The change as a unified diff (`--- a/REL`, `+++ b/REL`, 3 lines of context; a new file
    /// from `/dev/null`), empty when nothing changes. For a refused file, the change `--force`
    /// would make.
    pub fn diff(&self) -> String {
        if !(self.writes() || self.action == Action::Refused) {
            return String::new();
        }
        let from = if self.old.is_some() {
            format!("a/{}", self.rel)
        } else {
            "/dev/null".to_owned()
        };
        crate::init::unified_diff(
            self.old.as_deref().unwrap_or(""),
            &self.content,
            &from,
            &format!("b/{}", self.rel),
        )
    }
}

/// The lines of `text`, each with its line break (the last may have none).
fn lines_of(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A unified diff from `old` to `new` (labels `from`, `to`), the way `diff -u` writes one: hunks
/// of changed lines with 3 lines of context, `\ No newline at end of file` after a last line
/// without one. Lines are matched by a longest common subsequence; past 4 million line pairs the
/// whole file is one hunk.
pub fn unified_diff(old: &str, new: &str, from: &str, to: &str) -> String {
    const CONTEXT: usize = 3;
    if old == new {
        return String::new();
    }
    let (left, right) = (lines_of(old), lines_of(new));
    // ops: (kind, line) with kind ' ', '-', '+'.
    let mut ops: Vec<(char, &str)> = Vec::new();
    if left.len().saturating_mul(right.len()) > 4_000_000 {
        ops.extend(left.iter().map(|l| ('-', *l)));
        ops.extend(right.iter().map(|l| ('+', *l)));
    } else {
        let (n, m) = (left.len(), right.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if left[i] == right[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && left[i] == right[j] {
                ops.push((' ', left[i]));
                (i, j) = (i + 1, j + 1);
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                // Removals first, as `diff -u` writes them.
                ops.push(('-', left[i]));
                i += 1;
            } else {
                ops.push(('+', right[j]));
                j += 1;
            }
        }
    }
    let mut out = format!("--- {from}\n+++ {to}\n");
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT + 1 {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        // Line numbers (1-based) where the hunk starts in each file.
        let old_before = ops[..start].iter().filter(|o| o.0 != '+').count();
        let new_before = ops[..start].iter().filter(|o| o.0 != '-').count();
        let old_len = ops[start..end].iter().filter(|o| o.0 != '+').count();
        let new_len = ops[start..end].iter().filter(|o| o.0 != '-').count();
        let range = |before: usize, len: usize| {
            let first = if len == 0 { before } else { before + 1 };
            if len == 1 {
                format!("{first}")
            } else {
                format!("{first},{len}")
            }
        };
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            range(old_before, old_len),
            range(new_before, new_len)
        );
        for (kind, line) in &ops[start..end] {
            out.push(*kind);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `body` with the marker line kiln recognises its own files by; it says what a later
/// `kiln init` does with the file once it is edited.
pub fn stamp(body: &str) -> String {
    format!(
        "# {MARKER}{} (written by kiln init; edit freely: a later kiln init then stops before \
         writing anything until you pass --skip or --force naming this file)\n{body}",
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

/// Refuses a path below the crate directory that kiln must not write, checked component by
/// component without following any link: a symbolic link anywhere (kiln never writes through
/// one), a directory component that is not a directory, a file that is not a regular file.
/// A path that (or one of whose directories) does not exist yet is fine.
fn check_path(dir: &Path, rel: &str) -> Result<()> {
    let mut path = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
            Ok(m) => m,
        };
        if meta.file_type().is_symlink() {
            return Err(link_error(&path));
        }
        if i + 1 < parts.len() && !meta.is_dir() {
            bail!("{}: not a directory", path.display());
        }
        if i + 1 == parts.len() && !meta.is_file() {
            bail!("{}: not a regular file", path.display());
        }
    }
    Ok(())
}

/// The text of a regular file, opened without following a link at its last component and
/// without blocking (a FIFO is refused, not waited on); `Ok(None)` when it does not exist.
fn read_regular(path: &Path, follow: bool) -> Result<Option<String>> {
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let mut file = match fs::OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(link_error(path)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(f) => f,
    };
    let meta = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        bail!("{}: not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))
}

/// A directory held open, so that names below it are looked up in that very directory however
/// its path changes meanwhile: it is reached as `/proc/self/fd/N`, and each step down is opened
/// with `O_NOFOLLOW | O_DIRECTORY` (a link or non-directory there is refused, not followed).
struct HeldDir {
    file: fs::File,
    /// The path shown in messages.
    shown: PathBuf,
}

impl HeldDir {
    /// The crate directory itself (which may be reached through a link).
    fn root(dir: &Path) -> Result<HeldDir> {
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)
            .with_context(|| format!("opening {}", dir.display()))?;
        Ok(HeldDir {
            file,
            shown: dir.to_path_buf(),
        })
    }

    /// `name` in this directory, as a path that resolves in it.
    fn at(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd())).join(name)
    }

    /// The subdirectory `name`, created when missing; a link there is an error naming it.
    fn subdir(&self, name: &str) -> Result<HeldDir> {
        let shown = self.shown.join(name);
        match fs::create_dir(self.at(name)) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => {
                return Err(e).with_context(|| format!("creating {}", shown.display()));
            }
            _ => {}
        }
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(self.at(name))
        {
            // With O_DIRECTORY, Linux reports a link as ENOTDIR rather than ELOOP.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                let link = fs::symlink_metadata(self.at(name)).is_ok_and(|m| m.file_type().is_symlink());
                if link || e.raw_os_error() == Some(libc::ELOOP) {
                    return Err(link_error(&shown));
                }
                bail!("{}: not a directory", shown.display())
            }
            Err(e) => return Err(e).with_context(|| format!("opening {}", shown.display())),
            Ok(f) => f,
        };
        Ok(HeldDir { file, shown })
    }
}

fn link_error(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: is a symbolic link; kiln init writes no file through a link (replace the link by \
         the real file or directory)",
        path.display()
    )
}

/// Writes `content` to `dir/rel` as a new file renamed over the old one, in the same
/// directory: a reader sees the old file or the new one, never a part. Missing directories are
/// created. No link is followed on the way: each directory below `dir` is opened with
/// `O_NOFOLLOW` and held, the temporary file is created in it exclusively with `O_NOFOLLOW`, and
/// the rename (which replaces a name, never what a link points at) happens in that same held
/// directory; an existing link at the file's name is refused. A replaced file keeps its
/// permissions and, where kiln may set it, its owner.
fn write_atomic(dir: &Path, rel: &str, content: &str) -> Result<()> {
    let (parent_rel, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let mut parent = HeldDir::root(dir)?;
    for part in parent_rel.split('/').filter(|p| !p.is_empty()) {
        parent = parent.subdir(part)?;
    }
    let shown = parent.shown.join(name);
    let old = match fs::symlink_metadata(parent.at(name)) {
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("{}", shown.display())),
        Ok(m) if m.file_type().is_symlink() => return Err(link_error(&shown)),
        Ok(m) if !m.is_file() => bail!("{}: not a regular file", shown.display()),
        Ok(m) => Some(m),
    };
    remove_stale_temps(&parent, name);
    let tmp_name = format!(".{name}.kiln-{}.tmp", std::process::id());
    let tmp = parent.at(&tmp_name);
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
    };
    let mut file = match create() {
        // A leftover of a killed run that had this process id: only ever kiln's own name.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp)
                .with_context(|| format!("removing {}", parent.shown.join(&tmp_name).display()))?;
            create()
        }
        other => other,
    }
    .with_context(|| format!("creating {}", parent.shown.join(&tmp_name).display()))?;
    let written = (|| -> std::io::Result<()> {
        if let Some(old) = &old {
            file.set_permissions(fs::Permissions::from_mode(old.mode() & 0o777))?;
            // Keeps the owner when kiln runs as root on someone's crate; harmless when not.
            let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
        }
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, parent.at(name))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", shown.display()));
    }
    // The rename is durable once the directory is; a failure here loses nothing already done.
    let _ = parent.file.sync_all();
    Ok(())
}

/// Removes what a killed `kiln init` left of its temporary files for `name` in `parent`
/// (`.NAME.kiln-PID.tmp` of a process that no longer runs). Only kiln's own names are touched,
/// and a link is removed as a name, never followed.
fn remove_stale_temps(parent: &HeldDir, name: &str) {
    let Ok(entries) = fs::read_dir(parent.at(".")) else {
        return;
    };
    let prefix = format!(".{name}.kiln-");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|f| f.strip_suffix(".tmp"))
        else {
            continue;
        };
        let ours = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
        if ours && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_file(parent.at(&file.to_string_lossy()));
        }
    }
}

fn plan_owned(dir: &Path, rel: &str, body: &str, force: bool) -> Result<Planned> {
    let content = stamp(body);
    check_path(dir, rel)?;
    let old = read_regular(&dir.join(rel), false)?;
    let action = match &old {
        None => Action::Created,
        Some(old) if *old == content => Action::Unchanged,
        Some(old) if is_unmodified(old) => Action::Updated,
        Some(_) if force => Action::Overwritten,
        Some(_) => Action::Refused,
    };
    Ok(Planned {
        rel: rel.to_owned(),
        action,
        content,
        old,
        root: None,
    })
}

fn skipped(rel: &str) -> Planned {
    Planned {
        rel: rel.to_owned(),
        action: Action::Skipped,
        content: String::new(),
        old: None,
        root: None,
    }
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

/// The keys kiln writes in `[package.metadata.kiln]`, in order, with this run's values (`None`:
/// the key is not set).
pub fn metadata_values(req: &InitRequest) -> Vec<(&'static str, Option<Value>)> {
    let attrs: Array = req.targets.iter().map(|t| t.attr.as_str()).collect();
    vec![
        ("targets", Some(Value::Array(attrs))),
        ("archive", Some(req.archive.as_str().into())),
        ("image", req.image.as_deref().map(Value::from)),
        ("cache", Some(req.cache.name().into())),
        ("glibc-max", Some(req.glibc_max.as_str().into())),
    ]
}

/// A TOML parse error on one line, with its line and column.
fn toml_error(text: &str, e: &toml_edit::TomlError) -> String {
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(at) = e.span().map(|s| s.start.min(text.len())) else {
        return message;
    };
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {col}: {message}")
}

/// The highest table position in `t` (the order toml_edit prints headers in).
fn max_position(t: &Table) -> isize {
    let mut max = t.position().unwrap_or(0);
    for (_, item) in t {
        match item {
            Item::Table(sub) => max = max.max(max_position(sub)),
            Item::ArrayOfTables(a) => {
                for sub in a {
                    max = max.max(max_position(sub));
                }
            }
            _ => {}
        }
    }
    max
}

/// A new sub-table: inline when its parent is inline (no header can go there), else a standard
/// table, implicit (no header of its own) when `implicit`, printed after every existing table.
fn new_table(parent_inline: bool, implicit: bool, position: isize) -> Item {
    if parent_inline {
        Item::Value(Value::InlineTable(InlineTable::new()))
    } else {
        let mut t = Table::new();
        t.set_implicit(implicit);
        t.set_position(Some(position));
        Item::Table(t)
    }
}

/// Inserts `key = item` at the end of `table`. In an inline table (`inline`) the space before its closing
/// brace moves from the last value to the new one, so `{ a = 1 }` becomes `{ a = 1, b = 2 }`.
fn push_key(table: &mut dyn TableLike, inline: bool, key: &str, mut item: Item) {
    let last = table.iter_mut().last().and_then(|(_, v)| v.as_value_mut());
    if let (true, Some(last), Some(new)) = (inline, last, item.as_value_mut())
        && let Some(suffix) = last.decor().suffix().cloned()
    {
        last.decor_mut().set_suffix("");
        new.decor_mut().set_suffix(suffix);
    }
    table.insert(key, item);
}

/// A string value as `(false, [it])`, a list of strings as `(true, items)`.
fn strings(v: &Value) -> Option<(bool, Vec<String>)> {
    match v {
        Value::String(s) => Some((false, vec![s.value().clone()])),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(|v| (true, v)),
        _ => None,
    }
}

/// Whether an existing value is the string or list of strings `new` holds.
fn same_value(old: &Item, new: &Value) -> bool {
    old.as_value()
        .and_then(strings)
        .is_some_and(|o| strings(new).is_some_and(|n| o == n))
}

/// Cargo.toml with kiln's table added (or, in an existing one, its keys set to `values`), edited
/// as a TOML document: the table is found however it is written (a `[package.metadata.kiln]`
/// header, quoted or not, dotted keys under `[package]`, `[package.metadata]` or at the top, an
/// inline table), and every other byte of the file is kept. In an existing table only the keys
/// named in `explicit` (given on the command line) are set, or with `force` every key kiln
/// writes; they change in place and in the table's own form (a key kiln does not write, such as
/// `packages`, stays). `Err` is one line (a parse error has its line and column).
pub fn cargo_toml_with_table(
    text: &str,
    values: &[(&str, Option<Value>)],
    force: bool,
    explicit: &[&str],
) -> std::result::Result<(String, Action), String> {
    cargo_toml_with_table_in(text, "package", values, force, explicit)
}

/// [`cargo_toml_with_table`] for the kiln table under `top` (`package`, or `workspace` at a
/// workspace root).
pub fn cargo_toml_with_table_in(
    text: &str,
    top: &str,
    values: &[(&str, Option<Value>)],
    force: bool,
    explicit: &[&str],
) -> std::result::Result<(String, Action), String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| toml_error(text, &e))?;
    let position = max_position(doc.as_table()) + 1;
    // What follows the last key of the file (comments, blank lines) is the document's trailing
    // text, printed after every table: a new table at the end takes it as its prefix, so the
    // user's bytes stay first and in order, then a blank line, then the table.
    let trailing = doc.trailing().as_str().unwrap_or("").to_owned();
    let mut sep = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        sep.push('\n');
    }
    if !text.is_empty() && !format!("{text}{sep}").ends_with("\n\n") {
        sep.push('\n');
    }
    let mut moved_trailing = false;
    let no_top = || format!("no [{top}] table");
    let package = doc
        .get_mut(top)
        .filter(|p| p.is_table_like())
        .ok_or_else(no_top)?;
    let package_inline = package.is_inline_table();
    let package = package.as_table_like_mut().ok_or_else(no_top)?;
    if !package.contains_key("metadata") {
        push_key(
            package,
            package_inline,
            "metadata",
            new_table(package_inline, true, position),
        );
    }
    let metadata = package.get_mut("metadata").expect("inserted above");
    let metadata_inline = metadata.is_inline_table();
    let metadata = metadata
        .as_table_like_mut()
        .ok_or_else(|| format!("{top}.metadata is not a table"))?;
    let existed = metadata.contains_key("kiln");
    // The table is the user's now: without `force` only what the command line asks for is set
    // (keeping the rest is not a refusal).
    let values: Vec<&(&str, Option<Value>)> = values
        .iter()
        .filter(|(key, _)| !existed || force || explicit.contains(key))
        .collect();
    if values.is_empty() {
        return Ok((text.to_owned(), Action::Unchanged));
    }
    if !existed {
        let mut table = new_table(metadata_inline, false, position);
        if let Item::Table(t) = &mut table {
            t.decor_mut().set_prefix(format!("{trailing}{sep}"));
            moved_trailing = true;
        }
        push_key(metadata, metadata_inline, "kiln", table);
    }
    let kiln = metadata.get_mut("kiln").expect("present or inserted above");
    let kiln_inline = kiln.is_inline_table();
    let kiln = kiln
        .as_table_like_mut()
        .ok_or_else(|| format!("{top}.metadata.kiln is not a table"))?;
    for (key, new) in values {
        match (kiln.get_mut(key), new) {
            (Some(old), Some(new)) if same_value(old, new) => {}
            (Some(old), Some(new)) => {
                let mut new = new.clone();
                if let Some(v) = old.as_value() {
                    *new.decor_mut() = v.decor().clone();
                }
                *old = Item::Value(new);
            }
            (None, Some(new)) => {
                push_key(kiln, kiln_inline, key, Item::Value(new.clone()));
            }
            (Some(_), None) => {
                kiln.remove(key);
            }
            (None, None) => {}
        }
    }
    if moved_trailing {
        doc.set_trailing("");
    }
    let out = doc.to_string();
    let action = if !existed {
        Action::Updated
    } else if out == text {
        Action::Unchanged
    } else if force {
        Action::Overwritten
    } else {
        Action::Updated
    };
    Ok((out, action))
}

/// A new `rust-toolchain.toml`: the Rust version kiln's flake pins (never a floating channel),
/// with the std of the chosen targets.
fn toolchain(req: &InitRequest) -> String {
    let triples: Vec<&str> = req.targets.iter().map(|t| t.triple.as_str()).collect();
    format!(
        "[toolchain]\nchannel = {}\nprofile = \"minimal\"\ntargets = {}\n",
        toml_str(&pinned_rust_version()),
        toml_list(&triples)
    )
}

/// The crate's toolchain file: the first of the legacy `rust-toolchain` (which rustup prefers
/// when both exist) and `rust-toolchain.toml` that exists is kept as it is, never opened and,
/// when it is a link, not followed (the flake reads it the way rustup does); a directory or
/// special file there is an error naming it. With neither, a new `rust-toolchain.toml`.
fn plan_toolchain(req: &InitRequest) -> Result<Planned> {
    for name in [TOOLCHAIN_LEGACY, TOOLCHAIN_TOML] {
        let path = req.dir.join(name);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
            Ok(m) if m.is_file() || m.file_type().is_symlink() => {}
            Ok(_) => bail!("{}: not a regular file", path.display()),
        }
        return Ok(Planned {
            rel: name.to_owned(),
            action: Action::Kept,
            content: String::new(),
            old: None,
            root: None,
        });
    }
    check_path(&req.dir, TOOLCHAIN_TOML)?;
    Ok(Planned {
        rel: TOOLCHAIN_TOML.to_owned(),
        action: Action::Created,
        content: toolchain(req),
        old: None,
        root: None,
    })
}

/// The flake template with the kiln input's URL, the crate's toolchain file `toolchain` (a
/// name in the crate directory: in the `toolchainFile` line and in the comment that names the
/// file) and, when it is not the package name, the binary `main_program` filled in.
fn flake(kiln_url: &str, toolchain: &str, main_program: Option<&str>) -> String {
    let main = main_program.map_or_else(
        || MAIN_PROGRAM_LINE.to_owned(),
        |m| format!("mainProgram = {};", nix_str(m)),
    );
    FLAKE_TEMPLATE
        .replace(
            &format!("url = \"{PLACEHOLDER_URL}\";"),
            &format!("url = {};", nix_str(kiln_url)),
        )
        .replace(MAIN_PROGRAM_LINE, &main)
        .replace(TOOLCHAIN_LINE, &format!("toolchainFile = ./{toolchain};"))
        .replace(
            &format!("this crate's {TOOLCHAIN_TOML},"),
            &format!("this crate's {toolchain},"),
        )
}

/// The hermetic template with the kiln input's URL and, when it is not the package name, the
/// binary `main_program` (as `mainProgram` of `mkCrossPackages`) filled in.
fn hermetic_flake(kiln_url: &str, main_program: Option<&str>) -> String {
    let text = HERMETIC_TEMPLATE.replace(
        &format!("url = \"{PLACEHOLDER_URL}\";"),
        &format!("url = {};", nix_str(kiln_url)),
    );
    match main_program {
        None => text,
        Some(m) => text.replacen(
            HERMETIC_SRC_END,
            &format!(
                "{HERMETIC_SRC_END}        # The binary `nix run` starts and an image's entrypoint.\n        \
                 mainProgram = {};\n",
                nix_str(m)
            ),
            1,
        ),
    }
}

/// `s` as a Nix string literal.
fn nix_str(s: &str) -> String {
    toml_str(s).replace("${", "\\${")
}

/// The string of a Nix string literal as [`nix_str`] writes it (`None` for any other form).
fn nix_unstr(lit: &str) -> Option<String> {
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// A workspace member whose binaries the flake builds.
#[derive(Debug, Clone)]
pub struct Member {
    /// The package name.
    pub name: String,
    /// Its directory, relative to the workspace root (`.` for the root package).
    pub dir: String,
    /// The binary `nix run` starts.
    pub main_program: String,
}

/// The workspace members with at least one binary, from `cargo metadata --no-deps` on
/// `dir/Cargo.toml` (cargo's own reading of members, globs and exclusions).
fn workspace_members(dir: &Path) -> Result<Vec<Member>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = dir.join("Cargo.toml");
    let out = std::process::Command::new(&cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "{}: a workspace; kiln init reads its members with `cargo metadata`, and cargo \
                 could not be started",
                manifest.display()
            )
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "{}: cargo metadata failed: {}",
            manifest.display(),
            err.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{}: cargo metadata printed no JSON", manifest.display()))?;
    let root = PathBuf::from(meta["workspace_root"].as_str().unwrap_or_default());
    let ids: Vec<&str> = meta["workspace_members"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let mut members = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        if !pkg["id"].as_str().is_some_and(|id| ids.contains(&id)) {
            continue;
        }
        let name = pkg["name"].as_str().unwrap_or_default().to_owned();
        let bins: Vec<&str> = pkg["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")))
            .filter_map(|t| t["name"].as_str())
            .collect();
        let Some(first) = bins.first() else {
            continue;
        };
        let main_program = pkg["default_run"]
            .as_str()
            .or_else(|| bins.iter().copied().find(|b| *b == name))
            .unwrap_or(first)
            .to_owned();
        let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap_or_default());
        let member_dir = manifest
            .parent()
            .and_then(|d| d.strip_prefix(&root).ok())
            .map(|d| d.to_string_lossy().into_owned())
            .with_context(|| format!("{}: a member outside the workspace root", manifest.display()))?;
        members.push(Member {
            name,
            dir: if member_dir.is_empty() {
                ".".into()
            } else {
                member_dir
            },
            main_program,
        });
    }
    Ok(members)
}

/// The flake for the workspace members `members`: one package set per member, its outputs
/// named `<member>-<target>`, built with `cargo build --package <member>` from the whole
/// workspace (its Cargo.lock included); the kiln table is `[workspace.metadata.kiln]`.
fn workspace_flake(kiln_url: &str, toolchain: &str, members: &[Member]) -> String {
    let mut set = String::new();
    for m in members {
        let _ = writeln!(
            set,
            "        {} = {{
          dir = {};
          mainProgram = {};
        }};",
            nix_str(&m.name),
            nix_str(&m.dir),
            nix_str(&m.main_program)
        );
    }
    let first = members.first().map_or("MEMBER", |m| m.name.as_str());
    flake(kiln_url, toolchain, None)
        .replace(
            "release builds of this crate for Linux targets",
            "release builds of this workspace's programs for Linux targets",
        )
        .replace(
            "#   nix build .#x86_64-musl     (and each target in Cargo.toml's [package.metadata.kiln])",
            &format!(
                "#   nix build .#{first}-x86_64-musl   (each member of `packages` in Cargo.toml's\n\
                 #                                [workspace.metadata.kiln], with each target)"
            ),
        )
        .replace(
            "#   nix build                   (the native build, for this machine)\n",
            "",
        )
        .replace("[package.metadata.kiln]", "[workspace.metadata.kiln]")
        .replace(
            "kilnTable = cargoToml.package.metadata.kiln or { };",
            "kilnTable = cargoToml.workspace.metadata.kiln or { };",
        )
        .replace(
            &format!("      # The binary `nix run` starts and an image's entrypoint.\n      {MAIN_PROGRAM_LINE}\n"),
            &format!(
                "      # The members built, each with the binary `nix run` starts (kiln init\n      \
                 # writes the `packages` of [workspace.metadata.kiln] here).\n      \
                 members = {{\n{set}      }};\n      \
                 # A member's version: its own, else the workspace's.\n      \
                 versionOf =\n        dir:\n        let\n          \
                 v = (builtins.fromTOML (builtins.readFile (./. + \"/${{dir}}/Cargo.toml\"))).package.version or null;\n        \
                 in\n        if builtins.isString v then v else cargoToml.workspace.package.version or \"0.0.0\";\n"
            ),
        )
        .replace(
            "        kiln.lib.mkCrossPackages {\n          pkgs = nixpkgs.legacyPackages.${system};\n          \
             inherit src targets glibcFloor mainProgram toolchainFile;\n          \
             # C libraries from each target's own package set, e.g.:\n          \
             # buildInputs = p: [ p.openssl ];\n        }\n",
            "        lib.concatMapAttrs (\n          member: m:\n          \
             lib.mapAttrs' (attr: lib.nameValuePair \"${member}-${attr}\") (\n            \
             kiln.lib.mkCrossPackages {\n              pkgs = nixpkgs.legacyPackages.${system};\n              \
             inherit src targets glibcFloor toolchainFile;\n              \
             inherit (m) mainProgram;\n              pname = member;\n              \
             version = versionOf m.dir;\n              \
             cargoExtraArgs = \"--locked --package ${member}\";\n              \
             # C libraries from each target's own package set, e.g.:\n              \
             # buildInputs = p: [ p.openssl ];\n            }\n          )\n        ) members\n",
        )
}

fn crate_name(cargo_toml: &str) -> Option<String> {
    let v: toml::Value = toml::from_str(cargo_toml).ok()?;
    v.get("package")?.get("name")?.as_str().map(str::to_owned)
}

/// The binary `cargo run` starts, when it is not the package `name`: `package.default-run`,
/// else the one `[[bin]]` when there is no binary named after the package (cargo makes one of
/// `src/main.rs` unless a `[[bin]]` has that path or `autobins = false`).
fn main_program(dir: &Path, cargo_toml: &str, name: &str) -> Option<String> {
    let v: toml::Value = toml::from_str(cargo_toml).ok()?;
    let package = v.get("package")?;
    if let Some(run) = package.get("default-run").and_then(|r| r.as_str()) {
        return (run != name).then(|| run.to_owned());
    }
    let bins: Vec<(&str, Option<&str>)> = v
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|b| Some((b.get("name")?.as_str()?, b.get("path").and_then(|p| p.as_str()))))
                .collect()
        })
        .unwrap_or_default();
    if bins.is_empty() || bins.iter().any(|(n, _)| *n == name) {
        return None;
    }
    let autobins = package.get("autobins").and_then(toml::Value::as_bool) != Some(false);
    let main_rs_taken = bins
        .iter()
        .any(|(_, p)| p.is_some_and(|p| p.trim_start_matches("./") == "src/main.rs"));
    if autobins && !main_rs_taken && dir.join("src/main.rs").is_file() {
        return None;
    }
    Some(bins[0].0.to_owned())
}

/// The kiln URL an earlier `kiln init` wrote: the kiln input's `url` of the generated flake,
/// else the workflow's `KILN:`; `None` when neither has one (or it is the placeholder).
fn previous_kiln_url(flake: Option<&str>, workflow: Option<&str>) -> Option<String> {
    let from_flake = flake.and_then(|f| {
        let mut in_kiln = false;
        for line in f.lines().map(str::trim) {
            // `kiln = {` in the default flake's `inputs`, `inputs.kiln = {` in the hermetic one.
            if line == "kiln = {" || line == "inputs.kiln = {" {
                in_kiln = true;
            } else if in_kiln && let Some(lit) = line.strip_prefix("url = ") {
                return nix_unstr(lit.strip_suffix(';')?);
            } else if line == "};" {
                in_kiln = false;
            }
        }
        None
    });
    let from_workflow = || {
        workflow?
            .lines()
            .find_map(|l| l.strip_prefix("  KILN: "))
            .and_then(yaml_unstr)
    };
    from_flake
        .or_else(from_workflow)
        .filter(|u| u != PLACEHOLDER_URL && check_kiln_url(u).is_ok())
}

/// The string of a YAML scalar as [`workflow::yaml_str`] writes it (plain, or double-quoted with
/// `\"`, `\\` and `\uXXXX` escapes).
fn yaml_unstr(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return (!s.is_empty()).then(|| s.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'U' => {
                let hex: String = chars.by_ref().take(8).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// The cache name an earlier workflow for a cache of `kind` used, if it is for that kind.
fn previous_cache_name(workflow: &str, kind: CacheKind) -> Option<String> {
    let lines: Vec<&str> = workflow.lines().map(str::trim).collect();
    let name = match kind {
        CacheKind::None => return None,
        CacheKind::Cachix => {
            let at = lines
                .iter()
                .position(|l| l.starts_with("- uses: cachix/cachix-action@"))?;
            lines[at..]
                .iter()
                .find_map(|l| l.strip_prefix("name: "))
                .and_then(yaml_unstr)?
        }
        CacheKind::Attic => lines
            .iter()
            .find_map(|l| l.strip_prefix("attic use 'ci:"))
            .and_then(|r| r.strip_suffix('\''))
            .filter(|n| !n.contains('\''))?
            .to_owned(),
        CacheKind::S3 => lines
            .iter()
            .find_map(|l| l.strip_prefix("KILN_CACHE: "))
            .and_then(yaml_unstr)?
            .strip_prefix("s3://")?
            .to_owned(),
    };
    workflow::check_cache_name(kind, &name).is_ok().then_some(name)
}

/// `url` pinned to the 40-hex revision `rev`: `github:`/`gitlab:`/`sourcehut:` references get
/// it as their third path part, others a `rev=` query parameter. A URL that already names a
/// revision is an error unless it is this one.
pub fn pin_rev(url: &str, rev: &str) -> Result<String> {
    if rev.len() != 40 || !rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--kiln-rev {rev:?}: not a 40-hex git revision");
    }
    if let Some(have) = url_rev(url) {
        if have.eq_ignore_ascii_case(rev) {
            return Ok(url.to_owned());
        }
        bail!("--kiln-rev {rev}: --kiln-url {url:?} already names revision {have}");
    }
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let forge = ["github:", "gitlab:", "sourcehut:"]
        .iter()
        .any(|p| base.starts_with(p));
    if forge && base.split('/').count() == 2 {
        return Ok(match query {
            Some(q) => format!("{base}/{rev}?{q}"),
            None => format!("{base}/{rev}"),
        });
    }
    if forge {
        bail!("--kiln-rev {rev}: --kiln-url {url:?} already names a branch or tag");
    }
    Ok(match query {
        Some(q) => format!("{base}?{q}&rev={rev}"),
        None => format!("{base}?rev={rev}"),
    })
}

/// `url` without the 40-hex revision it names (see [`url_rev`]).
fn unpin(url: &str) -> String {
    let Some(rev) = url_rev(url) else {
        return url.to_owned();
    };
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.strip_suffix(&format!("/{rev}")).unwrap_or(base);
    let rest: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && *kv != format!("rev={rev}"))
        .collect();
    if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    }
}

/// The 40-hex revision a flake reference names (`?rev=` or a forge reference's third part).
pub fn url_rev(url: &str) -> Option<&str> {
    let is_rev = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    if let Some(r) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("rev="))
        .filter(|r| is_rev(r))
    {
        return Some(r);
    }
    let forge = ["github:", "gitlab:", "sourcehut:"]
        .iter()
        .any(|p| base.starts_with(p));
    base.split('/').nth(2).filter(|r| forge && is_rev(r))
}

/// The root of the git work tree `dir` is in and `dir`'s path below it, when `dir` is not
/// that root itself.
fn git_root_below(dir: &Path) -> Option<(PathBuf, String)> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let top = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim_end_matches('\n'));
    let here = fs::canonicalize(dir).ok()?;
    let rel = here.strip_prefix(fs::canonicalize(&top).ok()?).ok()?;
    let rel = rel.to_str()?;
    (!rel.is_empty()).then(|| (top, rel.to_owned()))
}

/// The branch the workflow triggers on: the remote's default branch
/// (`refs/remotes/origin/HEAD`), else the checked-out branch, else `main`.
fn default_branch(dir: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    git(&["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"])
        .and_then(|r| r.strip_prefix("refs/remotes/origin/").map(str::to_owned))
        .or_else(|| {
            git(&["symbolic-ref", "--quiet", "HEAD"])
                .and_then(|r| r.strip_prefix("refs/heads/").map(str::to_owned))
        })
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "main".to_owned())
}

/// Refuses a `--kiln-url` that no flake reference looks like and that could change the meaning
/// of the YAML or Nix it is written into: whitespace, control characters, `${{`.
fn check_kiln_url(url: &str) -> Result<()> {
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains("${{") {
        bail!(
            "--kiln-url {url:?}: not a flake reference (one word, without whitespace, control \
             characters or '${{{{')"
        );
    }
    Ok(())
}

/// The cache name the workflow gets: `--cache-name`, else the crate name made fit for the
/// service; either must be one the service accepts ([`workflow::check_cache_name`]).
fn cache_name(req: &InitRequest, crate_name: &str) -> Result<String> {
    let (name, given) = match &req.cache_name {
        Some(n) => (n.clone(), true),
        None => (workflow::default_cache_name(req.cache, crate_name), false),
    };
    if let Err(why) = workflow::check_cache_name(req.cache, &name) {
        if given {
            bail!("--cache-name {name:?}: {why}");
        }
        bail!("--cache-name {name:?} (the default, from the crate name): {why}; pass --cache-name");
    }
    Ok(name)
}

/// The workspace members the flake builds: `--package`, else the `packages` of
/// `[workspace.metadata.kiln]`, else every member with a binary; a name that is no member with
/// a binary is an error listing those.
fn chosen_members(req: &InitRequest, parsed: Option<&toml::Value>, cargo_path: &Path) -> Result<Vec<Member>> {
    let all = workspace_members(&req.dir)?;
    let listed: Vec<String> = parsed
        .and_then(|v| {
            v.get("workspace")?
                .get("metadata")?
                .get("kiln")?
                .get("packages")?
                .as_array()
                .cloned()
        })
        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let asked = if req.packages.is_empty() {
        listed
    } else {
        req.packages.clone()
    };
    let chosen: Vec<Member> = if asked.is_empty() {
        all.clone()
    } else {
        let mut chosen = Vec::new();
        for p in &asked {
            let m = all.iter().find(|m| m.name == *p).with_context(|| {
                let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
                format!(
                    "--package {p}: not a member of the workspace {} with a binary (those \
                     are: {})",
                    cargo_path.display(),
                    names.join(", ")
                )
            })?;
            if !chosen.iter().any(|c: &Member| c.name == m.name) {
                chosen.push(m.clone());
            }
        }
        chosen
    };
    if chosen.is_empty() {
        bail!("{}: no workspace member has a binary", cargo_path.display());
    }
    Ok(chosen)
}

/// The error naming the files `plan` refuses (and how to go on), if any.
fn refuse(plan: &[Planned]) -> Result<()> {
    let refused: Vec<&Planned> = plan.iter().filter(|p| p.action == Action::Refused).collect();
    if !refused.is_empty() {
        let rels: Vec<&str> = refused.iter().map(|p| p.rel.as_str()).collect();
        let names: Vec<&str> = refused
            .iter()
            .filter_map(|p| FILE_NAMES.iter().find(|(_, path)| *path == p.rel))
            .map(|(short, _)| *short)
            .collect();
        bail!(
            "refusing to overwrite {} (edited since kiln wrote it, or not written by kiln); \
             nothing written; --skip {} keeps it, --force {} overwrites it, --dry-run shows the \
             change",
            rels.join(", "),
            names.join(","),
            rels.join(",")
        );
    }
    Ok(())
}

/// Plans and, when nothing is refused, writes every file. Refusals are an error (exit 2) that
/// names the files; nothing is written then. Nothing is written through a symbolic link: a link
/// on any path kiln would write (a file, `.github`, `.github/workflows`) is an error naming it,
/// before anything is written.
#[allow(clippy::too_many_lines)] // one plan, file by file, in the order the files are printed
pub fn plan_and_write(req: &InitRequest) -> Result<Plan> {
    if let Some(url) = &req.kiln_url {
        check_kiln_url(url)?;
    }
    let cargo_path = req.dir.join("Cargo.toml");
    if !req.ci_only {
        check_path(&req.dir, "Cargo.toml")?;
    }
    let cargo = read_regular(&cargo_path, req.ci_only)?
        .with_context(|| format!("{}: not a Rust crate (no Cargo.toml)", req.dir.display()))?;
    let parsed: Option<toml::Value> = toml::from_str(&cargo).ok();
    let is_workspace = parsed.as_ref().is_some_and(|v| v.get("workspace").is_some());
    let has_package = parsed.as_ref().is_some_and(|v| v.get("package").is_some());
    let workspace = is_workspace && (!has_package || !req.packages.is_empty());
    if !req.packages.is_empty() && !is_workspace {
        bail!(
            "--package: {} is not a workspace root (no [workspace] table)",
            cargo_path.display()
        );
    }
    // What an earlier run wrote, to keep what this one does not repeat.
    let old_flake = check_path(&req.dir, "flake.nix")
        .ok()
        .and_then(|()| read_regular(&req.dir.join("flake.nix"), false).ok().flatten());
    // The kind of flake: as asked, else the one an earlier run wrote. Its needs are checked
    // before anything else is read (a workspace root's members, too).
    let hermetic = !req.ci_only
        && req
            .hermetic
            .unwrap_or_else(|| old_flake.as_deref().is_some_and(is_hermetic_flake));
    if hermetic {
        check_hermetic(&req.dir, parsed.as_ref(), &cargo_path, workspace)?;
    }
    let members = if workspace {
        chosen_members(req, parsed.as_ref(), &cargo_path)?
    } else {
        Vec::new()
    };
    let name = match members.first() {
        Some(m) => m.name.clone(),
        None => crate_name(&cargo)
            .with_context(|| format!("{}: no [package] name (a workspace root?)", cargo_path.display()))?,
    };
    // The workflow goes to the git repository's root; it runs kiln in the crate's directory.
    let (wf_root, working_dir) = match git_root_below(&req.dir) {
        Some((root, rel)) => (Some(root), Some(rel)),
        None => (None, None),
    };
    let wf_dir = wf_root.clone().unwrap_or_else(|| req.dir.clone());
    let old_workflow = check_path(&wf_dir, WORKFLOW_PATH)
        .ok()
        .and_then(|()| read_regular(&wf_dir.join(WORKFLOW_PATH), false).ok().flatten());
    let mut kiln_url = req
        .kiln_url
        .clone()
        .or_else(|| previous_kiln_url(old_flake.as_deref(), old_workflow.as_deref()))
        .unwrap_or_else(|| PLACEHOLDER_URL.to_owned());
    if let Some(rev) = &req.kiln_rev {
        // A pin an earlier run wrote moves to the new revision; one given with --kiln-url must
        // agree with --kiln-rev.
        if req.kiln_url.is_none() {
            kiln_url = unpin(&kiln_url);
        }
        kiln_url = pin_rev(&kiln_url, rev)?;
    }
    let cache_name = match (&req.cache_name, &old_workflow) {
        (None, Some(w)) => previous_cache_name(w, req.cache),
        _ => None,
    };
    let spec = WorkflowSpec {
        kiln_flake: kiln_url.clone(),
        cache: req.cache,
        cache_name: match cache_name {
            Some(n) => n,
            None => self::cache_name(req, &name)?,
        },
        branch: default_branch(&req.dir),
        working_directory: working_dir,
    };
    let mut plan = Vec::new();
    if !req.ci_only {
        // The hermetic flake builds with kiln's pinned Rust: no toolchain file is planned.
        let toolchain = if hermetic {
            None
        } else {
            Some(plan_toolchain(req)?)
        };
        let toolchain_rel = toolchain.as_ref().map_or(TOOLCHAIN_TOML, |t| t.rel.as_str());
        if req.skipped("flake.nix") {
            plan.push(skipped("flake.nix"));
        } else {
            let flake = if hermetic {
                let main = main_program(&req.dir, &cargo, &name);
                hermetic_flake(&kiln_url, main.as_deref())
            } else if workspace {
                workspace_flake(&kiln_url, toolchain_rel, &members)
            } else {
                let main = main_program(&req.dir, &cargo, &name);
                flake(&kiln_url, toolchain_rel, main.as_deref())
            };
            plan.push(plan_owned(
                &req.dir,
                "flake.nix",
                &flake,
                req.forced("flake.nix"),
            )?);
        }
        match toolchain {
            Some(t) if req.skipped(TOOLCHAIN_TOML) && t.action == Action::Created => {
                plan.push(skipped(TOOLCHAIN_TOML));
            }
            Some(t) => plan.push(t),
            None => {}
        }
        if req.skipped("Cargo.toml") {
            plan.push(skipped("Cargo.toml"));
        } else {
            let mut values = metadata_values(req);
            let mut explicit = req.explicit.clone();
            if workspace {
                let names: Array = members.iter().map(|m| m.name.as_str()).collect();
                values.push(("packages", Some(Value::Array(names))));
                if !req.packages.is_empty() {
                    explicit.push("packages");
                }
            }
            let (content, action) = cargo_toml_with_table_in(
                &cargo,
                if workspace { "workspace" } else { "package" },
                &values,
                req.forced("Cargo.toml"),
                &explicit,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", cargo_path.display()))?;
            plan.push(Planned {
                rel: "Cargo.toml".into(),
                action,
                content,
                old: Some(cargo.clone()),
                root: None,
            });
        }
    }
    if req.skipped(WORKFLOW_PATH) {
        plan.push(skipped(WORKFLOW_PATH));
    } else {
        let mut wf = plan_owned(
            &wf_dir,
            WORKFLOW_PATH,
            &workflow::render(&spec),
            req.forced(WORKFLOW_PATH),
        )?;
        wf.root = wf_root;
        plan.push(wf);
    }
    if req.dry_run {
        return Ok(Plan {
            files: plan,
            hermetic,
        });
    }

    refuse(&plan)?;
    for p in &plan {
        if p.writes() {
            write_atomic(p.root.as_deref().unwrap_or(&req.dir), &p.rel, &p.content)?;
        }
    }
    Ok(Plan {
        files: plan,
        hermetic,
    })
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

    fn zip() -> Vec<(&'static str, Option<Value>)> {
        vec![("archive", Some("zip".into())), ("image", None)]
    }

    #[test]
    fn cargo_toml_keeps_other_bytes() {
        let t = "[package]\nname = \"x\" # mine\n\n[dependencies]\n";
        let (out, a) = cargo_toml_with_table(t, &zip(), false, &[]).unwrap();
        assert_eq!(a, Action::Updated);
        assert_eq!(out, format!("{t}\n[package.metadata.kiln]\narchive = \"zip\"\n"));
        let (again, a) = cargo_toml_with_table(&out, &zip(), false, &[]).unwrap();
        assert_eq!((again.as_str(), a), (out.as_str(), Action::Unchanged));
        let edited = out.replace("zip", "tar.xz") + "image = \"x\"\npackages = [\"a\"]\n[features]\n";
        let (kept, a) = cargo_toml_with_table(&edited, &zip(), false, &[]).unwrap();
        assert_eq!((kept.as_str(), a), (edited.as_str(), Action::Unchanged));
        let (forced, a) = cargo_toml_with_table(&edited, &zip(), true, &[]).unwrap();
        assert_eq!(a, Action::Overwritten);
        assert_eq!(
            forced,
            format!("{t}\n[package.metadata.kiln]\narchive = \"zip\"\npackages = [\"a\"]\n[features]\n")
        );
        let (same, a) = cargo_toml_with_table(&forced, &zip(), true, &[]).unwrap();
        assert_eq!((same.as_str(), a), (forced.as_str(), Action::Unchanged));
    }

    #[test]
    fn cargo_toml_finds_the_table_in_every_form() {
        for t in [
            "[package]\nname = \"x\"\nmetadata.kiln.archive = \"tar.xz\"\n",
            "package.name = \"x\"\npackage.metadata.kiln.archive = \"tar.xz\"\n",
            "[package]\nname = \"x\"\n[package.metadata]\nkiln.archive = \"tar.xz\"\n",
            "[package]\nname = \"x\"\n[package.metadata.\"kiln\"]\narchive = \"tar.xz\"\n",
            "[package]\nname = \"x\"\nmetadata = { kiln = { archive = \"tar.xz\" } }\n",
            "[package]\nname = \"x\"\n[package.metadata]\nkiln = { archive = \"tar.xz\" }\n",
            "package = { name = \"x\", metadata.kiln.archive = \"tar.xz\" }\n",
        ] {
            let (out, a) = cargo_toml_with_table(t, &zip(), false, &[]).unwrap();
            assert_eq!((out.as_str(), a), (t, Action::Unchanged));
            let (out, a) = cargo_toml_with_table(t, &zip(), true, &[]).unwrap();
            assert_eq!(
                (out.as_str(), a),
                (t.replace("tar.xz", "zip").as_str(), Action::Overwritten)
            );
        }
        for t in [
            "package.name = \"x\"\n",
            "package = { name = \"x\" }\n",
            "[package]\nname = \"x\"\nmetadata = { docs = 1 }\n",
            "[package]\nname = \"x\"\nmetadata.docs = 1\n",
        ] {
            let (out, a) = cargo_toml_with_table(t, &zip(), false, &[]).unwrap();
            assert_eq!(a, Action::Updated);
            let v: toml::Value = toml::from_str(&out).unwrap();
            assert_eq!(
                v["package"]["metadata"]["kiln"]["archive"].as_str(),
                Some("zip"),
                "{out}"
            );
            assert_eq!(v["package"]["name"].as_str(), Some("x"), "{out}");
        }
        let (out, _) = cargo_toml_with_table(
            "[package]\nmetadata = { docs = 1 } # c\n",
            &[("archive", Some("zip".into())), ("cache", Some("none".into()))],
            false,
            &[],
        )
        .unwrap();
        assert_eq!(
            out,
            "[package]\nmetadata = { docs = 1, kiln = { archive = \"zip\", cache = \"none\" } } # c\n"
        );
        let e =
            cargo_toml_with_table("[package]\nname = \"x\"\n\nname = 1\n", &zip(), false, &[]).unwrap_err();
        assert!(e.starts_with("line 4, column 1: "), "{e}");
        let e = cargo_toml_with_table("[package]\nmetadata = 1\n", &zip(), false, &[]).unwrap_err();
        assert_eq!(e, "package.metadata is not a table");
    }

    #[test]
    fn cargo_toml_sets_only_explicit_keys_in_an_existing_table() {
        let t = "[package]\nname = \"x\"\n\n[package.metadata.kiln]\ntargets = [\"x86_64-gnu\"] # mine\narchive = \"tar.xz\"\n";
        let values = [
            (
                "targets",
                Some(Value::Array(["aarch64-musl"].into_iter().collect())),
            ),
            ("archive", Some("zip".into())),
        ];
        let (out, a) = cargo_toml_with_table(t, &values, false, &["targets"]).unwrap();
        assert_eq!(a, Action::Updated);
        assert_eq!(out, t.replace("[\"x86_64-gnu\"]", "[\"aarch64-musl\"]"));
        let (again, a) = cargo_toml_with_table(&out, &values, false, &["targets"]).unwrap();
        assert_eq!((again.as_str(), a), (out.as_str(), Action::Unchanged));
        let (kept, a) = cargo_toml_with_table(t, &values, false, &[]).unwrap();
        assert_eq!((kept.as_str(), a), (t, Action::Unchanged));
    }

    #[test]
    fn the_flake_names_the_crates_toolchain_file() {
        assert_eq!(FLAKE_TEMPLATE.matches(TOOLCHAIN_LINE).count(), 1);
        assert_eq!(
            FLAKE_TEMPLATE
                .matches(&format!("url = \"{PLACEHOLDER_URL}\";"))
                .count(),
            1
        );
        let legacy = flake("github:o/kiln", TOOLCHAIN_LEGACY, None);
        assert!(
            legacy.contains("\n      toolchainFile = ./rust-toolchain;\n"),
            "{legacy}"
        );
        assert!(
            !legacy.contains(TOOLCHAIN_TOML),
            "the legacy file only:\n{legacy}"
        );
        assert!(!legacy.contains(PLACEHOLDER_URL));
        assert_eq!(
            flake("github:o/kiln", TOOLCHAIN_TOML, None)
                .matches(TOOLCHAIN_LINE)
                .count(),
            1
        );
    }

    #[test]
    fn cargo_toml_keeps_trailing_comments_first() {
        for t in [
            "[package]\nname = \"x\"\n\n[dependencies]\n# nothing",
            "[package]\nname = \"x\"\n# end\n",
            "[package]\nname = \"x\"\n\n# end\n\n\n",
            "[package]\nname = \"x\"\n[dependencies]\na = 1 # c\n# end\n",
            "[package]\nname = \"x\"",
        ] {
            let (out, _) = cargo_toml_with_table(t, &zip(), false, &[]).unwrap();
            let rest = out
                .strip_prefix(t)
                .unwrap_or_else(|| panic!("{t:?} first in {out:?}"));
            assert!(
                rest.trim_start_matches('\n')
                    .starts_with("[package.metadata.kiln]\n"),
                "{out:?}"
            );
            assert!(
                format!("{t}{rest}").contains("\n\n[package.metadata.kiln]"),
                "{out:?}"
            );
        }
    }

    #[test]
    fn unified_diffs_read_like_diff_u() {
        assert_eq!(unified_diff("a\n", "a\n", "x", "y"), "");
        assert_eq!(
            unified_diff("", "a\nb\n", "/dev/null", "b/f"),
            "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
        let old: String = (1..=20).map(|i| i.to_string() + "\n").collect();
        let new = old.replace("\n5\n", "\nfive\n").replace("\n18\n", "\n");
        assert_eq!(
            unified_diff(&old, &new, "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n\
             @@ -15,6 +15,5 @@\n 15\n 16\n 17\n-18\n 19\n 20\n"
        );
        assert_eq!(
            unified_diff("a", "b\n", "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n"
        );
    }

    #[test]
    fn kiln_urls_pin_by_revision() {
        let rev = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            pin_rev("github:o/kiln", rev).unwrap(),
            format!("github:o/kiln/{rev}")
        );
        assert_eq!(
            pin_rev("git+https://h/kiln?dir=x", rev).unwrap(),
            format!("git+https://h/kiln?dir=x&rev={rev}")
        );
        assert_eq!(url_rev(&format!("github:o/kiln/{rev}")), Some(rev));
        assert_eq!(url_rev(&format!("git+https://h/k?ref=main&rev={rev}")), Some(rev));
        assert_eq!(url_rev("github:o/kiln/v1"), None);
        assert!(pin_rev("github:o/kiln/v1", rev).is_err());
        assert!(pin_rev("github:o/kiln", "abc").is_err());
        let other = "f".repeat(40);
        assert!(pin_rev(&format!("github:o/kiln/{other}"), rev).is_err());
        assert_eq!(unpin(&format!("github:o/kiln/{other}")), "github:o/kiln");
        assert_eq!(
            unpin(&format!("git+https://h/k?rev={other}&dir=x")),
            "git+https://h/k?dir=x"
        );
        assert_eq!(
            previous_kiln_url(
                Some(&flake(&format!("github:o/k/{rev}"), TOOLCHAIN_TOML, None)),
                None
            ),
            Some(format!("github:o/k/{rev}"))
        );
        assert_eq!(
            previous_kiln_url(Some(&flake(PLACEHOLDER_URL, TOOLCHAIN_TOML, None)), None),
            None
        );
    }

    #[test]
    fn the_hermetic_flake_is_the_template_with_the_url_and_binary() {
        assert_eq!(HERMETIC_TEMPLATE.matches(HERMETIC_SRC_END).count(), 1);
        assert_eq!(
            HERMETIC_TEMPLATE
                .matches(&format!("url = \"{PLACEHOLDER_URL}\";"))
                .count(),
            1
        );
        assert!(is_hermetic_flake(HERMETIC_TEMPLATE));
        assert!(!is_hermetic_flake(FLAKE_TEMPLATE));
        let rev = "0123456789abcdef0123456789abcdef01234567";
        let url = format!("github:o/k/{rev}");
        let plain = hermetic_flake(&url, None);
        assert_eq!(
            plain,
            HERMETIC_TEMPLATE.replace(PLACEHOLDER_URL, &url),
            "only the URL changes"
        );
        assert_eq!(previous_kiln_url(Some(&plain), None), Some(url.clone()));
        assert_eq!(
            previous_kiln_url(Some(&hermetic_flake(PLACEHOLDER_URL, None)), None),
            None
        );
        let named = hermetic_flake(&url, Some("fd"));
        assert!(
            named.contains("          exclude = [ ];\n        };\n        # The binary `nix run` starts and an image's entrypoint.\n        mainProgram = \"fd\";\n      };\n"),
            "{named}"
        );
    }

    #[test]
    fn the_hermetic_rust_version_is_debians_rustc_web() {
        let pins: serde_json::Value = serde_json::from_str(HERMETIC_PINS).unwrap();
        let debian = pins["packages"]["rustc-web"]["version"].as_str().unwrap();
        let v = hermetic_rust_version();
        assert!(debian.starts_with(&format!("{v}+")), "{v} of {debian}");
        assert!(rust_version_parts(&v).is_some(), "{v}");
        assert_eq!(v.split('.').count(), 3, "{v}");
    }

    #[test]
    fn rust_versions_compare_by_their_numbers() {
        assert_eq!(rust_version_parts("1.96.0"), Some([1, 96, 0]));
        assert_eq!(rust_version_parts("1.97"), Some([1, 97, 0]));
        assert_eq!(rust_version_parts("2"), Some([2, 0, 0]));
        assert!(rust_version_parts("1.97") > rust_version_parts("1.96.0"));
        assert!(rust_version_parts("1.96") <= rust_version_parts("1.96.0"));
        assert!(rust_version_parts("1.100") > rust_version_parts("1.96.0"));
        for bad in ["", "1.x", "1.2.3.4", "1.85-beta", " 1.8"] {
            assert_eq!(rust_version_parts(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_hermetic_registry_is_the_one_cargo_locks_name() {
        let r = hermetic_registry();
        assert!(r.starts_with("registry+https://") && r.ends_with("-index"), "{r}");
        // The crate lock of kiln's own example names it.
        let lock = include_str!("../examples/hello/Cargo.lock");
        assert!(lock.contains(&format!("source = \"{r}\"")), "{r}");
    }

    #[test]
    fn the_pinned_rust_version_is_a_release() {
        let v = pinned_rust_version();
        assert!(
            v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{v}"
        );
    }

    #[test]
    fn write_atomic_follows_no_link_by_itself() {
        // Without the plan's checks (as if a link appeared after them), the write refuses too.
        let tmp = tempfile::tempdir().unwrap();
        let (dir, outside) = (tmp.path().join("crate"), tmp.path().join("outside"));
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(outside.join("workflows")).unwrap();
        fs::write(outside.join("f"), "theirs").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(".github")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), dir.join("flake.nix")).unwrap();
        let e = write_atomic(&dir, ".github/workflows/w.yml", "x")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with(".github: is a symbolic link; kiln init writes no file through a link (replace the link by the real file or directory)"), "{e}");
        let e = write_atomic(&dir, "flake.nix", "x").unwrap_err().to_string();
        assert!(e.contains("flake.nix: is a symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(outside.join("f")).unwrap(), "theirs");
        assert!(fs::read_dir(outside.join("workflows")).unwrap().next().is_none());
        fs::create_dir(dir.join("sub")).unwrap();
        write_atomic(&dir, "sub/a/b.txt", "new").unwrap();
        assert_eq!(fs::read_to_string(dir.join("sub/a/b.txt")).unwrap(), "new");
        assert_eq!(
            fs::read_dir(dir.join("sub/a")).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
