//! `kiln build` and `kiln doctor` against real Nix with the sandbox on (issue 5).
//!
//! Fixture flakes (tests/fixtures/flakes) build real binaries for the four targets with the
//! hermetic zig + busybox toolchain; nothing is fetched. Run against Nix 2.8 by default and
//! against current Nix with `KILN_TEST_NIX=modern`.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Output, Test, listing, require_tool, sh, staging_dirs};
use crate::nixenv::Fixture;

const TRIPLES: [&str; 4] = [
    "x86_64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-gnu",
    "aarch64-unknown-linux-musl",
];

fn archive_name(triple: &str) -> String {
    format!("fixture-1.2.3-{triple}.tar.gz")
}

/// Runs an extracted binary the way a user would: natively, or under qemu-user.
fn run_binary(bin: &Path, triple: &str) -> Output {
    let mut cmd = if triple.starts_with("aarch64") {
        require_tool("qemu-aarch64-static");
        let mut c = Command::new("qemu-aarch64-static");
        if triple.ends_with("gnu") {
            let sysroot = Path::new("/usr/aarch64-linux-gnu");
            assert!(
                sysroot.is_dir(),
                "{} is missing: run scripts/setup (libc6-arm64-cross)",
                sysroot.display()
            );
            c.arg("-L").arg(sysroot);
        }
        c.arg(bin);
        c
    } else {
        Command::new(bin)
    };
    Output::of(cmd.arg("--version"))
}

