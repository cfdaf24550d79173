//! CycloneDX 1.5 JSON SBOMs, one per exported target (`<name>-<version>-<triple>.cdx.json`),
//! listing the crates that target links.
//!
//! What a target links comes from `cargo metadata --filter-platform <triple> --locked --offline`
//! run on the flake directory's `Cargo.toml` ([`linked_packages`]): starting at the release's
//! package, kiln follows only normal dependencies (not dev- or build-dependencies) whose
//! platform condition holds for the triple (`cfg(...)` evaluated against `rustc --print cfg
//! --target <triple>`), and never enters a proc-macro crate, so build-only crates and what only
//! they pull in stay out, as do crates only other platforms use. When cargo (or rustc) is
//! missing or cannot resolve the crate offline, the SBOM falls back to every package of
//! `Cargo.lock` (a superset, the same for every target) and says so in the metadata property
//! `kiln:dependency-graph`. A flake directory without `Cargo.lock` gets no SBOM: kiln cannot
//! know what went into it.
//!
//! Each crate becomes a `library` component with purl `pkg:cargo/<name>@<version>` and, when
//! the lock records a `checksum`, a SHA-256 hash. `dependencies` records the graph followed
//! (the release's direct dependencies, and each package's). Deterministic: no timestamp,
//! components sorted, and the `serialNumber` is derived from the SHA-256 of the document
//! without it (an RFC 9562 version-8 UUID).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};

/// One `[[package]]` of `Cargo.lock`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockPackage {
    /// Crate name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `registry+…`, `git+…`, or none for a path crate.
    #[serde(default)]
    pub source: Option<String>,
    /// SHA-256 of the `.crate` file, for registry packages.
    #[serde(default)]
    pub checksum: Option<String>,
    /// Its dependencies: `name`, `name version` or `name version (source)`.
    #[serde(default)]
    pub dependencies: Vec<String>,
}

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockPackage>,
}

/// Parses the packages of a `Cargo.lock`.
pub fn parse_cargo_lock(text: &str) -> Result<Vec<LockPackage>> {
    let lock: LockFile = toml::from_str(text).context("Cargo.lock is not valid TOML")?;
    Ok(lock.package)
}

/// `pkg:cargo/<name>@<version>`.
pub fn purl(name: &str, version: &str) -> String {
    format!("pkg:cargo/{name}@{version}")
}

/// The file name of a target's SBOM.
pub fn file_name(stem: &str) -> String {
    format!("{stem}.cdx.json")
}

/// Where a target's package list came from: the metadata property `kiln:dependency-graph`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Graph {
    /// `cargo metadata` for the target: what it links.
    Resolved,
    /// Every package of `Cargo.lock`, because cargo could not say (the reason).
    LockFile(String),
}

impl Graph {
    /// The property's value.
    fn property(&self) -> String {
        match self {
            Graph::Resolved => "cargo-metadata: normal dependencies linked for this target".into(),
            Graph::LockFile(why) => format!("Cargo.lock: every package for every target ({why})"),
        }
    }
}

/// A crate with its `Cargo.lock`: what the SBOMs are made from.
#[derive(Debug, Clone)]
pub struct Crate {
    /// The directory holding `Cargo.toml` and `Cargo.lock`.
    pub dir: PathBuf,
    /// The packages of `Cargo.lock`.
    pub lock: Vec<LockPackage>,
}

impl Crate {
    /// The SBOM of one target: the packages it links ([`linked_packages`]), else every
    /// package of the lock file (and the metadata says which).
    pub fn sbom(&self, name: &str, version: &str, triple: &str, stem: &str) -> Vec<u8> {
        match linked_packages(&self.dir, name, triple, &self.lock) {
            Ok(pkgs) => document(name, version, triple, stem, &pkgs, &Graph::Resolved),
            Err(why) => document(name, version, triple, stem, &self.lock, &Graph::LockFile(why)),
        }
    }
}

