//! The GitHub Actions release workflow that `kiln ci init` and `kiln init` write
//! (`.github/workflows/kiln-release.yml`), as text. Kiln's own `.github/workflows/release.yml`
//! is this text for `kiln_flake = "."`.
//!
//! The workflow runs on pushes to the repository's default branch ([`WorkflowSpec::branch`]),
//! `v*` tags, pull requests and by hand. It installs a pinned Nix ([`NIX_VERSION`]) and runs kiln
//! from [`WorkflowSpec::kiln_flake`], which should name a revision (`?rev=` or a forge
//! reference's third part); when it does not, a comment there says so.
//!
//! The workflow: check out, install Nix, restore a binary cache (cachix, attic, S3 or none),
//! `kiln build --check-reproducible`, push to the cache, upload `dist/`, attest the build
//! provenance of every file named in `dist/SHA256SUMS`, and on a `v*` tag create the GitHub
//! release with `gh release create`.
//!
//! Third-party actions are pinned by tag here, not by commit SHA: kiln cannot look SHAs up, and
//! a made-up SHA would be worse than a tag. The text says so next to each `uses:` line.
//!
//! Values from the command line reach YAML and shell only after [`check_cache_name`] accepted
//! them (the cache service's own naming rules), and are quoted all the same: [`yaml_str`] gives
//! a YAML scalar that reads back as exactly that string, [`sh_quote`] a single-quoted shell word.

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

/// Why `name` is not a cache name `kind` accepts, or `Ok` when it is one. The rules are the
/// services' own, strictly:
/// - cachix: a DNS label (the cache is `NAME.cachix.org`): 1 to 63 lowercase letters, digits and
///   dashes, starting and ending with a letter or digit;
/// - attic: 1 to 50 ASCII letters, digits, `-`, `_` and `+`, starting with a letter or digit;
/// - S3: a bucket name: 3 to 63 lowercase letters, digits, dots and dashes, starting and ending
///   with a letter or digit, no `..`, `.-` or `-.`, not an IPv4 address, none of the reserved
///   prefixes (`xn--`, `sthree-`, `amzn-s3-demo-`) and suffixes (`-s3alias`, `--ol-s3`, `.mrap`,
///   `--x-s3`, `--table-s3`).
///
/// `none` uses no name and accepts any.
pub fn check_cache_name(kind: CacheKind, name: &str) -> Result<(), String> {
    let alnum_ends =
        |s: &str, ok: fn(char) -> bool| s.chars().next().is_some_and(ok) && s.chars().last().is_some_and(ok);
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    match kind {
        CacheKind::None => Ok(()),
        CacheKind::Cachix => {
            if (1..=63).contains(&name.len())
                && name.chars().all(|c| lower_alnum(c) || c == '-')
                && alnum_ends(name, lower_alnum)
            {
                Ok(())
            } else {
                Err(
                    "a cachix cache name is 1 to 63 lowercase letters, digits and dashes, \
                     starting and ending with a letter or digit"
                        .into(),
                )
            }
        }
        CacheKind::Attic => {
            if (1..=50).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c))
                && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            {
                Ok(())
            } else {
                Err(
                    "an attic cache name is 1 to 50 ASCII letters, digits, '-', '_' and '+', \
                     starting with a letter or digit"
                        .into(),
                )
            }
        }
        CacheKind::S3 => {
            let rule = "an S3 bucket name is 3 to 63 lowercase letters, digits, dots and dashes, \
                        starting and ending with a letter or digit";
            if !(3..=63).contains(&name.len())
                || !name.chars().all(|c| lower_alnum(c) || ".-".contains(c))
                || !alnum_ends(name, lower_alnum)
            {
                return Err(rule.into());
            }
            if ["..", ".-", "-."].iter().any(|p| name.contains(p)) {
                return Err("an S3 bucket name has no '..', '.-' or '-.'".into());
            }
            if name.parse::<std::net::Ipv4Addr>().is_ok() {
                return Err("an S3 bucket name is not an IP address".into());
            }
            if let Some(p) = ["xn--", "sthree-", "amzn-s3-demo-"]
                .iter()
                .find(|p| name.starts_with(**p))
            {
                return Err(format!(
                    "an S3 bucket name does not start with the reserved '{p}'"
                ));
            }
            if let Some(s) = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
                .iter()
                .find(|s| name.ends_with(**s))
            {
                return Err(format!("an S3 bucket name does not end with the reserved '{s}'"));
            }
            Ok(())
        }
    }
}

