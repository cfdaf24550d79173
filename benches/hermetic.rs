//! `cargo bench --bench hermetic`: a cold `kiln build` of the example crate (`examples/hello`)
//! through the hermetic Rust provider (`nix/hermetic/`) against plain `cargo -Zbuild-std` builds
//! of the same targets with the same toolchain outside Nix, then a kiln rebuild after a one-line
//! source change against the cold kiln build, measured in the same run (issue 15).
//!
//! Needs the Nix environment of the tests (`. scripts/nix-env`), root (Nix 2.8 builds in a
//! chroot store only as root, sandbox on) and the provider's fixed-output inputs once in the
//! machine's store (any earlier build of the example has fetched them).
//!
//! - Cold: a fresh chroot store (`store = local?root=<tmp>`), filled beforehand with `nix copy`
//!   of exactly the fixed-output outputs the example's derivations need (Debian's `.deb`s and
//!   index, zig, busybox, the `.crate` files), the unpacked Debian prefix and the provider's
//!   cargo-zigbuild (tools a cargo-zigbuild user has installed once); everything else —
//!   the toolchain wrappers, the vendored directory, std's sysroot per target, the crate per
//!   target — is built by the timed `kiln build`, which also verifies and exports. Fresh
//!   `XDG_CACHE_HOME`, so neither Nix's nor kiln's evaluation cache helps. The machine's own
//!   store is only read from (and gains the few derivations evaluation writes).
//! - Plain: the toolchain's own `cargo` and `rustc` (the provider's `toolchain.bin` wrappers,
//!   which run on the host too), `RUSTC_BOOTSTRAP=1`, `cargo build --release --locked
//!   -Zbuild-std=std,panic_abort --target <triple>` once per target in one shared target dir,
//!   offline, crates from a vendored directory (the provider's `vendorDir` of the example's lock
//!   plus std's own vendored crates, built before the timing), linker and `CC_<target>` = `zig
//!   cc -target <the provider's zig target>`, and the provider's target rustflags without its
//!   path remaps. Fresh `CARGO_HOME` and zig caches, so nothing is compiled before the timing.
//!   The binaries are run afterwards (natively on x86_64, aarch64 under qemu when installed).
//! - One-line change: the greeting in the copy's `src/main.rs` is edited, and the same `kiln
//!   build` runs again in the same store (sysroots and vendored crates now cached); every
//!   target's store path must change. For context, the plain builds are repeated after the same
//!   edit too (no goal; their binaries must hold the new text).
//!
//! `KILN_BENCH_TARGETS` (comma list of attribute names, default all four) picks the targets,
//! `KILN_BENCH_RUNS` the number of runs (default 1: a cold run takes many minutes); every figure
//! is the median of the runs. Goals: cold kiln within 1.3x of the plain builds; the rebuild after
//! a one-line change at most 0.25x of the cold build.

#[allow(dead_code)] // each benchmark uses some of the shared helpers
mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, env_num, median_of};

const ALL_TARGETS: [&str; 4] = ["x86_64-gnu", "x86_64-musl", "aarch64-gnu", "aarch64-musl"];

/// The line of the example's `src/main.rs` the one-line change edits, and its replacement.
const EDIT_FROM: &str = ".unwrap_or(\"Hello\");";
const EDIT_TO: &str = ".unwrap_or(\"Hello again\");";
const EDIT_TO_TEXT: &str = "Hello again";

/// What the plain build needs to know of a target, as the provider evaluates it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetInfo {
    attr: String,
    triple: String,
    arch: String,
    libc: String,
    zig_target: String,
    rustflags: Vec<String>,
    cflags: Vec<String>,
    cargo_var: String,
    cc_var: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Provider {
    targets: Vec<TargetInfo>,
    zig: String,
    prefix_drv: String,
    cargo_zigbuild_drv: String,
}

/// Runs `cmd`, its stdout returned; on failure, panics with the tail of its stderr.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!("{cmd:?} failed ({}):\n{tail}", out.status);
    }
    String::from_utf8(out.stdout).unwrap()
}

fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    run(cmd);
    t.elapsed()
}

fn nix(config: &str) -> Command {
    let mut c = Command::new("nix");
    c.env("NIX_CONFIG", config);
    c
}

/// A Nix string literal holding `s` (paths of temp dirs only: no `"`, `\` or `${`).
fn nix_str(s: &str) -> String {
    assert!(!s.contains(['"', '\\', '$']), "{s}");
    format!("\"{s}\"")
}

fn nix_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| nix_str(i)).collect();
    format!("[ {} ]", quoted.join(" "))
}

