//! The hermetic Rust provider (`nix/hermetic/`, no nixpkgs) on kiln's example crate
//! (`examples/hello`: a proc-macro dependency, serde_derive, and a build script compiling C
//! through cc-rs and zig): built by `kiln build` inside the Nix sandbox for the four targets from
//! pinned Debian packages and crates vendored from its Cargo.lock, verified, rebuilt bit for bit,
//! smoke-run (aarch64 under qemu) and exported; plus what must fail and what must not rebuild.
//!
//! The fetchers of the toolchain and the crates read KILN_DEBIAN_MIRROR and KILN_CRATES_DL
//! (exported by `scripts/nix-env`); a file already in the store is not fetched again.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{Output, Test, require_tool, sh};
use crate::nixenv::{Fixture, modern_bin, modern_path, nix_config, path_env};

const TRIPLES: [(&str, &str); 4] = [
    ("x86_64-gnu", "x86_64-unknown-linux-gnu"),
    ("x86_64-musl", "x86_64-unknown-linux-musl"),
    ("aarch64-gnu", "aarch64-unknown-linux-gnu"),
    ("aarch64-musl", "aarch64-unknown-linux-musl"),
];

/// The linkage a hermetic build of `attr` has: static PIE on x86_64 musl (the recipe passes
/// rustc's -static-pie on to zig), static on aarch64 musl (rustc's target links no PIE there),
/// dynamic on gnu.
fn linkage(attr: &str) -> &'static str {
    match attr {
        "x86_64-musl" => "static-pie",
        "aarch64-musl" => "static",
        _ => "dynamic",
    }
}

/// The manifest artifact of `triple` among `artifacts` (`context` is printed when it is missing),
/// whose first binary has no error finding (store-reference, glibc-too-new, ...) and the
/// linkage a hermetic build of `attr` has.
fn built_artifact<'a>(
    artifacts: &'a [serde_json::Value],
    attr: &str,
    triple: &str,
    context: &serde_json::Value,
) -> &'a serde_json::Value {
    let a = artifacts
        .iter()
        .find(|a| a["target"] == triple)
        .unwrap_or_else(|| panic!("no artifact for {attr}: {context}"));
    let bin = &a["binaries"][0];
    assert!(
        !bin["findings"].to_string().contains("\"error\""),
        "{attr}: no error finding (store-reference, glibc-too-new, ...): {bin}"
    );
    assert_eq!(bin["linkage"], linkage(attr), "{attr}: {bin}");
    a
}

fn require_fetch_env() {
    for var in ["KILN_DEBIAN_MIRROR", "KILN_CRATES_DL"] {
        assert!(
            std::env::var_os(var).is_some_and(|v| !v.is_empty()),
            "{var} is unset: run the tests through scripts/test (it sources scripts/nix-env)"
        );
    }
}

/// `nix <args>` in the fixture's flake directory with the tests' settings; `modern` picks the
/// Nix 2.26 that scripts/setup installs.
fn nix(fx: &Fixture, modern: bool, args: &[&str]) -> Output {
    let path = if modern { modern_path() } else { path_env() };
    Output::of(
        Command::new("nix")
            .args(args)
            .current_dir(fx.dir().join("f"))
            .env("NIX_CONFIG", nix_config())
            .env("PATH", path),
    )
}

fn eval(fx: &Fixture, modern: bool, expr: &str) -> String {
    let installable = format!("{}#packages.x86_64-linux.{expr}", fx.flake_ref());
    let run = nix(fx, modern, &["eval", "--raw", &installable]);
    let run = run.success();
    run.stdout.trim().to_owned()
}

// issue 15: the example, four targets, one kiln build: verified, reproducible, smoke-run, exported.
#[test]
fn issue15_example_builds_for_four_targets_verified_reproducible_and_runs() {
    require_tool("qemu-aarch64-static");
    require_tool("sha256sum");
    require_fetch_env();
    let fx = Fixture::example("hello");
    let run = fx
        .build(&["--check-reproducible", "--smoke", "--version"])
        .success();
    let dist = fx.dir().join("dist");
    sh(&dist, "sha256sum -c SHA256SUMS").success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["name"], "hello", "{manifest}");
    let artifacts = manifest["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 4, "{}", run.stdout);
    for (attr, triple) in TRIPLES {
        let a = built_artifact(artifacts, attr, triple, &manifest);
        let bin = &a["binaries"][0];
        // issue 16: the derivation's cargo profile and the one the binary shows, both release.
        assert_eq!(a["cargo_profile"], "release", "{attr}: {a}");
        assert_eq!(bin["build_profile"], "release", "{attr}: {bin}");
        // The recipe's wrappers pass rustc's -static-pie to zig as `-static -pie` (zig drops
        // the one-word form): x86_64 musl is static PIE. rustc's aarch64 musl target asks for
        // no PIE, so only that one warns.
        assert_eq!(
            bin["findings"].to_string().contains("not-pie"),
            attr == "aarch64-musl",
            "{attr}: {bin}"
        );
        assert_eq!(
            bin["smoke"]["first_line"],
            format!("hello 0.1.0 ({triple})"),
            "{attr}: the smoke run printed the build script's TARGET: {bin}"
        );
    }
    Test::in_dir(fx.dir()).args(["verify-release", "dist"]).success();
}