/// The cache name `kind` gets by default for a crate called `crate_name`: cachix and S3 take
/// lowercase names with dashes, so `My_Tool` becomes `my-tool`; attic takes the name as it is.
pub fn default_cache_name(kind: CacheKind, crate_name: &str) -> String {
    match kind {
        CacheKind::Cachix | CacheKind::S3 => crate_name.to_ascii_lowercase().replace('_', "-"),
        CacheKind::None | CacheKind::Attic => crate_name.to_owned(),
    }
}

/// What the workflow is made from.
#[derive(Debug, Clone)]
pub struct WorkflowSpec {
    /// Flake reference `nix run` starts kiln from (`.` for kiln's own repository).
    pub kiln_flake: String,
    /// The cache.
    pub cache: CacheKind,
    /// Cache name (cachix cache, attic cache) or S3 bucket, accepted by [`check_cache_name`].
    pub cache_name: String,
    /// The branch whose pushes run the workflow (the repository's default branch).
    pub branch: String,
    /// The crate's directory below the repository's root, where kiln runs (`None`: the root).
    pub working_directory: Option<String>,
}

/// The Nix the workflow installs: the oldest that evaluates the nixpkgs flake kiln follows.
pub const NIX_VERSION: &str = "2.31.2";

const PIN_NOTE: &str = "# Pinned by tag: replace each tag with the full commit SHA of that release \
                        (kiln could not verify SHAs offline).";

