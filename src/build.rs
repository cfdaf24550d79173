//! `kiln build`: evaluate, build every target in one `nix build`, verify, optionally rebuild to
//! prove reproducibility and smoke-run, then export `dist/`.
//!
//! The steps, in order:
//! 1. detect nix and its settings (system, store location);
//! 2. `nix flake metadata` for the source identity, and one `nix eval` that resolves each target
//!    to `packages.<system>.<attr>` (drvPath, outPath, pname, version); both start beside
//!    step 1, for the host's system, and the evaluation is redone only if nix's differs;
//! 3. one `nix build --json --no-link` of every target. For a flake kiln has not evaluated
//!    before, of the evaluated derivations (`DRV` on Nix 2.8, `DRV^out` on 2.13 and later), so
//!    the flake is evaluated once; for one it has, of the flake attributes, started in step 1,
//!    so Nix's evaluation cache answers, with the evaluation taken from kiln's own cache
//!    ([`crate::eval_cache`]) when the locked source is unchanged. Either way results are
//!    matched back by drvPath, never by position (Nix 2.8 reorders them), and targets nix
//!    printed nothing for are checked by output validity (after a `--keep-going` failure Nix
//!    prints no JSON at all);
//! 4. `--check-reproducible`: `nix build --rebuild --keep-failed`; a kept `<out>.check` means the
//!    bytes differed, and kiln names the first differing file;
//! 5. every file in each output's `bin/` is verified against its target's policy;
//! 6. `--smoke ARGS` runs each binary natively or under qemu-user;
//! 7. export through a staging directory (see [`crate::export`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::archive::ArchiveFormat;
use crate::elf::{self, GlibcVersion};
use crate::eval_cache;
use crate::export::{self, DistFile, Staging};
use crate::manifest::{self, Artifact, Binary, Manifest, NixInfo, Smoke, Source};
use crate::nix::{self, BuildFlags, Nix, NixError, PackageInfo};
use crate::policy::{self, Severity};
use crate::proc::Interrupt;
use crate::progress::{Progress, Stage};
use crate::provenance;
use crate::report::Verdict;
use crate::sbom;
use crate::target::{Libc, Target};
use crate::ui::Style;

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

/// Where a target ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not built yet / pending.
    Pending,
    /// nix failed to build it.
    BuildFailed,
    /// nix stopped before building it, because another target failed (no `--keep-going`).
    NotBuilt,
    /// A rebuild gave other bytes.
    NotReproducible,
    /// A binary failed its policy, or the output has no binaries.
    VerifyFailed,
    /// The smoke run failed.
    SmokeFailed,
    /// Verified; not exported because another target failed.
    Verified,
    /// In `dist/`.
    Exported,
}

/// One target's outcome, as `kiln build --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// Full triple.
    pub target: String,
    /// Flake attribute.
    pub attr: String,
    /// The package (`--package`), when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Outcome.
    pub status: Status,
    /// Derivation.
    pub drv_path: Option<String>,
    /// Output.
    pub store_path: Option<String>,
    /// What went wrong, on one line.
    pub error: Option<String>,
    /// The last lines of the build log of a failed build.
    pub log_tail: Vec<String>,
    /// Verification of each binary.
    pub binaries: Vec<Verdict>,
    /// Archive file name once exported.
    pub file: Option<String>,
    #[serde(skip)]
    info: Option<PackageInfo>,
    #[serde(skip)]
    bins: Vec<(String, PathBuf, elf::Facts)>,
    #[serde(skip)]
    smokes: BTreeMap<String, Smoke>,
}

/// The whole run, as `kiln build --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// Every target exported and nothing failed.
    pub ok: bool,
    /// The flake reference.
    pub flake: String,
    /// The Nix system used.
    pub system: String,
    /// The Nix version used.
    pub nix_version: String,
    /// Where `dist/` was written, if it was (`exported`, plus `exported_bytes` when it is not
    /// plain UTF-8).
    #[serde(flatten, serialize_with = "crate::report::path_fields::exported")]
    pub exported: Option<PathBuf>,
    /// Per target.
    pub targets: Vec<TargetReport>,
    /// The manifest written, if any.
    pub manifest: Option<Manifest>,
}

/// How the run ended.
pub enum BuildEnd {
    /// Finished; `ok` says whether everything held.
    Done(Box<BuildReport>),
    /// A signal arrived; the exit code to use.
    Interrupted(u8),
}

/// A nix failure about `flake`, on one line: nix's message with kiln's fix (see
/// [`nix::classify`]), and, when the local flake's `flake.lock` asks for a newer Nix than
/// `version`, that too (the likely cause of whatever nix said).
fn nix_context(flake: &str, version: nix::NixVersion, e: NixError) -> anyhow::Error {
    let too_old = crate::project::local_dir(flake)
        .map(|d| nix::unmet_requirements(&d, version))
        .unwrap_or_default();
    let note = too_old.first().map_or_else(String::new, |r| {
        format!(
            "; note: this flake's flake.lock needs Nix >= {} ({}: {}), this is Nix {version}",
            r.min, r.input, r.why
        )
    });
    match e {
        NixError::NotFound | NixError::Interrupted => anyhow!(e),
        NixError::Failed { message, .. } => anyhow!("flake '{flake}': {message}{note}"),
        other => anyhow!("flake '{flake}': {other}{note}"),
    }
}

/// Why the pipeline stopped before its end.
enum Stop {
    /// SIGINT or SIGTERM.
    Interrupted,
    /// A usage or environment problem (exit 2).
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Stop {
        let interrupted = e
            .downcast_ref::<export::ExportError>()
            .is_some_and(|x| matches!(x, export::ExportError::Interrupted(_)))
            || e.downcast_ref::<NixError>()
                .is_some_and(|x| matches!(x, NixError::Interrupted));
        if interrupted {
            Stop::Interrupted
        } else {
            Stop::Error(e)
        }
    }
}

