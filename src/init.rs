//! `kiln init` and `kiln ci init`: add kiln to an existing Rust crate, idempotently.
//!
//! Files kiln owns (`flake.nix`, `.github/workflows/kiln-release.yml`) start with a marker
//! comment holding the SHA-256 of the rest of the file. On a later run a file whose marker
//! matches its contents is kiln's unmodified output and may be replaced; a file without a marker,
//! or whose contents no longer match, was written or edited by the user and is refused (exit 2,
//! naming it) unless `--force`. Nothing is written when anything is refused.
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

/// Everything `kiln init` (or, with `ci_only`, `kiln ci init`) was asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// The crate directory (holds Cargo.toml).
    pub dir: PathBuf,
    /// The kiln flake reference for the flake input and the workflow.
    pub kiln_url: String,
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
    /// Overwrite edited files.
    pub force: bool,
    /// Only the workflow (`kiln ci init`).
    pub ci_only: bool,
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
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `body` with the marker line kiln recognises its own files by.
pub fn stamp(body: &str) -> String {
    format!(
        "# {MARKER}{} (written by kiln init; edit freely, kiln will then leave this file alone)\n{body}",
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
    let action = match read_regular(&dir.join(rel), false)? {
        None => Action::Created,
        Some(old) if old == content => Action::Unchanged,
        Some(old) if is_unmodified(&old) => Action::Updated,
        Some(_) if force => Action::Overwritten,
        Some(_) => Action::Refused,
    };
    Ok(Planned {
        rel: rel.to_owned(),
        action,
        content,
    })
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
    let package = doc
        .get_mut("package")
        .filter(|p| p.is_table_like())
        .ok_or("no [package] table")?;
    let package_inline = package.is_inline_table();
    let package = package.as_table_like_mut().ok_or("no [package] table")?;
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
        .ok_or("package.metadata is not a table")?;
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
        .ok_or("package.metadata.kiln is not a table")?;
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

fn toolchain(req: &InitRequest) -> String {
    let triples: Vec<&str> = req.targets.iter().map(|t| t.triple.as_str()).collect();
    format!(
        "[toolchain]\nchannel = \"stable\"\nprofile = \"minimal\"\ntargets = {}\n",
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
        });
    }
    check_path(&req.dir, TOOLCHAIN_TOML)?;
    Ok(Planned {
        rel: TOOLCHAIN_TOML.to_owned(),
        action: Action::Created,
        content: toolchain(req),
    })
}

/// The flake template with the kiln input's URL and the crate's toolchain file `toolchain` (a
/// name in the crate directory) filled in, in the `toolchainFile` line and in the comment that
/// names the file.
fn flake(kiln_url: &str, toolchain: &str) -> String {
    FLAKE_TEMPLATE
        .replace(
            &format!("url = \"{PLACEHOLDER_URL}\";"),
            &format!("url = {};", toml_str(kiln_url).replace("${", "\\${")),
        )
        .replace(TOOLCHAIN_LINE, &format!("toolchainFile = ./{toolchain};"))
        .replace(
            &format!("this crate's {TOOLCHAIN_TOML},"),
            &format!("this crate's {toolchain},"),
        )
}

fn crate_name(cargo_toml: &str) -> Option<String> {
    let v: toml::Value = toml::from_str(cargo_toml).ok()?;
    v.get("package")?.get("name")?.as_str().map(str::to_owned)
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

/// Plans and, when nothing is refused, writes every file. Refusals are an error (exit 2) that
/// names the files; nothing is written then. Nothing is written through a symbolic link: a link
/// on any path kiln would write (a file, `.github`, `.github/workflows`) is an error naming it,
/// before anything is written.
pub fn run(req: &InitRequest) -> Result<Vec<Planned>> {
    check_kiln_url(&req.kiln_url)?;
    let cargo_path = req.dir.join("Cargo.toml");
    if !req.ci_only {
        check_path(&req.dir, "Cargo.toml")?;
    }
    let cargo = read_regular(&cargo_path, req.ci_only)?
        .with_context(|| format!("{}: not a Rust crate (no Cargo.toml)", req.dir.display()))?;
    let name = crate_name(&cargo)
        .with_context(|| format!("{}: no [package] name (a workspace root?)", cargo_path.display()))?;
    let spec = WorkflowSpec {
        kiln_flake: req.kiln_url.clone(),
        cache: req.cache,
        cache_name: cache_name(req, &name)?,
    };
    let mut plan = Vec::new();
    if !req.ci_only {
        let toolchain = plan_toolchain(req)?;
        let flake = flake(&req.kiln_url, &toolchain.rel);
        plan.push(plan_owned(&req.dir, "flake.nix", &flake, req.force)?);
        plan.push(toolchain);
        let (content, action) =
            cargo_toml_with_table(&cargo, &metadata_values(req), req.force, &req.explicit)
                .map_err(|e| anyhow::anyhow!("{}: {e}", cargo_path.display()))?;
        plan.push(Planned {
            rel: "Cargo.toml".into(),
            action,
            content,
        });
    }
    plan.push(plan_owned(
        &req.dir,
        WORKFLOW_PATH,
        &workflow::render(&spec),
        req.force,
    )?);

    let refused: Vec<&str> = plan
        .iter()
        .filter(|p| p.action == Action::Refused)
        .map(|p| p.rel.as_str())
        .collect();
    if !refused.is_empty() {
        bail!(
            "refusing to overwrite {} (edited since kiln wrote it, or not written by kiln); \
             nothing written; --force overwrites",
            refused.join(", ")
        );
    }
    for p in &plan {
        if !matches!(p.action, Action::Unchanged | Action::Kept) {
            write_atomic(&req.dir, &p.rel, &p.content)?;
        }
    }
    Ok(plan)
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
        let legacy = flake("github:o/kiln", TOOLCHAIN_LEGACY);
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
            flake("github:o/kiln", TOOLCHAIN_TOML)
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
