//! `cargo bench --bench build`: a cached `kiln build` of the four targets against a cached
//! `nix build --json --no-link` of the same four attributes, measured in the same run.
//!
//! Uses the `ok` fixture flake (tests/fixtures/flakes/ok, copied with nix/ into a temp dir),
//! built once first so both sides only evaluate and find outputs valid. Needs the Nix
//! environment of the tests: run `. scripts/nix-env` first (scripts/setup puts the hermetic
//! toolchain in the store). Each figure is the median of `KILN_BENCH_RUNS` runs (default 7).
//! kiln's extra work is evaluation of flake metadata, verification, archiving and hashing;
//! the hashing part is measured on its own (SHA-256 of every exported file and binary).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn median<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn ok(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    assert!(
        std::env::var("NIX_CONFIG").is_ok_and(|c| c.contains("flakes")),
        "NIX_CONFIG does not enable flakes: run `. scripts/nix-env` first"
    );
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let flake_dir = tmp.path().join("f");
    copy_dir(&repo.join("tests/fixtures/flakes/ok"), &flake_dir);
    copy_dir(&repo.join("nix"), &flake_dir.join("nix"));
    let flake = format!("path:{}", flake_dir.display());
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let attrs = ["x86_64-gnu", "x86_64-musl", "aarch64-gnu", "aarch64-musl"];
    let installables: Vec<String> = attrs
        .iter()
        .map(|a| format!("{flake}#packages.x86_64-linux.{a}"))
        .collect();
    let out = tmp.path().join("dist");

    // Warm: build once (cold builds are not what this measures).
    ok(Command::new(kiln)
        .args(["build", "--flake", &flake, "--out"])
        .arg(&out));

    let t_nix = median(runs, || {
        ok(Command::new("nix")
            .args(["build", "--json", "--no-link"])
            .args(&installables));
    });
    let t_kiln = median(runs, || {
        ok(Command::new(kiln)
            .args(["build", "--flake", &flake, "--out"])
            .arg(&out));
    });

    // Hashing alone: every exported file plus every binary kiln hashed while verifying.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for a in manifest["artifacts"].as_array().unwrap() {
        files.push(PathBuf::from(a["store_path"].as_str().unwrap()).join("bin/fixture"));
    }
    let t_hash = median(runs, || {
        for f in &files {
            kiln::checksum::sha256_file(f).unwrap();
        }
    });

    let r = t_kiln.as_secs_f64() / t_nix.as_secs_f64();
    let r_adj = (t_kiln.as_secs_f64() - t_hash.as_secs_f64()) / t_nix.as_secs_f64();
    println!("four cached targets, median of {runs} runs");
    println!(
        "nix build --json --no-link (4 attrs): {:>8.3} s",
        t_nix.as_secs_f64()
    );
    println!(
        "kiln build (4 targets, export):       {:>8.3} s",
        t_kiln.as_secs_f64()
    );
    println!(
        "hashing alone ({} files):              {:>8.3} s",
        files.len(),
        t_hash.as_secs_f64()
    );
    println!("ratio kiln / nix:                     {r:>8.2}x");
    println!("ratio (kiln - hashing) / nix:         {r_adj:>8.2}x");
}
