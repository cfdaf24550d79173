//! The README's examples run as shown (issue 17): every `$ command` of a README code block is run
//! from the root of a repository laid out like this one (`nix/` and `examples/hello`, committed
//! to git, beside the root's flake.nix and flake.lock), on the example's real Rust build, and
//! its standard output (progress goes to stderr) must have the README's shape: the same lines once digits, hex digests and store
//! hashes are set aside; a line `...` or `…` in the README stands for any number of lines.
//!
//! Before the first command the example's dist is built once and its archives unpacked, as a
//! reader who follows the README has them from `kiln build`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Output, copy_dir, git_commit_all, repo, require_tool, sh};
use crate::nixenv::{example_guard, nix_config, path_env};

/// One `$ command` of the README and the lines it shows after it.
#[derive(Debug)]
struct Example {
    /// The README line the command starts on (1-based).
    line: usize,
    /// The command, continuation lines joined.
    command: String,
    /// What the README shows it printing.
    output: Vec<String>,
}

/// The examples of every fenced block whose first line is a `$ ` command.
fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut block: Option<Vec<(usize, &str)>> = None;
    for (i, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            match block.take() {
                Some(lines) => {
                    if lines.first().is_some_and(|(_, l)| l.starts_with("$ ")) {
                        out.extend(split(&lines));
                    }
                }
                None => block = Some(Vec::new()),
            }
        } else if let Some(lines) = block.as_mut() {
            lines.push((i + 1, line));
        }
    }
    out
}

/// A block's lines into commands (`\` continues one) and their output.
fn split(lines: &[(usize, &str)]) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut continued = false;
    for &(n, line) in lines {
        if continued {
            let ex = out.last_mut().unwrap();
            let part = line.trim();
            continued = part.ends_with('\\');
            ex.command.push(' ');
            ex.command.push_str(part.trim_end_matches('\\').trim());
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            continued = cmd.ends_with('\\');
            out.push(Example {
                line: n,
                command: cmd.trim_end_matches('\\').trim().to_owned(),
                output: Vec::new(),
            });
        } else {
            out.last_mut().unwrap().output.push(line.to_owned());
        }
    }
    out
}

/// A line with what differs between runs and machines set aside: `/nix/store/<hash>`, hex
/// digests, numbers, the width of aligned columns.
fn shape(line: &str) -> String {
    let mut s = String::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if line[i..].starts_with("/nix/store/") && b.len() >= i + 11 + 33 && b[i + 43] == b'-' {
            s.push_str("/nix/store/<hash>-");
            i += 44;
            continue;
        }
        let hex = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex >= 16 {
            s.push_str("<hex>");
            i += hex;
        } else if b[i].is_ascii_digit() {
            s.push('0');
            i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        } else if b[i] == b' ' {
            s.push(' ');
            i += b[i..].iter().take_while(|c| **c == b' ').count();
        } else {
            let c = line[i..].chars().next().unwrap();
            s.push(c);
            i += c.len_utf8();
        }
    }
    s.trim_end().to_owned()
}

/// Whether `got` has the shape of `want`, where a `...` or `…` line matches any run of lines.
fn matches(want: &[String], got: &[String]) -> bool {
    match want.split_first() {
        None => got.is_empty(),
        Some((w, rest)) if w.trim() == "..." || w.trim() == "…" => {
            (0..=got.len()).any(|k| matches(rest, &got[k..]))
        }
        Some((w, rest)) => got
            .split_first()
            .is_some_and(|(g, more)| shape(w) == shape(g) && matches(rest, more)),
    }
}

/// A temp dir laid out like this repository's root for the example: `flake.nix`, `flake.lock`
/// (what `kiln doctor` reads), `nix/` and `examples/hello`, committed, so
/// `--flake ./examples/hello` is a git flake whose `../../nix/` import resolves, as in a clone.
fn checkout() -> tempfile::TempDir {
    let tmp = tempfile::Builder::new().prefix("kiln-readme-").tempdir().unwrap();
    for file in ["flake.nix", "flake.lock"] {
        fs::copy(repo().join(file), tmp.path().join(file)).unwrap();
    }
    copy_dir(&repo().join("nix"), &tmp.path().join("nix"));
    copy_dir(&repo().join("examples/hello"), &tmp.path().join("examples/hello"));
    git_commit_all(tmp.path());
    tmp
}

/// `bash -c COMMAND` in `dir` with `kiln` (the binary under test) first on PATH and the
/// tests' Nix settings, as `. scripts/nix-env` gives a reader.
fn shell(dir: &Path, command: &str) -> Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kiln"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), path_env());
    Output::of(
        Command::new("bash")
            .args(["-c", command])
            .current_dir(dir)
            .env("PATH", path)
            .env("NIX_CONFIG", nix_config())
            .env("NO_COLOR", "1")
            .env_remove("SOURCE_DATE_EPOCH"),
    )
}

// issue 17: the README's parser finds the examples it is meant to run.
#[test]
fn issue17_readme_examples_are_found() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let all = examples(&readme);
    let commands: Vec<&str> = all.iter().map(|e| e.command.as_str()).collect();
    for want in [
        "kiln targets",
        "kiln doctor",
        "kiln verify-release dist --key release.pub",
    ] {
        assert!(commands.contains(&want), "{want:?} not in {commands:?}");
    }
    let verify = all
        .iter()
        .find(|e| e.command.starts_with("kiln verify --target"))
        .unwrap();
    assert!(verify.command.ends_with("/usr/bin/ls"), "{verify:?}");
    assert!(matches(
        &["a 12 b".into(), "...".into(), "end".into()],
        &["a 7 b".into(), "x".into(), "y".into(), "end".into()]
    ));
    assert!(!matches(&["a b".into()], &["a c".into()]));
    assert!(!matches(&["a".into()], &["a".into(), "b".into()]));
    assert_eq!(
        shape("ok   store  /nix/store/rs2grbvldjzw6g0h9g96mqdg3fz9d19n-kiln-doctor  4024 bytes"),
        "ok store /nix/store/<hash>-kiln-doctor 0 bytes"
    );
}

// issue 17: every command of the README's examples, run as shown, prints what the README shows.
#[test]
fn issue17_readme_examples_run_as_shown() {
    require_tool("qemu-aarch64-static");
    require_tool("skopeo");
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let all = examples(&readme);
    let _turn = example_guard();
    let tmp = checkout();
    let dir = tmp.path();
    // What a reader has from the build section: the dist, and its archives unpacked here.
    shell(dir, "kiln build --flake ./examples/hello").success();
    sh(dir, "for a in dist/*.tar.gz; do tar -xzf \"$a\"; done").success();
    let mut last = 0;
    let mut wrong = Vec::new();
    for ex in &all {
        let (code, text) = if ex.command == "echo $?" {
            (0, format!("{last}\n"))
        } else {
            let run = shell(dir, &ex.command);
            (run.code, run.stdout)
        };
        last = code;
        let got: Vec<String> = text.lines().map(str::to_owned).collect();
        if !matches(&ex.output, &got) {
            wrong.push(format!(
                "README.md:{}: $ {} (exit {code})\n--- README shows\n{}\n--- it printed\n{}",
                ex.line,
                ex.command,
                ex.output.join("\n"),
                got.join("\n")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
