//! `cargo bench --bench build`: a cached `kiln build` of the four targets against a cached
//! `nix build --json --no-link` of the same four attributes, measured in the same run.
//!
//! Uses the `ok` fixture flake (tests/fixtures/flakes/ok, copied with nix/ into a temp dir),
//! built once first so both sides only evaluate and find outputs valid. Needs the Nix
//! environment of the tests: run `. scripts/nix-env` first (scripts/setup puts the hermetic
//! toolchain in the store). Each figure is the median of `KILN_BENCH_RUNS` runs (default 7).
//! kiln's extra work is evaluation of flake metadata, verification, archiving and hashing;
//! the hashing part is measured on its own (SHA-256 of every exported file and binary).
//!
//! Then how kiln's time grows with the number of build units: 1, 2 and 4 targets, and 8 (two
//! programs for four targets, `--package`), from the `many` fixture, against `nix build` of the
//! same attributes.

#[allow(dead_code)] // each benchmark uses some of the shared helpers
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::env_num;

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
    let runs = usize::try_from(env_num("KILN_BENCH_RUNS", 7)).unwrap_or(7);
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

    let light = measure(kiln, &flake, &installables, &out, runs);

    // The same packages behind an evaluation that costs what a nixpkgs-based flake's does
    // (hundreds of milliseconds): the derivations, and so the cached outputs, are identical.
    let heavy_dir = tmp.path().join("heavy");
    copy_dir(&flake_dir, &heavy_dir);
    let text = std::fs::read_to_string(heavy_dir.join("flake.nix")).unwrap();
    let text = text.replacen(
        "packages.x86_64-linux = import",
        "packages.x86_64-linux = builtins.seq (builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 2000000)) import",
        1,
    );
    assert!(
        text.contains("builtins.seq"),
        "the ok fixture's flake.nix changed shape"
    );
    std::fs::write(heavy_dir.join("flake.nix"), text).unwrap();
    let heavy_flake = format!("path:{}", heavy_dir.display());
    let heavy_inst: Vec<String> = attrs
        .iter()
        .map(|a| format!("{heavy_flake}#packages.x86_64-linux.{a}"))
        .collect();
    let heavy = measure(
        kiln,
        &heavy_flake,
        &heavy_inst,
        &tmp.path().join("dist-heavy"),
        runs,
    );
    // A fresh CI machine has no evaluation cache: both sides evaluate once per run.
    let cold_config = format!(
        "{}\neval-cache = false\n",
        std::env::var("NIX_CONFIG").unwrap_or_default()
    );
    let heavy_cold = measure_with(
        kiln,
        &[heavy_flake.as_str()],
        &heavy_inst,
        &tmp.path().join("dist-heavy-cold"),
        runs,
        &cold_config,
    );

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

    println!(
        "four cached targets, median of {runs} runs; hashing alone ({} files): {:.4} s",
        files.len(),
        t_hash.as_secs_f64()
    );
    println!(
        "{:<34} {:>10} {:>10} {:>8} {:>18}",
        "flake", "nix build", "kiln build", "ratio", "ratio - hashing"
    );
    for (name, (t_nix, t_kiln)) in [
        ("light evaluation (fixture ok)", light),
        ("heavy evaluation, eval cache warm", heavy),
        ("heavy evaluation, eval cache off", heavy_cold),
    ] {
        let r = t_kiln.as_secs_f64() / t_nix.as_secs_f64();
        let r_adj = (t_kiln.as_secs_f64() - t_hash.as_secs_f64()) / t_nix.as_secs_f64();
        println!(
            "{name:<34} {:>9.3}s {:>9.3}s {r:>7.2}x {r_adj:>17.2}x",
            t_nix.as_secs_f64(),
            t_kiln.as_secs_f64()
        );
    }

    scaling(kiln, &repo, tmp.path(), runs);
}

/// kiln and nix for 1, 2, 4 and 8 cached units of the `many` fixture.
fn scaling(kiln: &str, repo: &Path, tmp: &Path, runs: usize) {
    let dir = tmp.join("many");
    copy_dir(&repo.join("tests/fixtures/flakes/many"), &dir);
    copy_dir(&repo.join("nix"), &dir.join("nix"));
    let flake = format!("path:{}", dir.display());
    let all = ["x86_64-gnu", "x86_64-musl", "aarch64-gnu", "aarch64-musl"];
    let cases: [(&[&str], &[&str]); 4] = [
        (&["x86_64-musl"], &[]),
        (&["x86_64-musl", "aarch64-musl"], &[]),
        (&all, &[]),
        (&all, &["fixture", "extra"]),
    ];
    println!();
    println!("cached units of the many fixture, median of {runs} runs");
    println!(
        "{:>5} {:>10} {:>10} {:>8} {:>16}",
        "units", "nix build", "kiln build", "ratio", "kiln vs 1 unit"
    );
    let mut one = None;
    for (targets, packages) in cases {
        let attrs: Vec<String> = if packages.is_empty() {
            targets.iter().map(|t| (*t).to_owned()).collect()
        } else {
            packages
                .iter()
                .flat_map(|p| targets.iter().map(move |t| format!("{p}-{t}")))
                .collect()
        };
        let installables: Vec<String> = attrs
            .iter()
            .map(|a| format!("{flake}#packages.x86_64-linux.{a}"))
            .collect();
        let (t_list, p_list) = (targets.join(","), packages.join(","));
        let mut args = vec![flake.as_str(), "--target", t_list.as_str()];
        if !packages.is_empty() {
            args.extend(["--package", p_list.as_str()]);
        }
        let (t_nix, t_kiln) = measure_with(
            kiln,
            &args,
            &installables,
            &tmp.join(format!("dist-many-{}", attrs.len())),
            runs,
            &std::env::var("NIX_CONFIG").unwrap_or_default(),
        );
        let base = *one.get_or_insert(t_kiln);
        println!(
            "{:>5} {:>9.3}s {:>9.3}s {:>7.2}x {:>15.2}x",
            attrs.len(),
            t_nix.as_secs_f64(),
            t_kiln.as_secs_f64(),
            t_kiln.as_secs_f64() / t_nix.as_secs_f64(),
            t_kiln.as_secs_f64() / base.as_secs_f64()
        );
    }
}

/// Warms the outputs, then times `nix build` of the four attributes and `kiln build` of the
/// four targets (median of `runs`).
fn measure(
    kiln: &str,
    flake: &str,
    installables: &[String],
    out: &Path,
    runs: usize,
) -> (Duration, Duration) {
    measure_with(
        kiln,
        &[flake],
        installables,
        out,
        runs,
        &std::env::var("NIX_CONFIG").unwrap_or_default(),
    )
}

/// [`measure`] with NIX_CONFIG set to `config` for both sides; `kiln_args` follow `--flake`.
fn measure_with(
    kiln: &str,
    kiln_args: &[&str],
    installables: &[String],
    out: &Path,
    runs: usize,
    config: &str,
) -> (Duration, Duration) {
    let kiln_cmd = || {
        let mut c = Command::new(kiln);
        c.env("NIX_CONFIG", config)
            .args(["build", "--flake"])
            .args(kiln_args)
            .arg("--out")
            .arg(out);
        c
    };
    ok(&mut kiln_cmd());
    let t_nix = median(runs, || {
        ok(Command::new("nix")
            .env("NIX_CONFIG", config)
            .args(["build", "--json", "--no-link"])
            .args(installables));
    });
    let t_kiln = median(runs, || ok(&mut kiln_cmd()));
    (t_nix, t_kiln)
}