/// Copies examples/hello to `dir` laid out as the tests do: `nix/` beside it, imported as ./nix/.
fn example_flake(repo: &Path, dir: &Path) {
    copy_dir(&repo.join("examples/hello"), dir);
    let flake = dir.join("flake.nix");
    let text = std::fs::read_to_string(&flake).unwrap();
    assert!(
        text.contains("../../nix/"),
        "examples/hello/flake.nix changed shape"
    );
    std::fs::write(&flake, text.replace("../../nix/", "./nix/")).unwrap();
    copy_dir(&repo.join("nix"), &dir.join("nix"));
}

/// The one-line change: the greeting's fallback text in `src/main.rs`.
fn edit_one_line(crate_dir: &Path) {
    let main = crate_dir.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    assert_eq!(
        text.matches(EDIT_FROM).count(),
        1,
        "examples/hello/src/main.rs changed shape"
    );
    std::fs::write(&main, text.replace(EDIT_FROM, EDIT_TO)).unwrap();
}

/// What the timed runs need, prepared in the machine's store before any timing.
struct Setup {
    provider: Provider,
    /// The provider's toolchain wrappers (`toolchain.bin`).
    tool_bin: String,
    /// The plain builds' cargo directory source: the example's crates and std's.
    vendor: String,
    /// The fixed-output outputs, the unpacked Debian prefix and cargo-zigbuild, copied into each
    /// cold store.
    inputs: Vec<String>,
}

/// The timings of every run.
#[derive(Default)]
struct Figures {
    plain: Vec<Duration>,
    plain_each: Vec<Vec<Duration>>,
    plain_edit: Vec<Duration>,
    cold: Vec<Duration>,
    edit: Vec<Duration>,
    built: BTreeSet<String>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let base_config = std::env::var("NIX_CONFIG").unwrap_or_default();
    assert!(
        base_config.contains("flakes"),
        "NIX_CONFIG does not enable flakes: run `. scripts/nix-env` first"
    );
    let runs = usize::try_from(env_num("KILN_BENCH_RUNS", 1).max(1)).unwrap_or(1);
    let chosen = chosen_targets();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::Builder::new()
        .prefix("kiln-bench-hermetic-")
        .tempdir()
        .unwrap();
    let tmp = tmp.path();
    let setup = prepare(&base_config, &repo, tmp, &chosen);