// issue 5: all four targets in one nix invocation, verified, exported, checksummed, runnable.
#[test]
fn issue5_builds_all_targets_in_one_invocation_and_exports() {
    require_tool("sha256sum");
    require_tool("tar");
    let fx = Fixture::new("ok");
    let run = fx.build(&["-v"]).success();
    let builds: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" build --json --no-link"))
        .collect();
    assert_eq!(builds.len(), 1, "exactly one nix build call:\n{}", run.stderr);
    let evals: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" eval --json "))
        .collect();
    assert_eq!(evals.len(), 1, "exactly one evaluation:\n{}", run.stderr);
    assert!(evals[0].contains("#packages.x86_64-linux"), "{}", evals[0]);
    for t in ["x86_64-gnu", "x86_64-musl", "aarch64-gnu", "aarch64-musl"] {
        assert!(evals[0].contains(&format!("\"{t}\"")), "{t} in {}", evals[0]);
    }

    let dist = fx.dir().join("dist");
    let mut want: Vec<String> = TRIPLES.iter().map(|t| archive_name(t)).collect();
    want.extend([
        ".kiln-dist".into(),
        "SHA256SUMS".into(),
        "manifest.json".into(),
        "provenance.intoto.json".into(),
    ]);
    want.sort();
    assert_eq!(listing(&dist), want);
    assert_eq!(
        fs::read_to_string(dist.join(".kiln-dist")).unwrap(),
        "kiln-dist v1\n"
    );
    sh(&dist, "sha256sum -c SHA256SUMS").success();

    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["name"], "fixture");
    assert_eq!(manifest["version"], "1.2.3");
    assert!(
        manifest["source"]["nar_hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256-")
    );
    let arts = manifest["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 4);
    for (a, triple) in arts.iter().zip(TRIPLES) {
        assert_eq!(a["target"], triple);
        assert_eq!(a["file"], archive_name(triple).as_str());
        let bytes = fs::read(dist.join(a["file"].as_str().unwrap())).unwrap();
        assert_eq!(a["size"].as_u64().unwrap(), bytes.len() as u64);
        let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
        assert!(sums.contains(&format!(
            "{} *{}",
            a["sha256"].as_str().unwrap(),
            a["file"].as_str().unwrap()
        )));
        assert!(a["store_path"].as_str().unwrap().starts_with("/nix/store/"));
        let drv = a["drv_path"].as_str().unwrap();
        assert!(Path::new(drv).extension().is_some_and(|e| e == "drv"));
        assert!(
            builds[0].contains(drv),
            "{drv} is built by the one nix build: {}",
            builds[0]
        );
        let linkage = a["linkage"].as_str().unwrap();
        if triple.ends_with("musl") {
            assert!(
                linkage == "static" || linkage == "static-pie",
                "{triple}: {linkage}"
            );
            assert!(a["glibc_max"].is_null());
        } else {
            assert_eq!(linkage, "dynamic");
            let g = a["glibc_max"].as_str().unwrap();
            assert!(g.starts_with("2."), "{g}");
        }
        assert!(
            a["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["severity"] == "warning")
        );
    }

    // Unpack every archive with GNU tar and run the binary (aarch64 under qemu-user).
    let x = fx.dir().join("x");
    fs::create_dir(&x).unwrap();
    for triple in TRIPLES {
        sh(&x, &format!("tar -xzf ../dist/{}", archive_name(triple))).success();
        let bin = x.join(format!("fixture-1.2.3-{triple}/fixture"));
        let r = run_binary(&bin, triple).success();
        assert!(
            r.stdout.contains("1.2.3") && r.stdout.contains(triple),
            "{triple}: {}",
            r.stdout
        );
    }
}

// issue 5: two exports of the same binaries are byte-identical; archive metadata is normalized.
#[test]
fn issue5_two_runs_give_byte_identical_dist() {
    require_tool("tar");
    let fx = Fixture::new("ok");
    fx.build(&["--out", "one", "--target", "x86_64-musl,aarch64-gnu"])
        .success();
    fx.build(&[
        "--out",
        "two",
        "--target",
        "x86_64-musl",
        "--target",
        "aarch64-gnu",
    ])
    .success();
    let (one, two) = (fx.dir().join("one"), fx.dir().join("two"));
    assert_eq!(listing(&one), listing(&two));
    assert_eq!(listing(&one).len(), 6);
    // The provenance records times and an invocation id (issue 6); everything else is identical.
    for f in listing(&one)
        .into_iter()
        .filter(|f| !f.starts_with("provenance."))
    {
        assert_eq!(
            fs::read(one.join(&f)).unwrap(),
            fs::read(two.join(&f)).unwrap(),
            "{f} differs"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(one.join("manifest.json")).unwrap()).unwrap();
    let epoch = manifest["source_date_epoch"].as_i64().unwrap();
    let r = sh(
        &one,
        &format!(
            "tar --numeric-owner -tvzf {}",
            archive_name("x86_64-unknown-linux-musl")
        ),
    )
    .success();
    for line in r.stdout.lines() {
        assert!(line.contains(" 0/0 "), "owner not 0/0: {line}");
    }
    let r = sh(
        &one,
        &format!(
            "tar -xzf {} -O >/dev/null && tar --full-time -tvzf {}",
            archive_name("x86_64-unknown-linux-musl"),
            archive_name("x86_64-unknown-linux-musl")
        ),
    )
    .success();
    let date = sh(&one, &format!("date -u -d @{epoch} '+%Y-%m-%d %H:%M:%S'"))
        .success()
        .stdout;
    assert!(
        r.stdout.lines().all(|l| l.contains(date.trim())),
        "mtime is not {epoch}:\n{}",
        r.stdout
    );
}

// issue 5: SOURCE_DATE_EPOCH from the environment wins.
#[test]
fn issue5_source_date_epoch_from_environment() {
    let fx = Fixture::new("ok");
    fx.build(&["--target", "x86_64-musl"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .success();
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("dist/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["source_date_epoch"], 1_700_000_000);
    let r = fx
        .build(&["--target", "x86_64-musl", "--out", "bad"])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .run();
    let r = r.status(2);
    assert!(r.stderr.contains("SOURCE_DATE_EPOCH='yesterday'"), "{}", r.stderr);
    assert!(!fx.dir().join("bad").exists());
}

// issue 5: a failing target is named with its build log; nothing is exported without --keep-going.
#[test]
fn issue5_failed_target_without_keep_going_exports_nothing() {
    let fx = Fixture::new("broken");
    let r = fx.build(&[]).failure();
    assert!(
        r.stdout.contains("FAIL  aarch64-unknown-linux-gnu"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("KILN_FIXTURE_BROKEN") || r.stdout.contains("error"),
        "log tail shown:\n{}",
        r.stdout
    );
    assert!(!fx.dir().join("dist").exists());
    let r = fx.build(&["--json"]).failure();
    let j = r.json();
    assert_eq!(j["ok"], false);
    assert!(j["exported"].is_null());
    let failed: Vec<&serde_json::Value> = j["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "build-failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["target"], "aarch64-unknown-linux-gnu");
    assert!(!failed[0]["log_tail"].as_array().unwrap().is_empty());
}

// issue 5: without --keep-going nix stops the other builds when one fails; those targets are
// reported as not built, not as failed (current Nix names them in its closing summary line).
#[test]
fn issue5_stopped_builds_are_not_built_not_failed() {
    // Each build gets a fresh name so it is really built (and stopped) every run.
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let flake = format!(
        r#"{{ outputs = {{ self }}: let
  bb = (import ./nix/hermetic-tools.nix {{ }}).busybox;
  sh = name: script: derivation {{ inherit name; system = "x86_64-linux"; builder = "${{bb}}/busybox"; args = [ "sh" "-c" script ]; }};
  slow = n: sh "slow-${{n}}-{tag}" "${{bb}}/busybox sleep 20; ${{bb}}/busybox mkdir $out";
  top = n: derivation {{ name = "top-${{n}}-{tag}"; system = "x86_64-linux"; builder = "${{bb}}/busybox"; dep = slow n;
    args = [ "sh" "-c" "${{bb}}/busybox mkdir -p $out/bin" ]; }};
in {{ packages.x86_64-linux = {{
  x86_64-musl = top "a";
  aarch64-musl = top "b";
  aarch64-gnu = sh "fails-{tag}" "${{bb}}/busybox sleep 1; echo the-compiler-said-no >&2; exit 3";
}}; }}; }}
"#
    );
    let fx = Fixture::inline(&flake, &[]);
    let r = fx
        .build(&["--json", "-t", "x86_64-musl,aarch64-musl,aarch64-gnu"])
        .env(
            "NIX_CONFIG",
            format!("{}max-jobs = 4\n", crate::nixenv::nix_config()),
        )
        .failure();
    let j = r.json();
    let status: Vec<(&str, &str)> = j["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["attr"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        [
            ("x86_64-musl", "not-built"),
            ("aarch64-musl", "not-built"),
            ("aarch64-gnu", "build-failed")
        ],
        "{}",
        r.stderr
    );
    let failed = &j["targets"][2];
    assert!(
        failed["log_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "the-compiler-said-no"),
        "{failed}"
    );
    assert!(!fx.dir().join("dist").exists());
}

// issue 5: --keep-going exports the targets that built and still exits non-zero.
#[test]
fn issue5_keep_going_exports_the_others() {
    require_tool("sha256sum");
    let fx = Fixture::new("broken");
    let r = fx.build(&["--keep-going"]).failure();
    assert!(
        r.stdout.contains("FAIL  aarch64-unknown-linux-gnu"),
        "{}",
        r.stdout
    );
    let dist = fx.dir().join("dist");
    let files = listing(&dist);
    assert_eq!(files.len(), 7, "{files:?}");
    assert!(!files.contains(&archive_name("aarch64-unknown-linux-gnu")));
    sh(&dist, "sha256sum -c SHA256SUMS").success();
}

// issue 5: binaries that fail their target's policy fail the build; nothing is exported.
#[test]
fn issue5_policy_failures_block_export() {
    let fx = Fixture::new("badpolicy");
    let r = fx.build(&["--target", "x86_64-musl", "--json"]).failure();
    let t = &r.json()["targets"][0];
    assert_eq!(t["status"], "verify-failed");
    let codes: Vec<&str> = t["binaries"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"not-static"), "{codes:?}");
    assert!(!fx.dir().join("dist").exists());

    let r = fx.build(&["--target", "x86_64-gnu"]).failure();
    assert!(r.stdout.contains("nonstandard-interpreter"), "{}", r.stdout);
    assert!(r.stdout.contains("store-reference"), "{}", r.stdout);
    assert!(!fx.dir().join("dist").exists());

    // The well-behaved targets of the same flake pass.
    fx.build(&["--target", "aarch64-musl,aarch64-gnu"]).success();
}

// issue 5: --check-reproducible catches a nondeterministic derivation and names the file.
#[test]
fn issue5_check_reproducible_catches_nondeterminism() {
    let fx = Fixture::new("nondeterministic");
    let r = fx
        .build(&["--target", "x86_64-musl", "--check-reproducible"])
        .failure();
    assert!(
        r.stdout.contains("not reproducible"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stdout.contains("x86_64-musl"), "{}", r.stdout);
    assert!(
        r.stdout.contains("first differing file: bin/fixture"),
        "{}",
        r.stdout
    );
    assert!(!fx.dir().join("dist").exists());

    let ok = Fixture::new("ok");
    ok.build(&["--target", "x86_64-musl,aarch64-musl", "--check-reproducible"])
        .success();
}

// issue 5: a missing attribute, a missing flake, an unknown target and a missing nix are usage
// or environment errors (exit 2) with one clear line.
#[test]
fn issue5_missing_attribute_flake_target_and_nix() {
    let fx = Fixture::inline(
        "{ outputs = { self }: { packages.x86_64-linux = { inherit (import ./nix/hermetic.nix { name = \"fixture\"; version = \"1.2.3\"; src = ./main.c; targets = [ \"x86_64-musl\" ]; }) x86_64-musl; }; }; }\n",
        &[("main.c", "int main(void){return 0;}\n")],
    );
    let r = fx.build(&["--target", "aarch64-musl"]).status(2);
    assert!(
        r.stderr.contains(
            "has no attribute packages.x86_64-linux.aarch64-musl (target aarch64-unknown-linux-musl)"
        ),
        "{}",
        r.stderr
    );

    let r = fx.build(&["--system", "riscv64-linux"]).status(2);
    assert!(
        r.stderr.contains("has no attribute packages.riscv64-linux"),
        "{}",
        r.stderr
    );

    let r = Test::in_dir(fx.dir())
        .args(["build", "--flake", "path:./no-such-flake"])
        .status(2);
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("kiln: error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {}", r.stderr);
    assert!(errors[0].contains("no-such-flake"), "{}", r.stderr);

    let r = fx.build(&["--target", "sparc-musl"]).status(2);
    assert!(r.stderr.contains("unknown target 'sparc-musl'"), "{}", r.stderr);

    let r = fx.build(&[]).env("PATH", "/nonexistent").status(2);
    assert!(r.stderr.contains("nix not found on PATH"), "{}", r.stderr);
    assert!(!fx.dir().join("dist").exists());
}

fn interrupt_export(signal: &str, code: i32) {
    let fx = Fixture::new("ok");
    fx.build(&["--target", "x86_64-musl"]).success();
    // The old dist is a one-target release; the interrupted run would write two.
    let dist = fx.dir().join("dist");
    let before: Vec<(String, Vec<u8>)> = listing(&dist)
        .into_iter()
        .map(|f| (f.clone(), fs::read(dist.join(&f)).unwrap()))
        .collect();

    let mut child = fx
        .build(&["--target", "x86_64-musl,aarch64-musl"])
        .env("KILN_EXPORT_PAUSE_MS", "1500")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // (The lock file `.dist.kiln-lock` exists from the start; wait for the staging dir itself.)
    while !staging_dirs(fx.dir())
        .iter()
        .any(|n| n.contains(".kiln-staging-"))
    {
        assert!(start.elapsed() < Duration::from_secs(120), "export never started");
        assert!(child.try_wait().unwrap().is_none(), "kiln ended before exporting");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    Output::of(Command::new("kill").args([signal, &child.id().to_string()])).success();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let after: Vec<(String, Vec<u8>)> = listing(&dist)
        .into_iter()
        .map(|f| (f.clone(), fs::read(dist.join(&f)).unwrap()))
        .collect();
    assert_eq!(before, after, "old dist/ changed");
    assert!(
        staging_dirs(fx.dir()).is_empty(),
        "left behind: {:?}",
        staging_dirs(fx.dir())
    );
}

// issue 5: SIGINT during export leaves the old dist/ intact and no temp dirs.
#[test]
fn issue5_sigint_during_export_keeps_old_dist() {
    interrupt_export("-INT", 130);
}

// issue 5: the same for SIGTERM.
#[test]
fn issue5_sigterm_during_export_keeps_old_dist() {
    interrupt_export("-TERM", 143);
}

// issue 5: --smoke runs each binary (aarch64 under qemu-user) and records it in the manifest.
#[test]
fn issue5_smoke_run_is_recorded() {
    require_tool("qemu-aarch64-static");
    let fx = Fixture::new("ok");
    fx.build(&["--smoke", "--version"]).success();
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("dist/manifest.json")).unwrap()).unwrap();
    for a in m["artifacts"].as_array().unwrap() {
        let s = &a["binaries"][0]["smoke"];
        assert_eq!(s["exit_code"], 0, "{a}");
        assert!(
            s["first_line"]
                .as_str()
                .unwrap()
                .contains(a["target"].as_str().unwrap()),
            "{s}"
        );
        let runner = s["runner"].as_str().unwrap();
        assert_eq!(
            runner == "native",
            a["target"].as_str().unwrap().starts_with("x86_64"),
            "{runner}"
        );
    }
}

// issue 5: [package.metadata.kiln] picks targets and the archive format; flags override it.
#[test]
fn issue5_cargo_metadata_sets_defaults() {
    require_tool("unzip");
    let fx = Fixture::new("ok");
    fs::write(
        fx.dir().join("f/Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.9.0\"\n[package.metadata.kiln]\ntargets = [\"aarch64-musl\"]\narchive = \"zip\"\n",
    )
    .unwrap();
    fs::write(fx.dir().join("f/README.md"), "# demo\n").unwrap();
    fs::write(fx.dir().join("f/LICENSE"), "license text\n").unwrap();
    let flake = fx.dir().join("f").display().to_string();
    Test::in_dir(fx.dir())
        .args(["build", "--flake", &flake])
        .success();
    let files = listing(&fx.dir().join("dist"));
    assert_eq!(
        files,
        [
            ".kiln-dist",
            "SHA256SUMS",
            "demo-0.9.0-aarch64-unknown-linux-musl.zip",
            "manifest.json",
            "provenance.intoto.json"
        ]
    );
    sh(
        &fx.dir().join("dist"),
        "unzip -t demo-0.9.0-aarch64-unknown-linux-musl.zip",
    )
    .success();
    let list = sh(
        &fx.dir().join("dist"),
        "unzip -Z1 demo-0.9.0-aarch64-unknown-linux-musl.zip",
    )
    .success();
    let names: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(
        names,
        [
            "demo-0.9.0-aarch64-unknown-linux-musl/",
            "demo-0.9.0-aarch64-unknown-linux-musl/LICENSE",
            "demo-0.9.0-aarch64-unknown-linux-musl/README.md",
            "demo-0.9.0-aarch64-unknown-linux-musl/fixture",
        ]
    );
    Test::in_dir(fx.dir())
        .args([
            "build",
            "--flake",
            &flake,
            "--archive",
            "tar.xz",
            "-t",
            "x86_64-gnu",
            "-o",
            "d2",
        ])
        .success();
    assert!(
        fx.dir()
            .join("d2/demo-0.9.0-x86_64-unknown-linux-gnu.tar.xz")
            .exists()
    );
}

// issue 9: a flake with several programs: every package for every target in one nix build,
// each exported under its own name; bad names, missing attributes and --image are refused.
#[test]
fn issue9_packages_build_each_program_for_each_target() {
    require_tool("sha256sum");
    let fx = Fixture::new("many");
    let run = fx
        .build(&[
            "-v",
            "--package",
            "fixture,extra",
            "-t",
            "x86_64-musl,aarch64-musl",
            "--json",
        ])
        .success();
    let builds = run
        .stderr
        .lines()
        .filter(|l| l.contains(" build --json --no-link"))
        .count();
    assert_eq!(builds, 1, "one nix build for four units:\n{}", run.stderr);
    let json = run.json();
    let got: Vec<(String, String)> = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["package"].as_str().unwrap().to_owned(),
                t["attr"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("fixture", "fixture-x86_64-musl"),
        ("fixture", "fixture-aarch64-musl"),
        ("extra", "extra-x86_64-musl"),
        ("extra", "extra-aarch64-musl"),
    ]
    .iter()
    .map(|(p, a)| ((*p).to_owned(), (*a).to_owned()))
    .collect();
    assert_eq!(got, want);

    let dist = fx.dir().join("dist");
    assert_eq!(
        listing(&dist),
        [
            ".kiln-dist",
            "SHA256SUMS",
            "extra-1.2.3-aarch64-unknown-linux-musl.tar.gz",
            "extra-1.2.3-x86_64-unknown-linux-musl.tar.gz",
            "fixture-1.2.3-aarch64-unknown-linux-musl.tar.gz",
            "fixture-1.2.3-x86_64-unknown-linux-musl.tar.gz",
            "manifest.json",
            "provenance.intoto.json",
        ]
    );
    sh(&dist, "sha256sum -c SHA256SUMS").success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    let arts = manifest["artifacts"].as_array().unwrap();
    assert_eq!(arts[2]["package"], "extra");
    assert_eq!(arts[2]["attr"], "extra-x86_64-musl");
    // The two programs are different derivations and different binaries.
    assert_ne!(arts[0]["drv_path"], arts[2]["drv_path"]);
    let x = fx.dir().join("x");
    fs::create_dir(&x).unwrap();
    sh(
        &x,
        "tar -xzf ../dist/extra-1.2.3-x86_64-unknown-linux-musl.tar.gz",
    )
    .success();
    let r = Output::of(
        Command::new(x.join("extra-1.2.3-x86_64-unknown-linux-musl/fixture-extra")).arg("--version"),
    )
    .success();
    assert!(r.stdout.starts_with("fixture-extra 1.2.3"), "{}", r.stdout);
    Test::in_dir(fx.dir()).args(["verify-release", "dist"]).success();
    // `kiln image` makes one program's image: a dist of two is refused, naming both.
    let r = Test::in_dir(fx.dir()).args(["image", "--from", "dist"]).status(2);
    assert!(
        r.stderr.contains("several packages (extra, fixture)"),
        "{}",
        r.stderr
    );
}

// issue 9: --package names are checked, a missing package attribute is named, --image takes one
// package, and [package.metadata.kiln] packages is the default.
#[test]
fn issue9_packages_refusals_and_cargo_default() {
    let fx = Fixture::new("many");
    let r = fx
        .build(&["--package", "fixture,extra", "--image", "-o", "d2"])
        .status(2);
    assert!(r.stderr.contains("--image packages one program"), "{}", r.stderr);
    let r = fx.build(&["--package", "../x", "-o", "d2"]).status(2);
    assert!(r.stderr.contains("package '../x' is not a name"), "{}", r.stderr);
    let r = fx
        .build(&["--package", "nope", "-t", "x86_64-gnu", "-o", "d2"])
        .status(2);
    assert!(
        r.stderr.contains(
            "has no attribute packages.x86_64-linux.nope-x86_64-gnu (target x86_64-unknown-linux-gnu)"
        ),
        "{}",
        r.stderr
    );
    assert!(!fx.dir().join("d2").exists());

    // [package.metadata.kiln] packages is the default; flags override it.
    fs::write(
        fx.dir().join("f/Cargo.toml"),
        "[package]\nname = \"many\"\nversion = \"2.0.0\"\n[package.metadata.kiln]\ntargets = [\"x86_64-gnu\"]\npackages = [\"extra\"]\n",
    )
    .unwrap();
    let flake = fx.dir().join("f").display().to_string();
    Test::in_dir(fx.dir())
        .args(["build", "--flake", &flake, "-o", "d3"])
        .success();
    assert!(
        fx.dir()
            .join("d3/extra-2.0.0-x86_64-unknown-linux-gnu.tar.gz")
            .exists(),
        "{:?}",
        listing(&fx.dir().join("d3"))
    );
}

// issue 5: kiln starts evaluating the host's system before nix's settings are read; when nix is
// configured for another system, that guess is dropped and nix's `system` is used.
#[test]
fn issue5_nix_system_setting_wins_over_the_host_guess() {
    let fx = Fixture::new("ok");
    let config = format!("{}system = aarch64-linux\n", crate::nixenv::nix_config());
    let r = fx.build(&["-o", "d"]).env("NIX_CONFIG", config).status(2);
    assert!(
        r.stderr.contains("has no attribute packages.aarch64-linux"),
        "{}",
        r.stderr
    );
    // --system names the packages to take, whatever nix's own system is.
    let r = fx.build(&["--system", "riscv64-linux", "-o", "d"]).status(2);
    assert!(
        r.stderr.contains("has no attribute packages.riscv64-linux"),
        "{}",
        r.stderr
    );
    assert!(!fx.dir().join("d").exists());
}

// issue 5: a flake kiln evaluated before has its attributes built at once (Nix's evaluation
// cache answers) and is mapped back through kiln's cache of evaluations; a changed source misses
// that cache and is evaluated again; a stale entry is never trusted.
#[test]
fn issue5_repeated_builds_use_the_evaluation_caches() {
    let fx = Fixture::new("ok");
    let cache = fx.dir().join("xdg-cache");
    let build = |out: &str| {
        fx.build(&["-v", "-t", "x86_64-musl,aarch64-gnu", "-o", out])
            .env("XDG_CACHE_HOME", &cache)
            .success()
    };
    let nix_builds = |r: &Output| -> Vec<String> {
        r.stderr
            .lines()
            .filter(|l| l.contains(" build --json --no-link"))
            .map(str::to_owned)
            .collect()
    };
    let drvs = |out: &str| -> Vec<String> {
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(fx.dir().join(out).join("manifest.json")).unwrap()).unwrap();
        m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["drv_path"].as_str().unwrap().to_owned())
            .collect()
    };

    // First: evaluated once, the evaluated derivations built.
    let first = build("d1");
    let b = nix_builds(&first);
    assert_eq!(b.len(), 1, "{}", first.stderr);
    assert!(b[0].contains(".drv") && !b[0].contains("#packages."), "{}", b[0]);
    let eval_dir = cache.join("kiln/eval");
    let mut names = listing(&eval_dir);
    names.retain(|n| !n.starts_with("seen-"));
    assert_eq!(names.len(), 1, "{:?}", listing(&eval_dir));

    // Again: the flake attributes are built; the mapping comes from the cache.
    let second = build("d2");
    let b = nix_builds(&second);
    assert_eq!(b.len(), 1, "{}", second.stderr);
    assert!(
        b[0].contains("#packages.x86_64-linux.x86_64-musl")
            && b[0].contains("#packages.x86_64-linux.aarch64-gnu"),
        "{}",
        b[0]
    );
    assert_eq!(drvs("d1"), drvs("d2"));
    assert_eq!(
        fs::read(fx.dir().join("d1/SHA256SUMS")).unwrap(),
        fs::read(fx.dir().join("d2/SHA256SUMS")).unwrap()
    );

    // A changed source: other derivations, found by evaluating, each under its own target.
    let main_c = fx.dir().join("f/main.c");
    let text = fs::read_to_string(&main_c).unwrap();
    fs::write(
        &main_c,
        text.replace("a kiln test fixture", "a changed kiln test fixture"),
    )
    .unwrap();
    build("d3");
    let (old, new) = (drvs("d1"), drvs("d3"));
    for ((o, n), triple) in old
        .iter()
        .zip(&new)
        .zip(["x86_64-unknown-linux-musl", "aarch64-unknown-linux-gnu"])
    {
        assert_ne!(o, n);
        assert!(
            n.ends_with(&format!("-fixture-{triple}-1.2.3.drv")),
            "{n} for {triple}"
        );
    }

    // A stale entry (here: every cache file swapped for the first source's) is not trusted:
    // the built derivations are not the ones it names, so kiln evaluates.
    fs::write(&main_c, &text).unwrap();
    let d1_entry = fs::read(eval_dir.join(&names[0])).unwrap();
    fs::write(
        &main_c,
        text.replace("a kiln test fixture", "a twice changed kiln test fixture"),
    )
    .unwrap();
    build("d4");
    for n in listing(&eval_dir).iter().filter(|n| !n.starts_with("seen-")) {
        // Rewrite every entry's key to claim the current source, with the first source's drvs.
        let mut entry: serde_json::Value = serde_json::from_slice(&d1_entry).unwrap();
        let now: serde_json::Value = serde_json::from_slice(&fs::read(eval_dir.join(n)).unwrap()).unwrap();
        entry["key"] = now["key"].clone();
        fs::write(eval_dir.join(n), serde_json::to_vec(&entry).unwrap()).unwrap();
    }
    build("d5");
    assert_eq!(drvs("d4"), drvs("d5"));
    assert_ne!(drvs("d5"), drvs("d1"));

    // Nix's evaluation cache off: evaluate, then build the derivations, seen or not (the build
    // of the attributes, started before nix's settings were known, is ended).
    let r = fx
        .build(&["-v", "-t", "x86_64-musl", "-o", "d6"])
        .env("XDG_CACHE_HOME", &cache)
        .env(
            "NIX_CONFIG",
            format!("{}eval-cache = false\n", crate::nixenv::nix_config()),
        )
        .success();
    let last = nix_builds(&r).pop().unwrap();
    assert!(
        last.contains(".drv") && !last.contains("#packages."),
        "{}",
        r.stderr
    );
}

// issue 5: kiln doctor reports this machine's Nix and exits 0; without nix it fails with a hint.
#[test]
fn issue5_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let r = Test::in_dir(dir.path()).arg("doctor").success();
    assert!(
        r.stdout.lines().any(|l| l.starts_with("ok   nix ")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.lines().any(|l| l.starts_with("ok   sandbox ")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.lines().any(|l| l.starts_with("ok   store ")),
        "{}",
        r.stdout
    );
    let r = Test::in_dir(dir.path()).args(["doctor", "--json"]).success();
    assert!(r.json().as_array().unwrap().iter().any(|c| c["name"] == "flakes"));
    let r = Test::in_dir(dir.path())
        .arg("doctor")
        .env("PATH", "/nonexistent")
        .status(2);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("fail nix ")),
        "{}",
        r.stdout
    );
    let r = Test::in_dir(dir.path())
        .arg("doctor")
        .env(
            "NIX_CONFIG",
            crate::nixenv::nix_config().replace("sandbox = true", "sandbox = false"),
        )
        .success();
    assert!(
        r.stdout.lines().any(|l| l.starts_with("warn sandbox ")),
        "{}",
        r.stdout
    );
}

/// Every path under `dir` (recursively, not following symlinks) with its bytes ("<dir>" or
/// "-> target" for directories and symlinks).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut names: Vec<_> = fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let p = root.join(&r);
            let m = fs::symlink_metadata(&p).unwrap();
            let key = r.display().to_string();
            if m.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.push((key, format!("-> {}", t.display()).into_bytes()));
            } else if m.is_dir() {
                out.push((key, b"<dir>".to_vec()));
                walk(root, &r, out);
            } else {
                out.push((key, fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out);
    out
}

/// `kiln build --out OUT` is refused (exit 2) before anything is built: one line naming
/// `named`, and nothing in the fixture's directory changed.
#[track_caller]
fn assert_out_refused(fx: &Fixture, test: Test, named: &str) -> String {
    let before = tree(fx.dir());
    let r = test.status(2);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, and nothing built:\n{}", r.stderr);
    assert!(lines[0].starts_with("kiln: error: "), "{}", r.stderr);
    assert!(
        lines[0].contains(named),
        "the error does not name {named}: {}",
        r.stderr
    );
    assert_eq!(tree(fx.dir()), before, "something was touched:\n{}", r.stderr);
    lines[0].to_owned()
}

// issue 13 item 1: `--out` is never a directory kiln did not write: a home-like directory, the
// flake's own directory (with .git/), its parents, a directory with a planted marker and a
// foreign file, a symlink (even to a real dist), a file, $HOME itself. Each is refused before
// anything is built, with one line naming it, and nothing is touched.
#[test]
fn issue13_out_refuses_what_kiln_did_not_write() {
    let fx = Fixture::new("ok");
    let d = fx.dir();
    fs::create_dir_all(d.join("home/.ssh")).unwrap();
    fs::write(d.join("home/.ssh/id_ed25519"), "secret key").unwrap();
    fs::create_dir_all(d.join("f/.git")).unwrap();
    fs::write(d.join("f/.git/HEAD"), "ref: refs/heads/main\n").unwrap();
    // A marker and a manifest planted in a foreign directory do not make it a dist.
    let planted = d.join("planted");
    fs::create_dir(&planted).unwrap();
    fs::write(planted.join(".kiln-dist"), "kiln-dist v1\n").unwrap();
    fs::write(planted.join("manifest.json"), "{}\n").unwrap();
    fs::write(
        planted.join("SHA256SUMS"),
        "0000000000000000000000000000000000000000000000000000000000000000 *manifest.json\n",
    )
    .unwrap();
    fs::write(planted.join("thesis.tex"), "three years of work").unwrap();
    fs::write(d.join("afile"), "not a directory").unwrap();
    // A real dist, and a symlink to it.
    fx.build(&["--target", "x86_64-musl", "--out", "real"]).success();
    std::os::unix::fs::symlink("real", d.join("link")).unwrap();

    let line = assert_out_refused(&fx, fx.build(&["--out", "home"]), "home");
    assert!(line.contains(".ssh"), "names what kiln did not write: {line}");
    assert_out_refused(&fx, fx.build(&["--out", "f"]), "f");
    let line = assert_out_refused(&fx, fx.build(&["--out", "planted"]), "planted");
    assert!(line.contains("thesis.tex"), "{line}");
    let line = assert_out_refused(&fx, fx.build(&["--out", "link"]), "link");
    assert!(line.contains("symlink"), "{line}");
    assert_out_refused(&fx, fx.build(&["--out", "link/"]), "link");
    assert_out_refused(&fx, fx.build(&["--out", "afile"]), "afile");
    assert_out_refused(&fx, fx.build(&["--out", "."]), ".");
    assert_out_refused(&fx, fx.build(&["--out", ".."]), "..");
    assert_out_refused(&fx, fx.build(&["--out", "f/.."]), "f/..");
    let abs = d.display().to_string();
    assert_out_refused(&fx, fx.build(&["--out", &abs]), &abs);
    let inside = d.join("f").display().to_string();
    assert_out_refused(&fx, fx.build(&["--out", &inside]), &inside);
    // $HOME itself, even empty.
    fs::create_dir(d.join("emptyhome")).unwrap();
    let home = d.join("emptyhome").display().to_string();
    assert_out_refused(&fx, fx.build(&["--out", &home]).env("HOME", &home), &home);
    assert!(d.join("home/.ssh/id_ed25519").exists());
}

// issue 13 item 1: what kiln may replace it does: an empty directory, and a dist it wrote
// earlier (replaced whole). Leftovers of a killed run (a staging and an old directory carrying
// the marker) are removed and do not block; a look-alike without the marker is left alone.
#[test]
fn issue13_out_replaces_empty_dirs_and_its_own_dists() {
    let fx = Fixture::new("ok");
    let d = fx.dir();
    let out = d.join("out");
    fs::create_dir(&out).unwrap();
    fx.build(&["--target", "x86_64-musl", "--out", "out"]).success();
    assert!(out.join(archive_name("x86_64-unknown-linux-musl")).is_file());
    let first = listing(&out);

    // A killed run's leftovers, with pids that are not running.
    let stale = d.join(".out.kiln-staging-4194301");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join(".kiln-dist"), "kiln-dist v1\n").unwrap();
    fs::write(stale.join("half-written.tar.gz"), "partial").unwrap();
    let old = d.join(".out.kiln-old-4194302");
    crate::harness::copy_dir(&out, &old);
    let foreign = d.join(".out.kiln-old-4194303");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("keep.txt"), "not kiln's").unwrap();

    let r = fx.build(&["--target", "aarch64-musl", "--out", "out"]).success();
    let second = listing(&out);
    assert_ne!(first, second, "the old dist was replaced");
    assert!(out.join(archive_name("aarch64-unknown-linux-musl")).is_file());
    assert!(!out.join(archive_name("x86_64-unknown-linux-musl")).exists());
    sh(&out, "sha256sum -c SHA256SUMS").success();
    assert!(!stale.exists(), "stale staging dir left");
    assert!(!old.exists(), "stale old dist left");
    assert_eq!(fs::read(foreign.join("keep.txt")).unwrap(), b"not kiln's");
    assert!(
        r.stderr.contains(".out.kiln-old-4194303"),
        "says what it left alone:\n{}",
        r.stderr
    );
    assert_eq!(
        staging_dirs(d),
        [".out.kiln-old-4194303"],
        "nothing else left beside out/"
    );
}