// issue 15: a Cargo.lock checksum that does not match the crate fails, naming the crate.
#[test]
fn issue15_wrong_lock_checksum_fails_naming_the_crate() {
    require_fetch_env();
    let fx = Fixture::example("hello");
    let lock = fx.dir().join("f/Cargo.lock");
    let text = fs::read_to_string(&lock).unwrap();
    // itoa's checksum with its last hex digit changed.
    let start = text.find("name = \"itoa\"").expect("the example locks itoa");
    let at = start + text[start..].find("checksum = \"").unwrap() + "checksum = \"".len() + 63;
    let old = &text[at..=at];
    let new = if old == "0" { "1" } else { "0" };
    fs::write(&lock, format!("{}{new}{}", &text[..at], &text[at + 1..])).unwrap();
    let installable = format!("{}#packages.x86_64-linux.aarch64-musl", fx.flake_ref());
    let run = nix(&fx, false, &["build", "--no-link", &installable]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("itoa-") && run.stderr.contains(".crate"),
        "the error names the crate: {}",
        run.stderr
    );
    assert!(run.stderr.contains("hash mismatch"), "{}", run.stderr);
}

// issue 15: a git dependency is refused at evaluation with one line naming it.
#[test]
fn issue15_git_dependency_is_refused_naming_it() {
    let fx = Fixture::example("hello");
    let lock = fx.dir().join("f/Cargo.lock");
    let mut text = fs::read_to_string(&lock).unwrap();
    text.push_str(
        "\n[[package]]\nname = \"from-git\"\nversion = \"0.1.0\"\n\
         source = \"git+https://git.example.invalid/from-git.git#0123456789abcdef0123456789abcdef01234567\"\n",
    );
    fs::write(&lock, text).unwrap();
    let installable = format!("{}#packages.x86_64-linux.x86_64-musl.drvPath", fx.flake_ref());
    let run = nix(&fx, false, &["eval", "--raw", &installable]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("from-git"))
        .unwrap_or_else(|| panic!("the error names the dependency: {}", run.stderr));
    assert!(line.contains("git dependency"), "{line}");
}

// issue 15: editing only the crate's own source changes the crate's derivation, not std's
// sysroot, the vendored crates or the built dependencies; and Nix 2.8 and 2.26 agree on every
// output path.
#[test]
fn issue15_a_source_edit_rebuilds_only_the_crate_and_nix_versions_agree() {
    let fx = Fixture::example("hello");
    // The crate's derivation, its vendored crates' and std's sysroot, as evaluated now.
    let drvs = || -> Vec<String> {
        [
            "aarch64-musl.drvPath",
            "aarch64-musl.kilnVendor.drvPath",
            "aarch64-musl.kilnSysroot.drvPath",
            "aarch64-musl.kilnDeps.drvPath",
        ]
        .iter()
        .map(|e| eval(&fx, false, e))
        .collect()
    };
    let before = drvs();
    for (attr, _) in TRIPLES {
        let expr = format!("{attr}.outPath");
        assert_eq!(
            eval(&fx, false, &expr),
            eval(&fx, true, &expr),
            "{attr}: 2.8 vs 2.26"
        );
    }
    let main = fx.dir().join("f/src/main.rs");
    let text = fs::read_to_string(&main).unwrap();
    fs::write(&main, format!("{text}\n// an edit\n")).unwrap();
    let after = drvs();
    assert_ne!(before[0], after[0], "the crate's derivation changes");
    assert_eq!(before[1], after[1], "the vendored crates do not");
    assert_eq!(before[2], after[2], "std's sysroot does not");
    assert_eq!(before[3], after[3], "nor do the built dependencies");
    assert!(Path::new(&after[0]).exists());
}