impl From<NixError> for Stop {
    fn from(e: NixError) -> Stop {
        match e {
            NixError::Interrupted => Stop::Interrupted,
            other => Stop::Error(other.into()),
        }
    }
}

impl From<export::ExportError> for Stop {
    fn from(e: export::ExportError) -> Stop {
        match e {
            export::ExportError::Interrupted(_) => Stop::Interrupted,
            other => Stop::Error(other.into()),
        }
    }
}

/// The state of one `kiln build` run.
struct Pipeline<'a> {
    req: &'a BuildRequest,
    interrupt: &'a Interrupt,
    nix: Nix,
    system: String,
    root: PathBuf,
    sandbox: Option<String>,
    started: std::time::SystemTime,
    progress: Progress,
    reports: Vec<TargetReport>,
    /// Flake metadata and evaluation, started while nix was being detected.
    early: Option<EarlyQueries>,
    /// kiln's cache of evaluations (see [`crate::eval_cache`]), unless turned off.
    eval_cache: Option<PathBuf>,
}

/// The build of every unit's flake attribute, `nix flake metadata` and the evaluation, started
/// before nix's version is known (their command lines are the same in every Nix).
struct EarlyQueries {
    /// Only when kiln evaluated this flake before (see [`eval_cache::seen`]).
    build: Option<nix::Pending>,
    metadata: nix::Pending,
    /// Only when it did not: else the evaluation starts when kiln's cache has no entry.
    packages: Option<nix::Pending>,
}

impl EarlyQueries {
    /// Starts them; `None` when one cannot start (the pipeline starts them again and reports
    /// the error then). Dropping a query ends its nix.
    ///
    /// A flake kiln has not evaluated before (a fresh CI machine, where Nix's evaluation cache
    /// is cold too) is evaluated once and the derivations are built from that evaluation. One it
    /// has (most likely an unchanged source with a warm cache) has its flake attributes built at
    /// once, so Nix's cache answers, and is evaluated by kiln only if its own cache turns out
    /// to have no entry for the locked source.
    fn start(
        nix: &Nix,
        req: &BuildRequest,
        system: &str,
        attrs: &[String],
        seen: bool,
    ) -> Option<EarlyQueries> {
        let (build, packages) = if seen {
            let installables = flake_installables(&req.flake, system, attrs);
            (Some(nix.start_build(&installables, build_flags(req)).ok()?), None)
        } else {
            let refs: Vec<&str> = attrs.iter().map(String::as_str).collect();
            (
                None,
                Some(nix.start_eval_packages(&req.flake, system, &refs).ok()?),
            )
        };
        Some(EarlyQueries {
            build,
            metadata: nix.start_flake_metadata(&req.flake).ok()?,
            packages,
        })
    }
}

/// The flake installables of `attrs`.
fn flake_installables(flake: &str, system: &str, attrs: &[String]) -> Vec<String> {
    attrs
        .iter()
        .map(|a| nix::package_installable(flake, system, a))
        .collect()
}

/// Flags of the one `nix build`.
fn build_flags(req: &BuildRequest) -> BuildFlags {
    BuildFlags {
        keep_going: req.keep_going,
        ..BuildFlags::default()
    }
}

/// Runs the pipeline. `Err` is a usage or environment problem (exit 2).
pub fn run(req: &BuildRequest, interrupt: &Interrupt, plain_progress: bool) -> Result<BuildEnd> {
    // A signal that came before any nix was started: start none.
    if interrupt.is_set() {
        return Ok(BuildEnd::Interrupted(interrupt.exit_code()));
    }
    let started = std::time::SystemTime::now();
    let detecting = Nix::start_detect(req.verbose, req.nix_args.clone()).context("reading nix settings")?;
    // Unless configured otherwise, nix's `system` is the host's: the evaluation starts at once,
    // beside the version and settings queries, and is asked again only if the settings differ.
    let guess = req.system.clone().unwrap_or_else(nix::host_system);
    let attrs: Vec<String> = req.units.iter().map(Unit::attr).collect();
    let cache_dir = eval_cache::default_dir();
    let seen = cache_dir
        .as_deref()
        .is_some_and(|d| eval_cache::seen(d, &req.flake, &guess));
    let early = EarlyQueries::start(detecting.early(), req, &guess, &attrs, seen);
    // On an early return `early` is dropped, which ends what it started.
    let (nix, config) = detecting.finish().context("reading nix settings")?;
    let system = req
        .system
        .clone()
        .or_else(|| config.get("system").cloned())
        .ok_or_else(|| anyhow!("nix reports no `system` setting; pass --system"))?;
    // Another system: what was started is for the wrong attributes. Nix's evaluation cache off:
    // building the flake attributes would evaluate the flake again. Either way what was started
    // is dropped (which ends it) and the pipeline starts afresh.
    let eval_cache_on = config.get("eval-cache").map(String::as_str) != Some("false");
    let early = early.filter(|q| system == guess && (eval_cache_on || q.build.is_none()));
    let reports = req
        .units
        .iter()
        .map(|u| TargetReport {
            target: u.target.triple.clone(),
            attr: u.attr(),
            package: u.package.clone(),
            status: Status::Pending,
            drv_path: None,
            store_path: None,
            error: None,
            log_tail: Vec::new(),
            binaries: Vec::new(),
            file: None,
            info: None,
            bins: Vec::new(),
            smokes: BTreeMap::new(),
        })
        .collect();
    let mut p = Pipeline {
        req,
        interrupt,
        root: nix::store_root(&config),
        sandbox: config.get("sandbox").cloned(),
        started,
        nix,
        system,
        progress: Progress::new(attrs, plain_progress),
        reports,
        early,
        eval_cache: cache_dir.filter(|_| eval_cache_on),
    };
    let result = p.steps();
    p.progress.finish();
    match result {
        Ok(report) => Ok(BuildEnd::Done(Box::new(report))),
        Err(Stop::Interrupted) => Ok(BuildEnd::Interrupted(interrupt.exit_code())),
        Err(Stop::Error(e)) => Err(e),
    }
}