// issue 13 item 1: the destination is checked again right before the swap: a file that
// appears in the old dist during the build stops the export (exit 2) and is kept.
#[test]
fn issue13_out_is_checked_again_before_the_swap() {
    let fx = Fixture::new("ok");
    fx.build(&["--target", "x86_64-musl"]).success();
    let dist = fx.dir().join("dist");
    let mut child = fx
        .build(&["--target", "x86_64-musl,aarch64-musl"])
        .env("KILN_EXPORT_PAUSE_MS", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !staging_dirs(fx.dir())
        .iter()
        .any(|n| n.contains(".kiln-staging-"))
    {
        assert!(start.elapsed() < Duration::from_secs(120), "export never started");
        assert!(child.try_wait().unwrap().is_none(), "kiln ended before exporting");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::write(dist.join("added-meanwhile.txt"), "mine").unwrap();
    let before = tree(&dist);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("added-meanwhile.txt"), "{stderr}");
    assert_eq!(tree(&dist), before, "old dist changed");
    assert!(staging_dirs(fx.dir()).is_empty(), "{:?}", staging_dirs(fx.dir()));
}

// issue 13 item 1: `kiln image --from DIR` re-stages the dist and replaces it; a subdirectory
// kiln did not write makes it refuse (exit 2, naming it) and is kept, never deleted.
#[test]
fn issue13_image_from_keeps_foreign_subdirectories() {
    let fx = Fixture::new("ok");
    fx.build(&["--target", "x86_64-musl"]).success();
    let dist = fx.dir().join("dist");
    fs::create_dir(dist.join("mine")).unwrap();
    fs::write(dist.join("mine/notes.txt"), "my notes").unwrap();
    let before = tree(&dist);
    let r = Test::in_dir(fx.dir()).args(["image", "--from", "dist"]).status(2);
    assert!(r.stderr.contains("mine"), "{}", r.stderr);
    assert_eq!(tree(&dist), before, "dist changed");
    // Without it, the same dist takes its image.
    fs::remove_dir_all(dist.join("mine")).unwrap();
    Test::in_dir(fx.dir()).args(["image", "--from", "dist"]).success();
    assert!(dist.join("fixture-1.2.3.oci.tar").is_file());
    assert!(staging_dirs(fx.dir()).is_empty(), "{:?}", staging_dirs(fx.dir()));
}

// issue 13 item 8: a binary printing far more than a pipe holds (2.5 MiB on stdout and on
// stderr) passes its smoke run at once: kiln reads both streams while it runs, instead of
// leaving the binary blocked on a full pipe until the 60 s kill.
#[test]
fn issue13_smoke_run_of_a_loud_binary_does_not_block() {
    let flake = r#"{ outputs = { self }: {
  packages.x86_64-linux = import ./nix/hermetic.nix {
    name = "loud"; version = "1.0.0"; src = ./main.c; targets = [ "x86_64-musl" ];
  };
}; }
"#;
    let main_c = r#"#include <stdio.h>
