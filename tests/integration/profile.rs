//! Build profiles (issue 16): `kiln inspect` tells debug from release builds by their bytes,
//! `kiln verify` fails a debug build (`debug-build`) unless `--allow-debug`, and no release build
//! is flagged. Every binary is built here, by the machine's cargo (a crate with dependencies,
//! offline from the local cargo cache) and by zig cc and gcc; nothing is committed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::elf::{GOOD_ELF_FIXTURES, codes_with, fixtures_dir, fx, inspect_json, verify_json};
use crate::harness::{ROOT, Test, require_tool};
use crate::nixenv::Fixture;

/// A command's run that must succeed.
#[track_caller]
fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; run scripts/setup"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cargo that runs these tests (its own toolchain's rustc beside it).
fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let mut cmd = Command::new(&cargo);
    if let Some(rustc) = cargo.parent().map(|d| d.join("rustc")).filter(|p| p.is_file()) {
        cmd.env("RUSTC", rustc);
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUSTUP_AUTO_INSTALL", "0");
    cmd
}

const CARGO_TOML: &str = r#"[package]
name = "profapp"
version = "0.1.0"
edition = "2024"

[dependencies]
itoa = "1"
memchr = "2"

[profile.release-debuginfo]
inherits = "release"
debug = true

[profile.release-o0]
inherits = "release"
opt-level = 0

[profile.release-overflow]
inherits = "release"
overflow-checks = true

[profile.dev-o3]
inherits = "dev"
opt-level = 3
"#;

const MAIN_RS: &str = r#"fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut buf = itoa::Buffer::new();
    let n = args.len() as u64 * 7;
    let at = memchr::memchr(b'/', args[0].as_bytes());
    println!("{} {:?}", buf.format(n), at);
}
"#;

/// The cargo profiles built, and whether each is a debug build.
const RUST_PROFILES: [(&str, bool); 6] = [
    ("dev", true),
    ("dev-o3", true),
    ("release", false),
    ("release-debuginfo", false),
    ("release-o0", false),
    ("release-overflow", false),
];

/// The Rust binaries: (label, path, is a debug build), each profile unstripped and stripped.
fn rust_binaries() -> &'static [(String, PathBuf, bool)] {
    static BINS: OnceLock<Vec<(String, PathBuf, bool)>> = OnceLock::new();
    BINS.get_or_init(|| {
        require_tool("strip");
        let dir = scratch("rust");
        let src = dir.join("profapp");
        std::fs::create_dir_all(src.join("src")).unwrap();
        std::fs::write(src.join("Cargo.toml"), CARGO_TOML).unwrap();
        std::fs::write(src.join("src/main.rs"), MAIN_RS).unwrap();
        let target_dir = dir.join("target");
        let mut out = Vec::new();
        for (profile, debug) in RUST_PROFILES {
            run_ok(
                cargo()
                    .current_dir(&src)
                    .env("CARGO_TARGET_DIR", &target_dir)
                    .args(["build", "--offline", "--quiet", "--profile", profile]),
            );
            let sub = if profile == "dev" { "debug" } else { profile };
            let bin = target_dir.join(sub).join("profapp");
            let stripped = dir.join(format!("profapp-{profile}-stripped"));
            run_ok(Command::new("strip").arg("-o").arg(&stripped).arg(&bin));
            out.push((profile.to_owned(), bin, debug));
            out.push((format!("{profile} stripped"), stripped, debug));
        }
        out
    })
}

/// A fresh directory under the test target dir, emptied by the next run (the binaries stay for
/// a look after a failure).
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("issue16-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The zig that tests/fixtures/elf/build.sh uses: `$ZIG`, the pinned ziglang wheel in the kiln
/// cache, or `zig` on PATH.
fn zig() -> PathBuf {
    if let Some(z) = std::env::var_os("ZIG") {
        return PathBuf::from(z);
    }
    let pins: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("nix/hermetic-tools.json")).unwrap(),
    )
    .unwrap();
    let version = pins["tools"]
        .as_object()
        .unwrap()
        .values()
        .find_map(|t| t["zig"]["packageVersion"].as_str())
        .expect("a zig pin in nix/hermetic-tools.json")
        .to_owned();
    let cache = std::env::var_os("KILN_CACHE_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kiln"),
        PathBuf::from,
    );
    let cached = cache.join(format!("pip/ziglang-{version}/ziglang/zig"));
    if cached.is_file() {
        return cached;
    }
    require_tool("zig");
    PathBuf::from("zig")
}