impl Pipeline<'_> {
    fn steps(&mut self) -> Result<BuildReport, Stop> {
        let metadata = self.evaluate_and_build()?;
        if self.req.check_reproducible && !self.stop_early() {
            self.check_reproducible()?;
        }
        if !self.stop_early() {
            self.verify_and_smoke();
        }
        self.checkpoint()?;
        self.export(&metadata)
    }

    fn checkpoint(&self) -> Result<(), Stop> {
        if self.interrupt.is_set() {
            Err(Stop::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Without `--keep-going`, the first failed target stops the pipeline before export.
    fn stop_early(&self) -> bool {
        !self.req.keep_going && self.reports.iter().any(|r| r.status != Status::Pending)
    }

    fn installables(&self, pick: impl Fn(&TargetReport) -> bool) -> (Vec<usize>, Vec<String>) {
        self.reports
            .iter()
            .enumerate()
            .filter(|(_, r)| pick(r))
            .map(|(i, r)| {
                (
                    i,
                    self.nix
                        .drv_installable(r.drv_path.as_deref().unwrap_or_default()),
                )
            })
            .unzip()
    }

    /// Flake metadata and the evaluation that maps each unit's attribute to its derivation
    /// (from kiln's cache when the locked source was evaluated before), and the one `nix build`
    /// of all units: of the flake attributes, already running beside the queries, when the
    /// flake was seen before; else of the evaluated derivations.
    fn evaluate_and_build(&mut self) -> Result<nix::FlakeMetadata, Stop> {
        let req = self.req;
        let system = self.system.clone();
        self.progress.set_all(Stage::Evaluating);
        let attrs: Vec<String> = req.units.iter().map(Unit::attr).collect();
        let attr_refs: Vec<&str> = attrs.iter().map(String::as_str).collect();
        let (build, metadata, packages) = match self.early.take() {
            Some(q) => (q.build, q.metadata, q.packages),
            None => (
                None,
                self.nix.start_flake_metadata(&req.flake)?,
                Some(self.nix.start_eval_packages(&req.flake, &system, &attr_refs)?),
            ),
        };
        let run = match build {
            Some(b) => Some(self.follow_build(b)?),
            None => None,
        };

        // Two nix processes setting up a brand-new store at once can trip over each other
        // (a busy database, a symlink the other just made); a query that failed is asked again,
        // alone, so only a real error is reported.
        let metadata = match metadata.finish_json_until::<nix::FlakeMetadata>(self.interrupt.flag()) {
            Ok(m) => m,
            Err(NixError::Interrupted) => return Err(Stop::Interrupted),
            Err(_) => {
                // A Ctrl-C on the terminal reaches nix too: then its failure is the interrupt.
                self.checkpoint()?;
                self.nix
                    .flake_metadata(&req.flake)
                    .map_err(|e| Stop::Error(nix_context(&req.flake, self.nix.version, e)))?
            }
        };
        let packages = self.packages(&metadata, packages, run.as_ref(), &attr_refs)?;
        let missing: Vec<String> = self
            .reports
            .iter()
            .filter(|r| packages.get(&r.attr).is_none_or(Option::is_none))
            .map(|r| format!("packages.{system}.{} (target {})", r.attr, r.target))
            .collect();
        if !missing.is_empty() {
            return Err(Stop::Error(anyhow!(
                "flake '{}' has no attribute {}",
                req.flake,
                missing.join(", ")
            )));
        }
        for (i, r) in self.reports.iter_mut().enumerate() {
            let p = packages.get(&r.attr).cloned().flatten();
            r.drv_path = p.as_ref().map(|p| p.drv_path.clone());
            if let Some(p) = &p {
                self.progress.set_drv(i, &p.drv_path);
            }
            r.info = p;
        }
        let run = if let Some(run) = run {
            run
        } else {
            self.checkpoint()?;
            let (_, drvs) = self.installables(|_| true);
            let build = self.nix.start_build(&drvs, build_flags(req))?;
            self.follow_build(build)?
        };
        self.classify_build(&run)?;
        Ok(metadata)
    }

    /// Each attribute's derivation: from kiln's cache of evaluations when it has this locked
    /// source and agrees with what nix built (`run`), else from the evaluation (`packages`, or
    /// one started now), which is then stored.
    fn packages(
        &self,
        metadata: &nix::FlakeMetadata,
        packages: Option<nix::Pending>,
        run: Option<&nix::BuildRun>,
        attr_refs: &[&str],
    ) -> Result<BTreeMap<String, Option<PackageInfo>>, Stop> {
        let (req, system) = (self.req, self.system.as_str());
        let key = self.eval_cache.as_ref().and_then(|_| {
            Some(eval_cache::Key {
                nix_version: self.nix.version.to_string(),
                locked_url: metadata.url.clone()?,
                nar_hash: metadata.nar_hash()?.to_owned(),
                system: system.to_owned(),
            })
        });
        let cached = match (&self.eval_cache, &key) {
            (Some(dir), Some(key)) => eval_cache::lookup(dir, key, attr_refs),
            _ => None,
        }
        // What nix reported building must be what the cache says the attributes are.
        .filter(|found| {
            run.is_none_or(|run| {
                !run.success
                    || found
                        .values()
                        .all(|p| run.results.iter().any(|b| b.drv_path == p.drv_path))
            })
        });
        let packages = if let Some(found) = cached {
            drop(packages);
            found.into_iter().map(|(a, p)| (a, Some(p))).collect()
        } else {
            let pending = match packages {
                Some(p) => p,
                None => self.nix.start_eval_packages(&req.flake, system, attr_refs)?,
            };
            let mut packages =
                pending.finish_json_until::<BTreeMap<String, Option<PackageInfo>>>(self.interrupt.flag());
            if let Err(NixError::Interrupted) = packages {
                return Err(Stop::Interrupted);
            }
            if packages.is_err() {
                self.checkpoint()?;
                packages = self.nix.eval_packages(&req.flake, system, attr_refs);
            }
            let packages = packages.map_err(|e| {
                Stop::Error(match &e {
                    NixError::Failed { stderr, .. } if stderr.contains("does not provide attribute") => {
                        anyhow!("flake '{}' has no attribute packages.{system}", req.flake)
                    }
                    _ => nix_context(&req.flake, self.nix.version, e),
                })
            })?;
            if let (Some(dir), Some(key)) = (&self.eval_cache, &key) {
                let found: BTreeMap<String, PackageInfo> = packages
                    .iter()
                    .filter_map(|(a, p)| Some((a.clone(), p.clone()?)))
                    .collect();
                eval_cache::store(dir, key, &found);
                eval_cache::mark_seen(dir, &req.flake, system);
            }
            packages
        };
        Ok(packages)
    }

    /// Follows the one `nix build --json --no-link` of all units to its end.
    fn follow_build(&mut self, build: nix::Pending) -> Result<nix::BuildRun, Stop> {
        self.progress.set_all(Stage::Building);
        let (progress, verbose) = (&mut self.progress, self.req.verbose);
        Ok(Nix::finish_build(build, self.interrupt.flag(), |line| {
            on_nix_line(line, progress, verbose, Stage::Building);
        })?)
    }

    /// Matches the build's results to units by drvPath; failed ones get the tail of their log.
    fn classify_build(&mut self, run: &nix::BuildRun) -> Result<(), Stop> {
        match_results(&self.nix, run, &mut self.reports)?;
        let summary = nix::error_summary(&run.stderr);
        for (i, r) in self.reports.iter_mut().enumerate() {
            if r.store_path.is_some() {
                continue;
            }
            let drv = r.drv_path.clone().unwrap_or_default();
            // Nix names a failed derivation (or one whose dependency failed) in an `error:` line;
            // a build it merely stopped because another target failed is named only in the
            // closing summary of current Nix (`error: build of 'A^out', 'B^out' failed`).
            let named =
                run.stderr.lines().map(str::trim_start).any(|l| {
                    l.starts_with("error:") && !l.starts_with("error: build of '") && l.contains(&drv)
                });
            if !named && !self.req.keep_going {
                r.status = Status::NotBuilt;
                r.error = Some(
                    "not built: nix stopped when another target failed (--keep-going builds the rest)".into(),
                );
                self.progress.set(i, Stage::Failed, "not built");
                continue;
            }
            r.status = Status::BuildFailed;
            r.log_tail = self.nix.log(&drv).map(|l| tail(&l, 20)).unwrap_or_default();
            r.error = Some(if r.log_tail.is_empty() {
                format!("build failed: {summary}")
            } else {
                format!("build of {drv} failed (last log lines below)")
            });
            self.progress.set(i, Stage::Failed, "build failed");
        }
        Ok(())
    }

    /// `nix build --rebuild --keep-failed`: a kept `<out>.check` means the bytes differed.
    fn check_reproducible(&mut self) -> Result<(), Stop> {
        let (idx, installables) = self.installables(|r| r.status == Status::Pending);
        if idx.is_empty() {
            return Ok(());
        }
        for &i in &idx {
            self.progress.set(i, Stage::CheckingReproducible, "");
        }
        let flags = BuildFlags {
            keep_going: true,
            rebuild: true,
            keep_failed: true,
        };
        let (progress, verbose) = (&mut self.progress, self.req.verbose);
        let run = self
            .nix
            .build(&installables, flags, self.interrupt.flag(), |line| {
                on_nix_line(line, progress, verbose, Stage::CheckingReproducible);
            })?;
        remove_kept_build_dirs(&run.stderr);
        for &i in &idx {
            let r = &mut self.reports[i];
            let out = r.store_path.clone().unwrap_or_default();
            let check = format!("{out}.check");
            let check_disk = nix::on_disk(&self.root, &check);
            if check_disk.exists() {
                let first = first_difference(&nix::on_disk(&self.root, &out), &check_disk)
                    .unwrap_or_else(|| "(no file differs; metadata only)".into());
                r.status = Status::NotReproducible;
                r.error = Some(format!(
                    "not reproducible: a rebuild of {} gave different bytes; first differing file: {first}",
                    r.attr
                ));
                self.nix.delete_path(&check);
                self.progress.set(i, Stage::Failed, "not reproducible");
            } else if !run.success
                && let Some(drv) = r.drv_path.as_deref()
                && run
                    .stderr
                    .lines()
                    .any(|l| l.trim_start().starts_with("error:") && l.contains(drv))
            {
                r.status = Status::NotReproducible;
                r.error = Some(format!("rebuild failed: {}", nix::error_summary(&run.stderr)));
                self.progress.set(i, Stage::Failed, "rebuild failed");
            }
        }
        Ok(())
    }

    fn verify_and_smoke(&mut self) {
        for (i, r) in self.reports.iter_mut().enumerate() {
            if r.status != Status::Pending {
                continue;
            }
            self.progress.set(i, Stage::Verifying, "");
            verify_target(r, self.req.units[i].target, &self.root, &self.req.policy);
            if r.status == Status::Pending
                && let Some(args) = &self.req.smoke
            {
                self.progress.set(i, Stage::Smoke, "");
                smoke_target(r, self.req.units[i].target, args);
            }
            if r.status == Status::Pending {
                r.status = Status::Verified;
            } else {
                self.progress
                    .set(i, Stage::Failed, r.error.as_deref().unwrap_or(""));
            }
        }
    }

    /// Exports the verified targets when all are (or with `--keep-going`, any are).
    fn export(&mut self, metadata: &nix::FlakeMetadata) -> Result<BuildReport, Stop> {
        let verified = |r: &TargetReport| r.status == Status::Verified;
        let all_good = self.reports.iter().all(verified);
        let mut report = BuildReport {
            ok: false,
            flake: self.req.flake.clone(),
            system: self.system.clone(),
            nix_version: self.nix.version.to_string(),
            exported: None,
            targets: Vec::new(),
            manifest: None,
        };
        if self.reports.iter().any(verified) && (all_good || self.req.keep_going) {
            for (i, r) in self.reports.iter().enumerate() {
                if verified(r) {
                    self.progress.set(i, Stage::Exporting, "");
                }
            }
            let ctx = ExportContext {
                req: self.req,
                nix: &self.nix,
                system: &self.system,
                root: &self.root,
                metadata,
                sandbox: self.sandbox.as_deref(),
                started: self.started,
            };
            report.manifest = Some(export_release(&ctx, &mut self.reports, self.interrupt)?);
            report.exported = Some(self.req.out.clone());
        }
        for (i, r) in self.reports.iter().enumerate() {
            match r.status {
                Status::Exported => self.progress.set(i, Stage::Done, r.file.as_deref().unwrap_or("")),
                Status::Verified => self.progress.set(i, Stage::Done, "verified, not exported"),
                _ => {}
            }
        }
        report.ok = all_good && report.exported.is_some();
        report.targets = std::mem::take(&mut self.reports);
        Ok(report)
    }
}

/// Nix keeps the sandbox directory of a failed check; it is of no use to the user.
fn remove_kept_build_dirs(stderr: &str) {
    for line in stderr.lines() {
        if let Some(dir) = line
            .split("keeping build directory '")
            .nth(1)
            .and_then(|s| s.split('\'').next())
        {
            let p = Path::new(dir);
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("nix-build-"))
            {
                let _ = fs::remove_dir_all(p);
            }
        }
    }
}

fn on_nix_line(line: &str, progress: &mut Progress, verbose: bool, stage: Stage) {
    if verbose {
        progress.println(line);
    }
    progress.nix_line(line, stage);
}

/// Fills `store_path` from nix's JSON by drvPath, then from output validity for the rest.
fn match_results(nix: &Nix, run: &nix::BuildRun, reports: &mut [TargetReport]) -> Result<()> {
    let by_drv: BTreeMap<&str, &nix::BuildResult> =
        run.results.iter().map(|b| (b.drv_path.as_str(), b)).collect();
    let mut unknown = Vec::new();
    for r in reports.iter_mut() {
        let drv = r.drv_path.clone().unwrap_or_default();
        if let Some(b) = by_drv.get(drv.as_str()) {
            r.store_path = b
                .outputs
                .get("out")
                .or_else(|| b.outputs.values().next())
                .cloned();
        } else if let Some(p) = &r.info {
            unknown.push(p.out_path.clone());
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    let refs: Vec<&str> = unknown.iter().map(String::as_str).collect();
    let valid = nix.valid_paths(&refs)?;
    for r in reports.iter_mut() {
        if r.store_path.is_none()
            && let Some(p) = &r.info
            && valid.get(&p.out_path) == Some(&true)
        {
            r.store_path = Some(p.out_path.clone());
        }
    }
    Ok(())
}

fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// The first path (relative, in sorted walk order) whose type, mode or bytes differ.
pub fn first_difference(a: &Path, b: &Path) -> Option<String> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(root.join(rel)) else {
            return;
        };
        let mut names: Vec<_> = rd.filter_map(Result::ok).map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            out.push(r.clone());
            if fs::symlink_metadata(root.join(&r)).is_ok_and(|m| m.is_dir()) {
                walk(root, &r, out);
            }
        }
    }
    let (mut la, mut lb) = (Vec::new(), Vec::new());
    walk(a, Path::new(""), &mut la);
    walk(b, Path::new(""), &mut lb);
    let mut all: Vec<&PathBuf> = la.iter().chain(lb.iter()).collect();
    all.sort();
    all.dedup();
    for rel in all {
        let (pa, pb) = (a.join(rel), b.join(rel));
        let (ma, mb) = (fs::symlink_metadata(&pa).ok(), fs::symlink_metadata(&pb).ok());
        let same = match (&ma, &mb) {
            (Some(x), Some(y)) if x.is_file() && y.is_file() => fs::read(&pa).ok() == fs::read(&pb).ok(),
            (Some(x), Some(y)) if x.is_dir() && y.is_dir() => true,
            (Some(x), Some(y)) if x.is_symlink() && y.is_symlink() => {
                fs::read_link(&pa).ok() == fs::read_link(&pb).ok()
            }
            _ => false,
        };
        if !same {
            return Some(rel.display().to_string());
        }
    }
    None
}

