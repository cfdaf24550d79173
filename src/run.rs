//! Dispatch: turns parsed arguments into work and an [`Outcome`].

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result};

use crate::archive::ArchiveFormat;
use crate::build::{self, BuildEnd, BuildRequest};
use crate::cache;
use crate::cli::{
    BuildArgs, CacheCommand, CacheTargets, CiCommand, CiInitArgs, Cli, Command, DoctorArgs, ImageArgs,
    InspectArgs, KeygenArgs, PolicyArgs, SignArgs, TargetsArgs, VerifyArgs, VerifyReleaseArgs,
};
use crate::dist_image::{self, ImageRequest};
use crate::doctor;
use crate::elf::{self, GlibcVersion};
use crate::init;
use crate::policy::{self, Severity};
use crate::proc::Interrupt;
use crate::project;
use crate::registry;
use crate::report::{self, Verdict};
use crate::target;
use crate::ui::Style;
use crate::workflow;

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything held (exit 0).
    Ok,
    /// Verification found errors (exit 1).
    Failed,
    /// Some input could not be processed; already reported per item (exit 2).
    Error,
    /// A signal ended the run; the conventional exit code (130 or 143).
    Interrupted(u8),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<Outcome> {
    let style = Style::new(cli.color);
    match cli.command {
        Command::Targets(a) => targets(&a, style),
        Command::Inspect(a) => inspect(&a, style),
        Command::Verify(a) => verify(&a, style),
        Command::Build(a) => build(&a, style),
        Command::Doctor(a) => doctor(&a, style),
        Command::Image(a) => image(&a),
        Command::Keygen(a) => keygen(&a),
        Command::Sign(a) => sign(&a),
        Command::VerifyRelease(a) => verify_release(&a),
        Command::Cache(c) => cache_cmd(&c),
        Command::Init(a) => init_cmd(&a.common, Some(&a)),
        Command::Ci(CiCommand::Init(a)) => init_cmd(&a, None),
    }
}

fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    print(&s)
}

fn targets(a: &TargetsArgs, style: Style) -> Result<Outcome> {
    if a.json {
        print_json(&target::all())?;
    } else {
        print(&report::targets_table(target::all(), style))?;
    }
    Ok(Outcome::Ok)
}

fn inspect(a: &InspectArgs, style: Style) -> Result<Outcome> {
    let results: Vec<elf::Inspection> = a.files.iter().map(|p| elf::inspect(p)).collect();
    let any_error = results.iter().any(|r| r.error.is_some());
    for r in &results {
        if let Some(elf::InspectError::Io(msg)) = &r.error {
            eprintln!("kiln: {}: {msg}", report::show_path(&r.facts.path));
        }
    }
    if a.json {
        let facts: Vec<&elf::Facts> = results.iter().map(|r| &r.facts).collect();
        print_json(&facts)?;
    } else {
        let blocks: Vec<String> = results
            .iter()
            .map(|r| report::facts_block(&r.facts, style))
            .collect();
        print(&blocks.join("\n"))?;
    }
    Ok(if any_error { Outcome::Error } else { Outcome::Ok })
}

