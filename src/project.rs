//! The user's project as kiln sees it before building: the flake reference, and the
//! `[package]` and `[package.metadata.kiln]` tables of a local `Cargo.toml`.
//!
//! ```toml
//! [package.metadata.kiln]
//! targets = ["x86_64-musl", "aarch64-unknown-linux-musl"]  # default: all four
//! packages = ["server", "cli"]     # attributes server-<attr>, cli-<attr>; default: <attr>
//! archive = "tar.gz"                                        # tar.gz | tar.xz | tar.zst | zip
//! glibc-max = "2.17"                                        # gnu floor for verification
//! ```
//! Command-line flags override every key. At a workspace root without a `[package]`, the table
//! is `[workspace.metadata.kiln]` (what `kiln init` writes there).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What `Cargo.toml` contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectConfig {
    /// `package.name`.
    pub name: Option<String>,
    /// `package.version`.
    pub version: Option<String>,
    /// `package.metadata.kiln.targets`.
    pub targets: Option<Vec<String>>,
    /// `package.metadata.kiln.packages`.
    pub packages: Option<Vec<String>>,
    /// `package.metadata.kiln.archive`.
    pub archive: Option<String>,
    /// `package.metadata.kiln.glibc-max`.
    pub glibc_max: Option<String>,
    /// `package.metadata.kiln.image`, when it is a string.
    pub image: Option<String>,
    /// `package.metadata.kiln.cache`, when it is a string (the cache kind).
    pub cache: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    package: Option<Package>,
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Workspace {
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Package {
    name: Option<String>,
    version: Option<toml::Value>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    kiln: Option<KilnTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KilnTable {
    targets: Option<Vec<String>>,
    packages: Option<Vec<String>>,
    archive: Option<String>,
    glibc_max: Option<String>,
    image: Option<toml::Value>,
    cache: Option<toml::Value>,
}

/// A `Cargo.toml` that exists but does not parse (the message starts with `LINE:COLUMN: ` when
/// the parser knows where, so the error reads `Cargo.toml:7:11: unknown field …`).
#[derive(Debug, thiserror::Error)]
#[error("{path}:{message}")]
pub struct ProjectError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, on one line.
    pub message: String,
}

/// Reads `dir/Cargo.toml`; `Ok(None)` when there is none.
pub fn load(dir: &Path) -> Result<Option<ProjectConfig>, ProjectError> {
    let path = dir.join("Cargo.toml");
    let text = match read_regular(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ProjectError {
                path,
                message: format!(" {e}"),
            });
        }
    };
    let m: Manifest = toml::from_str(&text).map_err(|e| ProjectError {
        path: path.clone(),
        message: match e.span() {
            Some(span) => {
                let (line, col) = line_col(&text, span.start);
                format!("{line}:{col}: {}", e.message())
            }
            None => format!(" {}", e.message()),
        },
    })?;
    let Some(pkg) = m.package.or_else(|| {
        m.workspace.map(|w| Package {
            name: None,
            version: None,
            metadata: w.metadata,
        })
    }) else {
        return Ok(Some(ProjectConfig::default()));
    };
    let kiln = pkg.metadata.and_then(|m| m.kiln);
    Ok(Some(ProjectConfig {
        name: pkg.name,
        // `version.workspace = true` has no literal version here.
        version: pkg.version.and_then(|v| v.as_str().map(str::to_owned)),
        targets: kiln.as_ref().and_then(|k| k.targets.clone()),
        packages: kiln.as_ref().and_then(|k| k.packages.clone()),
        archive: kiln.as_ref().and_then(|k| k.archive.clone()),
        image: kiln
            .as_ref()
            .and_then(|k| k.image.as_ref())
            .and_then(|c| c.as_str().map(str::to_owned)),
        cache: kiln
            .as_ref()
            .and_then(|k| k.cache.as_ref())
            .and_then(|c| c.as_str().map(str::to_owned)),
        glibc_max: kiln.and_then(|k| k.glibc_max),
    }))
}

