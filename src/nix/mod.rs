//! The only module that runs `nix`, and the only one that reads what nix prints.
//!
//! [`Nix::detect`] finds `nix` on `PATH` and reads its version once; every later call gates on
//! that version instead of guessing (Nix 2.8, which Debian 12 ships, lacks `--print-out-paths`,
//! `nix config show` and `nix derivation show`; current Nix has them all). Every command gets
//! `--extra-experimental-features 'nix-command flakes'`, so kiln works where the user has not
//! enabled them globally. Arguments are passed as separate argv entries, never through a shell,
//! so an untrusted flake reference stays one argument. `-v` prints each command line in a form
//! that can be pasted into a shell.
//!
//! Builds stream nix's stderr line by line to a callback (progress, `-v` passthrough) and poll
//! an interrupt flag, so SIGINT/SIGTERM end the child nix and return [`NixError::Interrupted`].
//!
//! nix's wording is read here and nowhere else:
//! - [`classify()`] ([`mod@classify`]): the one classifier of a failed command's stderr (Nix 2.8's
//!   and current Nix's formats, tested on recordings in `tests/fixtures/nix-stderr/`) into nix's
//!   real message, a [`NixErrorKind`] and the fix kiln knows, which [`NixError::Failed`] carries;
//! - [`log`]: build log lines (`<drv-name>> text`) and kept build directories;
//! - [`flake_lock`]: which Nix a `flake.lock`'s inputs need ([`lock_requirements`]).

pub mod classify;
pub mod flake_lock;
pub mod log;

pub use classify::{Diagnosis, NixErrorKind, classify, error_summary, names_as_failed, names_in_error};
pub use flake_lock::{
    NIX_FOR_CRANE, NIX_FOR_NIXPKGS_25_11, Requirement, lock_requirements, unmet_requirements,
};

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Failures of running nix. Every variant names the command or path concerned.
#[derive(Debug, thiserror::Error)]
pub enum NixError {
    /// `nix` is not on `PATH`.
    #[error("nix not found on PATH (install Nix, e.g. `apt-get install nix-bin`, or run scripts/setup)")]
    NotFound,
    /// The process could not be started.
    #[error("cannot run `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process exited non-zero.
    #[error("`{cmd}` failed (exit {code}): {message}")]
    Failed {
        /// The command line.
        cmd: String,
        /// Exit code, or -1 for a signal.
        code: i32,
        /// What went wrong, as [`classify()`] reads stderr: callers branch on this.
        kind: NixErrorKind,
        /// nix's real error message and kiln's fix for it, on one line ([`Diagnosis::line`]).
        message: String,
        /// The whole stderr.
        stderr: String,
    },
    /// The output was not the JSON expected.
    #[error("`{cmd}` printed unexpected output: {detail}")]
    Output {
        /// The command line.
        cmd: String,
        /// What was wrong.
        detail: String,
    },
    /// `nix --version` did not parse.
    #[error("cannot understand `nix --version` output: {0:?}")]
    Version(String),
    /// SIGINT or SIGTERM arrived while nix ran; the child was ended.
    #[error("interrupted")]
    Interrupted,
    /// A flake reference nix would read as an option.
    #[error(
        "flake reference `{0}` starts with `-`, which nix would read as an option (write `./{0}` for a directory)"
    )]
    OptionLikeFlake(String),
}

/// Refuses a flake reference that nix would take for an option (`--option …`, `-L`): kiln
/// passes flake references as single arguments, and nix reads any argument starting with `-`
/// as an option, whatever its position.
fn check_flake_ref(flake: &str) -> Result<(), NixError> {
    if flake.starts_with('-') {
        return Err(NixError::OptionLikeFlake(flake.to_owned()));
    }
    Ok(())
}

