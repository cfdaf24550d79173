//! Errors a user can act on (issue 17 items 2–4): `kiln build` stops with one line that names the
//! file or input and says how to fix it, and `--json` prints an error document on exit 2 too.
//! Real nix, real git: the flakes are written into temp dirs.

use std::path::Path;

use crate::harness::{Output, Test, require_tool, sh};
use crate::nixenv::Fixture;

/// The flake directory of a fixture (a plain directory reference, so git rules apply).
fn flake_dir(fx: &Fixture) -> String {
    fx.dir().join("f").display().to_string()
}

/// The one `kiln: error:` line of a run, asserting there is exactly one.
#[track_caller]
fn error_line(run: &Output) -> String {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("kiln: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line wanted:\n{}", run.stderr);
    lines[0].to_owned()
}

fn git_init(dir: &Path) {
    require_tool("git");
    sh(
        dir,
        "git init -q . && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m init",
    )
    .success();
}

// issue 17 item 2: `kiln init` then `kiln build` in a git checkout, before `git add`: kiln says
// `git add flake.nix` (one line naming the file, exit 2) instead of nix's "-source/flake.nix: No
// such file", and with --json prints the error document.
#[test]
fn issue17_build_refuses_untracked_flake_nix() {
    let fx = Fixture::new("ok");
    let dir = fx.dir().join("f");
    git_init(&dir);
    let run = Test::in_dir(fx.dir())
        .args(["build", "--flake", &flake_dir(&fx), "--target", "x86_64-musl"])
        .status(2);
    let line = error_line(&run);
    assert!(line.contains("flake.nix: not tracked by git"), "{line}");
    assert!(line.contains("`git add flake.nix`"), "{line}");
    assert!(line.contains("flake.lock"), "{line}");

    let run = Test::in_dir(fx.dir())
        .args([
            "build",
            "--json",
            "--flake",
            &flake_dir(&fx),
            "--target",
            "x86_64-musl",
        ])
        .status(2);
    let doc = run.json();
    assert_eq!(doc["ok"], false, "{doc}");
    assert_eq!(doc["code"], 2, "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("git add flake.nix"),
        "{doc}"
    );
    // Once added, nix sees it and the same build goes on (here: to a successful end); not on a
    // terminal, the progress lines are plain and the last one carries the elapsed time
    // (issue 17 item 11).
    sh(&dir, "git add -A").success();
    let run = Test::in_dir(fx.dir())
        .args(["build", "--flake", &flake_dir(&fx), "--target", "x86_64-musl"])
        .success();
    let done = run
        .stderr
        .lines()
        .find(|l| l.starts_with("kiln: x86_64-musl: done: "))
        .unwrap_or_else(|| panic!("no done line:\n{}", run.stderr));
    let took = done.rsplit_once(" (").map(|(_, t)| t).unwrap_or_default();
    assert!(
        took.ends_with("s)") && took.starts_with(|c: char| c.is_ascii_digit()),
        "{done}"
    );
}

// issue 17 item 3: an input on a host this machine cannot reach: kiln keeps nix's message (the
// URL and curl's error, not Nix 2.26's bare `error:`) and says what is missing.
#[test]
fn issue17_offline_input_names_the_host_and_the_fix() {
    let fx = Fixture::inline(
        "{ inputs.nixpkgs.url = \"github:NixOS/nixpkgs/nixos-25.11\";\n  outputs = { self, nixpkgs }: { }; }\n",
        &[],
    );
    let run = Test::in_dir(fx.dir())
        .args([
            "build",
            "--flake",
            &flake_dir(&fx),
            "--target",
            "x86_64-musl",
            "--json",
        ])
        .status(2);
    let line = error_line(&run);
    assert!(
        line.contains("unable to download 'https://api.github.com/repos/NixOS/nixpkgs/commits/nixos-25.11'"),
        "{line}"
    );
    assert!(
        line.contains("fix: this machine lacks network to api.github.com"),
        "{line}"
    );
    assert!(!line.ends_with("error:"), "{line}");
    assert_eq!(run.json()["code"], 2);
}

