//! Dispatch: runs each checked command ([`crate::config`]) on the modules that do the work,
//! prints its result and says how it ended, as an [`Outcome`].

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result};

use crate::build::{self, BuildEnd};
use crate::cache;
use crate::cli::Cli;
use crate::config::{BuildConfig, CacheAction, CacheConfig, Command, Config, ImageConfig, VerifyConfig};
use crate::doctor;
use crate::elf;
use crate::init::{self, InitRequest};
use crate::oci::dist;
use crate::oci::push;
use crate::policy::{self, Severity};
use crate::proc::Interrupt;
use crate::report::{self, Verdict};
use crate::target;
use crate::ui::Style;

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

/// Checks one parsed command line ([`Config::from_cli`]) and runs it.
pub fn execute(cli: Cli) -> Result<Outcome> {
    // `kiln build` owns its ending from the first step on, the config stage included.
    if let Some(guard) = BuildGuard::of(&cli)? {
        let result = Config::from_cli(cli).and_then(|config| dispatch(config, Some(&guard.interrupt)));
        return guard.finish(result);
    }
    dispatch(Config::from_cli(cli)?, None)
}

/// Runs a checked command; `interrupt` is the build's (see [`BuildGuard`]).
fn dispatch(config: Config, interrupt: Option<&Interrupt>) -> Result<Outcome> {
    let style = config.style;
    match config.command {
        Command::Targets { json } => targets(json, style),
        Command::Inspect { files, json } => inspect(&files, json, style),
        Command::Verify(c) => verify(&c, style),
        Command::Build(c) => {
            let interrupt = interrupt.expect("execute installs the build's interrupt");
            build(&c, style, interrupt)
        }
        Command::Doctor { json, verbose } => doctor(json, verbose, style),
        Command::Image(c) => image(&c),
        Command::Keygen { out } => keygen(&out),
        Command::Sign { key, dir } => sign(&dir, &key),
        Command::VerifyRelease { dir, key, json } => verify_release(&dir, key.as_ref(), json),
        Command::Cache(c) => cache_cmd(&c),
        Command::Init(req) => init_cmd(&req),
    }
}

/// How `kiln build` ends whatever happens: SIGINT and SIGTERM are an interrupt (130/143) from
/// before its arguments are checked, and with `--json` an error still prints a document.
struct BuildGuard {
    interrupt: Interrupt,
    json: bool,
    out: std::path::PathBuf,
}

impl BuildGuard {
    /// Installs the signal handlers when `cli` is a build.
    fn of(cli: &Cli) -> Result<Option<BuildGuard>> {
        let crate::cli::Command::Build(a) = &cli.command else {
            return Ok(None);
        };
        // First of all: a Ctrl-C from now on is an interrupt (130/143), whatever it hits.
        let interrupt = Interrupt::install().context("installing signal handlers")?;
        Ok(Some(BuildGuard {
            interrupt,
            json: a.json,
            out: a.out.clone(),
        }))
    }