/// The workflow text (without kiln's marker line; [`crate::init`] adds that).
#[allow(clippy::too_many_lines)] // the workflow, top to bottom
pub fn render(spec: &WorkflowSpec) -> String {
    let mut y = String::new();
    let name = &spec.cache_name;
    let pinned = crate::init::url_rev(&spec.kiln_flake).is_some() || spec.kiln_flake == ".";
    let kiln_note = if pinned {
        ""
    } else {
        "\n  # Not pinned: add ?rev=<40-hex commit> (or kiln init --kiln-rev) to run one kiln."
    };
    let _ = write!(
        y,
        "name: kiln release\n\
         \n\
         on:\n  push:\n    branches: [{branch}]\n    tags: ['v*']\n  pull_request:\n  workflow_dispatch:\n\
         \n\
         permissions:\n  contents: read\n\
         {defaults}\
         \n\
         env:\n  KILN: {flake}{kiln_note}\n\
         \n\
         jobs:\n  release:\n    runs-on: ubuntu-latest\n    permissions:\n      contents: write\n      \
         id-token: write\n      attestations: write\n    steps:\n      {PIN_NOTE}\n      \
         - uses: actions/checkout@v4\n      \
         - uses: cachix/install-nix-action@v31\n        with:\n          \
         install_url: https://releases.nixos.org/nix/nix-{NIX_VERSION}/install\n          \
         extra_nix_config: |\n            \
         experimental-features = nix-command flakes\n",
        flake = yaml_str(&spec.kiln_flake),
        branch = yaml_str(&spec.branch),
        defaults = spec
            .working_directory
            .as_ref()
            .map_or_else(String::new, |d| format!(
                "\ndefaults:\n  run:\n    working-directory: {}\n",
                yaml_str(d)
            )),
    );
    let dist = spec
        .working_directory
        .as_ref()
        .map_or_else(|| "dist".to_owned(), |d| format!("{d}/dist"));
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
                 attic use {cache}\n",
                cache = sh_quote(&format!("ci:{name}"))
            );
        }
    }
    let (build_extra, s3_env) = if spec.cache == CacheKind::S3 {
        (
            " --cache \"$KILN_CACHE\" --cache-key \"$KILN_CACHE_PUBLIC_KEY\"",
            format!(
                "        env:\n          KILN_CACHE: {uri}\n          \
                 KILN_CACHE_PUBLIC_KEY: ${{{{ vars.KILN_CACHE_PUBLIC_KEY }}}}\n          \
                 AWS_ACCESS_KEY_ID: ${{{{ secrets.AWS_ACCESS_KEY_ID }}}}\n          \
                 AWS_SECRET_ACCESS_KEY: ${{{{ secrets.AWS_SECRET_ACCESS_KEY }}}}\n",
                uri = yaml_str(&format!("s3://{name}"))
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
                 run: |\n          \
                 jq -r '.artifacts[].store_path' dist/manifest.json | xargs attic push {cache}\n",
                cache = sh_quote(&format!("ci:{name}"))
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
    upload_and_release(&mut y, &dist);
    y
}

/// The workflow's last steps: upload `dist` (the crate's `dist/` from the repository's root),
/// attest it and, on a `v*` tag, create the release.
fn upload_and_release(y: &mut String, dist: &str) {
    let _ = write!(
        *y,
        "      - uses: actions/upload-artifact@v4\n        with:\n          name: dist\n          \
         path: {}\n          if-no-files-found: error\n      \
         - uses: actions/attest-build-provenance@v2\n        \
         if: github.event_name != 'pull_request'\n        with:\n          \
         subject-checksums: {}\n      \
         - name: create the release\n        if: startsWith(github.ref, 'refs/tags/v')\n        \
         env:\n          GH_TOKEN: ${{{{ github.token }}}}\n        \
         run: gh release create \"$GITHUB_REF_NAME\" dist/* --verify-tag --title \"$GITHUB_REF_NAME\" --notes-file dist/SHA256SUMS\n",
        yaml_str(&format!("{dist}/")),
        yaml_str(&format!("{dist}/SHA256SUMS")),
    );
}

/// `s` as a YAML scalar that reads back as exactly the string `s`: plain when it starts with a
/// letter, holds only letters, digits and `-_./:`, and is no word YAML reads as a boolean or
/// null (or is `.`); otherwise double-quoted, with everything but printable ASCII escaped, so
/// no line break or quote of `s` can end the scalar.
pub fn yaml_str(s: &str) -> String {
    const WORDS: [&str; 11] = [
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "nan", "inf",
    ];
    let plain = s == "."
        || (s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
            && !WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)));
    if plain {
        return s.to_owned();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// `s` as one word of the workflow's `run:` scripts (bash): single-quoted, each `'` written as
/// `'\\''`, and a control character or Unicode line separator (a line break above all, which
/// would end the YAML block the script sits in) as bash `$'\\xNN'` word parts, so the result is
/// always one line.
pub fn sh_quote(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push('\'');
                for b in c.to_string().bytes() {
                    let _ = write!(out, "$'\\x{b:02x}'");
                }
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
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
            branch: "trunk".into(),
            working_directory: None,
        };
        let y = render(&spec);
        assert!(y.contains("cachix/cachix-action@v15") && y.contains("name: mycache"));
        assert!(y.contains("subject-checksums: dist/SHA256SUMS"));
        assert!(y.contains("KILN: github:o/kiln"));
        assert_eq!(yaml_str("a b"), "\"a b\"");
        assert_eq!(yaml_str("."), ".");
        assert_eq!(yaml_str("s3://team"), "s3://team");
        assert_eq!(yaml_str("no"), "\"no\"");
        assert_eq!(yaml_str("1.0"), "\"1.0\"");
        assert_eq!(yaml_str("a\n- run: x"), "\"a\\u000a- run: x\"");
        assert_eq!(yaml_str("é\"\\"), "\"\\u00e9\\\"\\\\\"");
        assert_eq!(sh_quote("ci:a'b"), "'ci:a'\\''b'");
        assert_eq!(sh_quote("a\nb"), "'a'$'\\x0a''b'");
    }

    #[test]
    fn cache_names_follow_each_services_rules() {
        for (kind, good, bad) in [
            (
                CacheKind::Cachix,
                &["a", "my-cache", "0x1"][..],
                &["", "My", "a_b", "-a", "a-", "a.b", "a b"][..],
            ),
            (
                CacheKind::Attic,
                &["a", "Team_1", "ns+cache"],
                &["", "_a", "a.b", "a$b", "a\nb"],
            ),
            (
                CacheKind::S3,
                &["abc", "my.bucket-1", "a1b"],
                &[
                    "ab",
                    "ABC",
                    "a..b",
                    "a.-b",
                    "-ab",
                    "ab-",
                    "192.168.0.1",
                    "xn--ab",
                    "ab-s3alias",
                    "a_b",
                ],
            ),
        ] {
            for n in good {
                assert_eq!(check_cache_name(kind, n), Ok(()), "{n}");
            }
            for n in bad {
                assert!(check_cache_name(kind, n).is_err(), "{kind:?} {n:?}");
            }
        }
        assert!(check_cache_name(CacheKind::Cachix, &"a".repeat(64)).is_err());
        assert!(check_cache_name(CacheKind::Attic, &"a".repeat(51)).is_err());
        assert_eq!(default_cache_name(CacheKind::Cachix, "My_Tool"), "my-tool");
        assert_eq!(default_cache_name(CacheKind::Attic, "My_Tool"), "My_Tool");
    }
}