fn verify(a: &VerifyArgs, style: Style) -> Result<Outcome> {
    let target = target::lookup(&a.target)?;
    let opts = policy_options(&a.policy, None)?;
    let verdicts: Vec<Verdict> = a
        .files
        .iter()
        .map(|path| {
            let inspection = elf::inspect(path);
            match policy::check(&inspection, target, &opts) {
                Ok(findings) => Verdict {
                    path: path.clone(),
                    target: target.triple.clone(),
                    ok: !findings.iter().any(|f| f.severity == Severity::Error),
                    findings,
                    error: None,
                },
                Err(e) => {
                    eprintln!("kiln: {}: {e}", report::show_path(path));
                    Verdict {
                        path: path.clone(),
                        target: target.triple.clone(),
                        ok: false,
                        findings: Vec::new(),
                        error: Some(format!("cannot read: {e}")),
                    }
                }
            }
        })
        .collect();
    if a.json {
        print_json(&verdicts)?;
    } else {
        let mut s: String = verdicts.iter().map(|v| report::verdict_lines(v, style)).collect();
        let failed = verdicts.iter().filter(|v| !v.ok).count();
        let _ = writeln!(
            s,
            "verified {} file(s) for {}: {} ok, {} failed",
            verdicts.len(),
            target.triple,
            verdicts.len() - failed,
            failed
        );
        print(&s)?;
    }
    Ok(if verdicts.iter().any(|v| v.error.is_some()) {
        Outcome::Error
    } else if verdicts.iter().any(|v| !v.ok) {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

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

fn load_project(flake: &str) -> Result<project::ProjectConfig> {
    Ok(match project::local_dir(flake) {
        Some(dir) => project::load(&dir)?,
        None => None,
    }
    .unwrap_or_default())
}

fn target_names(explicit: &[String], project: &project::ProjectConfig) -> Vec<String> {
    if !explicit.is_empty() {
        explicit.to_vec()
    } else if let Some(t) = &project.targets {
        t.clone()
    } else {
        target::all().iter().map(|t| t.triple.clone()).collect()
    }
}

/// The `[package.metadata.kiln]` keys that `kiln init`'s command line gives a value.
fn explicit_keys(c: &CiInitArgs, full: Option<&crate::cli::InitArgs>) -> Vec<&'static str> {
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

fn init_cmd(c: &CiInitArgs, full: Option<&crate::cli::InitArgs>) -> Result<Outcome> {
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
    let req = init::InitRequest {
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
    };
    let plan = init::run(&req)?;
    let mut text = String::new();
    if c.dry_run {
        // The diff on stdout (for `patch -p1`), what each file would get on stderr.
        for p in &plan {
            text.push_str(&p.diff());
            eprintln!("would be {:<10} {}", p.action.word(), p.rel);
        }
    } else {
        for p in &plan {
            let shown = p
                .root
                .as_ref()
                .map_or_else(|| p.rel.clone(), |r| r.join(&p.rel).display().to_string());
            let _ = writeln!(text, "{:<10} {}", p.action.word(), shown);
        }
    }
    print(&text)?;
    Ok(Outcome::Ok)
}

fn cache_cmd(c: &CacheCommand) -> Result<Outcome> {
    let what: &CacheTargets = match c {
        CacheCommand::Push(a) => &a.what,
        CacheCommand::Status(a) => &a.what,
        CacheCommand::Pull(a) => &a.what,
    };
    let (names, packages) = if what.from_dist.is_some() {
        (what.target.clone(), what.package.clone())
    } else {
        // The units `kiln build` of this flake builds: the same targets and packages.
        let project = load_project(&what.flake)?;
        let names = target_names(&what.target, &project);
        if names.is_empty() {
            anyhow::bail!("no targets: [package.metadata.kiln] targets is empty");
        }
        (names, packages_of(&what.package, &project)?)
    };
    let req = cache::CacheRequest {
        flake: what.flake.clone(),
        targets: target::lookup_many(&names)?,
        packages,
        system: what.system.clone(),
        verbose: what.verbose,
        from_dist: what.from_dist.clone(),
    };
    let entries = match c {
        CacheCommand::Push(a) => cache::push(&req, &a.to, a.key.as_ref())?,
        CacheCommand::Status(a) => cache::status(&req, &a.from)?,
        CacheCommand::Pull(a) => cache::pull(&req, &a.from, &a.trust)?,
    };
    if what.json {
        print_json(&entries)?;
    } else {
        let text: String = entries.iter().map(|e| e.line() + "\n").collect();
        print(&text)?;
        for e in entries.iter().filter(|e| e.error.is_some()) {
            crate::stderr_line(&format!(
                "kiln: {}: {}",
                e.store_path,
                e.error.as_deref().unwrap_or_default()
            ));
        }
    }
    Ok(
        if entries
            .iter()
            .any(|e| e.status == "missing" || e.status == "refused")
        {
            Outcome::Failed
        } else {
            Outcome::Ok
        },
    )
}

/// Takes the lock of the `dist/` at `out`; `Ok(Err(_))` is the outcome of a wait ended by a
/// signal.
fn lock_out(
    out: &std::path::Path,
    wait: bool,
    interrupt: &Interrupt,
) -> Result<Result<crate::lock::OutLock, Outcome>> {
    match crate::lock::OutLock::acquire(out, wait, interrupt) {
        Ok(lock) => Ok(Ok(lock)),
        Err(crate::lock::LockError::Interrupted(_)) => {
            crate::stderr_line(&format!(
                "kiln: interrupted while waiting for the lock on {}",
                out.display()
            ));
            Ok(Err(Outcome::Interrupted(interrupt.exit_code())))
        }
        Err(e) => Err(e.into()),
    }
}

/// `--package`, else `[package.metadata.kiln] packages`: checked, without repeats.
fn packages_of(explicit: &[String], project: &project::ProjectConfig) -> Result<Vec<String>> {
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
fn build_packages(a: &BuildArgs, project: &project::ProjectConfig) -> Result<Vec<String>> {
    let packages = packages_of(&a.package, project)?;
    if a.image && packages.len() > 1 {
        anyhow::bail!(
            "--image packages one program; with {} packages run `kiln image` on a dist of one",
            packages.len()
        );
    }
    Ok(packages)
}

fn build(a: &BuildArgs, style: Style) -> Result<Outcome> {
    // First of all: a Ctrl-C from now on is an interrupt (130/143), whatever it hits.
    let interrupt = Interrupt::install().context("installing signal handlers")?;
    match build_with(a, style, &interrupt) {
        Err(_) | Ok(Outcome::Error) if interrupt.is_set() => {
            // What failed (nix, most likely) got the same signal from the terminal.
            crate::stderr_line(&format!("kiln: interrupted; {} left as it was", a.out.display()));
            Ok(Outcome::Interrupted(interrupt.exit_code()))
        }
        Err(e) if a.json => {
            // `--json` promises a document on stdout whatever the end; stderr keeps its line.
            print_json(&JsonError::new(&e))?;
            Err(e)
        }
        other => other,
    }
}

/// The document `build --json` prints on exit 2 (a usage or environment error): `ok` as in a
/// build report, the one-line `error` (as on stderr, without `kiln: error: `) and the exit code.
#[derive(serde::Serialize)]
struct JsonError {
    ok: bool,
    error: String,
    code: u8,
}

impl JsonError {
    fn new(e: &anyhow::Error) -> JsonError {
        JsonError {
            ok: false,
            error: crate::one_line(e),
            code: crate::EXIT_USAGE,
        }
    }
}

fn build_with(a: &BuildArgs, style: Style, interrupt: &Interrupt) -> Result<Outcome> {
    let project = load_project(&a.flake)?;
    // Before any nix runs: a flake.nix git does not track is invisible to nix.
    project::check_flake_tracked(&a.flake)?;
    let target_names: Vec<String> = if !a.target.is_empty() {
        a.target.clone()
    } else if let Some(t) = &project.targets {
        t.clone()
    } else {
        target::all().iter().map(|t| t.triple.clone()).collect()
    };
    if target_names.is_empty() {
        anyhow::bail!("no targets: [package.metadata.kiln] targets is empty");
    }
    let targets = target::lookup_many(&target_names)?;
    let packages = build_packages(a, &project)?;
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
    let req = BuildRequest {
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
        nix_args,
        sign_key: secret_key(a.sign_key.as_deref())?,
    };
    // Refused before anything is built or locked: nothing of the user's is touched.
    crate::export::check_destination(
        &a.out,
        &project::local_dir(&a.flake).into_iter().collect::<Vec<_>>(),
    )?;
    // Held until this function returns: the build, the export and any --image step.
    let _lock = match lock_out(&a.out, a.wait_lock, interrupt)? {
        Ok(lock) => lock,
        Err(outcome) => return Ok(outcome),
    };
    match build::execute(&req, interrupt, a.json)? {
        BuildEnd::Interrupted(code) => {
            crate::stderr_line(&format!("kiln: interrupted; {} left as it was", a.out.display()));
            Ok(Outcome::Interrupted(code))
        }
        BuildEnd::Done(mut report) => {
            if a.image && report.ok {
                let req = ImageRequest {
                    dist: a.out.clone(),
                    targets: Vec::new(),
                    ca_certs: a.image_content.ca_certs.clone(),
                    tzdata: a.image_content.tzdata.clone(),
                    base: a.image_content.base.clone(),
                    sign_key: req.sign_key.clone(),
                };
                let (manifest, _) = dist_image::run(&req, interrupt)?;
                report.manifest = Some(manifest);
            }
            if a.json {
                print_json(&report)?;
            } else {
                let mut s = build::summary(&report, style);
                if let Some(images) = report.manifest.as_ref().and_then(|m| m.images.as_ref()) {
                    s.push_str(&image_summary(images));
                }
                print(&s)?;
            }
            Ok(if report.ok { Outcome::Ok } else { Outcome::Failed })
        }
    }
}

fn doctor(a: &DoctorArgs, style: Style) -> Result<Outcome> {
    let checks = doctor::run(a.verbose);
    if a.json {
        print_json(&checks)?;
    } else {
        print(&doctor::render(&checks, style))?;
    }
    Ok(if checks.iter().any(|c| c.level == doctor::Level::Fail) {
        Outcome::Error
    } else {
        Outcome::Ok
    })
}

fn image_summary(images: &crate::image::ImageSet) -> String {
    let mut s = String::new();
    for p in &images.platforms {
        let _ = writeln!(s, "image {:<12} {}  {}", p.platform, p.manifest, p.target);
    }
    let _ = writeln!(
        s,
        "image index {}  {} and {} (tag {})",
        images.index, images.layout, images.archive, images.tag
    );
    s
}

fn image(a: &ImageArgs) -> Result<Outcome> {
    let reference = a.push.as_deref().map(registry::Reference::parse).transpose()?;
    if let Some(r) = &reference {
        r.loopback_addr()?;
    }
    let req = ImageRequest {
        dist: a.from.clone(),
        targets: a.target.clone(),
        ca_certs: a.content.ca_certs.clone(),
        tzdata: a.content.tzdata.clone(),
        base: a.content.base.clone(),
        sign_key: secret_key(a.sign_key.as_deref())?,
    };
    let interrupt = Interrupt::install().context("installing signal handlers")?;
    // Held until the image files are published (and pushed): one writer per dist/. Then
    // dist_image::run refuses a directory that is not a dist kiln wrote, before it reads it.
    let _lock = match lock_out(&a.from, a.wait_lock, &interrupt)? {
        Ok(lock) => lock,
        Err(outcome) => return Ok(outcome),
    };
    let (manifest, layout) = dist_image::run(&req, &interrupt)?;
    let images = manifest.images.expect("dist_image::run sets images");
    let pushed = match &reference {
        Some(r) => Some(registry::push(&layout, r)?),
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&images)?;
        if let Some(p) = &pushed {
            v["pushed"] = serde_json::json!({"reference": p.reference, "digest": p.digest});
        }
        print_json(&v)?;
    } else {
        let mut s = image_summary(&images);
        if let Some(p) = &pushed {
            let _ = writeln!(
                s,
                "pushed {}@{} ({} blob(s) uploaded)",
                p.reference, p.digest, p.uploaded
            );
        }
        print(&s)?;
    }
    Ok(Outcome::Ok)
}
fn keygen(a: &KeygenArgs) -> Result<Outcome> {
    let (secret, public) = crate::sign::keygen(&a.out)?;
    let key = crate::sign::load_public(&public)?;
    print(&format!(
        "wrote {} (secret, mode 0600) and {} (public)\nkey id {}\n",
        report::show_path(&secret),
        report::show_path(&public),
        crate::sign::key_id(&key)
    ))?;
    Ok(Outcome::Ok)
}

fn sign(a: &SignArgs) -> Result<Outcome> {
    let key = crate::sign::SecretKey::load(&a.key)?;
    let path = crate::sign::sign_release(&a.dir, &key)?;
    print(&format!("signed {} with key {}\n", path.display(), key.id()))?;
    Ok(Outcome::Ok)
}

fn verify_release(a: &VerifyReleaseArgs) -> Result<Outcome> {
    let key = a.key.as_deref().map(crate::sign::load_public).transpose()?;
    let report = crate::verify_release::verify(&a.dir, key.as_ref())?;
    if a.json {
        print_json(&report)?;
    } else {
        print(&crate::verify_release::render(&report))?;
    }
    Ok(if report.ok { Outcome::Ok } else { Outcome::Failed })
}

/// The `--sign-key` file, loaded before any work starts so a bad key fails fast.
fn secret_key(path: Option<&std::path::Path>) -> Result<Option<crate::sign::SecretKey>> {
    path.map(crate::sign::SecretKey::load).transpose()
}
