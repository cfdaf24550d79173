//! Command-line syntax, and nothing else: clap structures that [`crate::config`] checks and
//! turns into the values the commands run on. No module after it sees these types.
//!
//! The doc comments below are the `--help` text, written for a terminal: `packages.<system>`
//! and `REPO[:TAG]` are meant literally, not as HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deterministic, verified release builds of Rust for Linux, driven by Nix.
///
/// Exit codes: 0 ok, 1 verification failed, 2 usage or environment error.
#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about,
    long_about = None,
    max_term_width = 100,
    after_help = "Exit codes: 0 ok, 1 verification or build failed, 2 usage or environment error,\n130/143 interrupted by SIGINT/SIGTERM. Docs: README.md and docs/."
)]
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
    /// build profile (debug/release/unknown, with its evidence), /nix/store references, size and
    /// sha256. Judges nothing.
    Inspect(InspectArgs),
    /// Check binaries against a target's policy; exit 1 if any error finding.
    Verify(VerifyArgs),
    /// Build the targets with one `nix build`, verify every binary, export dist/.
    Build(Box<BuildArgs>),
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
    /// Binary caches: push the built outputs, ask which are cached, pull them back.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Add kiln to an existing Rust crate: flake.nix, Cargo.toml metadata, rust-toolchain.toml
    /// (unless the crate has one: it is kept; none with --hermetic) and the release workflow.
    /// Idempotent, keeping an earlier run's choices; refuses to overwrite edited files unless
    /// --skip or --force names them; --dry-run shows the change as a diff.
    Init(InitArgs),
    /// Continuous integration.
    #[command(subcommand)]
    Ci(CiCommand),
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
    /// The dist/ directory written by `kiln build` (read, then replaced atomically); one
    /// holding anything kiln did not write is refused.
    #[arg(long, default_value = "dist", value_name = "DIST")]
    pub from: PathBuf,
    /// Target to include; repeatable (default: every musl target in the dist; gnu ones need
    /// --base).
    #[arg(long, short = 't', value_name = "TARGET", value_delimiter = ',')]
    pub target: Vec<String>,
    /// When another kiln is writing the same dist/, wait for it instead of failing at once.
    #[arg(long)]
    pub wait_lock: bool,
    /// Image contents.
    #[command(flatten)]
    pub content: ImageContentArgs,
    /// Push to HOST:PORT/REPO[:TAG] over plain HTTP; loopback addresses only.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Verify the dist first (as verify-release), then sign the provenance again after adding
    /// the images (otherwise a signature is dropped).
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

/// `kiln ci` subcommands.
#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Write .github/workflows/kiln-release.yml (the workflow `kiln init` writes).
    Init(CiInitArgs),
}

/// Options shared by `kiln init` and `kiln ci init`.
#[derive(Debug, Args)]
pub struct CiInitArgs {
    /// The crate directory.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Flake reference of kiln, for the flake input and `nix run` in CI; name a revision
    /// (`?rev=<40-hex>`) to pin the kiln CI runs (default: the one an earlier `kiln init` wrote,
    /// else the template's placeholder, to be replaced).
    #[arg(long, value_name = "URL")]
    pub kiln_url: Option<String>,
    /// Pin the kiln URL to this 40-hex git revision (added to the URL as `?rev=`, or as the
    /// third part of a `github:` reference).
    #[arg(long, value_name = "REV")]
    pub kiln_rev: Option<String>,
    /// Binary cache for CI: none, cachix, attic or s3 (default: Cargo.toml's, else none).
    #[arg(long, value_name = "KIND")]
    pub cache: Option<String>,
    /// cachix/attic cache name or S3 bucket, as the service names them (default: the workflow's
    /// from an earlier `kiln init`, else the crate name; lowercase with dashes for cachix and S3).
    #[arg(long, value_name = "NAME")]
    pub cache_name: Option<String>,
    /// Overwrite these files even when edited since kiln wrote them (or not written by kiln):
    /// flake (flake.nix), workflow (the workflow file), cargo (Cargo.toml: set every key of the
    /// kiln table); comma-separated or repeated; bare `--force` means all of them. The crate's
    /// own toolchain file is kept even then.
    #[arg(long, value_name = "FILE", num_args = 0.., value_delimiter = ',')]
    pub force: Option<Vec<String>>,
    /// Write nothing: print what would change as a unified diff (exit 0).
    #[arg(long)]
    pub dry_run: bool,
    /// Print what happened to each file as JSON (with --dry-run: what would); on an error, a
    /// document with `ok: false` and the one-line error.
    #[arg(long)]
    pub json: bool,
}

