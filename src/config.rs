//! The config stage: a parsed command line ([`crate::cli`]) becomes checked values, one
//! [`Command`] per subcommand, before any work starts.
//!
//! Everything a command needs to know about its arguments is settled here: target names are
//! resolved to [`Target`]s, `[package.metadata.kiln]` defaults from Cargo.toml fill in what the
//! command line left out, versions, formats, package names and flake references are parsed,
//! key files are loaded, `--out` is checked against what it may replace, and combinations that
//! cannot work (`--image` with several packages, `--force toolchain`) are refused. A refusal is
//! an error like any other: `kiln: error: …`, exit 2. The stage reads files and asks git
//! whether `flake.nix` is tracked; it never runs nix, takes no lock and writes nothing.
//!
//! Nothing after this module sees clap types: [`crate::run`] dispatches a [`Config`] to the
//! modules that do the work.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ed25519_dalek::VerifyingKey;

use crate::archive::ArchiveFormat;
use crate::build::{self, BuildRequest};
use crate::cache::CacheRequest;
use crate::cli::{self, BuildArgs, CacheTargets, CiInitArgs, InitArgs, PolicyArgs};
use crate::elf::GlibcVersion;
use crate::init::{self, InitRequest};
use crate::oci::dist::ImageRequest;
use crate::oci::push;
use crate::policy;
use crate::project::{self, ProjectConfig};
use crate::sign::{self, SecretKey};
use crate::target::{self, Target};
use crate::ui::Style;
use crate::workflow;

/// A checked command line.
#[derive(Debug)]
pub struct Config {
    /// Colours for human output (`--color`, `NO_COLOR`, whether stdout is a terminal).
    pub style: Style,
    /// What to do.
    pub command: Command,
}

/// One subcommand with checked arguments.
#[derive(Debug)]
pub enum Command {
    /// `kiln targets`.
    Targets {
        /// Print JSON.
        json: bool,
    },
    /// `kiln inspect`.
    Inspect {
        /// The files, as given.
        files: Vec<PathBuf>,
        /// Print JSON.
        json: bool,
    },
    /// `kiln verify`.
    Verify(VerifyConfig),
    /// `kiln build`.
    Build(Box<BuildConfig>),
    /// `kiln doctor`.
    Doctor {
        /// Print JSON.
        json: bool,
        /// Print the nix commands run.
        verbose: bool,
    },
    /// `kiln image`.
    Image(Box<ImageConfig>),
    /// `kiln keygen`.
    Keygen {
        /// Path prefix of the two key files.
        out: PathBuf,
    },
    /// `kiln sign`.
    Sign {
        /// The loaded secret key.
        key: SecretKey,
        /// The release directory.
        dir: PathBuf,
    },
    /// `kiln verify-release`.
    VerifyRelease {
        /// The release directory.
        dir: PathBuf,
        /// The loaded public key the provenance must be signed with.
        key: Option<VerifyingKey>,
        /// Print JSON.
        json: bool,
    },
    /// `kiln cache push|status|pull`.
    Cache(Box<CacheConfig>),
    /// `kiln init` and `kiln ci init` (with `ci_only` set).
    Init(Box<InitRequest>),
}

/// `kiln verify`: the files and the target and policy they are judged by.
#[derive(Debug)]
pub struct VerifyConfig {
    /// The files, as given.
    pub files: Vec<PathBuf>,
    /// The target.
    pub target: &'static Target,
    /// Policy options.
    pub policy: policy::Options,
    /// Print JSON.
    pub json: bool,
}

/// `kiln build`: the build request and what happens around it.
#[derive(Debug)]
pub struct BuildConfig {
    /// What to build, verify and export (`request.out` is the destination, already checked).
    pub request: BuildRequest,
    /// Wait for another kiln's lock on `--out` instead of failing at once.
    pub wait_lock: bool,
    /// `--image`: the image contents to add after exporting.
    pub image: Option<ImageContent>,
    /// Print one JSON document at the end.
    pub json: bool,
}

/// Files added to every image (`kiln image`, `kiln build --image`).
#[derive(Debug, Clone)]
pub struct ImageContent {
    /// CA bundle file.
    pub ca_certs: Option<PathBuf>,
    /// zoneinfo directory.
    pub tzdata: Option<PathBuf>,
    /// An OCI image layout to build on.
    pub base: Option<PathBuf>,
}