    let mut fig = Figures {
        plain_each: vec![Vec::new(); chosen.len()],
        ..Figures::default()
    };
    for i in 0..runs {
        // Plain cargo, one build per target in one target dir; then after the one-line edit.
        let dir = tmp.join(format!("plain-{i}"));
        let each = plain_builds(&dir, &repo, &setup);
        check_plain_binaries(&dir, &setup.provider.targets);
        fig.plain.push(each.iter().sum());
        for (k, t) in each.into_iter().enumerate() {
            fig.plain_each[k].push(t);
        }
        edit_one_line(&dir.join("hello"));
        fig.plain_edit.push(run_plain(&dir, &setup).iter().sum());
        for t in &setup.provider.targets {
            let bin = std::fs::read(plain_binary(&dir, t)).unwrap();
            assert!(
                memchr::memmem::find(&bin, EDIT_TO_TEXT.as_bytes()).is_some(),
                "{}: the plain rebuild after the edit holds the new text",
                t.attr
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();

        kiln_run(
            &base_config,
            &repo,
            &tmp.join(format!("kiln-{i}")),
            &setup,
            &chosen,
            &mut fig,
        );
    }
    report(&chosen, runs, &setup.provider, fig);
}

/// `KILN_BENCH_TARGETS`, a comma list of attribute names; all four by default.
fn chosen_targets() -> Vec<String> {
    let chosen: Vec<String> = std::env::var("KILN_BENCH_TARGETS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or_else(
            || ALL_TARGETS.iter().map(|t| (*t).to_owned()).collect(),
            |v| v.split(',').map(|t| t.trim().to_owned()).collect(),
        );
    for t in &chosen {
        assert!(
            ALL_TARGETS.contains(&t.as_str()),
            "KILN_BENCH_TARGETS: unknown target {t} (known: {})",
            ALL_TARGETS.join(",")
        );
    }
    chosen
}

/// Evaluates the provider on a copy of the example, builds the plain side's toolchain wrappers
/// and vendored directory, and finds (and realises) the fixed-output inputs of the chosen
/// packages: every output with a hash in their derivation closure, plus the unpacked Debian
/// prefix. All in the machine's store, which only gains paths.
fn prepare(config: &str, repo: &Path, tmp: &Path, chosen: &[String]) -> Setup {
    let probe = tmp.join("probe");
    example_flake(repo, &probe);
    let nix_dir = probe.join("nix").display().to_string();
    let hermetic = format!("(import {} {{ }})", nix_str(&format!("{nix_dir}/hermetic")));
    let targets = format!("(import {} {{ }})", nix_str(&format!("{nix_dir}/targets.nix")));
    let info = format!(
        "let h = {hermetic}; t = {targets}; one = a: let r = t.lookup a; \
         e = h.cargoEnv.std {{ target = a; vendor = \"/kiln-bench-unused\"; }}; in {{ \
         inherit (r) attr triple arch libc; inherit (e) zigTarget rustflags; \
         cflags = t.cflags a; cargoVar = t.cargoEnvVar a; ccVar = t.ccEnvVar a; }}; \
         in {{ targets = map one {}; zig = h.tools.zig.outPath; \
         prefixDrv = h.toolchain.prefix.drvPath; \
         cargoZigbuildDrv = h.cargoZigbuild.drvPath; }}",
        nix_list(chosen)
    );
    let eval_args = ["eval", "--json", "--impure", "--expr", &info];
    let provider: Provider = serde_json::from_str(&run(nix(config).args(eval_args))).unwrap();
    let build_one = |expr: &str| -> String {
        let args = ["build", "--json", "--no-link", "--impure", "--expr", expr];
        let v: serde_json::Value = serde_json::from_str(&run(nix(config).args(args))).unwrap();
        v[0]["outputs"]["out"].as_str().unwrap().to_owned()
    };
    let tool_bin = build_one(&format!("{hermetic}.toolchain.bin"));
    let vendor = build_one(&format!(
        "let h = {hermetic}; in h.crates.vendorDir {{ lockFile = {}; \
         extraVendor = [ \"${{h.toolchain.rustSrc}}/library/vendor\" ]; \
         name = \"hello-plain-cargo-vendor\"; }}",
        nix_str(&probe.join("Cargo.lock").display().to_string())
    ));

    let packages = format!("path:{}#packages.x86_64-linux", probe.display());
    let apply = format!("ps: map (a: ps.${{a}}.drvPath) {}", nix_list(chosen));
    let args = ["eval", "--json", &packages, "--apply", &apply];
    let drvs: Vec<String> = serde_json::from_str(&run(nix(config).args(args))).unwrap();
    let shown = run(nix(config).args(["show-derivation", "-r"]).args(&drvs));
    let shown: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&shown).unwrap();
    let mut fixed: Vec<String> = shown
        .iter()
        .filter(|(_, d)| {
            d["outputs"]
                .as_object()
                .is_some_and(|o| o.values().any(|out| out.get("hash").is_some()))
        })
        .map(|(drv, _)| drv.clone())
        .collect();
    eprintln!(
        "hermetic: targets {}; {} fixed-output inputs, the Debian prefix and cargo-zigbuild \
         present",
        chosen.join(","),
        fixed.len()
    );
    // Tools, as on the plain side's machine: the unpacked toolchain, and cargo-zigbuild (what
    // `cargo install cargo-zigbuild` gives a user once).
    fixed.push(provider.prefix_drv.clone());
    fixed.push(provider.cargo_zigbuild_drv.clone());
    let mut realise = Command::new("nix-store");
    realise.env("NIX_CONFIG", config).arg("--realise").args(&fixed);
    let inputs = run(&mut realise).lines().map(str::to_owned).collect();
    Setup {
        provider,
        tool_bin,
        vendor,
        inputs,
    }
}

/// The kiln side of one run, in `dir`: a fresh chroot store holding only [`Setup::inputs`],
/// a fresh copy of the example and fresh caches; the cold build, then the build after the
/// one-line edit.
fn kiln_run(base_config: &str, repo: &Path, dir: &Path, setup: &Setup, chosen: &[String], fig: &mut Figures) {
    let root = dir.join("store");
    std::fs::create_dir_all(&root).unwrap();
    let store = format!("local?root={}", root.display());
    run(nix(base_config)
        .args(["copy", "--no-check-sigs", "--to", &store])
        .args(&setup.inputs));
    let config = format!("{base_config}\nstore = {store}\n");
    let flake_dir = dir.join("f");
    example_flake(repo, &flake_dir);
    let xdg = dir.join("xdg-cache");
    let kiln_build = |out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
        c.current_dir(dir)
            .env("NIX_CONFIG", &config)
            .env("XDG_CACHE_HOME", &xdg)
            .args(["build", "--flake"])
            .arg(format!("path:{}", flake_dir.display()))
            .args(["--target", &chosen.join(",")])
            .arg("--out")
            .arg(out);
        c
    };
    eprintln!("hermetic: cold kiln build");
    let dist = dir.join("dist");
    let t = timed(&mut kiln_build(&dist));
    eprintln!("hermetic: cold kiln build {:.1}s", t.as_secs_f64());
    fig.cold.push(t);
    fig.built.extend(built_in(&config, &setup.inputs));