fn profile_of(v: &Value) -> &str {
    v["build_profile"].as_str().unwrap_or("(none)")
}

/// Inspects `bins`, one kiln call.
fn inspect_all(bins: &[PathBuf]) -> Vec<Value> {
    let args: Vec<String> = bins.iter().map(|p| p.display().to_string()).collect();
    inspect_json(&args, 0)
}

#[test]
fn issue16_rust_debug_builds_are_caught_release_builds_are_not() {
    let bins = rust_binaries();
    let paths: Vec<PathBuf> = bins.iter().map(|(_, p, _)| p.clone()).collect();
    let facts = inspect_all(&paths);
    for ((label, _, debug), f) in bins.iter().zip(&facts) {
        let evidence = &f["profile_evidence"];
        assert!(
            evidence.as_array().is_some_and(|e| !e.is_empty()),
            "{label}: no evidence: {f:#}"
        );
        if *debug {
            assert_eq!(profile_of(f), "debug", "{label}: {evidence}");
            assert!(
                evidence[0].as_str().unwrap().contains("precondition"),
                "{label}: {evidence}"
            );
        } else {
            assert_ne!(profile_of(f), "debug", "{label} is a release build: {evidence}");
        }
        // Optimised releases, with debug info or not, stripped or not, are proven releases.
        if label.starts_with("release") && !label.starts_with("release-o0") {
            assert_eq!(profile_of(f), "release", "{label}: {evidence}");
        }
    }
}

#[test]
fn issue16_verify_fails_a_debug_build_unless_allow_debug() {
    let bins = rust_binaries();
    let pick = |label: &str| {
        bins.iter()
            .find(|(l, _, _)| l == label)
            .map(|(_, p, _)| p.display().to_string())
            .unwrap()
    };
    let files = [pick("dev stripped"), pick("release stripped")];
    // The host's glibc is newer than the target's floor; that is not what is tested here.
    let relax = ["--glibc-max", "2.99"];
    let v = verify_json(&files, "x86_64-gnu", &relax, 1);
    assert_eq!(codes_with(&v[0], "error"), ["debug-build"], "{:#}", v[0]);
    let msg = v[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "debug-build")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("precondition") && msg.contains("--allow-debug"),
        "{msg}"
    );
    assert!(v[1]["ok"].as_bool().unwrap(), "{:#}", v[1]);
    assert!(!codes_with(&v[1], "warning").contains(&"debug-build".to_owned()));

    let v = verify_json(&files, "x86_64-gnu", &["--glibc-max", "2.99", "--allow-debug"], 0);
    assert!(v[0]["ok"].as_bool().unwrap(), "{:#}", v[0]);
    assert_eq!(codes_with(&v[0], "warning"), ["debug-build"], "{:#}", v[0]);
}

/// One C program built by `compiler` with `flags`, for `label`.
struct CBuild {
    label: String,
    path: PathBuf,
    /// The profile kiln must report.
    expect: &'static str,
}

const C_SRC: &str = "#include <stdio.h>\nint main(int argc, char **argv) { int s = 0; \
for (int i = 0; i < argc; i++) s += argv[i][0]; printf(\"%d\\n\", s); return 0; }\n";

