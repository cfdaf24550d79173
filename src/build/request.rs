//! What `kiln build` is asked to do: the checked [`BuildRequest`] and its [`Unit`]s, every
//! package for every target. `kiln cache` acts on the same units, so a cache entry names the
//! store path a build of the same flake makes.

use std::path::PathBuf;

use crate::archive::ArchiveFormat;
use crate::policy;
use crate::target::Target;

/// Everything `kiln build` was asked to do, already validated.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// Flake reference.
    pub flake: String,
    /// What to build, in the order asked for: every package for every target.
    pub units: Vec<Unit>,
    /// Destination directory.
    pub out: PathBuf,
    /// Archive format.
    pub archive: ArchiveFormat,
    /// Rebuild and compare.
    pub check_reproducible: bool,
    /// Go on past failed targets and export the rest (still exit 1).
    pub keep_going: bool,
    /// Print the nix commands and pass nix's output through.
    pub verbose: bool,
    /// Use `packages.<system>` instead of nix's own system.
    pub system: Option<String>,
    /// Arguments for a smoke run of every binary.
    pub smoke: Option<Vec<String>>,
    /// Verification policy options.
    pub policy: policy::Options,
    /// Release name from Cargo.toml, if any.
    pub name: Option<String>,
    /// Release version from Cargo.toml, if any.
    pub version: Option<String>,
    /// Extra options for every nix call (`--builders`, `--max-jobs`).
    pub nix_args: Vec<String>,
    /// Sign the provenance with this key.
    pub sign_key: Option<crate::sign::SecretKey>,
}

/// One thing to build: a target's attribute, or a package's attribute for that target.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The target whose policy judges the binaries.
    pub target: &'static Target,
    /// `--package NAME`: the attribute is `NAME-<attr>` and archives are named after `NAME`.
    pub package: Option<String>,
}

impl Unit {
    /// The flake attribute under `packages.<system>`.
    pub fn attr(&self) -> String {
        match &self.package {
            Some(p) => format!("{p}-{}", self.target.attr),
            None => self.target.attr.clone(),
        }
    }

    /// Every package for every target, packages outermost; no packages means the targets'
    /// own attributes.
    pub fn expand(targets: &[&'static Target], packages: &[String]) -> Vec<Unit> {
        if packages.is_empty() {
            return targets
                .iter()
                .map(|&target| Unit {
                    target,
                    package: None,
                })
                .collect();
        }
        packages
            .iter()
            .flat_map(|p| {
                targets.iter().map(move |&target| Unit {
                    target,
                    package: Some(p.clone()),
                })
            })
            .collect()
    }
}

/// Checks a `--package` name: it becomes part of a flake attribute and of file names.
pub fn check_package_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "package '{name}' is not a name of letters, digits, '_', '-' and '+'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target;

    #[test]
    fn units_are_packages_times_targets_packages_outermost() {
        let ts = target::lookup_many(&["x86_64-musl", "aarch64-gnu"]).unwrap();
        let plain: Vec<String> = Unit::expand(&ts, &[]).iter().map(Unit::attr).collect();
        assert_eq!(plain, ["x86_64-musl", "aarch64-gnu"]);
        let units = Unit::expand(&ts, &["server".into(), "cli".into()]);
        let attrs: Vec<String> = units.iter().map(Unit::attr).collect();
        assert_eq!(
            attrs,
            [
                "server-x86_64-musl",
                "server-aarch64-gnu",
                "cli-x86_64-musl",
                "cli-aarch64-gnu"
            ]
        );
        assert_eq!(units[3].target.triple, "aarch64-unknown-linux-gnu");
        assert_eq!(units[3].package.as_deref(), Some("cli"));
    }

    #[test]
    fn package_names_are_attribute_and_file_safe() {
        for ok in ["server", "my_tool", "c++", "x-1", "_x", "9lives"] {
            assert!(check_package_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-x", ".x", "a.b", "a/b", "..", "a b", "a\"b", "ä", "a#b", "a$(x)",
        ] {
            assert!(check_package_name(bad).is_err(), "{bad}");
        }
    }
}
