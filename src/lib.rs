//! kiln: deterministic, verified release builds of Rust for Linux, driven by Nix.
//!
//! The binary is a thin shell over [`main_entry`]. Modules, one concept each:
//! - [`cli`]: command-line syntax (clap), seen by [`config`] only;
//! - [`config`]: the config stage: the parsed command line checked, defaults from Cargo.toml
//!   applied, as one [`config::Command`] per subcommand; [`run`](mod@run): dispatches it;
//! - [`target`]: the target table embedded from `nix/targets.json`;
//! - [`elf`]: facts about a binary (inspection), never judgements, with the helpers that read
//!   its bytes: [`elf::profile`] (its build profile), [`elf::store_refs`] (real `/nix/store`
//!   paths in bytes) and the memory map they share;
//! - [`policy`]: judging facts against a target, as findings with stable codes;
//! - [`report`]: rendering facts and findings for humans and as JSON;
//! - [`ui`]: terminal concerns (colour, `NO_COLOR`);
//! - [`nix`]: the only module that runs `nix` and reads its output ([`nix::classify()`]: nix's errors);
//! - [`build`]: the `kiln build` pipeline (request and units, pipeline, verification, smoke runs,
//!   release assembly, outcome, and [`build::eval_memo`], its memory of evaluations);
//!   [`export`]: atomic `dist/`; [`lock`]: one writer per `--out`; [`manifest`]: its schema;
//! - [`archive`]: deterministic archives written ([`archive::write`]) and read back strictly
//!   ([`archive::read`], with its private `zip` parser); [`checksum`]: `SHA256SUMS`; [`civil`]: UTC dates;
//! - [`oci`]: OCI image layouts ([`oci::layout`]), `kiln image` on a `dist/` ([`oci::dist`]) and
//!   the push to a loopback registry ([`oci::push`]);
//! - [`provenance`], [`sbom`], [`sign`]: in-toto/SLSA provenance, CycloneDX SBOMs, ed25519 DSSE
//!   signatures;
//! - [`release`]: a `dist/` read back ([`release::read`], the one reader of a dist) and
//!   verified ([`release::verify`](mod@release::verify), `kiln verify-release`);
//! - [`cache`]: `kiln cache` push/status/pull of built outputs;
//! - [`init`]: `kiln init` / `kiln ci init`; [`workflow`]: the release workflow's text;
//! - [`project`]: Cargo.toml metadata; [`progress`]: progress display; [`doctor`]: environment checks.

pub mod archive;
pub mod build;
pub mod cache;
pub mod checksum;
pub mod civil;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod elf;
pub mod export;
pub mod init;
pub mod lock;
pub mod manifest;
pub mod nix;
pub mod oci;
pub mod policy;
mod proc;
pub mod progress;
pub mod project;
pub mod provenance;
pub mod release;
pub mod report;
pub mod run;
pub mod sbom;
pub mod sign;
pub mod target;
pub mod ui;
pub mod workflow;

use std::ffi::OsString;
use std::process::ExitCode;

pub use run::{Outcome, execute};

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code when verification failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for usage or environment errors.
pub const EXIT_USAGE: u8 = 2;

/// Parses `args`, runs the command and maps the outcome to the process exit code: 0 ok,
/// 1 verification failed, 2 usage or environment error. Errors are printed once, on one line
/// where possible; a closed stdout (`kiln … | head`) is not an error.
pub fn main_entry<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let cli = match <cli::Cli as clap::Parser>::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    match execute(cli) {
        Ok(Outcome::Ok) => ExitCode::from(EXIT_OK),
        Ok(Outcome::Failed) => ExitCode::from(EXIT_FAILED),
        Ok(Outcome::Error) => ExitCode::from(EXIT_USAGE),
        Ok(Outcome::Interrupted(code)) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_OK),
        Err(e) => {
            stderr_line(&format!("kiln: error: {}", one_line(&e)));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Writes one line to stderr, ignoring failure: a closed or full stderr (`2>/dev/full`) must
/// not turn an error report into a panic, and the exit code still says what happened.
pub(crate) fn stderr_line(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

/// The error and its causes on one line, leaving out a cause whose text the message already
/// holds (kiln's errors quote their OS error, which is also their source).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("dist/a.tar.gz: {source}")]
        struct Wrapped {
            source: std::io::Error,
        }
        let io = std::io::Error::from_raw_os_error(28);
        let text = io.to_string();
        let e = anyhow::Error::from(Wrapped { source: io }).context("exporting");
        assert_eq!(one_line(&e), format!("exporting: dist/a.tar.gz: {text}"));
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&plain), "outer: inner");
    }
}
