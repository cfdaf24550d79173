//! The one reader of nix's failures: what a failed nix command's stderr says went wrong.
//!
//! Nix 2.8 prints an error flat, `error: MESSAGE` and below it `at FILE:LINE:COL:`. Current Nix
//! (2.26) often prints a bare `error:` line and under it, indented, the `… while …` context
//! lines of its trace (with their own `at` positions) and the nested `error: MESSAGE`, the
//! innermost of which is the real cause. [`classify`] reads both: nix's real message, the
//! position it names and the input being fetched, sorted into a [`NixErrorKind`] with the fix
//! kiln knows. Callers branch on the kind ([`super::NixError::Failed`] carries it), never on
//! nix's wording, which is read here and nowhere else; the same goes for what a failed build
//! names ([`names_as_failed`], [`names_in_error`]).
//!
//! Every rule is tested on stderr recorded from real Nix 2.8 and 2.26 in
//! `tests/fixtures/nix-stderr/` (re-recorded with its `record` script).

/// The line a user most needs from nix's stderr: `error: ` and nix's real error message (see
/// [`classify`]), else its last line.
pub fn error_summary(stderr: &str) -> String {
    let message = classify(stderr).message;
    if stderr.lines().any(|l| l.trim_start().starts_with("error:")) {
        format!("error: {message}")
    } else {
        message
    }
}

/// What kind of failure nix's stderr shows (see [`classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NixErrorKind {
    /// A download failed: no network to the Nix caches or to an input's host.
    Offline,
    /// The flake's source (a git work tree) has no `flake.nix`: it is not added to git.
    UntrackedFlake,
    /// The flake lacks the attribute asked for.
    MissingAttribute,
    /// The flake (or nixpkgs, crane) asks for a newer Nix.
    NixTooOld,
    /// A derivation's builder failed.
    BuildFailed,
    /// nix was ended by SIGINT (a Ctrl-C on the terminal reaches it as well as kiln).
    Interrupted,
    /// A store refused a copied path: it has no signature by a trusted key.
    Unsigned,
    /// A store refused a copied path: its NAR's hash is not the one its narinfo states.
    HashMismatch,
    /// The path asked for is not in the store asked (`nix copy --from`, `nix path-info --store`).
    NotInStore,
    /// Anything else (an evaluation error, …): the message is nix's own.
    Other,
}

/// nix's stderr, read: the kind of failure, nix's real message on one line, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// What went wrong.
    pub kind: NixErrorKind,
    /// nix's message, without its `error: ` prefix, with the place it names (`at FILE:L:C`) and
    /// the input being fetched, on one line.
    pub message: String,
    /// The fix kiln knows, if any.
    pub hint: Option<String>,
}

/// The host of the first `scheme://host/…` URL quoted in `line`.
fn url_host(line: &str) -> Option<&str> {
    let rest = &line[line.find("://")? + 3..];
    let end = rest.find(['/', '\'', ':', '"', ' ']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|h| !h.is_empty())
}

/// The text of an `error: TEXT` line, when it has text.
fn error_text(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("error:")
        .map(str::trim)
        .filter(|m| !m.is_empty())
}

/// A source position nix names (`at FILE:L:C:`), unless it is no place a user can look at:
/// inside Nix itself (`<nix/…>`) or in an expression given on the command line (`«string»`,
/// e.g. the `--apply` of kiln's own evaluation).
fn position(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("at ")
        .map(|p| p.trim_end_matches(':'))
        .filter(|p| !p.starts_with(['<', '«']))
}

/// Index (into `raw`) of the line holding nix's real error message: the first `error: MESSAGE`,
/// or when the first error is a bare `error:` (current Nix's trace), the last `error: MESSAGE`
/// of the indented lines under it (the innermost cause), else the first with text after it.
fn real_error(raw: &[&str]) -> Option<usize> {
    let first = raw.iter().position(|l| l.starts_with("error:"))?;
    if error_text(raw[first]).is_some() {
        return Some(first);
    }
    let trace_end = raw[first + 1..]
        .iter()
        .position(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))
        .map_or(raw.len(), |n| first + 1 + n);
    (first + 1..trace_end)
        .rev()
        .find(|&i| error_text(raw[i]).is_some())
        .or_else(|| (first..raw.len()).find(|&i| error_text(raw[i]).is_some()))
}