// issue 16 through the hermetic provider: a dev-profile (debug) build of the example, for a
// foreign architecture and the host's, is a `debug-build` error, and kiln build fails it.
#[test]
fn issue16_hermetic_debug_builds_are_caught_on_other_targets() {
    require_fetch_env();
    let fx = Fixture::example("hello");
    let flake = fx.dir().join("f/flake.nix");
    let text = fs::read_to_string(&flake).unwrap();
    assert!(text.contains("inherit src;"), "{text}");
    fs::write(
        &flake,
        text.replace(
            "inherit src;",
            "inherit src; profile = \"dev\"; targets = [ \"aarch64-musl\" \"x86_64-gnu\" ];",
        ),
    )
    .unwrap();
    let run = fx
        .build(&["-t", "aarch64-musl", "-t", "x86_64-gnu", "--keep-going"])
        .run();
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(
        out.matches("debug-build").count() >= 2,
        "both targets are refused as debug builds:\n{out}"
    );
}

// issue 15: `nix flake init -t kiln#hermetic` gives a crate the same no-nixpkgs flake: the
// template, with its kiln input pointed at this checkout's nix/, builds for a gnu and a musl
// target, verifies and runs (aarch64 under qemu).
#[test]
fn issue15_hermetic_template_builds_a_crate_without_nixpkgs() {
    require_tool("qemu-aarch64-static");
    require_fetch_env();
    let _turn = crate::nixenv::example_guard();
    let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
    let (f, kiln_src) = (tmp.path().join("f"), tmp.path().join("kiln"));
    crate::harness::copy_dir(&crate::harness::repo().join("templates/hermetic"), &f);
    crate::harness::copy_dir(&crate::harness::repo().join("nix"), &kiln_src.join("nix"));
    let flake = f.join("flake.nix");
    let text = fs::read_to_string(&flake).unwrap();
    assert!(text.contains("\"github:OWNER/kiln\""), "{text}");
    let local = format!("\"path:{}\"", kiln_src.display());
    fs::write(&flake, text.replace("\"github:OWNER/kiln\"", &local)).unwrap();
    let flake_ref = format!("path:{}", f.display());
    let run = Test::in_dir(tmp.path())
        .args(["build", "--flake", &flake_ref, "--target", "x86_64-musl"])
        .args(["--target", "aarch64-gnu", "--smoke", "", "--json"])
        .success();
    let report = run.json();
    let artifacts = report["manifest"]["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 2, "{report}");
    for (triple, line) in [
        ("x86_64-unknown-linux-musl", "hermetic-hello 0.1.0 x86_64-musl"),
        ("aarch64-unknown-linux-gnu", "hermetic-hello 0.1.0 aarch64-gnu"),
    ] {
        let a = artifacts.iter().find(|a| a["target"] == triple).unwrap();
        let bin = &a["binaries"][0];
        assert!(
            !bin["findings"].to_string().contains("\"error\""),
            "{triple}: {bin}"
        );
        assert_eq!(bin["smoke"]["first_line"], line, "{triple}: {bin}");
    }
    Test::in_dir(tmp.path())
        .args(["verify-release", "dist"])
        .success();
}

/// A copy of this checkout's tracked files (as they are in the working tree) under `<tmp>/f`,
/// with a flake.nix of its own that exposes `nix/hermetic`'s `kilnPackages`: the source
/// `nix/hermetic/source.nix` selects from it is the one it selects from the checkout.
fn kiln_checkout() -> tempfile::TempDir {
    let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
    let f = tmp.path().join("f");
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(crate::harness::ROOT)
        .output()
        .expect("git ls-files");
    assert!(listed.status.success(), "git ls-files failed");
    for rel in listed.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("UTF-8 path"));
        let from = Path::new(crate::harness::ROOT).join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = f.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    fs::write(
        f.join("flake.nix"),
        "{ outputs = { self }: { packages.x86_64-linux = (import ./nix/hermetic { }).kilnPackages; }; }\n",
    )
    .unwrap();
    fs::remove_file(f.join("flake.lock")).unwrap();
    tmp
}