fn verify_target(r: &mut TargetReport, t: &Target, root: &Path, opts: &policy::Options) {
    let out = nix::on_disk(root, r.store_path.as_deref().unwrap_or_default());
    let bin = out.join("bin");
    let entries = match fs::read_dir(&bin) {
        Ok(rd) => {
            let mut v: Vec<_> = rd.filter_map(Result::ok).collect();
            v.sort_by_key(std::fs::DirEntry::file_name);
            v
        }
        Err(e) => {
            r.status = Status::VerifyFailed;
            r.error = Some(format!(
                "{}: no bin/ directory ({e})",
                r.store_path.as_deref().unwrap_or("?")
            ));
            return;
        }
    };
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(err) => {
                r.status = Status::VerifyFailed;
                r.error = Some(format!("{}: {err}", path.display()));
                return;
            }
        };
        if !meta.is_file() {
            r.status = Status::VerifyFailed;
            r.error = Some(format!(
                "bin/{name} in {} is a symlink or not a regular file; kiln ships regular files only",
                r.store_path.as_deref().unwrap_or("?")
            ));
            return;
        }
        let inspection = elf::inspect(&path);
        let cargo_profile = r.info.as_ref().and_then(|i| i.cargo_profile.as_deref());
        let mut verdict = match policy::check(&inspection, t, opts) {
            Ok(findings) => Verdict {
                path: PathBuf::from(format!("bin/{name}")),
                target: t.triple.clone(),
                ok: !findings.iter().any(|f| f.severity == Severity::Error),
                findings,
                error: None,
            },
            Err(e) => Verdict {
                path: PathBuf::from(format!("bin/{name}")),
                target: t.triple.clone(),
                ok: false,
                findings: Vec::new(),
                error: Some(e),
            },
        };
        if verdict.error.is_none()
            && let Some(f) =
                crate::elf::profile::mismatch(cargo_profile, inspection.facts.build_profile, opts)
        {
            verdict.ok &= f.severity != Severity::Error;
            verdict.findings.push(f);
        }
        if !verdict.ok {
            r.status = Status::VerifyFailed;
            let codes: Vec<&str> = verdict
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| f.code.as_str())
                .collect();
            r.error = Some(format!(
                "bin/{name} failed verification for {}: {}",
                t.triple,
                codes.join(", ")
            ));
        }
        r.binaries.push(verdict);
        r.bins.push((name, path, inspection.facts));
    }
    if r.bins.is_empty() && r.status == Status::Pending {
        r.status = Status::VerifyFailed;
        r.error = Some(format!(
            "{}/bin is empty: nothing to ship",
            r.store_path.as_deref().unwrap_or("?")
        ));
    }
}