/// Reads nix's stderr (Nix 2.8's flat `error: MESSAGE` and current Nix's `error:` followed by
/// indented `… while …` context lines and the nested `error: MESSAGE`): keeps nix's real error
/// message, the position it names (or, when it names none, the last one its trace names) and
/// the input it was fetching, classifies it and adds the fix kiln knows. Warnings
/// (`warning: error: … retrying`) are not the error.
pub fn classify(stderr: &str) -> Diagnosis {
    let raw: Vec<&str> = stderr.lines().collect();
    let Some(at) = real_error(&raw) else {
        let last = raw.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty());
        let message = last.unwrap_or("").trim_start_matches("error:").trim();
        return Diagnosis {
            kind: NixErrorKind::Other,
            message: if message.is_empty() {
                "no output".into()
            } else {
                message.to_owned()
            },
            hint: None,
        };
    };
    let mut message = error_text(raw[at]).unwrap_or_default().to_owned();
    // The position nix names right below the message, else the innermost one of its trace.
    let below = raw[at + 1..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| position(l));
    let traced = || {
        let first = raw.iter().position(|l| l.starts_with("error:")).unwrap_or(at);
        raw[first..at].iter().rev().find_map(|l| position(l))
    };
    if let Some(pos) = below.or_else(traced) {
        message = format!("{message} at {pos}");
    }
    // The input being fetched, from current Nix's context lines.
    if let Some(input) = raw[..at]
        .iter()
        .rev()
        .find_map(|l| l.trim().strip_prefix("… while fetching the input "))
    {
        message = format!("{message} (while fetching the input {input})");
    }
    let (kind, hint) = kind_of(&message);
    Diagnosis { kind, message, hint }
}

/// The kind of nix's message and the fix kiln knows for it.
fn kind_of(message: &str) -> (NixErrorKind, Option<String>) {
    let lower = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&[
        "unable to download",
        "resolve host",
        "couldn't connect",
        "could not connect",
        "timeout was reached",
    ]) {
        let host = url_host(message).unwrap_or("the input's host");
        let what = if host.ends_with("cache.nixos.org") {
            format!("network to the Nix cache {host}")
        } else {
            format!("network to {host}, where a flake input is fetched from")
        };
        let hint = format!(
            "this machine lacks {what}: connect it (or set a proxy), or build where the flake's locked inputs are already in the store"
        );
        (NixErrorKind::Offline, Some(hint))
    } else if has(&["no such file", "does not exist"]) && message.contains("-source/flake.nix") {
        let hint = "`git add flake.nix` (nix sees only files known to git); commit flake.lock once it exists";
        (NixErrorKind::UntrackedFlake, Some(hint.into()))
    } else if lower.contains("does not provide attribute") {
        (NixErrorKind::MissingAttribute, None)
    } else if has(&["requires nix", "requires at least nix"]) {
        let hint =
            "install a newer Nix (the flake's nixpkgs and crane set the minimum; `kiln doctor` says which)";
        (NixErrorKind::NixTooOld, Some(hint.into()))
    } else if lower.starts_with("builder for ") {
        (NixErrorKind::BuildFailed, None)
    } else if lower == "interrupted by the user" {
        (NixErrorKind::Interrupted, None)
    } else if has(&[
        "lacks a valid signature",
        "not signed by any of the keys",
        "signature",
    ]) {
        (NixErrorKind::Unsigned, None)
    } else if has(&["hash mismatch", "nar hash"]) {
        (NixErrorKind::HashMismatch, None)
    } else if has(&["does not have a valid", "is not valid", "don't know how to build"]) {
        (NixErrorKind::NotInStore, None)
    } else {
        (NixErrorKind::Other, None)
    }
}

impl Diagnosis {
    /// The message and the fix on one line: `MESSAGE (fix: HINT)`.
    pub fn line(&self) -> String {
        match &self.hint {
            Some(h) => format!("{} (fix: {h})", self.message),
            None => self.message.clone(),
        }
    }
}

