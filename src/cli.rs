//! Command-line syntax, and nothing else: clap structures that [`crate::run`] turns into work.
//! No other module sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deterministic, verified release builds of Rust for Linux, driven by Nix.
///
/// Exit codes: 0 ok, 1 verification failed, 2 usage or environment error.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// When to use colours (NO_COLOR in the environment means never, unless `always`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the supported targets (from nix/targets.json).
    Targets(TargetsArgs),
    /// Report facts about binaries: format, machine, linkage, libc, glibc floor, hardening,
    /// /nix/store references, size and sha256. Judges nothing.
    Inspect(InspectArgs),
    /// Check binaries against a target's policy; exit 1 if any error finding.
    Verify(VerifyArgs),
}

/// `kiln targets`.
#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `kiln inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files to inspect.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print a JSON array, one object per file.
    #[arg(long)]
    pub json: bool,
}

/// `kiln verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Files to verify.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Target triple or flake attribute (see `kiln targets`).
    #[arg(long, short = 't', value_name = "TARGET")]
    pub target: String,
    /// Highest glibc symbol version allowed, e.g. 2.28 (default: the target's floor).
    #[arg(long, value_name = "X.Y")]
    pub glibc_max: Option<String>,
    /// Also allow this library in DT_NEEDED (soname or stem, e.g. libssl); repeatable.
    #[arg(long, value_name = "LIB")]
    pub allow_needed: Vec<String>,
    /// Treat a symbol table (.symtab) as an error.
    #[arg(long)]
    pub require_stripped: bool,
    /// Treat every warning as an error.
    #[arg(long)]
    pub strict: bool,
    /// Print a JSON array, one object per file.
    #[arg(long)]
    pub json: bool,
}
