//! `kiln doctor`: can this machine build and verify releases? One line per check, each ok,
//! warn or fail with a hint; a `fail` means `kiln build` cannot work here (exit 2). Besides
//! what kiln needs, it checks the Nix version against what the flake in the current directory
//! needs (its `flake.lock`: see [`crate::nix::lock_requirements`]).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::nix::{self, Nix, NixError};
use crate::target;
use crate::ui::Style;

/// Result level of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but something is worth fixing.
    Warn,
    /// `kiln build` cannot work.
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// Outcome.
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// How to fix it, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

fn check(name: &'static str, level: Level, detail: impl Into<String>, hint: Option<&str>) -> Check {
    Check {
        name,
        level,
        detail: detail.into(),
        hint: hint.map(str::to_owned),
    }
}

/// Runs every check.
pub fn check_all(verbose: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let nix = match Nix::detect(verbose) {
        Ok(n) => n,
        Err(e) => {
            let hint = "install Nix (Debian: apt-get install nix-bin) or run scripts/setup";
            out.push(check("nix", Level::Fail, e.to_string(), Some(hint)));
            tool_checks(&mut out);
            return out;
        }
    };
    out.push(check(
        "nix",
        Level::Ok,
        format!("{} at {}", nix.version, nix.program().display()),
        None,
    ));
    flake_nix_check(&nix, Path::new("."), &mut out);
    let config = match nix.config() {
        Ok(c) => c,
        Err(e) => {
            out.push(check(
                "settings",
                Level::Fail,
                e.to_string(),
                Some("check NIX_CONFIG and nix.conf"),
            ));
            tool_checks(&mut out);
            return out;
        }
    };
    settings_checks(&nix, &config, &mut out);
    tool_checks(&mut out);
    out
}