#[test]
fn issue16_c_at_o0_is_caught_at_o2_is_not() {
    require_tool("gcc");
    let dir = scratch("c");
    let src = dir.join("prog.c");
    std::fs::write(&src, C_SRC).unwrap();
    let zig = zig();
    let zig_cache = std::env::var_os("KILN_CACHE_DIR").map_or_else(
        || fixtures_dir().join(".zig-cache"),
        |d| PathBuf::from(d).join("zig"),
    );
    let mut builds: Vec<CBuild> = Vec::new();
    let mut build = |label: String, cmd: &mut Command, expect: &'static str| {
        let out = dir.join(label.replace([' ', '/'], "_"));
        run_ok(cmd.arg(&src).arg("-o").arg(&out));
        builds.push(CBuild {
            label,
            path: out,
            expect,
        });
    };
    // GCC records its flags in DW_AT_producer by default; no -O at all is -O0.
    for (opt, expect) in [
        ("-O0", "debug"),
        ("", "debug"),
        ("-Og", "debug"),
        ("-O2", "release"),
    ] {
        let mut cmd = Command::new("gcc");
        cmd.args(["-g"]).args((!opt.is_empty()).then_some(opt));
        build(format!("gcc -g {opt}"), &mut cmd, expect);
    }
    // The same with compressed debug sections (SHF_COMPRESSED, zlib).
    for (opt, expect) in [("-O0", "debug"), ("-O2", "release")] {
        let mut cmd = Command::new("gcc");
        cmd.args(["-g", "-gz=zlib", opt]);
        build(format!("gcc -g -gz=zlib {opt}"), &mut cmd, expect);
    }
    // zig cc records flags only with -grecord-command-line; the four targets.
    for target in [
        "x86_64-linux-musl",
        "aarch64-linux-musl",
        "x86_64-linux-gnu.2.17",
        "aarch64-linux-gnu.2.28",
    ] {
        for (opt, expect) in [("-O0", "debug"), ("-O2", "release")] {
            let mut cmd = Command::new(&zig);
            cmd.env("ZIG_GLOBAL_CACHE_DIR", &zig_cache)
                .env("ZIG_LOCAL_CACHE_DIR", &zig_cache)
                .args(["cc", "-target", target, opt, "-g", "-grecord-command-line"]);
            build(format!("zig cc {target} {opt}"), &mut cmd, expect);
        }
    }
    // Without recorded flags, and once stripped, C says nothing: unknown, never a guess.
    for (extra, what) in [("-g", "no recorded flags"), ("-s", "stripped")] {
        for opt in ["-O0", "-O2"] {
            let mut cmd = Command::new(&zig);
            cmd.env("ZIG_GLOBAL_CACHE_DIR", &zig_cache)
                .env("ZIG_LOCAL_CACHE_DIR", &zig_cache)
                .args(["cc", "-target", "x86_64-linux-musl", opt, extra]);
            build(format!("zig cc {opt} {what}"), &mut cmd, "unknown");
        }
    }
    let facts = inspect_all(&builds.iter().map(|b| b.path.clone()).collect::<Vec<_>>());
    for (b, f) in builds.iter().zip(&facts) {
        assert_eq!(profile_of(f), b.expect, "{}: {}", b.label, f["profile_evidence"]);
    }
    let debug_evidence = facts[0]["profile_evidence"][0].as_str().unwrap();
    assert!(
        debug_evidence.contains("prog.c") && debug_evidence.contains("without optimisation"),
        "{debug_evidence}"
    );
}

#[test]
fn issue16_release_binaries_on_this_machine_are_not_flagged() {
    let mut files: Vec<String> = GOOD_ELF_FIXTURES.iter().map(|n| fx(n)).collect();
    for tool in ["ls", "tar", "sha256sum", "bash", "readelf"] {
        let p = Path::new("/usr/bin").join(tool);
        assert!(p.is_file(), "{} missing", p.display());
        files.push(p.display().to_string());
    }
    // The toolchain's own Rust release binaries, beside the cargo running these tests.
    let cargo = PathBuf::from(std::env::var_os("CARGO").expect("CARGO is set by cargo test"));
    let bin = cargo.parent().unwrap();
    for tool in ["cargo", "rustdoc"] {
        let p = bin.join(tool);
        assert!(p.is_file(), "{} missing", p.display());
        files.push(p.display().to_string());
    }
    let facts = inspect_json(&files, 0);
    for (file, f) in files.iter().zip(&facts) {
        assert_ne!(profile_of(f), "debug", "{file}: {}", f["profile_evidence"]);
        assert!(f["build_profile"].is_string(), "{file}: {f:#}");
    }
    let cargo_facts = &facts[files.len() - 2];
    assert_eq!(
        profile_of(cargo_facts),
        "release",
        "{:#}",
        cargo_facts["profile_evidence"]
    );
}