int main(void)
{
    printf("%s %s (%s)\n", KILN_NAME, KILN_VERSION, KILN_TARGET);
    for (int i = 0; i < 40000; i++) {
        fputs("0123456789abcdef0123456789abcdef0123456789abcdef012345678901234\n", stdout);
        fputs("fedcba9876543210fedcba9876543210fedcba9876543210fedcba987654321\n", stderr);
    }
    fputs("the end\n", stderr);
    return 0;
}
"#;
    let fx = Fixture::inline(flake, &[("main.c", main_c)]);
    // Built first, so the timing below is the smoke run's.
    fx.build(&["--target", "x86_64-musl", "--out", "plain"]).success();
    let start = Instant::now();
    let r = fx
        .build(&["--target", "x86_64-musl", "--smoke", "--version", "--json"])
        .success();
    let took = start.elapsed();
    eprintln!("kiln build --smoke of a binary printing 2.5 MiB on stdout and stderr: {took:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let j = r.json();
    let smoke = &j["manifest"]["artifacts"][0]["binaries"][0]["smoke"];
    assert_eq!(smoke["exit_code"], 0, "{smoke}");
    assert_eq!(
        smoke["first_line"], "loud 1.0.0 (x86_64-unknown-linux-musl)",
        "{smoke}"
    );
}