/// Whether a failed `nix build`'s stderr names `drv` as failed: in an `error:` line of its own
/// (its builder failed, or a dependency of it did), not only in the closing summary of current
/// Nix (`error: build of 'A^out', 'B^out' failed`), which also lists the builds nix merely
/// stopped because another one failed.
pub fn names_as_failed(stderr: &str, drv: &str) -> bool {
    stderr
        .lines()
        .map(str::trim_start)
        .any(|l| l.starts_with("error:") && !l.starts_with("error: build of '") && l.contains(drv))
}

/// Whether any `error:` line of nix's stderr names `drv` (the summary included).
pub fn names_in_error(stderr: &str, drv: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.trim_start().starts_with("error:") && l.contains(drv))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::nix::log::recorded;

    const VERSIONS: [&str; 2] = ["2.8", "2.26"];

    #[test]
    fn error_summary_prefers_error_lines() {
        assert_eq!(
            error_summary("warning: x\nerror: boom\n  at y\n"),
            "error: boom at y"
        );
        assert_eq!(error_summary("a\nlast\n"), "last");
        assert_eq!(error_summary(""), "no output");
    }

    #[test]
    fn issue17_classifier_offline_names_the_host_and_keeps_nix_message() {
        for v in VERSIONS {
            let d = classify(&recorded(v, "offline-input"));
            assert_eq!(d.kind, NixErrorKind::Offline, "{v}");
            assert!(
                d.message.starts_with(
                    "unable to download 'https://api.github.com/repos/NixOS/nixpkgs/commits/nixos-25.11'"
                ),
                "{v}: {}",
                d.message
            );
            assert!(d.message.contains("(6)"), "{v}: {}", d.message);
            assert!(
                d.hint.as_deref().unwrap().contains("network to api.github.com"),
                "{v}"
            );
            assert!(!d.line().contains("retrying"), "{v}: a warning is not the error");
        }
        // Current Nix names the input it was fetching.
        let d = classify(&recorded("2.26", "offline-input"));
        assert!(
            d.message
                .ends_with("(while fetching the input 'github:NixOS/nixpkgs/nixos-25.11')")
        );
    }

    #[test]
    fn issue18_classifier_keeps_the_real_message_under_a_bare_error_line() {
        // Nix 2.26 prints a bare `error:` first: the summary was just that.
        let text = recorded("2.26", "offline-input");
        assert!(text.lines().any(|l| l == "error:"));
        assert_ne!(error_summary(&text), "error:");
        assert!(error_summary(&text).starts_with("error: unable to download"));
    }

    #[test]
    fn issue17_classifier_eval_error_keeps_message_and_position() {
        for v in VERSIONS {
            let d = classify(&recorded(v, "eval-error"));
            assert_eq!(d.kind, NixErrorKind::Other, "{v}");
            assert!(
                d.message.starts_with("undefined variable 'undefinedThing' at "),
                "{v}: {}",
                d.message
            );
            assert!(
                d.message.ends_with("-source/flake.nix:3:52"),
                "{v}: {}",
                d.message
            );
        }
    }

    // issue 18 item 4: a nested evaluation error of Nix 2.26 (`error:`, `… while` context lines,
    // then the innermost `error: MESSAGE`) reaches the user as nix's message with the last place
    // in the flake its trace names; Nix 2.8 prints the message flat.
    #[test]
    fn issue18_classifier_nested_eval_error_keeps_innermost_message_and_flake_position() {
        let text = recorded("2.26", "eval-throw");
        assert!(text.starts_with("error:\n"), "the recording shows the nesting");
        let d = classify(&text);
        assert_eq!(d.kind, NixErrorKind::Other);
        assert!(
            d.message.starts_with("no toolchain for this target at "),
            "{}",
            d.message
        );
        assert!(d.message.ends_with("-source/flake.nix:3:42"), "{}", d.message);
        assert!(!d.message.contains("<nix/"), "{}", d.message);
        let d = classify(&recorded("2.8", "eval-throw"));
        assert_eq!(d.message, "no toolchain for this target");
        for v in VERSIONS {
            let s = error_summary(&recorded(v, "eval-throw"));
            assert!(s.starts_with("error: no toolchain for this target"), "{v}: {s}");
        }
    }

    // The same error through kiln's own evaluation query: Nix 2.26's truncated trace names only
    // kiln's `--apply` expression (`«string»:1:137`), which is no place for the user to look.
    #[test]
    fn issue18_classifier_nested_eval_error_of_kiln_query_names_no_apply_position() {
        let text = recorded("2.26", "eval-throw-kiln");
        assert!(
            text.contains("«string»:1:137"),
            "the recording shows kiln's expression"
        );
        for v in VERSIONS {
            let d = classify(&recorded(v, "eval-throw-kiln"));
            assert_eq!(d.kind, NixErrorKind::Other, "{v}");
            assert_eq!(d.message, "no toolchain for this target", "{v}");
            assert_eq!(
                error_summary(&recorded(v, "eval-throw-kiln")),
                "error: no toolchain for this target",
                "{v}"
            );
        }
    }

    #[test]
    fn issue17_classifier_untracked_flake_says_git_add() {
        for v in VERSIONS {
            let d = classify(&recorded(v, "untracked-flake"));
            assert_eq!(d.kind, NixErrorKind::UntrackedFlake, "{v}: {}", d.message);
            assert!(d.hint.as_deref().unwrap().contains("git add flake.nix"), "{v}");
        }
    }

    #[test]
    fn issue17_classifier_missing_attribute_and_failed_builder() {
        for v in VERSIONS {
            let d = classify(&recorded(v, "missing-attribute"));
            assert_eq!(d.kind, NixErrorKind::MissingAttribute, "{v}");
            assert!(d.message.contains("does not provide attribute"), "{v}");
            let d = classify(&recorded(v, "build-log-failed"));
            assert_eq!(d.kind, NixErrorKind::BuildFailed, "{v}");
            assert!(
                d.message.contains("failed with exit code 1"),
                "{v}: {}",
                d.message
            );
        }
    }

    #[test]
    fn issue18_classifier_interrupted() {
        for v in VERSIONS {
            let d = classify(&recorded(v, "interrupted"));
            assert_eq!(d.kind, NixErrorKind::Interrupted, "{v}: {}", d.message);
            assert_eq!(d.message, "interrupted by the user", "{v}");
        }
    }

    #[test]
    fn issue18_failed_builds_are_named_by_their_error_lines() {
        let drv = "/nix/store/3lvpqci15sazfwkckzjfjcpjv4wrh7fs-fixture-aarch64-unknown-linux-gnu-1.2.3.drv";
        let other = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-fixture-x86_64-unknown-linux-gnu-1.2.3.drv";
        for v in VERSIONS {
            let text = recorded(v, "build-log-failed");
            assert!(names_as_failed(&text, drv) && names_in_error(&text, drv), "{v}");
            assert!(
                !names_as_failed(&text, other) && !names_in_error(&text, other),
                "{v}"
            );
        }
        // Current Nix's closing summary lists stopped builds too: named in an error, not as failed.
        let summary = format!("error: build of '{other}^out', '{drv}^out' failed\n");
        assert!(!names_as_failed(&summary, other));
        assert!(names_in_error(&summary, other));
    }

    #[test]
    fn copy_refusals_are_kinds() {
        let kind = |s: &str| classify(s).kind;
        assert_eq!(
            kind(
                "copying 1 paths...\nerror: cannot add path '/nix/store/x-a' because it lacks a valid signature\n"
            ),
            NixErrorKind::Unsigned
        );
        assert_eq!(
            kind(
                "error: hash mismatch importing path '/nix/store/x-a';\n  specified: sha256:1\n  got: sha256:2\n"
            ),
            NixErrorKind::HashMismatch
        );
        assert_eq!(
            kind("error: path '/nix/store/x-a' is not valid\n"),
            NixErrorKind::NotInStore
        );
        assert_eq!(kind("warning: w\nerror: boom\n"), NixErrorKind::Other);
    }
}