/// Runs every binary of a verified target once.
fn smoke_target(r: &mut TargetReport, t: &Target, args: &[String]) {
    for (name, path, _) in &r.bins.clone() {
        match smoke_run(path, t, args) {
            Ok(run) => {
                let s = run.smoke;
                if s.exit_code != Some(0) {
                    r.status = Status::SmokeFailed;
                    let how = match s.exit_code {
                        Some(c) => format!("exited {c}"),
                        None => "was killed (a signal, or no end within 60 s)".into(),
                    };
                    let mut error = format!("smoke run of bin/{name} ({}) {how}: {}", s.runner, s.first_line);
                    if let Some(last) = run.last_stderr_line.filter(|l| *l != s.first_line) {
                        let _ = write!(error, " … {last}");
                    }
                    r.error = Some(error);
                }
                r.smokes.insert(name.clone(), s);
            }
            Err(e) => {
                r.status = Status::SmokeFailed;
                r.error = Some(format!("smoke run of bin/{name}: {e:#}"));
            }
        }
    }
}

/// Runs `path ARGS` natively when the target's architecture is the host's, else under the
/// target's qemu-user emulator (with `/usr/<arch>-linux-gnu` as the loader prefix for gnu
/// targets when it exists). Gives up after 60 seconds.
pub fn smoke_run(path: &Path, t: &Target, args: &[String]) -> Result<SmokeRun> {
    let native = t.arch == std::env::consts::ARCH;
    let mut cmd;
    let runner;
    if native {
        cmd = Command::new(path);
        runner = "native".to_owned();
    } else {
        let qemu = which::which(&t.qemu)
            .with_context(|| format!("{} not found on PATH (apt-get install qemu-user-static)", t.qemu))?;
        cmd = Command::new(&qemu);
        let sysroot = PathBuf::from(format!("/usr/{}-linux-gnu", t.arch));
        if t.libc == Libc::Gnu && sysroot.is_dir() {
            cmd.arg("-L").arg(&sysroot);
        }
        cmd.arg(path);
        runner = t.qemu.clone();
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", path.display()))?;
    // Both pipes are read while the binary runs, so one printing more than a pipe holds never
    // blocks on a full pipe; only the first and last bytes of each are kept.
    let readers = [
        child.stdout.take().map(|r| Captured::spawn(Box::new(r))),
        child.stderr.take().map(|r| Captured::spawn(Box::new(r))),
    ];
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // A child the binary left behind may hold a pipe open: wait for the readers a little only.
    let [out, err] = readers.map(|r| r.map(Captured::finish).unwrap_or_default());
    let output_bytes = (out.total, err.total);
    let tail: Vec<u8> = err.tail.iter().copied().collect();
    let last_stderr_line = String::from_utf8_lossy(&tail)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned());
    let text = if out.head.iter().any(|b| !b.is_ascii_whitespace()) {
        out.head
    } else {
        err.head
    };
    let first_line = String::from_utf8_lossy(&text)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned();
    Ok(SmokeRun {
        smoke: Smoke {
            args: args.to_vec(),
            runner,
            exit_code: status.and_then(|s| s.code()),
            first_line,
        },
        last_stderr_line,
        output_bytes,
    })
}

