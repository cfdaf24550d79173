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
    /// Build the targets with one `nix build`, verify every binary, export dist/.
    Build(BuildArgs),
    /// Check that this machine can build: nix, flakes, sandbox, store, caches, qemu.
    Doctor(DoctorArgs),
    /// Make multi-arch OCI images of a dist/'s static binaries and add them to it; optionally
    /// push them to a registry on a loopback address.
    Image(ImageArgs),
    /// Write an ed25519 key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub.
    Keygen(KeygenArgs),
    /// Sign DIR/provenance.intoto.json into DIR/provenance.intoto.jsonl (a DSSE envelope).
    Sign(SignArgs),
    /// Check a release directory: digests, manifest, provenance, signature and binaries.
    VerifyRelease(VerifyReleaseArgs),
}

/// Image contents shared by `image` and `build --image`.
#[derive(Debug, Args)]
pub struct ImageContentArgs {
    /// CA bundle to put at /etc/ssl/certs/ca-certificates.crt.
    #[arg(long, value_name = "FILE")]
    pub ca_certs: Option<PathBuf>,
    /// zoneinfo directory to put at /usr/share/zoneinfo.
    #[arg(long, value_name = "DIR")]
    pub tzdata: Option<PathBuf>,
    /// Build on the images of this OCI image layout directory (one per platform), e.g. for
    /// gnu targets, which a scratch image cannot run.
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
}

/// `kiln image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The dist/ directory written by `kiln build` (read, then replaced atomically).
    #[arg(long, default_value = "dist", value_name = "DIST")]
    pub from: PathBuf,
    /// Target to include; repeatable (default: every musl target in the dist; gnu ones need
    /// --base).
    #[arg(long, short = 't', value_name = "TARGET", value_delimiter = ',')]
    pub target: Vec<String>,
    /// Image contents.
    #[command(flatten)]
    pub content: ImageContentArgs,
    /// Push to HOST:PORT/REPO[:TAG] over plain HTTP; loopback addresses only.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Sign the provenance again after adding the images (otherwise a signature is dropped).
    #[arg(long, value_name = "SECRET")]
    pub sign_key: Option<PathBuf>,
    /// Print the manifest's `images` section as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kiln keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Path prefix of the two files written (PREFIX.key and PREFIX.pub).
    #[arg(long, default_value = "kiln", value_name = "PREFIX")]
    pub out: PathBuf,
}

/// `kiln sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The secret key (from `kiln keygen`).
    #[arg(long, value_name = "SECRET")]
    pub key: PathBuf,
    /// The release directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `kiln verify-release`.
#[derive(Debug, Args)]
pub struct VerifyReleaseArgs {
    /// The release directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The public key the provenance must be signed with.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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
    /// Policy options.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Print a JSON array, one object per file.
    #[arg(long)]
    pub json: bool,
}

/// Policy flags shared by `verify` and `build`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
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
}

/// `kiln build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Flake reference whose packages.<system>.<attr> are built.
    #[arg(long, default_value = ".", value_name = "REF")]
    pub flake: String,
    /// Target triple or attribute; repeatable (default: [package.metadata.kiln] targets in
    /// Cargo.toml, else all four).
    #[arg(long, short = 't', value_name = "TARGET", value_delimiter = ',')]
    pub target: Vec<String>,
    /// Output directory, replaced atomically.
    #[arg(long, short = 'o', default_value = "dist", value_name = "DIR")]
    pub out: std::path::PathBuf,
    /// Archive format: tar.gz, tar.xz, tar.zst or zip (default: Cargo.toml's, else tar.gz).
    #[arg(long, value_name = "FORMAT")]
    pub archive: Option<String>,
    /// Build every target a second time and fail if any byte differs.
    #[arg(long)]
    pub check_reproducible: bool,
    /// Go on past failed targets, export the rest, and still exit non-zero.
    #[arg(long)]
    pub keep_going: bool,
    /// Run each binary once with these arguments (natively or under qemu-user), e.g. '--version'.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub smoke: Option<String>,
    /// Nix system whose packages to build (default: nix's own `system`).
    #[arg(long, value_name = "SYSTEM")]
    pub system: Option<String>,
    /// Passed to nix: remote builders (see the Nix manual's `builders`).
    #[arg(long, value_name = "SPEC")]
    pub builders: Option<String>,
    /// Passed to nix: how many local build jobs (0 forces remote builds).
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<String>,
    /// Sign the provenance with this secret key (writes provenance.intoto.jsonl).
    #[arg(long, value_name = "SECRET")]
    pub sign_key: Option<PathBuf>,
    /// Policy options.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// After exporting, add OCI images of the musl targets (as `kiln image` does).
    #[arg(long)]
    pub image: bool,
    /// Image contents (with --image).
    #[command(flatten)]
    pub image_content: ImageContentArgs,
    /// Print one JSON document on stdout at the end.
    #[arg(long)]
    pub json: bool,
    /// Print the nix commands run and pass their output through.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `kiln doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the nix commands run.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}
