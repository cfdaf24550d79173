//! CycloneDX 1.5 JSON SBOMs from `Cargo.lock`, one per exported target
//! (`<name>-<version>-<triple>.cdx.json`).
//!
//! Every package of the lock file except the release's own becomes a `library` component with
//! purl `pkg:cargo/<name>@<version>` and, when the lock records a `checksum`, a SHA-256 hash.
//! (The lock covers every target, so each target's SBOM lists the same superset.) A flake
//! directory without `Cargo.lock` gets no SBOM: kiln cannot know what went into it.
//!
//! `dependencies` records the lock file's graph (the release's direct dependencies, and each
//! package's). Deterministic: no timestamp, components sorted, and the `serialNumber` is derived from the
//! SHA-256 of the document without it (an RFC 9562 version-8 UUID).

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

/// The SBOM of one target: `stem` names the archive, `packages` come from `Cargo.lock`.
pub fn cyclonedx(name: &str, version: &str, triple: &str, stem: &str, packages: &[LockPackage]) -> Vec<u8> {
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
        },
        "components": components,
        "dependencies": graph,
    });
    let digest = crate::checksum::sha256_bytes(&serde_json::to_vec(&doc).unwrap_or_default());
    doc["serialNumber"] = json!(format!("urn:uuid:{}", uuid_v8(&digest)));
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

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A version-8 UUID from the first 16 bytes of a hex SHA-256.
fn uuid_v8(sha_hex: &str) -> String {
    let mut b = [0u8; 16];
    for (i, o) in b.iter_mut().enumerate() {
        *o = u8::from_str_radix(&sha_hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    crate::provenance::uuid_text(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

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