/// How much of a smoke run's output is kept: the first and the last bytes of each stream.
const SMOKE_KEEP: usize = 64 * 1024;

/// One output stream of a smoke run, read to its end on a thread of its own.
#[derive(Default)]
struct Captured {
    /// The first [`SMOKE_KEEP`] bytes (where the first line is).
    head: Vec<u8>,
    /// The last [`SMOKE_KEEP`] bytes.
    tail: std::collections::VecDeque<u8>,
    /// Every byte read.
    total: u64,
}

/// A smoke run, with the end of its error output for a failure's report.
pub struct SmokeRun {
    /// What the manifest records.
    pub smoke: Smoke,
    /// The last non-empty line of stderr (of its last 64 KiB), if any.
    pub last_stderr_line: Option<String>,
    /// Bytes written to stdout and stderr.
    pub output_bytes: (u64, u64),
}

impl Captured {
    fn spawn(mut r: Box<dyn std::io::Read + Send>) -> std::sync::mpsc::Receiver<Captured> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut c = Captured::default();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => c.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(c);
        });
        rx
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = SMOKE_KEEP.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        let keep = &bytes[bytes.len().saturating_sub(SMOKE_KEEP)..];
        self.tail.extend(keep);
        let excess = self.tail.len().saturating_sub(SMOKE_KEEP);
        self.tail.drain(..excess);
    }

    /// What the reader got, waiting at most 2 s for the pipe to close.
    #[allow(clippy::needless_pass_by_value)] // the receiver is done with once read
    fn finish(rx: std::sync::mpsc::Receiver<Captured>) -> Captured {
        rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default()
    }
}

struct ExportContext<'a> {
    req: &'a BuildRequest,
    nix: &'a Nix,
    system: &'a str,
    root: &'a Path,
    metadata: &'a nix::FlakeMetadata,
    sandbox: Option<&'a str>,
    started: std::time::SystemTime,
}