/// The Nix the flake in `dir` needs, by its `flake.lock` ([`nix::lock_requirements`]): `warn`
/// when this Nix is older (`kiln build` of that flake cannot work, other flakes still can: the
/// machine is not at fault, so the exit code stays 0), nothing without a lock.
fn flake_nix_check(nix: &Nix, dir: &Path, out: &mut Vec<Check>) {
    let Ok(text) = std::fs::read_to_string(dir.join("flake.lock")) else {
        return;
    };
    let reqs = nix::lock_requirements(&text);
    let Some(top) = reqs.first().cloned() else {
        out.push(check(
            "flake-nix",
            Level::Ok,
            "flake.lock here locks no input with a known Nix minimum",
            None,
        ));
        return;
    };
    let names = |rs: &[nix::Requirement]| {
        rs.iter()
            .map(|r| format!("{} >= {} ({})", r.input, r.min, r.why))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if nix.version >= top.min {
        out.push(check(
            "flake-nix",
            Level::Ok,
            format!(
                "Nix {} meets what flake.lock here needs: {}",
                nix.version,
                names(&reqs)
            ),
            None,
        ));
    } else {
        let unmet: Vec<nix::Requirement> = reqs.into_iter().filter(|r| nix.version < r.min).collect();
        out.push(check(
            "flake-nix",
            Level::Warn,
            format!(
                "Nix {} is too old for the flake here: {}",
                nix.version,
                names(&unmet)
            ),
            Some(&format!("install Nix {} or later", top.min)),
        ));
    }
}

/// Flakes, sandbox, store, substituters, systems: what nix's settings say.
#[allow(clippy::too_many_lines)] // one flat list of independent checks reads best in order
fn settings_checks(nix: &Nix, config: &std::collections::BTreeMap<String, String>, out: &mut Vec<Check>) {
    let get = |k: &str| config.get(k).cloned().unwrap_or_default();

    let features = get("experimental-features");
    if features.split_whitespace().any(|f| f == "flakes")
        && features.split_whitespace().any(|f| f == "nix-command")
    {
        out.push(check("flakes", Level::Ok, "nix-command and flakes enabled", None));
    } else {
        out.push(check(
            "flakes",
            Level::Warn,
            "not enabled in your settings (kiln enables them for its own calls)",
            Some("add `experimental-features = nix-command flakes` to nix.conf so `nix build .#…` works by hand too"),
        ));
    }

    match get("sandbox").as_str() {
        "true" => out.push(check("sandbox", Level::Ok, "on", None)),
        other => out.push(check(
            "sandbox",
            Level::Warn,
            format!("sandbox = {other}: builds can see the host and may not be reproducible"),
            Some("set `sandbox = true` (Debian's nix.conf turns it off)"),
        )),
    }

    match nix.capture(&[
        "eval",
        "--raw",
        "--expr",
        "builtins.toFile \"kiln-doctor\" \"ok\"",
    ]) {
        Ok(p) => {
            let root = nix::store_root(config);
            let where_ = if root == Path::new("/") {
                String::new()
            } else {
                format!(" (store root {})", root.display())
            };
            out.push(check(
                "store",
                Level::Ok,
                format!("writable: added {}{where_}", p.trim()),
                None,
            ));
        }
        Err(NixError::Failed { message, .. }) => out.push(check(
            "store",
            Level::Fail,
            message,
            Some("run as a user who may write the store, or start the nix daemon"),
        )),
        Err(e) => out.push(check("store", Level::Fail, e.to_string(), None)),
    }

    let subs = get("substituters");
    let keys = get("trusted-public-keys");
    if subs.is_empty() {
        out.push(check(
            "substituters",
            Level::Warn,
            "none: everything is built locally",
            Some("add a binary cache to reuse CI builds"),
        ));
    } else {
        let n = keys.split_whitespace().count();
        out.push(check(
            "substituters",
            Level::Ok,
            format!("{subs} ({n} trusted key(s))"),
            None,
        ));
    }

    let system = get("system");
    let extra = get("extra-platforms");
    let builders = get("builders");
    out.push(check(
        "systems",
        Level::Ok,
        format!(
            "builds for {system}{}; builders: {}",
            if extra.is_empty() {
                String::new()
            } else {
                format!(" (+ {extra})")
            },
            if builders.is_empty() {
                "none"
            } else {
                builders.as_str()
            }
        ),
        None,
    ));
    if !target::build_systems().contains(&system) {
        out.push(check(
            "build-system",
            Level::Warn,
            format!(
                "{system} is not one of the flake's build systems ({})",
                target::build_systems().join(", ")
            ),
            Some("pass --system or use a remote builder"),
        ));
    }
}

fn tool_checks(out: &mut Vec<Check>) {
    let host = std::env::consts::ARCH;
    let mut seen = Vec::new();
    for t in target::all() {
        if t.arch == host || seen.contains(&t.qemu) {
            continue;
        }
        seen.push(t.qemu.clone());
        match which::which(&t.qemu) {
            Ok(p) => out.push(check(
                "qemu",
                Level::Ok,
                format!("{} for {} smoke runs", p.display(), t.arch),
                None,
            )),
            Err(_) => out.push(check(
                "qemu",
                Level::Warn,
                format!("{} not found: --smoke cannot run {} binaries", t.qemu, t.arch),
                Some("apt-get install qemu-user-static"),
            )),
        }
        let sysroot = format!("/usr/{}-linux-gnu", t.arch);
        if !Path::new(&sysroot).is_dir() {
            out.push(check(
                "sysroot",
                Level::Warn,
                format!(
                    "{sysroot} missing: --smoke cannot run {}-gnu binaries under qemu",
                    t.arch
                ),
                Some(&format!(
                    "apt-get install libc6-{}-cross",
                    if t.arch == "aarch64" {
                        "arm64"
                    } else {
                        t.arch.as_str()
                    }
                )),
            ));
        }
    }
}

/// The human report.
pub fn render(checks: &[Check], style: Style) -> String {
    let mut s = String::new();
    for c in checks {
        let head = match c.level {
            Level::Ok => style.green("ok  "),
            Level::Warn => style.yellow("warn"),
            Level::Fail => style.red("fail"),
        };
        let _ = write!(s, "{head} {:<13} {}", c.name, c.detail);
        if let Some(h) = &c.hint {
            let _ = write!(s, "  {}", style.dim(&format!("(fix: {h})")));
        }
        s.push('\n');
    }
    s
}
