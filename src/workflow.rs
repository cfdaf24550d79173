//! The GitHub Actions release workflow that `kiln ci init` and `kiln init` write
//! (`.github/workflows/kiln-release.yml`), as text. Kiln's own `.github/workflows/release.yml`
//! is this text for `kiln_flake = "."`.
//!
//! The workflow: check out, install Nix, restore a binary cache (cachix, attic, S3 or none),
//! `kiln build --check-reproducible`, push to the cache, upload `dist/`, attest the build
//! provenance of every file named in `dist/SHA256SUMS`, and on a `v*` tag create the GitHub
//! release with `gh release create`.
//!
//! Third-party actions are pinned by tag here, not by commit SHA: kiln cannot look SHAs up, and
//! a made-up SHA would be worse than a tag. The text says so next to each `uses:` line.

use std::fmt::Write as _;
use std::str::FromStr;

/// Which shared binary cache the workflow restores from and pushes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    /// No cache.
    None,
    /// cachix.org (`cachix/cachix-action`, secret `CACHIX_AUTH_TOKEN`).
    Cachix,
    /// An attic server (variables `ATTIC_ENDPOINT`, secret `ATTIC_TOKEN`).
    Attic,
    /// An S3 bucket as a Nix binary cache (`kiln cache push`, AWS secrets, a signing key).
    S3,
}

impl FromStr for CacheKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(CacheKind::None),
            "cachix" => Ok(CacheKind::Cachix),
            "attic" => Ok(CacheKind::Attic),
            "s3" => Ok(CacheKind::S3),
            other => Err(format!(
                "unknown cache kind '{other}' (known: none, cachix, attic, s3)"
            )),
        }
    }
}

impl CacheKind {
    /// The name used on the command line and in Cargo.toml.
    pub fn name(self) -> &'static str {
        match self {
            CacheKind::None => "none",
            CacheKind::Cachix => "cachix",
            CacheKind::Attic => "attic",
            CacheKind::S3 => "s3",
        }
    }
}

/// What the workflow is made from.
#[derive(Debug, Clone)]
pub struct WorkflowSpec {
    /// Flake reference `nix run` starts kiln from (`.` for kiln's own repository).
    pub kiln_flake: String,
    /// The cache.
    pub cache: CacheKind,
    /// Cache name (cachix cache, attic cache) or S3 bucket.
    pub cache_name: String,
}

const PIN_NOTE: &str = "# Pinned by tag: replace each tag with the full commit SHA of that release \
                        (kiln could not verify SHAs offline).";