// issue 17 item 3 / issue 18 item 4: an evaluation error keeps nix's message and the position.
#[test]
fn issue17_eval_error_keeps_nix_message_and_position() {
    let fx = Fixture::inline(
        "{ outputs = { self }: {\n  packages.x86_64-linux.x86_64-musl = derivation {\n    name = \"x\"; system = \"x86_64-linux\"; builder = undefinedThing; };\n  }; }\n",
        &[],
    );
    let run = Test::in_dir(fx.dir())
        .args(["build", "--flake", &flake_dir(&fx), "--target", "x86_64-musl"])
        .status(2);
    let line = error_line(&run);
    assert!(line.contains("undefined variable 'undefinedThing' at "), "{line}");
    assert!(line.contains("-source/flake.nix:3:"), "{line}");
}

// issue 17 item 4: an error in Cargo.toml's kiln table gives the line and column.
#[test]
fn issue17_kiln_table_error_gives_line_and_column() {
    let fx = Fixture::new("ok");
    std::fs::write(
        fx.dir().join("f/Cargo.toml"),
        "[package]\nname = \"x\"\nversion = \"1.0.0\"\n\n[package.metadata.kiln]\ntargets = [\"x86_64-musl\"]\nglibc-max = 2.17\n",
    )
    .unwrap();
    let run = Test::in_dir(fx.dir())
        .args(["build", "--flake", &flake_dir(&fx)])
        .status(2);
    let line = error_line(&run);
    assert!(line.contains("Cargo.toml:7:13: invalid type"), "{line}");
}