/// The 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// Refuses a local flake that nix cannot see: a `flake.nix` in a git work tree that git does
/// not track (nix copies only tracked files of a git checkout, so it would fail with a bare
/// "…-source/flake.nix: No such file"). Nothing is checked for `path:` references, remote
/// ones, or when git is not installed.
pub fn check_flake_tracked(flake: &str) -> Result<(), ProjectError> {
    if flake.starts_with("path:") {
        return Ok(());
    }
    let Some(dir) = local_dir(flake) else {
        return Ok(());
    };
    let path = dir.join("flake.nix");
    if !path.is_file() {
        return Ok(());
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()
            .map(|s| s.success())
    };
    if git(&["rev-parse", "--is-inside-work-tree"]) != Some(true) {
        return Ok(());
    }
    if git(&["ls-files", "--error-unmatch", "--", "flake.nix"]) == Some(false) {
        return Err(ProjectError {
            path,
            message: " not tracked by git, so nix cannot see it: run `git add flake.nix` (and commit flake.lock once it exists)".into(),
        });
    }
    Ok(())
}

/// The text of a regular file. Opened without blocking and checked before it is read, so a FIFO
/// or device is an error instead of a wait.
fn read_regular(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// The local directory a flake reference points at, when it is one (`.`, `./x`, `/abs`,
/// `path:./x`, `git+file:///abs`); `None` for remote references such as `github:o/r`.
pub fn local_dir(flake: &str) -> Option<PathBuf> {
    let base = flake.split(['#', '?']).next().unwrap_or(flake);
    let path = if let Some(p) = base.strip_prefix("path:") {
        p
    } else if let Some(p) = base.strip_prefix("git+file://") {
        p
    } else if base.contains(':') {
        return None;
    } else {
        base
    };
    let p = PathBuf::from(if path.is_empty() { "." } else { path });
    p.is_dir().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_package_and_kiln_metadata() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"demo\"\nversion = \"0.3.1\"\n[package.metadata.kiln]\ntargets = [\"x86_64-musl\"]\npackages = [\"server\", \"cli\"]\narchive = \"zip\"\n",
        )
        .unwrap();
        let c = load(dir.path()).unwrap().unwrap();
        assert_eq!(c.packages, Some(vec!["server".to_owned(), "cli".to_owned()]));
        assert_eq!(c.name.as_deref(), Some("demo"));
        assert_eq!(c.version.as_deref(), Some("0.3.1"));
        assert_eq!(c.targets, Some(vec!["x86_64-musl".to_owned()]));
        assert_eq!(c.archive.as_deref(), Some("zip"));
    }

    #[test]
    fn a_workspace_root_reads_the_workspace_kiln_table() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"a\"]\n[workspace.metadata.kiln]\ntargets = [\"x86_64-musl\"]\npackages = [\"a\"]\n",
        )
        .unwrap();
        let c = load(dir.path()).unwrap().unwrap();
        assert_eq!(c.packages, Some(vec!["a".to_owned()]));
        assert_eq!(c.targets, Some(vec!["x86_64-musl".to_owned()]));
        assert_eq!(c.name, None);
    }

    #[test]
    fn missing_is_none_and_broken_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("Cargo.toml"), "[package\n").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("Cargo.toml:1:"), "{e}");
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package.metadata.kiln]\ntarget = []\n",
        )
        .unwrap();
        assert!(
            load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
    }

    #[test]
    fn issue17_kiln_table_errors_give_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"x\"\n\n[package.metadata.kiln]\ntargets = [\"x86_64-musl\"]\narchive = 7\n",
        )
        .unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("Cargo.toml:6:11: invalid type"), "{e}");
    }

    #[test]
    fn local_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        assert_eq!(local_dir(&d), Some(dir.path().to_path_buf()));
        assert_eq!(local_dir(&format!("path:{d}#x")), Some(dir.path().to_path_buf()));
        assert_eq!(
            local_dir(&format!("git+file://{d}?ref=main")),
            Some(dir.path().to_path_buf())
        );
        assert_eq!(local_dir("github:o/r"), None);
        assert_eq!(local_dir("./does-not-exist"), None);
    }
}