/// `kiln image`: the image request and where to push.
#[derive(Debug)]
pub struct ImageConfig {
    /// What to add to which dist.
    pub request: ImageRequest,
    /// The registry reference to push to (a loopback address, checked).
    pub push: Option<push::Reference>,
    /// Wait for another kiln's lock on the dist instead of failing at once.
    pub wait_lock: bool,
    /// Print JSON.
    pub json: bool,
}

/// `kiln cache`: the outputs meant and what to do with them.
#[derive(Debug)]
pub struct CacheConfig {
    /// The outputs (the units `kiln build` builds, or a dist's).
    pub request: CacheRequest,
    /// Push, status or pull.
    pub action: CacheAction,
    /// Print JSON.
    pub json: bool,
}

/// What `kiln cache` does with the outputs.
#[derive(Debug)]
pub enum CacheAction {
    /// Copy them (signed with `key`) to the store `to`.
    Push {
        /// Destination store URI.
        to: String,
        /// Secret signing key file (nix's format, read by nix).
        key: Option<PathBuf>,
    },
    /// Ask the store `from` which it has.
    Status {
        /// Store URI.
        from: String,
    },
    /// Copy them from the store `from`, trusting these keys too.
    Pull {
        /// Store URI.
        from: String,
        /// Extra trusted public keys.
        trust: Vec<String>,
    },
}

impl Config {
    /// Checks a parsed command line.
    pub fn from_cli(cli: cli::Cli) -> Result<Config> {
        let style = Style::new(cli.color);
        let command = match cli.command {
            cli::Command::Targets(a) => Command::Targets { json: a.json },
            cli::Command::Inspect(a) => Command::Inspect {
                files: a.files,
                json: a.json,
            },
            cli::Command::Verify(a) => Command::Verify(VerifyConfig {
                target: target::lookup(&a.target)?,
                policy: policy_options(&a.policy, None)?,
                files: a.files,
                json: a.json,
            }),
            cli::Command::Build(a) => Command::Build(Box::new(BuildConfig::from_args(*a)?)),
            cli::Command::Doctor(a) => Command::Doctor {
                json: a.json,
                verbose: a.verbose,
            },
            cli::Command::Image(a) => Command::Image(Box::new(ImageConfig::from_args(a)?)),
            cli::Command::Keygen(a) => Command::Keygen { out: a.out },
            cli::Command::Sign(a) => Command::Sign {
                key: SecretKey::load(&a.key)?,
                dir: a.dir,
            },
            cli::Command::VerifyRelease(a) => Command::VerifyRelease {
                key: a.key.as_deref().map(sign::load_public).transpose()?,
                dir: a.dir,
                json: a.json,
            },
            cli::Command::Cache(c) => Command::Cache(Box::new(CacheConfig::from_args(c)?)),
            cli::Command::Init(a) => Command::Init(Box::new(init_request(&a.common, Some(&a))?)),
            cli::Command::Ci(cli::CiCommand::Init(a)) => Command::Init(Box::new(init_request(&a, None)?)),
        };
        Ok(Config { style, command })
    }
}

impl BuildConfig {
    /// Checks `kiln build`'s arguments against the flake's Cargo.toml, in the order a user
    /// would fix them: the project, the flake's visibility to nix, targets, packages, archive,
    /// policy, the signing key, and last the destination.
    fn from_args(a: BuildArgs) -> Result<BuildConfig> {
        let project = load_project(&a.flake)?;
        // Before any nix runs: a flake.nix git does not track is invisible to nix.
        project::check_flake_tracked(&a.flake)?;
        let target_names = target_names(&a.target, &project);
        if target_names.is_empty() {
            anyhow::bail!("no targets: [package.metadata.kiln] targets is empty");
        }
        let targets = target::lookup_many(&target_names)?;
        let packages = build_packages(&a, &project)?;
        let units = build::Unit::expand(&targets, &packages);
        let archive: ArchiveFormat = a
            .archive
            .as_deref()
            .or(project.archive.as_deref())
            .unwrap_or("tar.gz")
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let smoke = a
            .smoke
            .as_deref()
            .map(|s| s.split_whitespace().map(str::to_owned).collect());
        let request = BuildRequest {
            flake: a.flake.clone(),
            units,
            out: a.out.clone(),
            archive,
            check_reproducible: a.check_reproducible,
            keep_going: a.keep_going,
            verbose: a.verbose,
            system: a.system.clone(),
            smoke,
            policy: policy_options(&a.policy, project.glibc_max.as_deref())?,
            name: project.name,
            version: project.version,
            nix_args: nix_args(&a),
            sign_key: secret_key(a.sign_key.as_deref())?,
        };
        // Refused before anything is built or locked: nothing of the user's is touched.
        crate::export::check_destination(
            &a.out,
            &project::local_dir(&a.flake).into_iter().collect::<Vec<_>>(),
        )?;
        Ok(BuildConfig {
            request,
            wait_lock: a.wait_lock,
            image: a.image.then(|| ImageContent::from_args(a.image_content)),
            json: a.json,
        })
    }
}