/// SOURCE_DATE_EPOCH: the environment's, else the flake's lastModified, else 1980-01-01.
pub fn source_date_epoch(metadata_last_modified: Option<i64>) -> Result<i64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| anyhow!("SOURCE_DATE_EPOCH='{v}' is not a non-negative integer"));
    }
    Ok(metadata_last_modified.filter(|n| *n > 0).unwrap_or(315_532_800))
}

/// The manifest's view of one target's binaries.
fn manifest_binaries(r: &TargetReport, stem: &str) -> Vec<Binary> {
    r.bins
        .iter()
        .zip(&r.binaries)
        .map(|((n, _, facts), v)| Binary {
            path: format!("{stem}/{n}"),
            sha256: facts.sha256.clone().unwrap_or_default(),
            size: facts.size.unwrap_or(0),
            linkage: facts.linkage.map(|l| l.as_str().to_owned()),
            libc: facts.libc.map(|l| l.to_string()),
            glibc_max: facts.glibc_max.clone(),
            build_profile: facts.build_profile.map(|p| p.to_string()),
            findings: v.findings.clone(),
            smoke: r.smokes.get(n).cloned(),
        })
        .collect()
}

/// Writes `provenance.intoto.json` (and, with a key, its envelope) into the staging directory.
/// The provenance names every file in `sums`; it and its envelope stay out of SHA256SUMS, which
/// is thus the same for two runs of the same build.
fn write_provenance(
    ctx: &ExportContext<'_>,
    staging: &Staging,
    sums: &[(String, String)],
    outputs: &[provenance::BuiltOutput],
) -> Result<()> {
    let req = ctx.req;
    let statement = provenance::statement_bytes(&provenance::Inputs {
        subjects: sums,
        flake: &req.flake,
        metadata: ctx.metadata,
        outputs,
        flags: provenance::Flags {
            archive: req.archive.to_string(),
            check_reproducible: req.check_reproducible,
            keep_going: req.keep_going,
            smoke: req.smoke.clone(),
            system: req.system.clone(),
            ..provenance::Flags::of_policy(&req.policy)
        },
        nix_version: &ctx.nix.version.to_string(),
        system: ctx.system,
        sandbox: ctx.sandbox,
        env: provenance::ci_env(),
        started: ctx.started,
        finished: std::time::SystemTime::now(),
        invocation_id: provenance::random_invocation_id(),
    });
    if let Some(key) = &req.sign_key {
        staging.write(&DistFile::Bytes {
            file: provenance::ENVELOPE_FILE.into(),
            bytes: key.envelope_line(&statement),
        })?;
    }
    staging.write(&DistFile::Bytes {
        file: provenance::STATEMENT_FILE.into(),
        bytes: statement,
    })?;
    Ok(())
}

/// The flake's own directory on disk (`?dir=` of a git or path flake).
fn flake_dir(ctx: &ExportContext<'_>) -> Option<PathBuf> {
    ctx.metadata.path.as_deref().map(|p| {
        let dir = ctx
            .metadata
            .locked
            .get("dir")
            .and_then(|d| d.as_str())
            .unwrap_or("");
        nix::on_disk(ctx.root, p).join(dir)
    })
}

/// The flake directory's crate and the packages of its `Cargo.lock`, when it has one.
fn cargo_lock(dir: Option<&Path>) -> Result<Option<sbom::Crate>> {
    match dir.map(|d| (d, d.join("Cargo.lock"))) {
        Some((d, p)) if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) => {
            let text = fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
            Ok(Some(sbom::Crate {
                dir: d.to_owned(),
                lock: sbom::parse_cargo_lock(&text).with_context(|| format!("{}", p.display()))?,
            }))
        }
        _ => Ok(None),
    }
}

/// What the provenance records of one exported target.
fn provenance_output(system: &str, r: &TargetReport) -> provenance::BuiltOutput {
    provenance::BuiltOutput {
        target: r.target.clone(),
        attribute: format!("packages.{system}.{}", r.attr),
        store_path: r.store_path.clone().unwrap_or_default(),
        drv_path: r.drv_path.clone().unwrap_or_default(),
        verification: serde_json::to_value(&r.binaries).unwrap_or_default(),
    }
}

/// An archive that failed because its target's output is no longer in the store (deleted or
/// garbage-collected after the build) says so, naming the store path.
fn gone_from_store(e: export::ExportError, store_path: Option<&str>) -> anyhow::Error {
    match (&e, store_path) {
        (
            export::ExportError::Archive {
                source: crate::archive::ArchiveError::ReadSource { source, .. },
                ..
            },
            Some(out),
        ) if source.kind() == std::io::ErrorKind::NotFound && fs::symlink_metadata(out).is_err() => {
            anyhow!(
                "{out} is no longer in the Nix store (deleted or garbage-collected after it was built); \
                 nothing exported, build again"
            )
        }
        _ => e.into(),
    }
}

/// The release name the derivations give, one for all targets: the first target's `pname`
/// without its own attribute suffix (kiln's Nix library names a target's package
/// `<pname>-<attr>`, e.g. `app-x86_64-musl`), so every archive carries the same name.
fn release_name(reports: &[TargetReport]) -> Option<String> {
    reports.iter().find_map(|r| {
        let info = r.info.as_ref()?;
        let stripped = info
            .pname
            .strip_suffix(&r.attr)
            .and_then(|s| s.strip_suffix('-'))
            .filter(|s| !s.is_empty());
        Some(stripped.unwrap_or(&info.pname).to_owned())
    })
}

/// `(name, version, <name>-<version>-<triple>)` of a target's archive. A package's archives
/// carry the package's name and (without a Cargo.toml version) its derivation's version.
fn archive_stem<'a>(
    r: &'a TargetReport,
    name: &'a str,
    version: &str,
    cargo_version: Option<&str>,
) -> (&'a str, String, String) {
    let (name, version) = match &r.package {
        Some(p) => (
            p.as_str(),
            cargo_version
                .map(str::to_owned)
                .or_else(|| r.info.as_ref().map(|i| i.version.clone()))
                .unwrap_or_default(),
        ),
        None => (name, version.to_owned()),
    };
    let stem = if version.is_empty() {
        format!("{name}-{}", r.target)
    } else {
        format!("{name}-{version}-{}", r.target)
    };
    (name, version, stem)
}