    edit_one_line(&flake_dir);
    let dist_edit = dir.join("dist-edit");
    let t = timed(&mut kiln_build(&dist_edit));
    eprintln!("hermetic: kiln build after the edit {:.1}s", t.as_secs_f64());
    fig.edit.push(t);
    let (before, after) = (artifact_paths(&dist), artifact_paths(&dist_edit));
    assert_eq!(before.len(), chosen.len(), "one artifact per target");
    assert!(
        before.is_disjoint(&after),
        "the edit rebuilt every target: {before:?} / {after:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn report(chosen: &[String], runs: usize, provider: &Provider, fig: Figures) {
    let t_plain = median_of(fig.plain);
    let t_cold = median_of(fig.cold);
    let t_edit = median_of(fig.edit);
    println!(
        "examples/hello for {}; median of {runs} run{}; fixed-output inputs present, the rest built",
        chosen.join(", "),
        if runs == 1 { "" } else { "s" }
    );
    println!("{:<52} {:>9}", "measurement", "seconds");
    for (t, times) in provider.targets.iter().zip(fig.plain_each) {
        let label = format!("plain cargo -Zbuild-std, {}", t.attr);
        println!("{label:<52} {:>9.1}", median_of(times).as_secs_f64());
    }
    let rows = [
        ("plain cargo, all targets (one target dir)", t_plain),
        ("cold kiln build (std, crate, verify, export)", t_cold),
        ("kiln build after a one-line change", t_edit),
        (
            "plain cargo after the same change (context)",
            median_of(fig.plain_edit),
        ),
    ];
    for (label, t) in rows {
        println!("{label:<52} {:>9.1}", t.as_secs_f64());
    }
    let r_cold = t_cold.as_secs_f64() / t_plain.as_secs_f64();
    let r_edit = t_edit.as_secs_f64() / t_cold.as_secs_f64();
    let verdict = |r: f64, goal: f64| if r <= goal { "met" } else { "not met" };
    println!(
        "ratio cold kiln / plain cargo:   {r_cold:.2}x  (goal <= 1.30x: {})",
        verdict(r_cold, 1.3)
    );
    println!(
        "ratio one-line / cold kiln:      {r_edit:.2}x  (goal <= 0.25x: {})",
        verdict(r_edit, 0.25)
    );
    let names: Vec<&str> = fig.built.iter().map(String::as_str).collect();
    println!("built by the cold kiln run: {}", names.join(", "));
}

/// Writes the zig wrappers and the offline cargo home under `dir`, copies the crate to
/// `dir/hello`, and times one `cargo build` per target (fresh caches: nothing built before).
fn plain_builds(dir: &Path, repo: &Path, setup: &Setup) -> Vec<Duration> {
    let (provider, vendor) = (&setup.provider, &setup.vendor);
    for sub in ["bin", "home", "cargo-home", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    copy_dir(&repo.join("examples/hello"), &dir.join("hello"));
    for t in &provider.targets {
        for tool in ["cc", "c++"] {
            // cc-rs passes its own `--target=<rust triple>`, which zig does not take.
            let script = format!(
                "#!/bin/sh\nfor a in \"$@\"; do\n  shift\n  case $a in --target=*) ;; *) set -- \"$@\" \"$a\" ;; esac\ndone\nexec {}/zig {tool} -target {} {} \"$@\"\n",
                provider.zig,
                t.zig_target,
                t.cflags.join(" ")
            );
            let path = dir.join("bin").join(format!("{tool}-{}", t.attr));
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    std::fs::write(
        dir.join("cargo-home/config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"vendored\"\n[source.vendored]\n\
             directory = \"{vendor}\"\n[net]\noffline = true\n"
        ),
    )
    .unwrap();
    run_plain(dir, setup)
}

/// One timed `cargo build --release --locked -Zbuild-std=std,panic_abort` per target.
fn run_plain(dir: &Path, setup: &Setup) -> Vec<Duration> {
    let (provider, tool_bin) = (&setup.provider, &setup.tool_bin);
    let path = format!("{tool_bin}/bin:{}", std::env::var("PATH").unwrap_or_default());
    provider
        .targets
        .iter()
        .map(|t| {
            let cc = dir.join("bin").join(format!("cc-{}", t.attr));
            let cxx = dir.join("bin").join(format!("c++-{}", t.attr));
            let rustflags: Vec<&str> = t
                .rustflags
                .iter()
                .map(String::as_str)
                .filter(|f| !f.starts_with("--remap-path-prefix"))
                .collect();
            let mut c = Command::new(format!("{tool_bin}/bin/cargo"));
            c.env_clear()
                .current_dir(dir.join("hello"))
                .env("PATH", &path)
                .env("HOME", dir.join("home"))
                .env("TMPDIR", dir.join("tmp"))
                .env("CARGO_HOME", dir.join("cargo-home"))
                .env("CARGO_TARGET_DIR", dir.join("target"))
                .env("ZIG_GLOBAL_CACHE_DIR", dir.join("zig-global"))
                .env("ZIG_LOCAL_CACHE_DIR", dir.join("zig-local"))
                .env("RUSTC", format!("{tool_bin}/bin/rustc"))
                .env("RUSTDOC", format!("{tool_bin}/bin/rustdoc"))
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST", "true")
                .env("CARGO_TARGET_APPLIES_TO_HOST", "false")
                .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
                .env("CARGO_INCREMENTAL", "0")
                .env(format!("CARGO_TARGET_{}_LINKER", t.cargo_var), &cc)
                .env(
                    format!("CARGO_TARGET_{}_RUSTFLAGS", t.cargo_var),
                    rustflags.join(" "),
                )
                .env(format!("CC_{}", t.cc_var), &cc)
                .env(format!("CXX_{}", t.cc_var), &cxx)
                .env(format!("AR_{}", t.cc_var), format!("{tool_bin}/bin/ar"))
                .env("HOST_CC", format!("{tool_bin}/bin/cc"))
                .env("HOST_CXX", format!("{tool_bin}/bin/c++"))
                .env("HOST_AR", format!("{tool_bin}/bin/ar"))
                .args(["build", "--release", "--locked", "-Zbuild-std=std,panic_abort"])
                .args(["--target", &t.triple]);
            eprintln!("hermetic: plain cargo build --target {}", t.triple);
            let d = timed(&mut c);
            eprintln!("hermetic: plain {} {:.1}s", t.attr, d.as_secs_f64());
            d
        })
        .collect()
}

/// Where the plain build of `t` puts the example's binary.
fn plain_binary(dir: &Path, t: &TargetInfo) -> PathBuf {
    dir.join("target").join(&t.triple).join("release/hello")
}

/// The plain binaries are real: each prints its version line (x86_64 natively, aarch64 under
/// qemu-user when it is installed).
fn check_plain_binaries(dir: &Path, targets: &[TargetInfo]) {
    for t in targets {
        let bin = plain_binary(dir, t);
        assert!(bin.is_file(), "{} was not built", bin.display());
        let mut c = if t.arch == "x86_64" {
            Command::new(&bin)
        } else if let Ok(qemu) = which::which(format!("qemu-{}-static", t.arch)) {
            let mut c = Command::new(qemu);
            if t.libc == "gnu" {
                c.arg("-L").arg(format!("/usr/{}-linux-gnu", t.arch));
            }
            c.arg(&bin);
            c
        } else {
            eprintln!("hermetic: no qemu-{}-static, {} not run", t.arch, t.attr);
            continue;
        };
        let out = run(c.arg("--version"));
        assert_eq!(out.trim(), format!("hello 0.1.0 ({})", t.triple), "{}", t.attr);
    }
}

/// Paths the chroot store gained by building (built here, "ultimate", with a deriver: not
/// copied in, not a source), as names without their hash.
fn built_in(config: &str, copied: &[String]) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&run(nix(config).args(["path-info", "--json", "--all"]))).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ultimate"] == true && p.get("deriver").is_some_and(|d| !d.is_null()))
        .filter_map(|p| p["path"].as_str())
        .filter(|p| !copied.iter().any(|c| c == p))
        .map(|p| p.rsplit('/').next().unwrap_or(p)[33..].to_owned())
        .collect()
}

/// The store paths of a dist's artifacts (manifest.json).
fn artifact_paths(dist: &Path) -> BTreeSet<String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dist.join("manifest.json")).unwrap()).unwrap();
    manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["store_path"].as_str().unwrap().to_owned())
        .collect()
}