/// The options every nix call of a build gets: `--builders`, `--max-jobs` and the extra
/// substituters and keys of `--cache`/`--cache-key`.
fn nix_args(a: &BuildArgs) -> Vec<String> {
    let mut nix_args = Vec::new();
    if let Some(b) = &a.builders {
        nix_args.extend(["--builders".to_owned(), b.clone()]);
    }
    if let Some(j) = &a.max_jobs {
        nix_args.extend(["--max-jobs".to_owned(), j.clone()]);
    }
    if !a.cache.is_empty() {
        nix_args.extend(["--option".into(), "extra-substituters".into(), a.cache.join(" ")]);
    }
    if !a.cache_key.is_empty() {
        nix_args.extend([
            "--option".into(),
            "extra-trusted-public-keys".into(),
            a.cache_key.join(" "),
        ]);
    }
    nix_args
}

impl ImageContent {
    fn from_args(a: cli::ImageContentArgs) -> ImageContent {
        ImageContent {
            ca_certs: a.ca_certs,
            tzdata: a.tzdata,
            base: a.base,
        }
    }

    /// The request that adds images with this content to the dist at `dist`.
    pub fn request(&self, dist: &Path, sign_key: Option<SecretKey>) -> ImageRequest {
        ImageRequest {
            dist: dist.to_path_buf(),
            targets: Vec::new(),
            ca_certs: self.ca_certs.clone(),
            tzdata: self.tzdata.clone(),
            base: self.base.clone(),
            sign_key,
        }
    }
}

impl ImageConfig {
    fn from_args(a: cli::ImageArgs) -> Result<ImageConfig> {
        let push = a.push.as_deref().map(push::Reference::parse).transpose()?;
        if let Some(r) = &push {
            r.loopback_addr()?;
        }
        let sign_key = secret_key(a.sign_key.as_deref())?;
        let mut request = ImageContent::from_args(a.content).request(&a.from, sign_key);
        request.targets = a.target;
        Ok(ImageConfig {
            request,
            push,
            wait_lock: a.wait_lock,
            json: a.json,
        })
    }
}

impl CacheConfig {
    fn from_args(c: cli::CacheCommand) -> Result<CacheConfig> {
        let (what, action) = match c {
            cli::CacheCommand::Push(a) => (a.what, CacheAction::Push { to: a.to, key: a.key }),
            cli::CacheCommand::Status(a) => (a.what, CacheAction::Status { from: a.from }),
            cli::CacheCommand::Pull(a) => (
                a.what,
                CacheAction::Pull {
                    from: a.from,
                    trust: a.trust,
                },
            ),
        };
        Ok(CacheConfig {
            request: cache_request(&what)?,
            action,
            json: what.json,
        })
    }
}

/// The outputs the cache commands act on: a dist's (filtered by `--target`/`--package`), or the
/// units `kiln build` of this flake builds, with the same defaults.
fn cache_request(what: &CacheTargets) -> Result<CacheRequest> {
    let (names, packages) = if what.from_dist.is_some() {
        (what.target.clone(), what.package.clone())
    } else {
        let project = load_project(&what.flake)?;
        let names = target_names(&what.target, &project);
        if names.is_empty() {
            anyhow::bail!("no targets: [package.metadata.kiln] targets is empty");
        }
        (names, packages_of(&what.package, &project)?)
    };
    Ok(CacheRequest {
        flake: what.flake.clone(),
        targets: target::lookup_many(&names)?,
        packages,
        system: what.system.clone(),
        verbose: what.verbose,
        from_dist: what.from_dist.clone(),
    })
}