    fn finish(self, result: Result<Outcome>) -> Result<Outcome> {
        match result {
            Err(_) | Ok(Outcome::Error) if self.interrupt.is_set() => {
                // What failed (nix, most likely) got the same signal from the terminal.
                crate::stderr_line(&format!(
                    "kiln: interrupted; {} left as it was",
                    self.out.display()
                ));
                Ok(Outcome::Interrupted(self.interrupt.exit_code()))
            }
            Err(e) if self.json => {
                // `--json` promises a document on stdout whatever the end; stderr keeps its line.
                print_json(&JsonError::new(&e))?;
                Err(e)
            }
            other => other,
        }
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

fn targets(json: bool, style: Style) -> Result<Outcome> {
    if json {
        print_json(&target::all())?;
    } else {
        print(&report::targets_table(target::all(), style))?;
    }
    Ok(Outcome::Ok)
}

fn inspect(files: &[std::path::PathBuf], json: bool, style: Style) -> Result<Outcome> {
    let results: Vec<elf::Inspection> = files.iter().map(|p| elf::inspect(p)).collect();
    let any_error = results.iter().any(|r| r.error.is_some());
    for r in &results {
        if let Some(elf::InspectError::Io(msg)) = &r.error {
            eprintln!("kiln: {}: {msg}", report::show_path(&r.facts.path));
        }
    }
    if json {
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

fn verify(c: &VerifyConfig, style: Style) -> Result<Outcome> {
    let target = c.target;
    let verdicts: Vec<Verdict> = c
        .files
        .iter()
        .map(|path| {
            let inspection = elf::inspect(path);
            match policy::check(&inspection, target, &c.policy) {
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
    if c.json {
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

fn init_cmd(req: &InitRequest) -> Result<Outcome> {
    let plan = match init::plan_and_write(req) {
        Err(e) if req.json => {
            // `--json` promises a document on stdout whatever the end; stderr keeps its line.
            print_json(&JsonError::new(&e))?;
            return Err(e);
        }
        other => other?,
    };
    // The hermetic flake's Rust, which replaces the toolchain file's line.
    let rust = plan.hermetic.then(init::hermetic_rust_version);
    let rust_line = rust.as_ref().map(|v| {
        format!(
            "{:<10} Rust {v}, kiln's pinned Debian rustc-web (--hermetic: no rust-toolchain.toml \
             is written or read)",
            "toolchain"
        )
    });
    if req.json {
        let files: Vec<serde_json::Value> = plan
            .files
            .iter()
            .map(|p| {
                serde_json::json!({
                    "path": p.rel,
                    "root": p.root.as_ref().map(|r| r.display().to_string()),
                    "action": p.action.word(),
                    "writes": p.writes(),
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "ok": true,
            "dry_run": req.dry_run,
            "flake": if req.ci_only { None } else if plan.hermetic { Some("hermetic") } else { Some("default") },
            "rust": rust,
            "files": files,
        }))?;
        return Ok(Outcome::Ok);
    }
    let mut text = String::new();
    if req.dry_run {
        // The diff on stdout (for `patch -p1`), what each file would get on stderr.
        for p in &plan.files {
            text.push_str(&p.diff());
            eprintln!("would be {:<10} {}", p.action.word(), p.rel);
        }
        if let Some(line) = &rust_line {
            eprintln!("{line}");
        }
    } else {
        for p in &plan.files {
            let shown = p
                .root
                .as_ref()
                .map_or_else(|| p.rel.clone(), |r| r.join(&p.rel).display().to_string());
            let _ = writeln!(text, "{:<10} {}", p.action.word(), shown);
        }
        if let Some(line) = &rust_line {
            let _ = writeln!(text, "{line}");
        }
    }
    print(&text)?;
    Ok(Outcome::Ok)
}

fn cache_cmd(c: &CacheConfig) -> Result<Outcome> {
    let req = &c.request;
    let entries = match &c.action {
        CacheAction::Push { to, key } => cache::push(req, to, key.as_ref())?,
        CacheAction::Status { from } => cache::status(req, from)?,
        CacheAction::Pull { from, trust } => cache::pull(req, from, trust)?,
    };
    if c.json {
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

fn build(c: &BuildConfig, style: Style, interrupt: &Interrupt) -> Result<Outcome> {
    let req = &c.request;
    // Held until this function returns: the build, the export and any --image step.
    let _lock = match lock_out(&req.out, c.wait_lock, interrupt)? {
        Ok(lock) => lock,
        Err(outcome) => return Ok(outcome),
    };
    match build::execute(req, interrupt, c.json)? {
        BuildEnd::Interrupted(code) => {
            crate::stderr_line(&format!(
                "kiln: interrupted; {} left as it was",
                req.out.display()
            ));
            Ok(Outcome::Interrupted(code))
        }
        BuildEnd::Done(mut report) => {
            if let Some(content) = c.image.as_ref().filter(|_| report.ok) {
                let image_req = content.request(&req.out, req.sign_key.clone());
                let (manifest, _) = dist::add_images(&image_req, interrupt)?;
                report.manifest = Some(manifest);
            }
            if c.json {
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

fn doctor(json: bool, verbose: bool, style: Style) -> Result<Outcome> {
    let checks = doctor::check_all(verbose);
    if json {
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

fn image_summary(images: &crate::oci::ImageSet) -> String {
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

fn image(c: &ImageConfig) -> Result<Outcome> {
    let interrupt = Interrupt::install().context("installing signal handlers")?;
    // Held until the image files are published (and pushed): one writer per dist/. Then
    // dist::add_images refuses a directory that is not a dist kiln wrote, before it reads it.
    let _lock = match lock_out(&c.request.dist, c.wait_lock, &interrupt)? {
        Ok(lock) => lock,
        Err(outcome) => return Ok(outcome),
    };
    let (manifest, layout) = dist::add_images(&c.request, &interrupt)?;
    let images = manifest.images.expect("dist::add_images sets images");
    let pushed = match &c.push {
        Some(r) => Some(push::push(&layout, r)?),
        None => None,
    };
    if c.json {
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

fn keygen(out: &std::path::Path) -> Result<Outcome> {
    let (secret, public) = crate::sign::keygen(out)?;
    let key = crate::sign::load_public(&public)?;
    print(&format!(
        "wrote {} (secret, mode 0600) and {} (public)\nkey id {}\n",
        report::show_path(&secret),
        report::show_path(&public),
        crate::sign::key_id(&key)
    ))?;
    Ok(Outcome::Ok)
}

fn sign(dir: &std::path::Path, key: &crate::sign::SecretKey) -> Result<Outcome> {
    let path = crate::sign::sign_release(dir, key)?;
    print(&format!("signed {} with key {}\n", path.display(), key.id()))?;
    Ok(Outcome::Ok)
}

fn verify_release(
    dir: &std::path::Path,
    key: Option<&ed25519_dalek::VerifyingKey>,
    json: bool,
) -> Result<Outcome> {
    let report = crate::release::verify(dir, key)?;
    if json {
        print_json(&report)?;
    } else {
        print(&crate::release::render(&report))?;
    }
    Ok(if report.ok { Outcome::Ok } else { Outcome::Failed })
}