// issue 17 item 4: `glibc-too-new` names the symbols above the floor (highest first) and the fix;
// with --glibc-max 2.30 the 2.25 symbol is no longer above it and is not named.
#[test]
fn issue17_glibc_too_new_names_symbols_and_fix() {
    let file = crate::elf::fx("x86_64-gnu-2.34-getrandom");
    let message = |extra: &[&str]| {
        let obj = &crate::elf::verify_json(std::slice::from_ref(&file), "x86_64-gnu", extra, 1)[0];
        obj["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "glibc-too-new")
            .unwrap_or_else(|| panic!("no glibc-too-new in {obj:#}"))["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let m = message(&[]);
    assert!(
        m.contains(
            "needs GLIBC_2.34 (__libc_start_main@GLIBC_2.34, getrandom@GLIBC_2.25), above the floor 2.17"
        ),
        "{m}"
    );
    assert!(!m.contains("puts@"), "{m}: puts@GLIBC_2.2.5 is below the floor");
    assert!(m.contains("fix: build with the flake's gnu targets"), "{m}");
    assert!(m.contains("musl"), "{m}");
    let m = message(&["--glibc-max", "2.30"]);
    assert!(m.contains("(__libc_start_main@GLIBC_2.34)"), "{m}");
}

/// A temp dir holding kiln's own flake.nix and flake.lock (crane and nixpkgs 26.05 locked).
fn kiln_flake_copy() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
    let repo = crate::harness::repo();
    for f in ["flake.nix", "flake.lock"] {
        std::fs::copy(repo.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

// issue 17 item 3: `kiln doctor` checks this Nix against what the flake in the current
// directory needs (its flake.lock locks crane: Nix >= 2.31.2; nixpkgs 26.05: >= 2.18) and warns
// with the fix (exit 0: other flakes still build here); elsewhere that check is absent.
#[test]
fn issue17_doctor_checks_nix_against_the_flake_here() {
    require_tool("nix");
    let dir = kiln_flake_copy();
    let r = Test::in_dir(dir.path()).arg("doctor").success();
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("warn flake-nix "))
        .unwrap_or_else(|| panic!("no flake-nix warning:\n{}", r.stdout));
    assert!(line.contains("is too old for the flake here"), "{line}");
    assert!(line.contains("crane >= 2.31.2 (crane needs it)"), "{line}");
    assert!(line.contains("fix: install Nix 2.31.2 or later"), "{line}");
    let empty = tempfile::tempdir().unwrap();
    let r = Test::in_dir(empty.path()).arg("doctor").success();
    assert!(!r.stdout.contains("flake-nix"), "{}", r.stdout);
}

// issue 17 item 3: building a flake whose lock needs a newer Nix, offline: nix's download error,
// the network fix, and the Nix the lock needs, on one line.
#[test]
fn issue17_build_names_the_nix_the_lock_needs() {
    require_tool("nix");
    let dir = kiln_flake_copy();
    let flake = dir.path().display().to_string();
    let run = Test::in_dir(dir.path())
        .args(["build", "--flake", &flake, "--target", "x86_64-musl"])
        .status(2);
    let line = error_line(&run);
    assert!(line.contains("unable to download"), "{line}");
    assert!(line.contains("fix: this machine lacks network to"), "{line}");
    assert!(
        line.contains(
            "note: this flake's flake.lock needs Nix >= 2.31.2 (crane: crane needs it), this is Nix 2."
        ),
        "{line}"
    );
}

/// The text of tmux session `name`'s pane.
fn tmux_pane(name: &str) -> String {
    let out = std::process::Command::new("tmux")
        .args(["capture-pane", "-p", "-t", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ends a tmux session when dropped, even on panic.
struct TmuxSession(String);

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

// issue 17 item 11: on a terminal (a tmux pane), while nix builds, the target's line shows its
// elapsed time and the last line of the build log (`| tick 3 of <tag>`), not only "building".
#[test]
fn issue17_terminal_progress_shows_elapsed_and_build_log() {
    require_tool("tmux");
    let tag = format!(
        "p{}-{}",
        std::process::id(),
        std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos()
    );
    let fx = Fixture::inline(
        &format!(
            r#"{{ outputs = {{ self }}: let
  bb = (import ./nix/hermetic-tools.nix {{ }}).busybox;
in {{ packages.x86_64-linux.x86_64-musl = derivation {{
    name = "ticker-{tag}"; system = "x86_64-linux"; builder = "${{bb}}/busybox";
    args = [ "sh" "-c" "for i in 1 2 3; do echo tick $i of {tag}; done; ${{bb}}/busybox sleep 6; ${{bb}}/busybox mkdir $out" ];
  }}; }}; }}
"#
        ),
        &[],
    );
    let kiln_cmd = format!(
        "cd {dir} && NO_COLOR=1 TERM=xterm NIX_CONFIG={config} PATH={path} {kiln} build --flake {flake} --target x86_64-musl; sleep 30",
        dir = fx.dir().display(),
        config = shell_quote(&crate::nixenv::nix_config()),
        path = shell_quote(&crate::nixenv::path_env()),
        kiln = env!("CARGO_BIN_EXE_kiln"),
        flake = fx.flake_ref(),
    );
    let session = TmuxSession(format!("kiln-{tag}"));
    Output::of(std::process::Command::new("tmux").args([
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "20",
        "-s",
        &session.0,
        "sh",
        "-c",
        &kiln_cmd,
    ]))
    .success();
    let start = std::time::Instant::now();
    let mut pane = String::new();
    while start.elapsed() < std::time::Duration::from_secs(60) {
        pane = tmux_pane(&session.0);
        if pane.contains(&format!("| tick 3 of {tag}")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let line = pane
        .lines()
        .find(|l| l.contains("x86_64-musl") && l.contains("building"))
        .unwrap_or_else(|| panic!("no building line in the pane:\n{pane}"));
    assert!(line.contains(&format!("building  | tick 3 of {tag}")), "{line}");
    // The elapsed time between the name and the stage (indicatif: `3s`).
    let between = line
        .split("x86_64-musl")
        .nth(1)
        .unwrap()
        .split("building")
        .next()
        .unwrap();
    assert!(
        between.trim().ends_with('s') && between.trim().starts_with(|c: char| c.is_ascii_digit()),
        "no elapsed time in {line:?}"
    );
}

/// `'text'` for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
