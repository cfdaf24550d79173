//! `kiln build`'s memory of evaluations: which derivation each flake attribute gave, for a
//! locked source it has evaluated before. (Not to be confused with [`crate::cache`], `kiln
//! cache`, which is about Nix binary caches of built outputs.)
//!
//! Evaluating a flake is pure: the same locked source (its NAR hash, which covers `flake.lock`
//! and so every locked input) evaluated by the same Nix for the same system gives the same
//! derivations. `kiln build` builds the flake attributes themselves, so a repeated build rides
//! on Nix's own evaluation cache, and needs its evaluation only to map results back to targets
//! by drvPath. This cache holds that map, keyed by Nix version, locked URL, NAR hash and system,
//! so a repeated build of an unchanged source needs no evaluation of kiln's own.
//!
//! One small JSON file per key under `$XDG_CACHE_HOME/kiln/eval` (else `~/.cache/kiln/eval`),
//! written through a temp file and a rename, and an empty `seen-*` marker per flake reference
//! and system evaluated (see [`seen`]). A file that is missing, unreadable or malformed is
//! a miss, never an error; failing to write is ignored. Setting `eval-cache = false` in Nix's
//! settings turns it off as well.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checksum::sha256_bytes;
use crate::nix::PackageInfo;

/// What identifies one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// `nix --version`.
    pub nix_version: String,
    /// The locked URL from `nix flake metadata`.
    pub locked_url: String,
    /// The source tree's NAR hash.
    pub nar_hash: String,
    /// The Nix system of `packages.<system>`.
    pub system: String,
}

/// One remembered evaluation: its key and each attribute's derivation.
#[derive(Serialize, Deserialize)]
struct Evaluation {
    key: Key,
    packages: BTreeMap<String, PackageInfo>,
}

/// The directory of cached evaluations, when there is a home for it.
pub fn default_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(base.join("kiln").join("eval"))
}

fn file(dir: &Path, key: &Key) -> PathBuf {
    let id = serde_json::to_vec(key).unwrap_or_default();
    dir.join(format!("{}.json", &sha256_bytes(&id)[..32]))
}

fn read(dir: &Path, key: &Key) -> Option<Evaluation> {
    let bytes = std::fs::read(file(dir, key)).ok()?;
    let entry: Evaluation = serde_json::from_slice(&bytes).ok()?;
    (entry.key == *key).then_some(entry)
}

fn seen_file(dir: &Path, flake: &str, system: &str) -> PathBuf {
    let id = format!("{flake}\0{system}");
    dir.join(format!("seen-{}", &sha256_bytes(id.as_bytes())[..32]))
}

/// Whether kiln has evaluated the flake reference `flake` (as written) for `system` before: a
/// hint, taken before the source is locked, that this cache and Nix's are likely warm.
pub fn seen(dir: &Path, flake: &str, system: &str) -> bool {
    seen_file(dir, flake, system).exists()
}

/// Records that `flake` was evaluated for `system` (best effort).
pub fn mark_seen(dir: &Path, flake: &str, system: &str) {
    let path = seen_file(dir, flake, system);
    if !path.exists() && std::fs::create_dir_all(dir).is_ok() {
        let _ = std::fs::write(path, b"");
    }
}

/// Every attribute of `attrs`, when all were evaluated before under `key`.
pub fn lookup(dir: &Path, key: &Key, attrs: &[&str]) -> Option<BTreeMap<String, PackageInfo>> {
    let mut entry = read(dir, key)?;
    attrs
        .iter()
        .map(|a| entry.packages.remove(*a).map(|p| ((*a).to_owned(), p)))
        .collect()
}

/// Adds `packages` to what is remembered under `key` (best effort).
pub fn store(dir: &Path, key: &Key, packages: &BTreeMap<String, PackageInfo>) {
    let mut all = read(dir, key).map(|e| e.packages).unwrap_or_default();
    all.extend(packages.iter().map(|(a, p)| (a.clone(), p.clone())));
    let entry = Evaluation {
        key: key.clone(),
        packages: all,
    };
    let Ok(bytes) = serde_json::to_vec_pretty(&entry) else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let path = file(dir, key);
    let tmp = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(drv: &str) -> PackageInfo {
        PackageInfo {
            drv_path: format!("/nix/store/{drv}.drv"),
            out_path: format!("/nix/store/{drv}"),
            pname: "hello".into(),
            version: "1.0".into(),
            main_program: None,
            cargo_profile: None,
        }
    }

    fn key(nar: &str) -> Key {
        Key {
            nix_version: "2.8.0".into(),
            locked_url: "path:/nix/store/x-source".into(),
            nar_hash: nar.into(),
            system: "x86_64-linux".into(),
        }
    }

    #[test]
    fn remembers_merges_and_misses() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("eval");
        assert!(lookup(&d, &key("sha256-a"), &["x86_64-musl"]).is_none());
        store(
            &d,
            &key("sha256-a"),
            &BTreeMap::from([("x86_64-musl".into(), info("a"))]),
        );
        store(
            &d,
            &key("sha256-a"),
            &BTreeMap::from([("aarch64-gnu".into(), info("b"))]),
        );
        let got = lookup(&d, &key("sha256-a"), &["aarch64-gnu", "x86_64-musl"]).unwrap();
        assert_eq!(got["x86_64-musl"].drv_path, "/nix/store/a.drv");
        assert_eq!(got["aarch64-gnu"].drv_path, "/nix/store/b.drv");
        // Any attribute not evaluated before, or another source, system or Nix: a miss.
        assert!(lookup(&d, &key("sha256-a"), &["x86_64-musl", "x86_64-gnu"]).is_none());
        assert!(lookup(&d, &key("sha256-b"), &["x86_64-musl"]).is_none());
        let mut other = key("sha256-a");
        other.nix_version = "2.26.3".into();
        assert!(lookup(&d, &other, &["x86_64-musl"]).is_none());
        // A damaged file is a miss, and the next store repairs it.
        std::fs::write(file(&d, &key("sha256-a")), "{").unwrap();
        assert!(lookup(&d, &key("sha256-a"), &["x86_64-musl"]).is_none());
        store(
            &d,
            &key("sha256-a"),
            &BTreeMap::from([("x86_64-musl".into(), info("a"))]),
        );
        assert!(lookup(&d, &key("sha256-a"), &["x86_64-musl"]).is_some());
        assert!(!seen(&d, "path:/src", "x86_64-linux"));
        mark_seen(&d, "path:/src", "x86_64-linux");
        assert!(seen(&d, "path:/src", "x86_64-linux"));
        assert!(!seen(&d, "path:/src", "aarch64-linux"));
        assert!(!seen(&d, ".", "x86_64-linux"));
        std::fs::remove_file(seen_file(&d, "path:/src", "x86_64-linux")).unwrap();
        let names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "no temp files left: {names:?}");
    }
}