// issue 13 item 15: without a Cargo.toml, a flake whose derivations are named `<name>-<attr>`
// (as kiln's Nix library names them) gets one release name for every target, `<name>`, not
// the first target's derivation name in every archive.
#[test]
fn issue13_release_name_is_one_for_all_targets() {
    let flake = r#"{ outputs = { self }: let
  one = attr: (import ./nix/hermetic.nix {
    name = "app-${attr}"; version = "1.0.0"; src = ./main.c; targets = [ attr ];
  }).${attr};
in { packages.x86_64-linux = { x86_64-musl = one "x86_64-musl"; aarch64-musl = one "aarch64-musl"; }; }; }
"#;
    let main_c = fs::read_to_string(crate::harness::repo().join("tests/fixtures/flakes/ok/main.c")).unwrap();
    let fx = Fixture::inline(flake, &[("main.c", &main_c)]);
    fx.build(&["--target", "x86_64-musl,aarch64-musl"]).success();
    let dist = fx.dir().join("dist");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["name"], "app", "{manifest}");
    let files: Vec<&str> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "app-1.0.0-x86_64-unknown-linux-musl.tar.gz",
            "app-1.0.0-aarch64-unknown-linux-musl.tar.gz"
        ]
    );
    for f in files {
        assert!(dist.join(f).is_file(), "{f}");
    }
    let r = sh(&dist, "tar -tzf app-1.0.0-aarch64-unknown-linux-musl.tar.gz").success();
    assert!(
        r.stdout
            .lines()
            .all(|l| l.starts_with("app-1.0.0-aarch64-unknown-linux-musl/")),
        "{}",
        r.stdout
    );
}