/// A parsed `nix --version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NixVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl NixVersion {
    /// Parses the output of `nix --version`, e.g. `nix (Nix) 2.8.0` or `nix (Nix) 2.26.3`
    /// (a Lix or Determinate line works too: the first dotted number counts).
    pub fn parse(text: &str) -> Option<NixVersion> {
        let word = text
            .split_whitespace()
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))?;
        let mut nums = word
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().ok());
        let major = nums.next()??;
        let minor = nums.next()??;
        let patch = nums.next().flatten().unwrap_or(0);
        Some(NixVersion { major, minor, patch })
    }

    const fn at_least(self, major: u32, minor: u32) -> bool {
        self.major > major || (self.major == major && self.minor >= minor)
    }

    /// `nix config show` exists (2.20); older Nix has `nix show-config`.
    pub fn has_config_show(self) -> bool {
        self.at_least(2, 20)
    }

    /// Derivation installables take an output suffix, `DRV^out` (2.13); Nix 2.8 builds a
    /// plain `DRV` path's outputs.
    pub fn has_caret_outputs(self) -> bool {
        self.at_least(2, 13)
    }

    /// `nix build --print-out-paths` exists (2.9).
    pub fn has_print_out_paths(self) -> bool {
        self.at_least(2, 9)
    }
}