fn export_release(
    ctx: &ExportContext<'_>,
    reports: &mut [TargetReport],
    interrupt: &Interrupt,
) -> Result<Manifest> {
    let req = ctx.req;
    let first = reports.iter().find_map(|r| r.info.clone());
    let name = req
        .name
        .clone()
        .or_else(|| release_name(reports))
        .unwrap_or_else(|| "release".into());
    let version = req
        .version
        .clone()
        .or_else(|| first.as_ref().map(|p| p.version.clone()))
        .unwrap_or_default();
    let epoch = source_date_epoch(ctx.metadata.last_modified)?;
    // The flake's own directory (`?dir=` of a git or path flake): README/LICENSE, Cargo.lock.
    let flake_dir = flake_dir(ctx);
    let docs = flake_dir.as_deref().map(export::find_docs).unwrap_or_default();
    let lock = cargo_lock(flake_dir.as_deref())?;
    let mut outputs = Vec::new();

    let staging = Staging::new(&req.out, u64::try_from(epoch).unwrap_or(0), interrupt.clone())?;
    let mut sums: Vec<(String, String)> = Vec::new();
    let mut artifacts = Vec::new();
    for r in reports.iter_mut().filter(|r| r.status == Status::Verified) {
        let (name, version, stem) = archive_stem(r, &name, &version, req.version.as_deref());
        let file = format!("{stem}.{}", req.archive.extension());
        let bins: Vec<(String, PathBuf)> = r.bins.iter().map(|(n, p, _)| (n.clone(), p.clone())).collect();
        let entries = export::target_entries(&stem, &bins, &docs);
        let (sha, size) = staging
            .write(&DistFile::Archive {
                file: file.clone(),
                format: req.archive,
                entries,
            })
            .map_err(|e| gone_from_store(e, r.store_path.as_deref()))?;
        sums.push((file.clone(), sha.clone()));
        if let Some(packages) = &lock {
            let sbom_file = sbom::file_name(&stem);
            let (sbom_sha, _) = staging.write(&DistFile::Bytes {
                file: sbom_file.clone(),
                bytes: packages.sbom(name, &version, &r.target, &stem),
            })?;
            sums.push((sbom_file, sbom_sha));
        }
        outputs.push(provenance_output(ctx.system, r));
        let binaries = manifest_binaries(r, &stem);
        let glibc_max = binaries
            .iter()
            .filter_map(|b| b.glibc_max.as_deref().and_then(GlibcVersion::parse))
            .max()
            .map(|v| v.to_string());
        artifacts.push(Artifact {
            target: r.target.clone(),
            attr: r.attr.clone(),
            package: r.package.clone(),
            file: file.clone(),
            sha256: sha,
            size,
            store_path: r.store_path.clone().unwrap_or_default(),
            drv_path: r.drv_path.clone().unwrap_or_default(),
            linkage: binaries.first().and_then(|b| b.linkage.clone()),
            glibc_max,
            cargo_profile: r.info.as_ref().and_then(|i| i.cargo_profile.clone()),
            findings: binaries.iter().flat_map(|b| b.findings.clone()).collect(),
            binaries,
        });
        r.file = Some(file);
    }
    let (flake, locked_url) = provenance::source_identity(&req.flake, ctx.metadata);
    let manifest = Manifest {
        schema: manifest::SCHEMA.into(),
        name,
        version,
        source: Source {
            flake,
            locked_url,
            revision: ctx.metadata.revision.clone(),
            nar_hash: ctx.metadata.nar_hash().map(str::to_owned),
            last_modified: ctx.metadata.last_modified,
        },
        source_date_epoch: epoch,
        nix: NixInfo {
            version: ctx.nix.version.to_string(),
            system: ctx.system.to_owned(),
        },
        archive_format: req.archive.to_string(),
        artifacts,
        images: None,
    };
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    let (sha, _) = staging.write(&DistFile::Bytes {
        file: "manifest.json".into(),
        bytes: json,
    })?;
    sums.push(("manifest.json".into(), sha));
    write_provenance(ctx, &staging, &sums, &outputs)?;
    staging.publish(&sums)?;
    for r in reports.iter_mut().filter(|r| r.status == Status::Verified) {
        r.status = Status::Exported;
    }
    Ok(manifest)
}

/// The human summary printed on stdout after a build.
pub fn summary(report: &BuildReport, style: Style) -> String {
    let mut s = String::new();
    for r in &report.targets {
        let (head, what) = match r.status {
            Status::Exported => (style.green("ok   "), r.file.clone().unwrap_or_default()),
            Status::Verified => (style.green("ok   "), "verified (not exported)".into()),
            _ => (
                style.red("FAIL "),
                r.error.clone().unwrap_or_else(|| format!("{:?}", r.status)),
            ),
        };
        let _ = writeln!(s, "{head} {:<28} {what}", r.target);
        for v in &r.binaries {
            for f in &v.findings {
                let sev = match f.severity {
                    Severity::Error => style.red("error"),
                    Severity::Warning => style.yellow("warning"),
                };
                let _ = writeln!(s, "        {} {sev} {}: {}", v.path.display(), f.code, f.message);
            }
        }
        for l in &r.log_tail {
            let _ = writeln!(s, "        | {l}");
        }
    }
    match &report.exported {
        Some(dir) => {
            let n = report
                .targets
                .iter()
                .filter(|r| r.status == Status::Exported)
                .count();
            let _ = writeln!(
                s,
                "exported {n} archive(s), manifest.json, SHA256SUMS and the provenance to {}",
                dir.display()
            );
        }
        None => {
            let _ = writeln!(s, "nothing exported");
        }
    }
    s
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
