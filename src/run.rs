//! Dispatch: turns parsed arguments into work and an [`Outcome`].

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command, InspectArgs, TargetsArgs, VerifyArgs};
use crate::elf::{self, GlibcVersion};
use crate::policy::{self, Severity};
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
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<Outcome> {
    let style = Style::new(cli.color);
    match cli.command {
        Command::Targets(a) => targets(&a, style),
        Command::Inspect(a) => inspect(&a, style),
        Command::Verify(a) => verify(&a, style),
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
    Ok(if any_error {
        Outcome::Error
    } else {
        Outcome::Ok
    })
}

fn verify(a: &VerifyArgs, style: Style) -> Result<Outcome> {
    let target = target::lookup(&a.target)?;
    let glibc_max = a
        .glibc_max
        .as_deref()
        .map(|s| {
            GlibcVersion::parse(s)
                .with_context(|| format!("--glibc-max '{s}' is not a version like 2.17"))
        })
        .transpose()?;
    let opts = policy::Options {
        glibc_max,
        allow_needed: a.allow_needed.clone(),
        require_stripped: a.require_stripped,
        strict: a.strict,
    };
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
                Err(e) => Verdict {
                    path: path.clone(),
                    target: target.triple.clone(),
                    ok: false,
                    findings: Vec::new(),
                    error: Some(format!("cannot read: {e}")),
                },
            }
        })
        .collect();
    if a.json {
        print_json(&verdicts)?;
    } else {
        let mut s: String = verdicts
            .iter()
            .map(|v| report::verdict_lines(v, style))
            .collect();
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