/// The dist of `fx` as (name, bytes), the provenance statement with its run times and
/// invocation id taken out (they differ between any two runs, issue 6).
fn dist_identity(dist: &Path) -> Vec<(String, Vec<u8>)> {
    tree(dist)
        .into_iter()
        .map(|(name, bytes)| {
            if name == "provenance.intoto.json" {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let meta = &mut v["predicate"]["runDetails"]["metadata"];
                assert!(meta["startedOn"].is_string(), "{v}");
                *meta = serde_json::Value::Null;
                (name, serde_json::to_vec_pretty(&v).unwrap())
            } else {
                (name, bytes)
            }
        })
        .collect()
}

/// Builds `a` and `b` (the same flake at two paths) with `flake_of` and `args`, and asserts
/// their dists are the same bytes, naming the first file that differs.
fn assert_same_dist(a: &Fixture, b: &Fixture, flake_of: fn(&Fixture) -> String, args: &[&str]) {
    let mut dists = Vec::new();
    for fx in [a, b] {
        let flake = flake_of(fx);
        Test::in_dir(fx.dir())
            .args(["build", "--flake", &flake])
            .args(args)
            .success();
        let dist = fx.dir().join("dist");
        let text = fs::read_to_string(dist.join("manifest.json")).unwrap()
            + &fs::read_to_string(dist.join("provenance.intoto.json")).unwrap();
        let here = fx.dir().display().to_string();
        assert!(!text.contains(&here), "{here} is recorded:\n{text}");
        dists.push(dist_identity(&dist));
    }
    let (one, two) = (&dists[0], &dists[1]);
    assert_eq!(
        one.iter().map(|f| &f.0).collect::<Vec<_>>(),
        two.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in one.iter().zip(two) {
        assert!(
            x == y,
            "{name} differs between the two checkouts:\n{}\n---\n{}",
            String::from_utf8_lossy(x),
            String::from_utf8_lossy(y)
        );
    }
}

// issue 17 item 1: the same flake copied to two paths (`path:` flakes, the same mtimes) gives
// byte-identical dists, image included: no checkout path is recorded anywhere.
#[test]
fn issue17_same_source_at_two_paths_gives_the_same_dist() {
    let (a, b) = (Fixture::new("ok"), Fixture::new("ok"));
    for fx in [&a, &b] {
        fx.set_mtimes(1_700_000_000);
    }
    assert_same_dist(&a, &b, Fixture::flake_ref, &["-t", "x86_64-musl", "--image"]);
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(a.dir().join("dist/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["source"]["flake"], "path:.", "{m}");
    assert!(m["source"]["locked_url"].is_null(), "{m}");
    assert!(
        m["source"]["nar_hash"].as_str().unwrap().starts_with("sha256-"),
        "{m}"
    );
    assert_eq!(m["source"]["last_modified"], 1_700_000_000, "{m}");
}

// issue 17 item 1: the same commit in two git checkouts (`--flake <dir>`, which nix reads as
// `git+file:`) gives byte-identical dists, with the revision recorded.
#[test]
fn issue17_same_commit_in_two_checkouts_gives_the_same_dist() {
    let (a, b) = (Fixture::new("ok"), Fixture::new("ok"));
    for fx in [&a, &b] {
        fx.git_commit();
    }
    let bare = |fx: &Fixture| fx.dir().join("f").display().to_string();
    assert_same_dist(&a, &b, bare, &["-t", "x86_64-musl,aarch64-gnu"]);
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(a.dir().join("dist/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["source"]["flake"], "git+file:.", "{m}");
    assert_eq!(m["source"]["revision"].as_str().unwrap().len(), 40, "{m}");
    assert_eq!(m["source"]["last_modified"], 1_700_000_000, "{m}");
    let p: serde_json::Value =
        serde_json::from_slice(&fs::read(a.dir().join("dist/provenance.intoto.json")).unwrap()).unwrap();
    let source = &p["predicate"]["buildDefinition"]["resolvedDependencies"][0];
    assert_eq!(source["name"], "source", "{p}");
    assert_eq!(source["digest"]["gitCommit"], m["source"]["revision"], "{p}");
}