/// `--glibc-max` (else the project's) parsed, and the other policy flags.
fn policy_options(p: &PolicyArgs, project_glibc: Option<&str>) -> Result<policy::Options> {
    let glibc_max = p
        .glibc_max
        .as_deref()
        .or(project_glibc)
        .map(|s| {
            GlibcVersion::parse(s).with_context(|| format!("--glibc-max '{s}' is not a version like 2.17"))
        })
        .transpose()?;
    Ok(policy::Options {
        glibc_max,
        allow_needed: p.allow_needed.clone(),
        require_stripped: p.require_stripped,
        strict: p.strict,
        allow_debug: p.allow_debug,
    })
}

/// The `[package.metadata.kiln]` of a local flake's Cargo.toml (defaults when there is none or
/// the flake is remote).
fn load_project(flake: &str) -> Result<ProjectConfig> {
    Ok(match project::local_dir(flake) {
        Some(dir) => project::load(&dir)?,
        None => None,
    }
    .unwrap_or_default())
}

/// `--target`, else the project's targets, else every target.
fn target_names(explicit: &[String], project: &ProjectConfig) -> Vec<String> {
    if !explicit.is_empty() {
        explicit.to_vec()
    } else if let Some(t) = &project.targets {
        t.clone()
    } else {
        target::all().iter().map(|t| t.triple.clone()).collect()
    }
}

/// `--package`, else `[package.metadata.kiln] packages`: checked, without repeats.
fn packages_of(explicit: &[String], project: &ProjectConfig) -> Result<Vec<String>> {
    let asked: Vec<String> = if explicit.is_empty() {
        project.packages.clone().unwrap_or_default()
    } else {
        explicit.to_vec()
    };
    let mut seen = std::collections::BTreeSet::new();
    let packages: Vec<String> = asked.into_iter().filter(|p| seen.insert(p.clone())).collect();
    for p in &packages {
        build::check_package_name(p).map_err(|e| anyhow::anyhow!("--package: {e}"))?;
    }
    Ok(packages)
}

/// The packages of a build; `--image` takes one at most.
fn build_packages(a: &BuildArgs, project: &ProjectConfig) -> Result<Vec<String>> {
    let packages = packages_of(&a.package, project)?;
    if a.image && packages.len() > 1 {
        anyhow::bail!(
            "--image packages one program; with {} packages run `kiln image` on a dist of one",
            packages.len()
        );
    }
    Ok(packages)
}

/// The `--sign-key` file, loaded before any work starts so a bad key fails fast.
fn secret_key(path: Option<&Path>) -> Result<Option<SecretKey>> {
    path.map(SecretKey::load).transpose()
}

/// The `[package.metadata.kiln]` keys that `kiln init`'s command line gives a value.
fn explicit_keys(c: &CiInitArgs, full: Option<&InitArgs>) -> Vec<&'static str> {
    let Some(f) = full else {
        return Vec::new();
    };
    [
        ("targets", !f.target.is_empty()),
        ("archive", f.archive.is_some()),
        ("image", f.image.is_some()),
        ("cache", c.cache.is_some()),
        ("glibc-max", f.glibc_max.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, given)| given.then_some(key))
    .collect()
}