/// A flake whose `x86_64-gnu` package copies `./app` into `bin/` and says it was built with
/// cargo profile `profile` (as `CARGO_PROFILE`, the attribute nix/cross-package.nix sets).
fn copy_flake(profile: &str) -> String {
    format!(
        r#"{{ outputs = {{ self }}: let
  bb = (import ./nix/hermetic-tools.nix {{ }}).busybox;
in {{ packages.x86_64-linux.x86_64-gnu = derivation {{
  name = "profapp-0.1.0"; pname = "profapp"; version = "0.1.0";
  system = "x86_64-linux"; builder = "${{bb}}/busybox";
  CARGO_PROFILE = "{profile}"; app = ./app;
  args = [ "sh" "-c" "${{bb}}/busybox mkdir -p $out/bin && ${{bb}}/busybox cp $app $out/bin/profapp && ${{bb}}/busybox chmod 555 $out/bin/profapp" ];
}}; }}; }}
"#
    )
}

/// `kiln build --json` of `bin` packaged with cargo profile `profile`, with `extra` flags.
fn build_copied(bin: &Path, profile: &str, extra: &[&str], code: i32) -> (Fixture, Value) {
    let fx = Fixture::inline(&copy_flake(profile), &[]);
    std::fs::copy(bin, fx.dir().join("f/app")).unwrap();
    let mut args = vec!["--json", "--target", "x86_64-gnu", "--glibc-max", "2.99"];
    args.extend(extra);
    let r = fx.build(&args).status(code);
    let j = r.json();
    (fx, j)
}

fn codes(findings: &Value, severity: &str) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn issue16_build_fails_debug_targets_and_profile_mismatches() {
    let bins = rust_binaries();
    let pick = |label: &str| bins.iter().find(|(l, _, _)| l == label).unwrap().1.clone();
    let (debug, release) = (pick("dev stripped"), pick("release stripped"));

    // A debug binary from a derivation that claims the release profile.
    let (fx, j) = build_copied(&debug, "release", &[], 1);
    let t = &j["targets"][0];
    assert_eq!(t["status"], "verify-failed", "{t:#}");
    let errors = codes(&t["binaries"][0]["findings"], "error");
    assert!(errors.contains(&"debug-build".to_owned()), "{errors:?}");
    assert!(errors.contains(&"profile-mismatch".to_owned()), "{errors:?}");
    assert!(!fx.dir().join("dist").exists());

    // A release binary from a derivation that claims the dev profile: the mismatch alone fails.
    let (fx, j) = build_copied(&release, "dev", &[], 1);
    let errors = codes(&j["targets"][0]["binaries"][0]["findings"], "error");
    assert_eq!(errors, ["profile-mismatch"], "{j:#}");
    assert!(!fx.dir().join("dist").exists());

    // A release binary from a release derivation: exported, both profiles recorded.
    let (fx, j) = build_copied(&release, "release", &[], 0);
    let a = &j["manifest"]["artifacts"][0];
    assert_eq!(a["cargo_profile"], "release", "{a:#}");
    assert_eq!(a["binaries"][0]["build_profile"], "release", "{a:#}");
    let dist = fx.dir().join("dist");
    Test::in_dir(fx.dir()).arg("verify-release").arg(&dist).success();

    // --allow-debug lets a debug build through as warnings; verify-release, reading the flags
    // from the provenance, accepts it, and refuses it once the manifest lies about its profile.
    let (fx, j) = build_copied(&debug, "release", &["--allow-debug"], 0);
    let a = &j["manifest"]["artifacts"][0];
    assert_eq!(a["binaries"][0]["build_profile"], "debug", "{a:#}");
    let warnings = codes(&a["binaries"][0]["findings"], "warning");
    assert!(warnings.contains(&"debug-build".to_owned()), "{warnings:?}");
    assert!(warnings.contains(&"profile-mismatch".to_owned()), "{warnings:?}");
    let dist = fx.dir().join("dist");
    Test::in_dir(fx.dir()).arg("verify-release").arg(&dist).success();

    // The same release judged without --allow-debug (the unsigned provenance's flag turned
    // off): verify-release refuses the debug binary.
    let prov = dist.join("provenance.intoto.json");
    let mut statement: Value = serde_json::from_slice(&std::fs::read(&prov).unwrap()).unwrap();
    let flags = statement
        .pointer_mut("/predicate/buildDefinition/externalParameters/flags")
        .unwrap();
    assert_eq!(flags["allowDebug"], true, "{flags:#}");
    flags["allowDebug"] = Value::Bool(false);
    std::fs::write(&prov, serde_json::to_vec(&statement).unwrap()).unwrap();
    let r = Test::in_dir(fx.dir()).arg("verify-release").arg(&dist).failure();
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("debug-build"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
}