/// The workflow text (without kiln's marker line; [`crate::init`] adds that).
pub fn render(spec: &WorkflowSpec) -> String {
    let mut y = String::new();
    let name = &spec.cache_name;
    let _ = write!(
        y,
        "name: kiln release\n\
         \n\
         on:\n  push:\n    branches: [main]\n    tags: ['v*']\n  pull_request:\n  workflow_dispatch:\n\
         \n\
         permissions:\n  contents: read\n\
         \n\
         env:\n  KILN: {flake}\n\
         \n\
         jobs:\n  release:\n    runs-on: ubuntu-latest\n    permissions:\n      contents: write\n      \
         id-token: write\n      attestations: write\n    steps:\n      {PIN_NOTE}\n      \
         - uses: actions/checkout@v4\n      \
         - uses: cachix/install-nix-action@v31\n        with:\n          extra_nix_config: |\n            \
         experimental-features = nix-command flakes\n",
        flake = yaml_str(&spec.kiln_flake)
    );
    match spec.cache {
        CacheKind::None | CacheKind::S3 => {}
        CacheKind::Cachix => {
            let _ = write!(
                y,
                "      - uses: cachix/cachix-action@v15\n        with:\n          name: {}\n          \
                 authToken: ${{{{ secrets.CACHIX_AUTH_TOKEN }}}}\n",
                yaml_str(name)
            );
        }
        CacheKind::Attic => {
            let _ = write!(
                y,
                "      - name: use the attic cache\n        env:\n          \
                 ATTIC_ENDPOINT: ${{{{ vars.ATTIC_ENDPOINT }}}}\n          \
                 ATTIC_TOKEN: ${{{{ secrets.ATTIC_TOKEN }}}}\n        run: |\n          \
                 nix profile install nixpkgs#attic-client\n          \
                 attic login ci \"$ATTIC_ENDPOINT\" \"$ATTIC_TOKEN\"\n          \
                 attic use ci:{name}\n"
            );
        }
    }
    let (build_extra, s3_env) = if spec.cache == CacheKind::S3 {
        (
            " --cache \"$KILN_CACHE\" --cache-key \"$KILN_CACHE_PUBLIC_KEY\"",
            format!(
                "        env:\n          KILN_CACHE: s3://{name}\n          \
                 KILN_CACHE_PUBLIC_KEY: ${{{{ vars.KILN_CACHE_PUBLIC_KEY }}}}\n          \
                 AWS_ACCESS_KEY_ID: ${{{{ secrets.AWS_ACCESS_KEY_ID }}}}\n          \
                 AWS_SECRET_ACCESS_KEY: ${{{{ secrets.AWS_SECRET_ACCESS_KEY }}}}\n"
            ),
        )
    } else {
        ("", String::new())
    };
    let _ = write!(
        y,
        "      - name: kiln build\n{s3_env}        \
         run: nix run \"$KILN\" -- build --check-reproducible{build_extra}\n"
    );
    match spec.cache {
        CacheKind::Attic => {
            let _ = write!(
                y,
                "      - name: push to attic\n        if: github.event_name != 'pull_request'\n        \
                 run: jq -r '.artifacts[].store_path' dist/manifest.json | xargs attic push ci:{name}\n"
            );
        }
        CacheKind::S3 => {
            let _ = write!(
                y,
                "      - name: push to the S3 cache\n        if: github.event_name != 'pull_request'\n\
                 {s3_env}          KILN_CACHE_SECRET_KEY: ${{{{ secrets.KILN_CACHE_SECRET_KEY }}}}\n        \
                 run: |\n          \
                 key=$(mktemp)\n          \
                 printf '%s' \"$KILN_CACHE_SECRET_KEY\" > \"$key\"\n          \
                 nix run \"$KILN\" -- cache push --to \"$KILN_CACHE\" --key \"$key\" --from-dist dist\n          \
                 rm -f \"$key\"\n"
            );
        }
        CacheKind::None | CacheKind::Cachix => {}
    }
    y.push_str(
        "      - uses: actions/upload-artifact@v4\n        with:\n          name: dist\n          \
         path: dist/\n          if-no-files-found: error\n      \
         - uses: actions/attest-build-provenance@v2\n        \
         if: github.event_name != 'pull_request'\n        with:\n          \
         subject-checksums: dist/SHA256SUMS\n      \
         - name: create the release\n        if: startsWith(github.ref, 'refs/tags/v')\n        \
         env:\n          GH_TOKEN: ${{ github.token }}\n        \
         run: gh release create \"$GITHUB_REF_NAME\" dist/* --verify-tag --title \"$GITHUB_REF_NAME\" --notes-file dist/SHA256SUMS\n",
    );
    y
}

/// A YAML plain scalar when safe, else a single-quoted one.
fn yaml_str(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
        && !s.starts_with(['-', ':', '.'])
        || s == "."
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_render() {
        assert_eq!("s3".parse::<CacheKind>(), Ok(CacheKind::S3));
        assert!("gcs".parse::<CacheKind>().unwrap_err().contains("known: none"));
        let spec = WorkflowSpec {
            kiln_flake: "github:o/kiln".into(),
            cache: CacheKind::Cachix,
            cache_name: "mycache".into(),
        };
        let y = render(&spec);
        assert!(y.contains("cachix/cachix-action@v15") && y.contains("name: mycache"));
        assert!(y.contains("subject-checksums: dist/SHA256SUMS"));
        assert!(y.contains("KILN: github:o/kiln"));
        assert_eq!(yaml_str("a b"), "'a b'");
        assert_eq!(yaml_str("."), ".");
    }
}