/// `kiln init` (`full` set) or `kiln ci init`: the command line over the crate's Cargo.toml
/// over kiln's defaults, each value checked.
fn init_request(c: &CiInitArgs, full: Option<&InitArgs>) -> Result<InitRequest> {
    let project = project::load(&c.dir)?.unwrap_or_default();
    let cache_kind = c
        .cache
        .as_deref()
        .or(project.cache.as_deref())
        .unwrap_or("none")
        .parse::<workflow::CacheKind>()
        .map_err(|e| anyhow::anyhow!("--cache: {e}"))?;
    let explicit = full.map(|f| f.target.clone()).unwrap_or_default();
    let targets = target::lookup_many(&target_names(&explicit, &project))?;
    let archive = full
        .and_then(|f| f.archive.clone())
        .or_else(|| project.archive.clone())
        .unwrap_or_else(|| "tar.gz".to_owned());
    archive
        .parse::<ArchiveFormat>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let glibc_max = full
        .and_then(|f| f.glibc_max.clone())
        .or_else(|| project.glibc_max.clone())
        .unwrap_or_else(|| target::default_glibc_floor().to_owned());
    GlibcVersion::parse(&glibc_max)
        .with_context(|| format!("--glibc-max '{glibc_max}' is not a version like 2.17"))?;
    let files = |names: &[String]| -> Result<Vec<&'static str>> {
        names.iter().map(|n| init::file_named(n)).collect()
    };
    let force = match &c.force {
        None => Vec::new(),
        Some(names) if names.is_empty() => vec!["flake.nix", "Cargo.toml", init::WORKFLOW_PATH],
        Some(names) => {
            let force = files(names).context("--force")?;
            if force.contains(&"rust-toolchain.toml") {
                anyhow::bail!(
                    "--force toolchain: the crate's toolchain file is its own; kiln never overwrites it"
                );
            }
            force
        }
    };
    let skip = files(full.map_or(&[][..], |f| &f.skip[..])).context("--skip")?;
    Ok(InitRequest {
        dir: c.dir.clone(),
        kiln_url: c.kiln_url.clone(),
        kiln_rev: c.kiln_rev.clone(),
        targets,
        archive,
        image: full.and_then(|f| f.image.clone()).or(project.image),
        cache: cache_kind,
        cache_name: c.cache_name.clone(),
        glibc_max,
        explicit: explicit_keys(c, full),
        force,
        skip,
        dry_run: c.dry_run,
        ci_only: full.is_none(),
        packages: full.map(|f| f.package.clone()).unwrap_or_default(),
        hermetic: full.and_then(|f| {
            if f.hermetic {
                Some(true)
            } else if f.no_hermetic {
                Some(false)
            } else {
                None
            }
        }),
        json: c.json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> Result<Config> {
        let cli =
            <cli::Cli as clap::Parser>::try_parse_from(std::iter::once("kiln").chain(args.iter().copied()))
                .expect("the command line parses");
        Config::from_cli(cli)
    }

    fn refusal(args: &[&str]) -> String {
        crate::one_line(&check(args).expect_err("refused"))
    }

    #[test]
    fn verify_resolves_the_target_and_parses_the_policy() {
        let config = check(&["verify", "-t", "x86_64-musl", "--glibc-max", "2.28", "a"]).unwrap();
        let Command::Verify(v) = config.command else {
            panic!("not verify");
        };
        assert_eq!(v.target.triple, "x86_64-unknown-linux-musl");
        assert_eq!(v.policy.glibc_max, GlibcVersion::parse("2.28"));
        let msg = refusal(&["verify", "-t", "x86_64-musl", "--glibc-max", "two", "a"]);
        assert!(
            msg.starts_with("--glibc-max 'two' is not a version like 2.17"),
            "{msg}"
        );
        assert!(!refusal(&["verify", "-t", "sparc-sun", "a"]).is_empty());
    }

    #[test]
    fn build_applies_defaults_and_refuses_conflicts_before_any_work() {
        let tmp = tempfile::tempdir().unwrap();
        let flake = tmp.path().to_str().unwrap();
        let out = tmp.path().join("dist");
        let out = out.to_str().unwrap();
        let msg = refusal(&["build", "--flake", flake, "-o", out, "--image", "-p", "a,b"]);
        assert_eq!(
            msg,
            "--image packages one program; with 2 packages run `kiln image` on a dist of one"
        );
        let config = check(&[
            "build",
            "--flake",
            flake,
            "-o",
            out,
            "-t",
            "aarch64-musl",
            "-p",
            "a,a",
        ])
        .unwrap();
        let Command::Build(b) = config.command else {
            panic!("not build");
        };
        assert_eq!(b.request.units.len(), 1, "repeated packages are one");
        assert_eq!(b.request.archive, ArchiveFormat::TarGz, "the default archive");
        assert!(b.image.is_none() && !b.wait_lock && !b.json);
        assert!(
            !out.is_empty() && !Path::new(out).exists(),
            "the config stage writes nothing"
        );
    }

    #[test]
    fn init_refuses_forcing_the_crates_toolchain() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap();
        let msg = refusal(&["init", "--dir", dir, "--force", "toolchain"]);
        assert_eq!(
            msg,
            "--force toolchain: the crate's toolchain file is its own; kiln never overwrites it"
        );
        let config = check(&["ci", "init", "--dir", dir]).unwrap();
        let Command::Init(req) = config.command else {
            panic!("not init");
        };
        assert!(req.ci_only && req.explicit.is_empty() && req.archive == "tar.gz");
    }
}
