//! Which Nix a flake's `flake.lock` needs, by the rule kiln's docs state (docs/build.md): read
//! from the locked inputs, so `kiln doctor` and a failed build can say that an old Nix is the
//! likely cause of whatever nix said.

use std::path::Path;

use super::NixVersion;

/// A minimum Nix version that a flake's locked input asks for (see [`lock_requirements`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The input's name in `flake.lock`.
    pub input: String,
    /// The oldest Nix it works with.
    pub min: NixVersion,
    /// Why, in a few words.
    pub why: &'static str,
}

/// Nix 2.31.2: what crane (0.22 and later) requires.
pub const NIX_FOR_CRANE: NixVersion = NixVersion {
    major: 2,
    minor: 31,
    patch: 2,
};

/// Nix 2.18: what nixpkgs 25.11 and later require.
pub const NIX_FOR_NIXPKGS_25_11: NixVersion = NixVersion {
    major: 2,
    minor: 18,
    patch: 0,
};

/// 2025-11-01T00:00:00Z: a nixpkgs locked from a branch without a release number (unstable,
/// master) and committed after this is 25.11 or later.
const NIXPKGS_25_11_EPOCH: i64 = 1_761_955_200;

/// The Nix versions a `flake.lock` asks for, by the rule kiln's docs state (docs/build.md):
/// a locked `crane` input needs Nix >= 2.31.2; a locked nixpkgs of release 25.11 or later (its
/// ref `nixos-YY.MM`, `nixpkgs-YY.MM` or `release-YY.MM`, or, without a release in the ref, last
/// modified since November 2025) needs Nix >= 2.18. Unreadable text asks for nothing.
pub fn lock_requirements(lock_text: &str) -> Vec<Requirement> {
    let Ok(lock) = serde_json::from_str::<serde_json::Value>(lock_text) else {
        return Vec::new();
    };
    let Some(nodes) = lock.get("nodes").and_then(|n| n.as_object()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, node) in nodes {
        let field = |k: &str| {
            node.get("original")
                .and_then(|o| o.get(k))
                .or_else(|| node.get("locked").and_then(|o| o.get(k)))
                .and_then(|v| v.as_str())
        };
        let repo = field("repo").unwrap_or(name);
        if repo == "crane" {
            out.push(Requirement {
                input: name.clone(),
                min: NIX_FOR_CRANE,
                why: "crane needs it",
            });
        } else if repo == "nixpkgs" {
            let release = field("ref").and_then(|r| {
                let (_, v) = r.rsplit_once('-')?;
                let (y, m) = v.split_once('.')?;
                Some((y.parse::<u32>().ok()?, m.parse::<u32>().ok()?))
            });
            let modified = node
                .get("locked")
                .and_then(|l| l.get("lastModified"))
                .and_then(serde_json::Value::as_i64);
            let new = match release {
                Some(r) => r >= (25, 11),
                None => modified.is_some_and(|t| t >= NIXPKGS_25_11_EPOCH),
            };
            if new {
                out.push(Requirement {
                    input: name.clone(),
                    min: NIX_FOR_NIXPKGS_25_11,
                    why: "nixpkgs 25.11 and later need it",
                });
            }
        }
    }
    out.sort_by(|a, b| b.min.cmp(&a.min).then(a.input.cmp(&b.input)));
    out
}

/// The requirements of `dir/flake.lock` that `version` does not meet, highest first.
pub fn unmet_requirements(dir: &Path, version: NixVersion) -> Vec<Requirement> {
    std::fs::read_to_string(dir.join("flake.lock"))
        .map(|t| lock_requirements(&t))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| version < r.min)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_lock_requirements_follow_the_documented_rule() {
        let lock = |nodes: &str| {
            format!(r#"{{"nodes":{{{nodes},"root":{{"inputs":{{}}}}}},"root":"root","version":7}}"#)
        };
        let crane = r#""crane":{"locked":{"owner":"ipetkov","repo":"crane","type":"github","lastModified":1785631643},"original":{"owner":"ipetkov","repo":"crane","type":"github"}}"#;
        let np = |reference: &str, t: i64| {
            format!(
                r#""nixpkgs":{{"locked":{{"owner":"NixOS","repo":"nixpkgs","type":"github","lastModified":{t}}},"original":{{"owner":"NixOS","ref":"{reference}","repo":"nixpkgs","type":"github"}}}}"#
            )
        };
        let reqs = lock_requirements(&lock(&format!("{crane},{}", np("nixos-26.05", 1_786_711_500))));
        let mins: Vec<String> = reqs.iter().map(|r| format!("{}:{}", r.input, r.min)).collect();
        assert_eq!(mins, ["crane:2.31.2", "nixpkgs:2.18.0"]);
        assert!(lock_requirements(&lock(&np("nixos-25.05", 1_786_711_500))).is_empty());
        assert_eq!(lock_requirements(&lock(&np("nixos-25.11", 1))).len(), 1);
        assert_eq!(
            lock_requirements(&lock(&np("nixos-unstable", 1_786_711_500))).len(),
            1
        );
        assert!(lock_requirements(&lock(&np("nixos-unstable", 1_700_000_000))).is_empty());
        assert!(lock_requirements("not json").is_empty());
        let v28 = NixVersion::parse("nix (Nix) 2.8.0").unwrap();
        let v231 = NixVersion::parse("nix (Nix) 2.31.1").unwrap();
        assert!(v231 < NIX_FOR_CRANE && v28 < NIX_FOR_NIXPKGS_25_11);
        assert!(NixVersion::parse("2.31.2").unwrap() >= NIX_FOR_CRANE);
    }
}