/// The SBOM of one target: `stem` names the archive, `packages` come from `Cargo.lock`.
pub fn cyclonedx(name: &str, version: &str, triple: &str, stem: &str, packages: &[LockPackage]) -> Vec<u8> {
    document(
        name,
        version,
        triple,
        stem,
        packages,
        &Graph::LockFile("no per-target graph asked for".into()),
    )
}

fn document(
    name: &str,
    version: &str,
    triple: &str,
    stem: &str,
    packages: &[LockPackage],
    graph_kind: &Graph,
) -> Vec<u8> {
    let mut pkgs: Vec<&LockPackage> = packages
        .iter()
        .filter(|p| !(p.name == name && p.version == version && p.source.is_none()))
        .collect();
    pkgs.sort();
    pkgs.dedup_by(|a, b| a.name == b.name && a.version == b.version && a.source == b.source);
    let mut refs = std::collections::BTreeSet::new();
    let components: Vec<Value> = pkgs
        .iter()
        .map(|p| {
            let purl = purl(&p.name, &p.version);
            let mut bom_ref = purl.clone();
            let mut n = 1;
            while !refs.insert(bom_ref.clone()) {
                n += 1;
                bom_ref = format!("{purl}#{n}");
            }
            let mut c = json!({
                "type": "library",
                "bom-ref": bom_ref,
                "name": p.name,
                "version": p.version,
                "purl": purl,
            });
            if let Some(sum) = p.checksum.as_deref().filter(|s| is_sha256_hex(s)) {
                c["hashes"] = json!([{"alg": "SHA-256", "content": sum.to_ascii_lowercase()}]);
            }
            if let Some(src) = &p.source {
                c["properties"] = json!([{"name": "cargo:source", "value": src}]);
            }
            c
        })
        .collect();
    let graph = dependencies(name, version, stem, packages, &pkgs, &components);
    let top = json!({
        "type": "application",
        "bom-ref": stem,
        "name": name,
        "version": version,
        "purl": purl(name, version),
        "properties": [{"name": "kiln:target", "value": triple}],
    });
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {"components": [{
                "type": "application",
                "name": "kiln",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": top,
            "properties": [{"name": "kiln:dependency-graph", "value": graph_kind.property()}],
        },
        "components": components,
        "dependencies": graph,
    });
    let serial = uuid_v8(&serde_json::to_vec(&doc).unwrap_or_default());
    doc["serialNumber"] = json!(serial.urn().to_string());
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The `dependencies` section: the release (`stem`) and every component, each with the
/// bom-refs of the lock-file packages it depends on.
fn dependencies(
    name: &str,
    version: &str,
    stem: &str,
    all: &[LockPackage],
    pkgs: &[&LockPackage],
    components: &[Value],
) -> Vec<Value> {
    // bom-ref of each component, by the package it came from.
    let refs: Vec<(&LockPackage, &str)> = pkgs
        .iter()
        .zip(components)
        .map(|(p, c)| (*p, c["bom-ref"].as_str().unwrap_or_default()))
        .collect();
    let resolve = |dep: &str| -> Option<&str> {
        let mut parts = dep.splitn(3, ' ');
        let (n, v) = (parts.next()?, parts.next());
        let source = parts
            .next()
            .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
        let mut found = refs.iter().filter(|(p, _)| {
            p.name == n
                && v.is_none_or(|v| p.version == v)
                && source.is_none_or(|s| p.source.as_deref() == Some(s))
        });
        found.next().map(|(_, r)| *r)
    };
    let depends = |p: &LockPackage| -> Vec<&str> {
        let mut d: Vec<&str> = p.dependencies.iter().filter_map(|x| resolve(x)).collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    let root = all
        .iter()
        .find(|p| p.name == name && p.version == version && p.source.is_none());
    let mut out = vec![json!({"ref": stem, "dependsOn": root.map(depends).unwrap_or_default()})];
    for (p, r) in &refs {
        out.push(json!({"ref": r, "dependsOn": depends(p)}));
    }
    out
}

/// The packages target `triple` links, from `cargo metadata` on `dir/Cargo.toml`, each with
/// only the dependency edges followed; checksums are taken from `lock`. `Err` says why cargo
/// could not tell (the caller then falls back to the whole lock file).
pub fn linked_packages(
    dir: &Path,
    name: &str,
    triple: &str,
    lock: &[LockPackage],
) -> Result<Vec<LockPackage>, String> {
    let manifest = std::fs::canonicalize(dir.join("Cargo.toml")).map_err(|_| "no Cargo.toml".to_owned())?;
    let out = tool("cargo")
        .args(["metadata", "--format-version", "1", "--filter-platform", triple])
        .args(["--locked", "--offline", "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|e| spawn_error("cargo", &e))?;
    if !out.status.success() {
        return Err("cargo metadata --offline --locked failed".into());
    }
    let meta: Value =
        serde_json::from_slice(&out.stdout).map_err(|_| "cargo metadata printed no JSON".to_owned())?;
    let cfgs = target_cfgs(triple)?;
    walk(&meta, name, triple, &cfgs, lock).ok_or_else(|| "cargo metadata has no resolve graph".into())
}

/// `program` run from `/`, never letting rustup install a toolchain on its own. Not from the
/// crate's directory: cargo and rustup read `.cargo/config.toml` and `rust-toolchain.toml`
/// from the working directory up, and those could name programs to run (a rustc wrapper, a
/// toolchain path); a flake's source, often someone else's, runs nothing outside the sandbox.
fn tool(program: &str) -> Command {
    let mut c = Command::new(program);
    c.current_dir("/")
        .env("RUSTUP_AUTO_INSTALL", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn spawn_error(program: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("{program} not found")
    } else {
        format!("{program} could not be run")
    }
}

/// `rustc --print cfg --target <triple>`: `(name, value)` pairs (`("unix", None)`,
/// `("target_os", Some("linux"))`).
fn target_cfgs(triple: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let out = tool("rustc")
        .args(["--print", "cfg", "--target", triple])
        .output()
        .map_err(|e| spawn_error("rustc", &e))?;
    if !out.status.success() {
        return Err(format!("rustc knows no target {triple}"));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), Some(v.trim().trim_matches('"').to_owned())),
            None => (l.trim().to_owned(), None),
        })
        .collect())
}

/// Walks `cargo metadata`'s `resolve.nodes` from the release's package(s) along normal
/// dependencies active on `triple`, not entering proc-macros.
fn walk(
    meta: &Value,
    name: &str,
    triple: &str,
    cfgs: &[(String, Option<String>)],
    lock: &[LockPackage],
) -> Option<Vec<LockPackage>> {
    let packages: BTreeMap<&str, &Value> = meta
        .get("packages")?
        .as_array()?
        .iter()
        .filter_map(|p| Some((p.get("id")?.as_str()?, p)))
        .collect();
    let resolve = meta.get("resolve")?;
    let nodes: BTreeMap<&str, &Value> = resolve
        .get("nodes")?
        .as_array()?
        .iter()
        .filter_map(|n| Some((n.get("id")?.as_str()?, n)))
        .collect();
    let pkg_name = |id: &str| packages.get(id).and_then(|p| p["name"].as_str()).unwrap_or("");
    let is_proc_macro = |id: &str| {
        packages.get(id).is_some_and(|p| {
            p["targets"].as_array().is_some_and(|ts| {
                ts.iter().any(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "proc-macro"))
                })
            })
        })
    };
    // The release's package: the root, else the workspace member named like the release,
    // else every member.
    let roots: Vec<&str> = if let Some(r) = resolve.get("root").and_then(Value::as_str) {
        vec![r]
    } else {
        let members: Vec<&str> = meta
            .get("workspace_members")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let named: Vec<&str> = members.iter().copied().filter(|m| pkg_name(m) == name).collect();
        if named.is_empty() { members } else { named }
    };
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut todo = roots;
    while let Some(id) = todo.pop() {
        if edges.contains_key(id) {
            continue;
        }
        let mut followed = Vec::new();
        for d in nodes
            .get(id)
            .and_then(|n| n["deps"].as_array())
            .into_iter()
            .flatten()
        {
            let Some(dep) = d["pkg"].as_str() else { continue };
            let linked = d["dep_kinds"].as_array().is_some_and(|kinds| {
                kinds.iter().any(|k| {
                    k["kind"].is_null()
                        && k["target"]
                            .as_str()
                            .is_none_or(|t| platform_matches(t, triple, cfgs))
                })
            });
            if linked && !is_proc_macro(dep) {
                followed.push(dep);
                todo.push(dep);
            }
        }
        edges.insert(id, followed);
    }
    let as_lock = |id: &str| -> Option<LockPackage> {
        let p = packages.get(id)?;
        let name = p["name"].as_str()?.to_owned();
        let version = p["version"].as_str()?.to_owned();
        let source = p["source"].as_str().map(str::to_owned);
        let checksum = lock
            .iter()
            .find(|l| l.name == name && l.version == version && l.source == source)
            .and_then(|l| l.checksum.clone());
        Some(LockPackage {
            name,
            version,
            source,
            checksum,
            dependencies: Vec::new(),
        })
    };
    let mut out = Vec::new();
    for (id, deps) in &edges {
        let mut p = as_lock(id)?;
        p.dependencies = deps
            .iter()
            .filter_map(|d| as_lock(d))
            .map(|d| match d.source {
                Some(src) => format!("{} {} ({src})", d.name, d.version),
                None => format!("{} {}", d.name, d.version),
            })
            .collect();
        out.push(p);
    }
    Some(out)
}