/// `kiln init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Workflow and common options.
    #[command(flatten)]
    pub common: CiInitArgs,
    /// Targets for Cargo.toml's [package.metadata.kiln], which the flake builds (set even in an
    /// existing table); repeatable (default: Cargo.toml's, else all four).
    #[arg(long, short = 't', value_name = "TARGET", value_delimiter = ',')]
    pub target: Vec<String>,
    /// Archive format recorded in Cargo.toml (default: Cargo.toml's, else tar.gz).
    #[arg(long, value_name = "FORMAT")]
    pub archive: Option<String>,
    /// OCI image name recorded in Cargo.toml (default: Cargo.toml's, else none).
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// glibc floor recorded in Cargo.toml, which the flake's gnu targets link against
    /// (default: Cargo.toml's, else the targets' floor).
    #[arg(long, value_name = "X.Y")]
    pub glibc_max: Option<String>,
    /// Leave these files alone (neither read nor written): flake, workflow, cargo (Cargo.toml),
    /// toolchain (a new rust-toolchain.toml); comma-separated or repeated.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub skip: Vec<String>,
    /// At a workspace root: the members whose binaries the flake builds, as
    /// packages.<system>.NAME-<target> (recorded as `packages` in [workspace.metadata.kiln]);
    /// repeatable (default: the table's, else every member with a binary).
    #[arg(long, short = 'p', value_name = "NAME", value_delimiter = ',')]
    pub package: Vec<String>,
    /// Write the hermetic flake (templates/hermetic: no nixpkgs, kiln's source its one input),
    /// built with kiln's pinned Rust (Debian's rustc-web; see docs/hermetic.md), so no
    /// rust-toolchain.toml is written. Needs one package (not a workspace root) with a
    /// Cargo.lock of registry crates only (no git dependency) and a rust-version, if any, that
    /// Rust meets (default: the kind of flake an earlier `kiln init` wrote, else the default).
    #[arg(long, overrides_with = "no_hermetic")]
    pub hermetic: bool,
    /// Write the default (nixpkgs) flake, also where an earlier `kiln init --hermetic` wrote
    /// the hermetic one.
    #[arg(long, overrides_with = "hermetic")]
    pub no_hermetic: bool,
}

/// `kiln cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Sign (with --key) and copy each target's output with its closure to a store.
    Push(CachePushArgs),
    /// Tell per target whether its output is already in a store; exit 1 if any is missing.
    Status(CacheStatusArgs),
    /// Copy each target's output from a store, accepting only trusted signatures.
    Pull(CachePullArgs),
}

/// What the cache commands act on: the outputs `kiln build` would build.
#[derive(Debug, Args)]
pub struct CacheTargets {
    /// Flake reference whose packages.<system>.<attr> outputs are meant.
    #[arg(long, default_value = ".", value_name = "REF")]
    pub flake: String,
    /// Target triple or attribute; repeatable (default: as for `kiln build`).
    #[arg(long, short = 't', value_name = "TARGET", value_delimiter = ',')]
    pub target: Vec<String>,
    /// For a flake that ships several programs: the outputs of packages.<system>.NAME-<attr>,
    /// as `kiln build --package NAME` builds them; repeatable (default: as for `kiln build`).
    #[arg(long, short = 'p', value_name = "NAME", value_delimiter = ',')]
    pub package: Vec<String>,
    /// Nix system whose packages to use (default: nix's own `system`).
    #[arg(long, value_name = "SYSTEM")]
    pub system: Option<String>,
    /// Take the store paths from DIR/manifest.json (a `kiln build` output) instead of
    /// evaluating the flake; --target and --package filter them.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["flake", "system"])]
    pub from_dist: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the nix commands run.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `kiln cache push`.
#[derive(Debug, Args)]
pub struct CachePushArgs {
    /// Destination store URI, e.g. file:///srv/cache?compression=zstd or s3://bucket.
    #[arg(long, value_name = "STORE_URI")]
    pub to: String,
    /// Secret signing key file (`nix key generate-secret` format).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Which outputs.
    #[command(flatten)]
    pub what: CacheTargets,
}

/// `kiln cache status`.
#[derive(Debug, Args)]
pub struct CacheStatusArgs {
    /// Store URI to ask.
    #[arg(long, value_name = "STORE_URI")]
    pub from: String,
    /// Which outputs.
    #[command(flatten)]
    pub what: CacheTargets,
}

/// `kiln cache pull`.
#[derive(Debug, Args)]
pub struct CachePullArgs {
    /// Store URI to copy from.
    #[arg(long, value_name = "STORE_URI")]
    pub from: String,
    /// Public key (`name:base64`) to trust besides nix's trusted-public-keys; repeatable.
    #[arg(long, value_name = "PUBLIC_KEY")]
    pub trust: Vec<String>,
    /// Which outputs.
    #[command(flatten)]
    pub what: CacheTargets,
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
    /// Let a binary whose bytes show a debug build pass with a warning (for a release profile
    /// that keeps debug assertions on purpose).
    #[arg(long)]
    pub allow_debug: bool,
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
    /// For a flake that ships several programs: build packages.<system>.NAME-<attr> (e.g.
    /// server-x86_64-musl) for every target, archived as NAME-<version>-<triple>; repeatable
    /// (default: [package.metadata.kiln] packages, else packages.<system>.<attr>).
    #[arg(long, short = 'p', value_name = "NAME", value_delimiter = ',')]
    pub package: Vec<String>,
    /// Output directory, replaced atomically; only an absent or empty directory or a dist kiln
    /// wrote (marked by its .kiln-dist file) is replaced, anything else is refused.
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
    /// When another kiln is writing the same --out, wait for it instead of failing at once.
    #[arg(long)]
    pub wait_lock: bool,
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
    /// Substitute from this binary cache too (nix `extra-substituters`); repeatable.
    #[arg(long, value_name = "STORE_URI")]
    pub cache: Vec<String>,
    /// Trust this public key (`name:base64`) for substitutes (`extra-trusted-public-keys`).
    #[arg(long, value_name = "PUBLIC_KEY")]
    pub cache_key: Vec<String>,
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
