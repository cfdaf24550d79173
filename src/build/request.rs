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

    /// Whether `--target`/`--package` pick this unit among already built ones (a dist's
    /// artifacts): its target is among `targets` and its package among `packages`, an empty
    /// list picking every one. A unit without a package is picked only when no package is
    /// asked for: `--package NAME` never builds a target's own attribute.
    pub fn is_picked(&self, targets: &[&Target], packages: &[String]) -> bool {
        let target = targets.is_empty() || targets.iter().any(|t| t.triple == self.target.triple);
        let package = packages.is_empty() || self.package.as_ref().is_some_and(|p| packages.contains(p));
        target && package
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

    // issue 18 item 1: `kiln cache --from-dist` picks among a dist's units by the same
    // `--target`/`--package` rule whatever the dist was built with.
    #[test]
    fn units_are_picked_by_target_and_package() {
        let ts = target::lookup_many(&["x86_64-musl", "aarch64-gnu"]).unwrap();
        let units = Unit::expand(&ts, &["server".into(), "cli".into()]);
        let picked = |targets: &[&'static Target], packages: &[String]| -> Vec<String> {
            units
                .iter()
                .filter(|u| u.is_picked(targets, packages))
                .map(Unit::attr)
                .collect()
        };
        assert_eq!(picked(&[], &[]).len(), 4);
        assert_eq!(picked(&ts[1..], &[]), ["server-aarch64-gnu", "cli-aarch64-gnu"]);
        assert_eq!(
            picked(&[], &["cli".into()]),
            ["cli-x86_64-musl", "cli-aarch64-gnu"]
        );
        assert_eq!(picked(&ts[..1], &["server".into()]), ["server-x86_64-musl"]);
        let plain = Unit::expand(&ts, &[]);
        assert!(plain[0].is_picked(&ts, &[]));
        assert!(!plain[0].is_picked(&ts, &["server".into()]));
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