impl std::fmt::Display for NixVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One result of `nix build --json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildResult {
    /// The derivation built.
    pub drv_path: String,
    /// Output name to store path.
    pub outputs: BTreeMap<String, String>,
}

/// What kiln needs to know about one flake package before building it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageInfo {
    /// `.drv` store path.
    pub drv_path: String,
    /// The default output's store path. (Not named `outPath` in the eval: Nix would print an
    /// attribute set with an `outPath` as that string.)
    #[serde(rename = "out")]
    pub out_path: String,
    /// `pname`, or the name part of `name`.
    pub pname: String,
    /// `version`, or the version part of `name` (may be empty).
    pub version: String,
    /// `meta.mainProgram`, if set.
    pub main_program: Option<String>,
    /// The cargo profile the derivation builds with: its `kilnCargoProfile` attribute (a
    /// passthru kiln's Nix library sets), else its `CARGO_PROFILE` environment attribute;
    /// `None` when it has neither (or they are not strings).
    #[serde(default)]
    pub cargo_profile: Option<String>,
}

/// The parts of `nix flake metadata --json` kiln records.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlakeMetadata {
    /// Locked URL.
    pub url: Option<String>,
    /// The original reference as Nix understood it.
    pub original_url: Option<String>,
    /// Store path of the flake's source tree.
    pub path: Option<String>,
    /// Git revision, when the tree is a clean git checkout.
    pub revision: Option<String>,
    /// Last commit time (git) or modification time of the source.
    pub last_modified: Option<i64>,
    /// The locked reference (carries `narHash`).
    #[serde(default)]
    pub locked: serde_json::Value,
    /// The flake.lock graph.
    #[serde(default)]
    pub locks: serde_json::Value,
}

impl FlakeMetadata {
    /// The NAR hash of the source tree.
    pub fn nar_hash(&self) -> Option<&str> {
        self.locked.get("narHash").and_then(|v| v.as_str())
    }
}

/// How a `nix build` call ended.
#[derive(Debug)]
pub struct BuildRun {
    /// Exit status success.
    pub success: bool,
    /// Parsed `--json` results (empty when nix printed none, e.g. after a failure on Nix 2.8).
    pub results: Vec<BuildResult>,
    /// Everything nix wrote to stderr.
    pub stderr: String,
}

/// Flags for [`Nix::build`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildFlags {
    /// `--keep-going`.
    pub keep_going: bool,
    /// `--rebuild`: build again and compare with the existing outputs.
    pub rebuild: bool,
    /// `--keep-failed`: keep `<out>.check` for a differing rebuild.
    pub keep_failed: bool,
}

/// A located, version-checked `nix`.
#[derive(Debug, Clone)]
pub struct Nix {
    program: PathBuf,
    /// The detected version.
    pub version: NixVersion,
    verbose: bool,
    extra_args: Vec<String>,
}

/// Quotes a command line for display, so it can be pasted into a POSIX shell.
pub fn shell_line<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> String {
    args.into_iter()
        .map(|a| {
            let s = a.as_ref().to_string_lossy().into_owned();
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,#^".contains(c))
            {
                s
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Nix {
    /// Finds `nix` on `PATH` and reads its version.
    pub fn detect(verbose: bool) -> Result<Nix, NixError> {
        let (mut nix, version) = Self::locate(verbose)?;
        nix.version = parse_version(&version.finish()?)?;
        Ok(nix)
    }

    /// Finds `nix`, reads its version and its settings, the two queries running at once.
    pub fn detect_with_config(verbose: bool) -> Result<(Nix, BTreeMap<String, String>), NixError> {
        Self::start_detect(verbose, Vec::new())?.finish()
    }

    /// Finds `nix` and starts reading its version and settings; meanwhile [`Detecting::early`]
    /// can start queries whose command line is the same in every Nix (flake metadata, eval).
    pub fn start_detect(verbose: bool, extra_args: Vec<String>) -> Result<Detecting, NixError> {
        let (nix, version) = Self::locate(verbose)?;
        let nix = nix.with_extra_args(extra_args);
        // `show-config` exists in every Nix kiln supports (an alias of `config show` since 2.20);
        // when it fails, `config()` asks again in the form the version calls for. (A query
        // dropped on an early return ends its nix.)
        let config = nix.start(&["show-config"])?;
        Ok(Detecting { nix, version, config })
    }

    /// Finds `nix` on `PATH` and starts `nix --version`.
    fn locate(verbose: bool) -> Result<(Nix, Pending), NixError> {
        let program = which::which("nix").map_err(|_| NixError::NotFound)?;
        let nix = Nix {
            program,
            version: NixVersion {
                major: 0,
                minor: 0,
                patch: 0,
            },
            verbose,
            extra_args: Vec::new(),
        };
        let version = nix.start(&["--version"])?;
        Ok((nix, version))
    }

    /// Extra options passed to every nix command (e.g. `--builders`, `--max-jobs`).
    #[must_use]
    pub fn with_extra_args(mut self, args: Vec<String>) -> Nix {
        self.extra_args = args;
        self
    }

    /// Where `nix` was found.
    pub fn program(&self) -> &Path {
        &self.program
    }

    fn command(&self, args: &[&str]) -> (Command, String) {
        let mut full: Vec<String> = Vec::new();
        // `--version` stays alone; everything else gets the features and the extra options.
        if args != ["--version"] {
            full.extend([
                "--extra-experimental-features".into(),
                "nix-command flakes".into(),
            ]);
            full.extend(self.extra_args.iter().cloned());
        }
        full.extend(args.iter().map(|s| (*s).to_owned()));
        let line = format!("{} {}", self.program.display(), shell_line(&full));
        let mut cmd = Command::new(&self.program);
        cmd.args(&full).stdin(Stdio::null());
        (cmd, line)
    }

    fn trace(&self, line: &str) {
        if self.verbose {
            crate::stderr_line(&format!("kiln: + {line}"));
        }
    }

    /// Starts nix with `args`, capturing its output; [`Pending::finish`] collects it. Lets
    /// independent queries run at the same time.
    pub fn start(&self, args: &[&str]) -> Result<Pending, NixError> {
        let (mut cmd, line) = self.command(args);
        self.trace(&line);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| NixError::Spawn {
                cmd: line.clone(),
                source,
            })?;
        Ok(Pending {
            child: Some(child),
            line,
        })
    }

    /// Runs nix with `args`, returning stdout; a non-zero exit is [`NixError::Failed`].
    pub fn capture(&self, args: &[&str]) -> Result<String, NixError> {
        self.start(args)?.finish()
    }

    /// Nix settings as `name -> value` text (`nix config show` or `nix show-config`).
    pub fn config(&self) -> Result<BTreeMap<String, String>, NixError> {
        let args: &[&str] = if self.version.has_config_show() {
            &["config", "show"]
        } else {
            &["show-config"]
        };
        let text = self.capture(args)?;
        Ok(parse_config(&text))
    }

    /// `nix flake metadata --json FLAKE`.
    pub fn flake_metadata(&self, flake: &str) -> Result<FlakeMetadata, NixError> {
        self.start_flake_metadata(flake)?.finish_json()
    }

    /// Starts `nix flake metadata --json FLAKE`; finish with [`Pending::finish_json`] into
    /// [`FlakeMetadata`].
    pub fn start_flake_metadata(&self, flake: &str) -> Result<Pending, NixError> {
        check_flake_ref(flake)?;
        self.start(&["flake", "metadata", "--json", flake])
    }

    /// Evaluates `packages.<system>.<attr>` for each attr in one `nix eval`. A missing attribute
    /// maps to `None`; a missing `packages.<system>` is an error from nix.
    pub fn eval_packages(
        &self,
        flake: &str,
        system: &str,
        attrs: &[&str],
    ) -> Result<BTreeMap<String, Option<PackageInfo>>, NixError> {
        self.start_eval_packages(flake, system, attrs)?.finish_json()
    }

    /// Starts the query of [`Nix::eval_packages`]; finish with [`Pending::finish_json`].
    pub fn start_eval_packages(
        &self,
        flake: &str,
        system: &str,
        attrs: &[&str],
    ) -> Result<Pending, NixError> {
        check_flake_ref(flake)?;
        let names = attrs
            .iter()
            .map(|a| serde_json::to_string(a).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        let apply = format!(
            "ps: builtins.listToAttrs (map (a: {{ name = a; value = if ps ? ${{a}} then \
             (let p = ps.${{a}}; n = builtins.parseDrvName (p.name or a); in {{ \
             drvPath = p.drvPath; out = p.outPath; pname = p.pname or n.name; \
             version = p.version or n.version; mainProgram = p.meta.mainProgram or null; \
             cargoProfile = let c = p.kilnCargoProfile or p.CARGO_PROFILE or null; in \
             if builtins.isString c then c else null; }}) \
             else null; }}) [ {names} ])"
        );
        let installable = format!("{flake}#packages.{system}");
        self.start(&["eval", "--json", &installable, "--apply", &apply])
    }

    /// `nix build --json --no-link -L INSTALLABLES…`, streaming stderr lines to `on_line` and
    /// ending the child when `interrupt` becomes true.
    pub fn build(
        &self,
        installables: &[String],
        flags: BuildFlags,
        interrupt: &AtomicBool,
        on_line: impl FnMut(&str),
    ) -> Result<BuildRun, NixError> {
        Self::finish_build(self.start_build(installables, flags)?, interrupt, on_line)
    }

    /// Starts `nix build --json --no-link -L INSTALLABLES…`; [`Nix::finish_build`] follows it.
    pub fn start_build(&self, installables: &[String], flags: BuildFlags) -> Result<Pending, NixError> {
        // `-L`: build logs on stderr as `<drv-name>> line` (Nix 2.8 and current Nix), which the
        // progress display shows; nix still reports a failure in its `error:` lines.
        let mut args: Vec<&str> = vec!["build", "--json", "--no-link", "-L"];
        if flags.keep_going {
            args.push("--keep-going");
        }
        if flags.rebuild {
            args.push("--rebuild");
        }
        if flags.keep_failed {
            args.push("--keep-failed");
        }
        args.extend(installables.iter().map(String::as_str));
        self.start(&args)
    }

    /// Follows a build started with [`Nix::start_build`] to its end, streaming stderr lines to
    /// `on_line` and ending the child when `interrupt` becomes true.
    pub fn finish_build(
        mut pending: Pending,
        interrupt: &AtomicBool,
        mut on_line: impl FnMut(&str),
    ) -> Result<BuildRun, NixError> {
        let (mut child, line) = (pending.take_child(), pending.line.clone());

        let mut stdout = child.stdout.take().expect("piped stdout");
        let stdout_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let (tx, rx) = mpsc::channel::<String>();
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr_thread = std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });

        let mut err_text = String::new();
        let status = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    on_line(&l);
                    err_text.push_str(&l);
                    err_text.push('\n');
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if interrupt.load(Ordering::SeqCst) {
                terminate(&mut child);
                let _ = stderr_thread.join();
                let _ = stdout_thread.join();
                return Err(NixError::Interrupted);
            }
            if let Some(status) = child.try_wait().map_err(|source| NixError::Spawn {
                cmd: line.clone(),
                source,
            })? {
                break status;
            }
        };
        let _ = stderr_thread.join();
        for l in rx.try_iter() {
            on_line(&l);
            err_text.push_str(&l);
            err_text.push('\n');
        }
        let out = stdout_thread.join().unwrap_or_default();
        let results = if out.iter().all(u8::is_ascii_whitespace) {
            Vec::new()
        } else {
            serde_json::from_slice(&out).map_err(|e| NixError::Output {
                cmd: line,
                detail: e.to_string(),
            })?
        };
        Ok(BuildRun {
            success: status.success(),
            results,
            stderr: err_text,
        })
    }

    /// The installable that builds a derivation's `out` output without evaluating anything.
    pub fn drv_installable(&self, drv_path: &str) -> String {
        if self.version.has_caret_outputs() {
            format!("{drv_path}^out")
        } else {
            drv_path.to_owned()
        }
    }

    /// The build log of a derivation (`nix log DRV`), if nix has one.
    pub fn log(&self, drv_path: &str) -> Option<String> {
        self.capture(&["log", drv_path]).ok()
    }

    /// Which of `paths` are valid store paths (`nix path-info --json`; Nix 2.8 reports invalid
    /// paths with `"valid": false` and exit 0, current Nix as `null` entries or an error).
    pub fn valid_paths(&self, paths: &[&str]) -> Result<BTreeMap<String, bool>, NixError> {
        let mut out = BTreeMap::new();
        for p in paths {
            // One call per path: a single invalid path makes some Nix versions fail the whole call.
            let valid = match self.capture(&["path-info", "--json", p]) {
                Ok(text) => path_info_valid(&text, p),
                Err(NixError::Failed { .. }) => false,
                Err(e) => return Err(e),
            };
            out.insert((*p).to_owned(), valid);
        }
        Ok(out)
    }

    /// Whether `path` is valid in the store at `store_uri` (`nix path-info --store URI --json`).
    /// Nix 2.8 answers an absent path with `"valid": false` and exit 0, current Nix with `null`
    /// or a failure; all of these mean "not there". Other failures (an unreachable store) are
    /// errors.
    pub fn valid_in(&self, store_uri: &str, path: &str) -> Result<bool, NixError> {
        match self.capture(&["path-info", "--store", store_uri, "--json", path]) {
            Ok(text) => Ok(path_info_valid(&text, path)),
            Err(NixError::Failed { ref stderr, .. })
                if stderr.contains("is not valid") || stderr.contains("does not exist") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Signs `paths` and their closures in the local store with a secret key file in
    /// `nix key generate-secret` format (`nix store sign --recursive --key-file`).
    pub fn sign(&self, key_file: &Path, paths: &[&str]) -> Result<(), NixError> {
        let key = key_file.to_string_lossy();
        let mut args = vec!["store", "sign", "--recursive", "--key-file", key.as_ref()];
        args.extend_from_slice(paths);
        self.capture(&args).map(drop)
    }

    /// Copies `paths` with their closures to the store at `store_uri` (`nix copy --to`).
    pub fn copy_to(&self, store_uri: &str, paths: &[&str]) -> Result<(), NixError> {
        let mut args = vec!["copy", "--to", store_uri];
        args.extend_from_slice(paths);
        self.capture(&args).map(drop)
    }

    /// Copies `paths` with their closures from the store at `store_uri` into the local store
    /// (`nix copy --from`), accepting only what is signed by one of `trusted_keys` (added to
    /// `trusted-public-keys`) unless `trusted_keys` is empty (then nix's own settings decide).
    pub fn copy_from(
        &self,
        store_uri: &str,
        trusted_keys: &[String],
        paths: &[&str],
    ) -> Result<(), NixError> {
        let keys = trusted_keys.join(" ");
        let mut args = vec!["copy", "--from", store_uri];
        if !trusted_keys.is_empty() {
            args.extend(["--option", "extra-trusted-public-keys", keys.as_str()]);
        }
        args.extend_from_slice(paths);
        self.capture(&args).map(drop)
    }

    /// Deletes a store path that is not needed (`nix store delete`), ignoring failure.
    pub fn delete_path(&self, path: &str) {
        let _ = self.capture(&["store", "delete", path]);
    }
}

/// The Nix system name of the machine kiln runs on (`x86_64-linux`, `aarch64-darwin`, …): nix's
/// default `system`.
pub fn host_system() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86" => "i686",
        other => other,
    };
    format!("{arch}-{os}")
}

fn parse_version(out: &str) -> Result<NixVersion, NixError> {
    NixVersion::parse(out).ok_or_else(|| NixError::Version(out.trim().to_owned()))
}

/// A `nix` whose version and settings are being read (see [`Nix::start_detect`]).
pub struct Detecting {
    nix: Nix,
    version: Pending,
    config: Pending,
}

impl Detecting {
    /// The located nix, for queries that do not depend on its version.
    pub fn early(&self) -> &Nix {
        &self.nix
    }

    /// Waits for the version and the settings.
    pub fn finish(self) -> Result<(Nix, BTreeMap<String, String>), NixError> {
        let Detecting {
            mut nix,
            version,
            config,
        } = self;
        // On an early return `config` is dropped, which ends its nix.
        nix.version = parse_version(&version.finish()?)?;
        let config = match config.finish() {
            Ok(text) => parse_config(&text),
            Err(_) => nix.config()?,
        };
        Ok((nix, config))
    }
}

/// The installable of `packages.<system>.<attr>` of `flake`.
pub fn package_installable(flake: &str, system: &str, attr: &str) -> String {
    format!("{flake}#packages.{system}.{attr}")
}

/// A query's stdout as JSON of type `T`.
fn parse_json<T: serde::de::DeserializeOwned>(line: String, text: &str) -> Result<T, NixError> {
    serde_json::from_str(text).map_err(|e| NixError::Output {
        cmd: line,
        detail: e.to_string(),
    })
}

/// A finished query's stdout, or [`NixError::Failed`] with stderr's summary.
fn outcome(line: String, out: std::process::Output) -> Result<String, NixError> {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let diagnosis = classify(&stderr);
        return Err(NixError::Failed {
            cmd: line,
            code: out.status.code().unwrap_or(-1),
            kind: diagnosis.kind,
            message: diagnosis.line(),
            stderr,
        });
    }
    String::from_utf8(out.stdout).map_err(|_| NixError::Output {
        cmd: line,
        detail: "not UTF-8".into(),
    })
}

/// A nix query started with [`Nix::start`]. Dropped unfinished, it ends the child.
pub struct Pending {
    child: Option<Child>,
    line: String,
}

impl Pending {
    fn take_child(&mut self) -> Child {
        self.child.take().expect("a pending query has its child")
    }

    /// Waits for the query; its stdout, or [`NixError::Failed`] with stderr's summary.
    pub fn finish(mut self) -> Result<String, NixError> {
        let line = std::mem::take(&mut self.line);
        let out = self
            .take_child()
            .wait_with_output()
            .map_err(|source| NixError::Spawn {
                cmd: line.clone(),
                source,
            })?;
        outcome(line, out)
    }

    /// [`Pending::finish_json`], but ends the child and returns [`NixError::Interrupted`] as
    /// soon as `interrupt` becomes true.
    pub fn finish_json_until<T: serde::de::DeserializeOwned>(
        mut self,
        interrupt: &AtomicBool,
    ) -> Result<T, NixError> {
        let line = std::mem::take(&mut self.line);
        let mut child = self.take_child();
        let (tx, rx) = mpsc::channel::<()>();
        let drain = |pipe: Option<Box<dyn Read + Send>>, tx: mpsc::Sender<()>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                drop(tx);
                buf
            })
        };
        let out = drain(child.stdout.take().map(|p| Box::new(p) as _), tx.clone());
        let err = drain(child.stderr.take().map(|p| Box::new(p) as _), tx);
        // Both pipes at end of file (the channel disconnected): nix has exited.
        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_millis(50)) {
            if interrupt.load(Ordering::SeqCst) {
                // A query writes nothing that needs a clean end.
                terminate_within(&mut child, 10);
                return Err(NixError::Interrupted);
            }
        }
        let status = child.wait().map_err(|source| NixError::Spawn {
            cmd: line.clone(),
            source,
        })?;
        let output = std::process::Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        };
        let text = outcome(line.clone(), output)?;
        parse_json(line, &text)
    }

    /// Waits for the query and parses its stdout as JSON.
    pub fn finish_json<T: serde::de::DeserializeOwned>(self) -> Result<T, NixError> {
        let line = self.line.clone();
        let text = self.finish()?;
        parse_json(line, &text)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            crate::proc::terminate(child.id());
            std::thread::spawn(move || reap_within(&mut child, 50));
        }
    }
}

/// Sends SIGTERM to the child nix, then SIGKILL if it has not gone within five seconds.
fn terminate(child: &mut Child) {
    terminate_within(child, 50);
}

/// Sends SIGTERM to the child nix, then SIGKILL if it has not gone within `tenths` tenths of a
/// second (an evaluation busy in a long loop may not look at its signals for a while).
fn terminate_within(child: &mut Child, tenths: u32) {
    crate::proc::terminate(child.id());
    reap_within(child, tenths);
}

/// Waits up to `tenths` tenths of a second for a signalled child, then SIGKILLs it; reaps it.
fn reap_within(child: &mut Child, tenths: u32) {
    for _ in 0..tenths {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Parses `name = value` lines of `nix show-config` / `nix config show`.
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            l.split_once(" = ")
                .or_else(|| l.strip_suffix(" =").map(|k| (k, "")))
        })
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Whether `nix path-info --json` output says `path` is valid. Handles the array form
/// (`[{"path":…,"valid":false}]`, Nix ≤ 2.18) and the object form (`{"/nix/store/…": {…}|null}`).
pub fn path_info_valid(text: &str, path: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    match v {
        serde_json::Value::Array(items) => items.iter().any(|i| {
            i.get("path").and_then(|p| p.as_str()) == Some(path)
                && i.get("valid").and_then(serde_json::Value::as_bool) != Some(false)
        }),
        serde_json::Value::Object(map) => map.get(path).is_some_and(|e| !e.is_null()),
        _ => false,
    }
}

/// Where store paths live on disk: `/` for the usual store, the chroot root for a store given as
/// `store = /some/dir` or `local?root=/some/dir`.
pub fn store_root(config: &BTreeMap<String, String>) -> PathBuf {
    let store = config.get("store").map_or("auto", String::as_str);
    if store.starts_with('/') {
        return PathBuf::from(store);
    }
    if let Some(query) = store.strip_prefix("local?") {
        for kv in query.split('&') {
            if let Some(root) = kv.strip_prefix("root=") {
                return PathBuf::from(root);
            }
        }
    }
    PathBuf::from("/")
}

/// The on-disk location of a store path under `root`.
pub fn on_disk(root: &Path, store_path: &str) -> PathBuf {
    root.join(store_path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn option_like_flake_refs_are_refused() {
        for bad in ["-L", "--option", "--impure"] {
            assert!(
                matches!(check_flake_ref(bad), Err(NixError::OptionLikeFlake(_))),
                "{bad}"
            );
        }
        for good in [".", "./-x", "path:./a b;touch pwned", "github:o/r"] {
            assert!(check_flake_ref(good).is_ok(), "{good}");
        }
    }

    use super::*;

    #[test]
    fn versions_parse_and_gate_features() {
        let v = NixVersion::parse("nix (Nix) 2.8.0\n").unwrap();
        assert_eq!(v.to_string(), "2.8.0");
        assert!(!v.has_config_show() && !v.has_print_out_paths());
        let v = NixVersion::parse("nix (Nix) 2.26.3").unwrap();
        assert!(v.has_config_show() && v.has_print_out_paths());
        assert_eq!(NixVersion::parse("nix (Lix, like Nix) 2.91.1").unwrap().minor, 91);
        assert_eq!(
            NixVersion::parse("nix (Determinate Nix 3.6.2) 2.29.0")
                .unwrap()
                .major,
            3
        );
        assert!(NixVersion::parse("command not found").is_none());
    }

    #[test]
    fn config_lines_and_store_roots() {
        let c = parse_config("sandbox = true\nsubstituters =\nstore = local?root=/tmp/r&x=1\n");
        assert_eq!(c["sandbox"], "true");
        assert_eq!(c["substituters"], "");
        assert_eq!(store_root(&c), PathBuf::from("/tmp/r"));
        let c = parse_config("store = /var/s\n");
        assert_eq!(
            on_disk(&store_root(&c), "/nix/store/abc-x"),
            PathBuf::from("/var/s/nix/store/abc-x")
        );
        assert_eq!(store_root(&parse_config("store = auto\n")), PathBuf::from("/"));
    }

    #[test]
    fn path_info_forms() {
        let p = "/nix/store/zsxf3sxb9svm09zg4pkq95qvc684qx5l-nd.check";
        assert!(!path_info_valid(
            &format!(r#"[{{"path":"{p}","valid":false}}]"#),
            p
        ));
        assert!(path_info_valid(
            &format!(r#"[{{"path":"{p}","narHash":"sha256-x"}}]"#),
            p
        ));
        assert!(!path_info_valid(&format!(r#"{{"{p}":null}}"#), p));
        assert!(path_info_valid(&format!(r#"{{"{p}":{{"narSize":1}}}}"#), p));
        assert!(!path_info_valid("garbage", p));
    }

    #[test]
    fn shell_lines_quote_what_needs_it() {
        assert_eq!(
            shell_line(["nix", "build", ".#x86_64-musl"]),
            "nix build .#x86_64-musl"
        );
        assert_eq!(shell_line(["a b", "it's", ""]), r"'a b' 'it'\''s' ''");
    }
}