// issue 15: kiln itself, built by the hermetic provider for the four targets from the source
// nix/source.nix selects: every binary verifies, runs (aarch64 under qemu), and the release
// checks; x86_64-musl is rebuilt bit for bit; then the x86_64-musl kiln that was built checks
// that release itself.
#[test]
fn issue15_kiln_builds_itself_for_four_targets_through_the_hermetic_provider() {
    require_tool("qemu-aarch64-static");
    require_tool("sha256sum");
    require_fetch_env();
    let _turn = crate::nixenv::example_guard();
    let tmp = kiln_checkout();
    let flake_ref = format!("path:{}", tmp.path().join("f").display());
    // Bit for bit on one target (a second build of kiln is minutes on two cores), then all
    // four, that one from the store.
    Test::in_dir(tmp.path())
        .args(["build", "--flake", &flake_ref, "--target", "x86_64-musl"])
        .args(["--check-reproducible", "--out", "dist-reproducible"])
        .success();
    let run = Test::in_dir(tmp.path())
        .args(["build", "--flake", &flake_ref, "--smoke", "--version", "--json"])
        .success();
    let report = run.json();
    let artifacts = report["manifest"]["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 4, "{report}");
    assert_eq!(report["manifest"]["name"], "kiln", "{report}");
    for (attr, triple) in TRIPLES {
        let bin = &built_artifact(artifacts, attr, triple, &report)["binaries"][0];
        assert_eq!(bin["smoke"]["first_line"], "kiln 0.1.0", "{attr}: {bin}");
    }
    let dist = tmp.path().join("dist");
    sh(&dist, "sha256sum -c SHA256SUMS").success();
    Test::in_dir(tmp.path())
        .args(["verify-release", "dist"])
        .success();
    // The artifact, not the store path: unpack the x86_64-musl archive and let it check the
    // release it is part of.
    let archive = artifacts
        .iter()
        .find(|a| a["target"] == "x86_64-unknown-linux-musl")
        .and_then(|a| a["file"].as_str())
        .unwrap_or_else(|| panic!("no x86_64-musl archive: {report}"))
        .to_owned();
    let unpacked = tmp.path().join("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    sh(&unpacked, &format!("tar -xzf {}", dist.join(&archive).display())).success();
    let built = sh(&unpacked, "find . -type f -name kiln").success();
    let built = unpacked.join(built.stdout.trim());
    let own = Output::of(Command::new(&built).args(["verify-release"]).arg(&dist));
    assert_eq!(own.code, 0, "{} verify-release: {own}", built.display());
}

// issue 15: Nix 2.26 builds the example as 2.8 does, in its own store, to the same bytes. The
// inputs 2.8 has built (the toolchain, std's sysroot, the vendored crates, cargo-zigbuild) are
// carried over with `nix-store --export | --import`, the way a binary cache would bring them;
// the crate's own derivation is built by 2.26.
#[test]
fn issue15_nix_2_26_builds_the_example_to_the_same_bytes() {
    require_fetch_env();
    let fx = Fixture::example("hello");
    let build = |path: &str| {
        let run = fx
            .build(&["--target", "x86_64-musl", "--smoke", "", "--json"])
            .arg("--out")
            .arg(
                fx.dir()
                    .join(if path == "2.8" { "dist-2.8" } else { "dist-2.26" }),
            )
            .env("PATH", if path == "2.8" { path_env() } else { modern_path() })
            .success();
        let a = run.json()["manifest"]["artifacts"][0].clone();
        let bin = a["binaries"][0].clone();
        assert_eq!(bin["smoke"]["exit_code"], 0, "{path}: {bin}");
        (
            a["store_path"].as_str().unwrap().to_owned(),
            a["drv_path"].as_str().unwrap().to_owned(),
            bin["sha256"].as_str().unwrap().to_owned(),
        )
    };
    let (out_28, drv, sha_28) = build("2.8");
    // The outputs of the crate derivation's inputs, and everything they refer to.
    let inputs = sh(
        fx.dir(),
        &format!(
            "nix-store -q --references {drv} | grep '[.]drv$' | xargs nix-store -q --outputs | \
             xargs nix-store -q --requisites"
        ),
    )
    .success();
    let inputs = inputs.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        inputs.contains("kiln-rust-std-"),
        "the sysroot is an input: {inputs}"
    );
    let store = modern_bin().join("nix-store");
    sh(
        fx.dir(),
        &format!(
            "nix-store --export {inputs} | {} --import >/dev/null",
            store.display()
        ),
    )
    .success();
    // A run before this one left the crate's output in 2.26's store (the tests' own): drop it,
    // so that 2.26 builds it again.
    sh(fx.dir(), &format!("{} --delete {out_28}", store.display()));
    let left = sh(fx.dir(), &format!("{} -q --hash {out_28}", store.display()));
    assert_ne!(left.code, 0, "2.26's store has no output of the crate: {left}");
    let (out_226, _, sha_226) = build("2.26");
    assert_eq!(out_226, out_28, "the same output path");
    assert_eq!(sha_226, sha_28, "the same binary, byte for byte");
}