/// Whether a dependency's platform (`cfg(...)` or a plain triple) holds for `triple`. An
/// expression kiln cannot parse counts as holding: an SBOM may list too much, never too little.
fn platform_matches(platform: &str, triple: &str, cfgs: &[(String, Option<String>)]) -> bool {
    let p = platform.trim();
    let Some(rest) = p.strip_prefix("cfg(") else {
        return p == triple;
    };
    let Some(expr) = rest.strip_suffix(')') else {
        return true;
    };
    let mut parser = Cfg {
        s: expr.as_bytes(),
        i: 0,
        cfgs,
    };
    match parser.pred() {
        Some(v) if parser.at_end() => v,
        _ => true,
    }
}

/// A recursive-descent reader of `cfg(...)` predicates: `name`, `name = "value"`,
/// `all(...)`, `any(...)`, `not(...)`.
struct Cfg<'a> {
    s: &'a [u8],
    i: usize,
    cfgs: &'a [(String, Option<String>)],
}

impl Cfg<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.i == self.s.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn string(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        while self.s.get(self.i).is_some_and(|c| *c != b'"') {
            self.i += 1;
        }
        let v = String::from_utf8_lossy(self.s.get(start..self.i)?).into_owned();
        self.eat(b'"').then_some(v)
    }

    /// The predicates of `all(`/`any(` up to the closing parenthesis.
    fn list(&mut self) -> Option<Vec<bool>> {
        let mut v = Vec::new();
        loop {
            if self.eat(b')') {
                return Some(v);
            }
            v.push(self.pred()?);
            if !self.eat(b',') {
                return self.eat(b')').then_some(v);
            }
        }
    }

    fn pred(&mut self) -> Option<bool> {
        let id = self.ident()?;
        match id.as_str() {
            "all" | "any" | "not" if self.eat(b'(') => {
                let v = self.list()?;
                Some(match id.as_str() {
                    "all" => v.iter().all(|b| *b),
                    "any" => v.iter().any(|b| *b),
                    _ if v.len() == 1 => !v[0],
                    _ => return None,
                })
            }
            _ if self.eat(b'=') => {
                let value = self.string()?;
                Some(
                    self.cfgs
                        .iter()
                        .any(|(k, v)| *k == id && v.as_deref() == Some(value.as_str())),
                )
            }
            _ => Some(self.cfgs.iter().any(|(k, v)| *k == id && v.is_none())),
        }
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A version-8 UUID from the first 16 bytes of the SHA-256 of `bytes` (version and variant
/// bits set).
fn uuid_v8(bytes: &[u8]) -> uuid::Uuid {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_the_digest_as_a_version_8_uuid() {
        // SHA-256("") = e3b0c44298fc1c149afbf4c8996fb924…: version nibble 8, variant bits 10.
        assert_eq!(
            uuid_v8(b"").urn().to_string(),
            "urn:uuid:e3b0c442-98fc-8c14-9afb-f4c8996fb924"
        );
    }

    const LOCK: &str = r#"
version = 4

[[package]]
name = "demo"
version = "0.9.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.15"
dependencies = ["gitdep 0.1.0 (git+https://example.org/gitdep?rev=abc#abc)"]
source = "registry+https://registry.example.org/index"
checksum = "4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c"

[[package]]
name = "gitdep"
version = "0.1.0"
source = "git+https://example.org/gitdep?rev=abc#abc"
"#;

    #[test]
    fn cfg_predicates_against_a_target() {
        let cfgs: Vec<(String, Option<String>)> = [
            ("unix", None),
            ("target_os", Some("linux")),
            ("target_env", Some("musl")),
            ("target_arch", Some("aarch64")),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect();
        let t = "aarch64-unknown-linux-musl";
        let m = |p: &str| platform_matches(p, t, &cfgs);
        assert!(m("cfg(unix)"));
        assert!(!m("cfg(windows)"));
        assert!(m(r#"cfg(target_os = "linux")"#));
        assert!(!m(r#"cfg(target_os = "macos")"#));
        assert!(m(r#"cfg(all(target_os = "linux", target_env = "musl"))"#));
        assert!(!m(r#"cfg(all(target_os = "linux", target_env = "gnu"))"#));
        assert!(m(r#"cfg(any(windows, target_arch = "aarch64"))"#));
        assert!(m("cfg(not(windows))"));
        assert!(!m("cfg(not(unix))"));
        assert!(m(t));
        assert!(!m("x86_64-pc-windows-msvc"));
        // What kiln cannot read counts as holding: too much listed, never too little.
        assert!(m("cfg(all(unix"));
        assert!(m("cfg(not(unix, windows))"));
    }

    #[test]
    fn components_from_cargo_lock() {
        let pkgs = parse_cargo_lock(LOCK).unwrap();
        let bytes = cyclonedx(
            "demo",
            "0.9.0",
            "x86_64-unknown-linux-musl",
            "demo-0.9.0-x",
            &pkgs,
        );
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["specVersion"], "1.5");
        let comps = v["components"].as_array().unwrap();
        assert_eq!(comps.len(), 2);
        assert_eq!(comps[0]["purl"], "pkg:cargo/gitdep@0.1.0");
        assert!(comps[0].get("hashes").is_none());
        assert_eq!(comps[1]["purl"], "pkg:cargo/itoa@1.0.15");
        assert_eq!(comps[1]["hashes"][0]["alg"], "SHA-256");
        assert_eq!(v["metadata"]["component"]["name"], "demo");
        assert_eq!(
            v["dependencies"],
            json!([
                {"ref": "demo-0.9.0-x", "dependsOn": ["pkg:cargo/itoa@1.0.15"]},
                {"ref": "pkg:cargo/gitdep@0.1.0", "dependsOn": []},
                {"ref": "pkg:cargo/itoa@1.0.15", "dependsOn": ["pkg:cargo/gitdep@0.1.0"]},
            ])
        );
        // Deterministic, and the serial number follows the content.
        assert_eq!(
            bytes,
            cyclonedx(
                "demo",
                "0.9.0",
                "x86_64-unknown-linux-musl",
                "demo-0.9.0-x",
                &pkgs
            )
        );
        let other = cyclonedx(
            "demo",
            "0.9.1",
            "x86_64-unknown-linux-musl",
            "demo-0.9.1-x",
            &pkgs,
        );
        let w: Value = serde_json::from_slice(&other).unwrap();
        assert_ne!(v["serialNumber"], w["serialNumber"]);
        let serial = v["serialNumber"].as_str().unwrap();
        assert_eq!(serial.len(), "urn:uuid:".len() + 36);
        assert_eq!(&serial[23..24], "8");
    }
}
