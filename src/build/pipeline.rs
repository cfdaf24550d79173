//! The `kiln build` pipeline ([`execute`]): it starts nix's queries early, evaluates, runs the
//! one `nix build`, matches results to units by drvPath, rebuilds for `--check-reproducible`,
//! verifies and smoke-runs ([`super::verify`], [`super::smoke`]) and hands the verified targets
//! to the release assembly ([`super::assemble`]). It holds the run's state and the progress
//! display; nix's output is read by [`crate::nix`], never here.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};

use super::assemble::{ExportContext, export_release};
use super::eval_memo;
use super::outcome::{BuildEnd, BuildReport, Status, TargetReport};
use super::request::{BuildRequest, Unit};
use super::smoke::smoke_target;
use super::verify::{first_difference, verify_target};
use crate::export::ExportError;
use crate::nix::{self, BuildFlags, Nix, NixError, NixErrorKind, PackageInfo};
use crate::proc::Interrupt;
use crate::progress::{Progress, Stage};

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

/// Why the pipeline stopped before its end. An interrupt is carried up as its own variant from
/// wherever it was seen ([`NixError::Interrupted`], [`ExportError::Interrupted`], a checkpoint),
/// never found again in an error's text or chain.
pub(super) enum Stop {
    /// SIGINT or SIGTERM.
    Interrupted,
    /// A usage or environment problem (exit 2).
    Error(anyhow::Error),
}

impl From<NixError> for Stop {
    fn from(e: NixError) -> Stop {
        match e {
            NixError::Interrupted => Stop::Interrupted,
            other => Stop::Error(other.into()),
        }
    }
}

impl From<ExportError> for Stop {
    fn from(e: ExportError) -> Stop {
        match e {
            ExportError::Interrupted(_) => Stop::Interrupted,
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
    /// kiln's cache of evaluations (see [`super::eval_memo`]), unless turned off.
    eval_memo: Option<PathBuf>,
}

/// The build of every unit's flake attribute, `nix flake metadata` and the evaluation, started
/// before nix's version is known (their command lines are the same in every Nix).
struct EarlyQueries {
    /// Only when kiln evaluated this flake before (see [`eval_memo::seen`]).
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

/// Runs the `kiln build` pipeline for `req`. `Err` is a usage or environment problem (exit 2).
pub fn execute(req: &BuildRequest, interrupt: &Interrupt, plain_progress: bool) -> Result<BuildEnd> {
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
    let memo_dir = eval_memo::default_dir();
    let seen = memo_dir
        .as_deref()
        .is_some_and(|d| eval_memo::seen(d, &req.flake, &guess));
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
        eval_memo: memo_dir.filter(|_| eval_cache_on),
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
        let key = self.eval_memo.as_ref().and_then(|_| {
            Some(eval_memo::Key {
                nix_version: self.nix.version.to_string(),
                locked_url: metadata.url.clone()?,
                nar_hash: metadata.nar_hash()?.to_owned(),
                system: system.to_owned(),
            })
        });
        let cached = match (&self.eval_memo, &key) {
            (Some(dir), Some(key)) => eval_memo::lookup(dir, key, attr_refs),
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
                    NixError::Failed {
                        kind: NixErrorKind::MissingAttribute,
                        ..
                    } => {
                        anyhow!("flake '{}' has no attribute packages.{system}", req.flake)
                    }
                    _ => nix_context(&req.flake, self.nix.version, e),
                })
            })?;
            if let (Some(dir), Some(key)) = (&self.eval_memo, &key) {
                let found: BTreeMap<String, PackageInfo> = packages
                    .iter()
                    .filter_map(|(a, p)| Some((a.clone(), p.clone()?)))
                    .collect();
                eval_memo::store(dir, key, &found);
                eval_memo::mark_seen(dir, &req.flake, system);
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
            // nix names a failed derivation (or one whose dependency failed) as failed; a build
            // it merely stopped because another target failed is not (see nix::names_as_failed).
            let named = nix::names_as_failed(&run.stderr, &drv);
            if !named && !self.req.keep_going {
                r.status = Status::NotBuilt;
                r.error = Some(
                    "not built: nix stopped when another target failed (--keep-going builds the rest)".into(),
                );
                self.progress.set(i, Stage::Failed, "not built");
                continue;
            }
            r.status = Status::BuildFailed;
            // This run's own `-L` lines first: `nix log` reads the store's log file, which a
            // concurrent build of the same derivation may be rewriting.
            let own = nix::log::lines_of(&run.stderr, &drv);
            r.log_tail = if own.is_empty() {
                self.nix.log(&drv).map(|l| tail(&l, 20)).unwrap_or_default()
            } else {
                tail(&own.join("\n"), 20)
            };
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
                && nix::names_in_error(&run.stderr, drv)
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
    for dir in nix::log::kept_build_dirs(stderr) {
        let _ = fs::remove_dir_all(dir);
    }
}

fn on_nix_line(line: &str, progress: &mut Progress, verbose: bool, stage: Stage) {
    if verbose {
        progress.println(line);
    }
    progress.nix_line(line, stage);
}

/// Fills `store_path` from nix's JSON by drvPath, then from output validity for the rest.
fn match_results(nix: &Nix, run: &nix::BuildRun, reports: &mut [TargetReport]) -> Result<(), NixError> {
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
