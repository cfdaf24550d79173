//! Provenance, SBOMs, signatures and `kiln verify-release` (issue 6), on real `kiln build`s of
//! the `ok` fixture, checked with `sha256sum` and with independent Python implementations
//! (jsonschema, securesystemslib, cyclonedx-python-lib) that `scripts/setup` installs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::nixenv::{Fixture, Run, cache_dir, kiln, listing, repo, require_tool, sh};

const CARGO_LOCK: &str = r#"version = 4

[[package]]
name = "fixture"
version = "1.2.3"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.15"
source = "registry+https://registry.example.org/index"
checksum = "4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c"
"#;

/// Runs `tests/schemas/validate.py` with the verifiers `scripts/setup` installed.
fn validate(args: &[&Path], cmd: &str) -> Run {
    let libs = cache_dir().join("pip/verifiers");
    let probe = Command::new("python3")
        .args([
            "-c",
            "import jsonschema, securesystemslib.dsse, cyclonedx.validation.json",
        ])
        .env("PYTHONPATH", &libs)
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "the Python verifiers (jsonschema, securesystemslib, cyclonedx-python-lib) are missing from {}: run scripts/setup",
        libs.display()
    );
    let mut c = Command::new("python3");
    c.arg(repo().join("tests/schemas/validate.py"))
        .arg(cmd)
        .args(args)
        .env("PYTHONPATH", &libs);
    Run::of(c)
}

/// A key pair made by `kiln keygen` in `dir`.
fn keygen(dir: &Path, prefix: &str) -> (PathBuf, PathBuf) {
    Run::of(kiln(dir).args(["keygen", "--out", prefix])).expect_code(0);
    (
        dir.join(format!("{prefix}.key")),
        dir.join(format!("{prefix}.pub")),
    )
}

fn verify_release(dir: &Path, release: &Path, key: Option<&Path>) -> Run {
    let mut c = kiln(dir);
    c.arg("verify-release").arg(release);
    if let Some(k) = key {
        c.arg("--key").arg(k);
    }
    Run::of(c)
}

/// What the predicate of a two-target build of the `ok` fixture must say.
fn check_predicate(p: &serde_json::Value) {
    assert_eq!(
        p["buildDefinition"]["buildType"],
        "https://kiln.dev/buildtypes/nix-flake/v1"
    );
    assert_eq!(
        p["buildDefinition"]["externalParameters"]["targets"],
        serde_json::json!(["x86_64-unknown-linux-musl", "aarch64-unknown-linux-gnu"])
    );
    let deps = p["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    assert!(
        deps[0]["digest"]["nixNarSha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64),
        "{}",
        deps[0]
    );
    assert_eq!(
        deps.iter()
            .filter(|d| d["name"].as_str().unwrap().starts_with("derivation:"))
            .count(),
        2
    );
    assert_eq!(
        p["runDetails"]["builder"]["id"],
        "https://kiln.dev/builders/local/v1"
    );
    assert_eq!(p["runDetails"]["byproducts"].as_array().unwrap().len(), 2);
}

// issue 6: a signed release with SBOMs; every file checks out with sha256sum, the JSON schemas,
// CycloneDX's own schema, securesystemslib's DSSE verifier and kiln verify-release.
#[test]
fn issue6_signed_release_verifies_with_independent_tools() {
    require_tool("sha256sum");
    let fx = Fixture::new("ok");
    fs::write(fx.dir().join("f/Cargo.lock"), CARGO_LOCK).unwrap();
    let (secret, public) = keygen(fx.dir(), "release");
    let secret_arg = secret.display().to_string();
    Run::of(fx.build(&["--target", "x86_64-musl,aarch64-gnu", "--sign-key", &secret_arg])).expect_code(0);
    let dist = fx.dir().join("dist");
    let stems = [
        "fixture-1.2.3-aarch64-unknown-linux-gnu",
        "fixture-1.2.3-x86_64-unknown-linux-musl",
    ];
    let mut want = vec![
        ".kiln-dist".to_owned(),
        "SHA256SUMS".to_owned(),
        "manifest.json".into(),
        "provenance.intoto.json".into(),
        "provenance.intoto.jsonl".into(),
    ];
    for s in stems {
        want.push(format!("{s}.tar.gz"));
        want.push(format!("{s}.cdx.json"));
    }
    want.sort();
    assert_eq!(listing(&dist), want);
    sh(&dist, "sha256sum -c SHA256SUMS").expect_code(0);

    // Subjects: everything but SHA256SUMS and the provenance files, with SHA256SUMS's digests.
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let statement: serde_json::Value =
        serde_json::from_slice(&fs::read(dist.join("provenance.intoto.json")).unwrap()).unwrap();
    let subjects: Vec<String> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} *{}",
                s["digest"]["sha256"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(subjects, sums.lines().collect::<Vec<_>>());
    assert_eq!(subjects.len(), 5);
    check_predicate(&statement["predicate"]);

    let statement_file = dist.join("provenance.intoto.json");
    validate(&[&statement_file], "statement").expect_code(0);
    let sboms: Vec<PathBuf> = stems.iter().map(|s| dist.join(format!("{s}.cdx.json"))).collect();
    let sbom_refs: Vec<&Path> = sboms.iter().map(PathBuf::as_path).collect();
    validate(&sbom_refs, "cyclonedx").expect_code(0);
    let sbom: serde_json::Value = serde_json::from_slice(&fs::read(&sboms[0]).unwrap()).unwrap();
    assert_eq!(sbom["components"][0]["purl"], "pkg:cargo/itoa@1.0.15");
    assert_eq!(
        sbom["dependencies"][0],
        serde_json::json!({"ref": stems[0], "dependsOn": ["pkg:cargo/itoa@1.0.15"]})
    );
    let env_file = dist.join("provenance.intoto.jsonl");
    let r = validate(&[&env_file, &public], "dsse").expect_code(0);
    assert!(r.stdout.contains("dsse ok: 5 subjects"), "{}", r.stdout);

    let r = verify_release(fx.dir(), &dist, Some(&public)).expect_code(0);
    assert!(
        r.stdout.contains("2 binaries pass their targets' policies"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("signature verified"), "{}", r.stdout);

    // A second run: manifest, archives, SBOMs and SHA256SUMS are byte-identical; only the
    // provenance (times, invocation id) and its signature differ.
    Run::of(fx.build(&[
        "--target",
        "x86_64-musl,aarch64-gnu",
        "--sign-key",
        &secret_arg,
        "--out",
        "again",
    ]))
    .expect_code(0);
    for f in listing(&dist) {
        if !f.starts_with("provenance.") {
            assert_eq!(
                fs::read(dist.join(&f)).unwrap(),
                fs::read(fx.dir().join("again").join(&f)).unwrap(),
                "{f} differs between two runs"
            );
        }
    }
}

// issue 6: no Cargo.lock, no SBOM; an unsigned release verifies without a key, fails with one,
// and `kiln sign` makes it verify.
#[test]
fn issue6_unsigned_release_then_kiln_sign() {
    let fx = Fixture::new("ok");
    Run::of(fx.build(&["--target", "x86_64-musl"])).expect_code(0);
    let dist = fx.dir().join("dist");
    assert_eq!(
        listing(&dist),
        [
            ".kiln-dist",
            "SHA256SUMS",
            "fixture-1.2.3-x86_64-unknown-linux-musl.tar.gz",
            "manifest.json",
            "provenance.intoto.json"
        ]
    );
    validate(&[&dist.join("provenance.intoto.json")], "statement").expect_code(0);
    let r = verify_release(fx.dir(), &dist, None).expect_code(0);
    assert!(r.stdout.contains("unsigned release"), "{}", r.stdout);
    let (secret, public) = keygen(fx.dir(), "k");
    let r = verify_release(fx.dir(), &dist, Some(&public)).expect_code(1);
    assert!(r.stdout.contains("the release is not signed"), "{}", r.stdout);
    Run::of(kiln(fx.dir()).arg("sign").arg("--key").arg(&secret).arg(&dist)).expect_code(0);
    verify_release(fx.dir(), &dist, Some(&public)).expect_code(0);
    validate(&[&dist.join("provenance.intoto.jsonl"), &public], "dsse").expect_code(0);
    let r = verify_release(fx.dir(), &dist, None).expect_code(0);
    assert!(r.stdout.contains("signature not checked"), "{}", r.stdout);
}

// issue 6: keygen writes the secret 0600, prints only the key id, never overwrites.
#[test]
fn issue6_keygen_files_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Run::of(kiln(tmp.path()).args(["keygen", "--out", "ci"])).expect_code(0);
    let secret = fs::read_to_string(tmp.path().join("ci.key")).unwrap();
    assert!(secret.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{secret}");
    let body = secret.lines().nth(1).unwrap();
    assert!(!r.stdout.contains(body) && !r.stderr.contains(body));
    let mode = fs::metadata(tmp.path().join("ci.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let public = fs::read_to_string(tmp.path().join("ci.pub")).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{public}");
    if Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        sh(tmp.path(), "openssl pkey -in ci.key -pubout | cmp - ci.pub").expect_code(0);
    }
    let r = Run::of(kiln(tmp.path()).args(["keygen", "--out", "ci"])).expect_code(2);
    assert!(r.stderr.contains("not overwriting"), "{}", r.stderr);
    // A public key is no signing key: refused before anything is built.
    let r = Run::of(kiln(tmp.path()).args(["build", "--sign-key", "ci.pub"])).expect_code(2);
    assert!(r.stderr.contains("ci.pub"), "{}", r.stderr);
    assert!(!tmp.path().join("dist").exists());
    assert_eq!(fs::read_to_string(tmp.path().join("ci.key")).unwrap(), secret);
}

fn sha256_hex(bytes: &[u8]) -> String {
    kiln::checksum::sha256_bytes(bytes)
}

/// Makes SHA256SUMS and the statement's subjects match the files again, and signs with `key`:
/// what someone holding the key could do.
fn reseal(dir: &Path, key: &Path) {
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let entries: Vec<(String, String)> = sums
        .lines()
        .map(|line| {
            let name = line[66..].to_owned();
            let digest = sha256_hex(&fs::read(dir.join(&name)).unwrap());
            (name, digest)
        })
        .collect();
    let fresh = kiln::checksum::write_sha256sums(&entries).unwrap();
    fs::write(dir.join("SHA256SUMS"), fresh).unwrap();
    let p = dir.join("provenance.intoto.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    for s in v["subject"].as_array_mut().unwrap() {
        let name = s["name"].as_str().unwrap().to_owned();
        s["digest"]["sha256"] = sha256_hex(&fs::read(dir.join(name)).unwrap()).into();
    }
    fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    resign(dir, key);
}

/// `kiln sign --key KEY DIR`.
fn resign(dir: &Path, key: &Path) {
    Run::of(kiln(dir).arg("sign").arg("--key").arg(key).arg(dir)).expect_code(0);
}

fn copy_release(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for f in listing(from) {
        fs::copy(from.join(&f), to.join(&f)).unwrap();
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    fs::write(path, b).unwrap();
}

type Tamper = Box<dyn Fn(&Path)>;

// issue 6: every kind of tampering is caught, each with its own message and exit 1.
#[test]
#[allow(clippy::too_many_lines)] // one table of cases
fn issue6_verify_release_catches_tampering() {
    let fx = Fixture::new("ok");
    fs::write(fx.dir().join("f/Cargo.lock"), CARGO_LOCK).unwrap();
    let (secret, public) = keygen(fx.dir(), "k");
    let (_, other_public) = keygen(fx.dir(), "other");
    let secret_arg = secret.display().to_string();
    let (resign_key, resign_key2, resign_key3) = (secret.clone(), secret.clone(), secret.clone());
    Run::of(fx.build(&["--target", "x86_64-musl", "--sign-key", &secret_arg])).expect_code(0);
    let dist = fx.dir().join("dist");
    verify_release(fx.dir(), &dist, Some(&public)).expect_code(0);
    let archive = "fixture-1.2.3-x86_64-unknown-linux-musl.tar.gz";
    let sbom = "fixture-1.2.3-x86_64-unknown-linux-musl.cdx.json";

    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "flip-archive",
            Box::new(move |d: &Path| flip_byte(&d.join(archive), 100)),
            "the file was changed",
        ),
        (
            "flip-manifest",
            Box::new(|d: &Path| flip_byte(&d.join("manifest.json"), 10)),
            "manifest.json: sha256",
        ),
        (
            "flip-sbom",
            Box::new(move |d: &Path| flip_byte(&d.join(sbom), 20)),
            "cdx.json: sha256",
        ),
        (
            "flip-sums",
            Box::new(|d: &Path| {
                // Another hex digit in the first digest.
                let p = d.join("SHA256SUMS");
                let mut b = fs::read(&p).unwrap();
                b[3] = if b[3] == b'0' { b'1' } else { b'0' };
                fs::write(&p, b).unwrap();
            }),
            "differs from SHA256SUMS",
        ),
        (
            "flip-statement",
            Box::new(|d: &Path| flip_byte(&d.join("provenance.intoto.json"), 200)),
            "provenance.intoto.json differs from the statement signed",
        ),
        (
            "rename",
            Box::new(move |d: &Path| fs::rename(d.join(archive), d.join("renamed.tar.gz")).unwrap()),
            "missing file fixture-1.2.3-x86_64-unknown-linux-musl.tar.gz",
        ),
        (
            "extra",
            Box::new(|d: &Path| fs::write(d.join("extra.txt"), "x").unwrap()),
            "extra file extra.txt",
        ),
        (
            "missing",
            Box::new(move |d: &Path| fs::remove_file(d.join(sbom)).unwrap()),
            "missing file fixture-1.2.3-x86_64-unknown-linux-musl.cdx.json",
        ),
        (
            "subject-removed",
            Box::new(move |d: &Path| {
                // Drop a subject and sign the edited statement with the release key itself:
                // the signature holds, the missing subject does not.
                let p = d.join("provenance.intoto.json");
                let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
                v["subject"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|s| s["name"] != "manifest.json");
                fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
                resign(d, &resign_key);
            }),
            "manifest.json is not a subject of the provenance statement",
        ),
        (
            "policy",
            Box::new(move |d: &Path| {
                // Claim the static musl archive is for gnu, make every digest consistent and
                // sign again: the binary fails the gnu policy.
                let m = d.join("manifest.json");
                let text = fs::read_to_string(&m).unwrap();
                let edited = text.replace(
                    "\"target\": \"x86_64-unknown-linux-musl\"",
                    "\"target\": \"x86_64-unknown-linux-gnu\"",
                );
                assert_ne!(text, edited);
                fs::write(&m, &edited).unwrap();
                reseal(d, &resign_key2);
            }),
            "fails the x86_64-unknown-linux-gnu policy",
        ),
        (
            "extra-member",
            Box::new(move |d: &Path| {
                // Slip a script into the archive, with every digest consistent and signed.
                use kiln::archive::{ArchiveFormat, Entry, archive_bytes};
                let path = d.join(archive);
                let members =
                    kiln::verify_release::read_archive(ArchiveFormat::TarGz, &fs::read(&path).unwrap())
                        .unwrap();
                let stem = archive.trim_end_matches(".tar.gz");
                let mut entries: Vec<Entry> = members
                    .into_iter()
                    .map(|(n, b)| Entry::bytes(n, b, 0o755))
                    .collect();
                entries.push(Entry::bytes(
                    format!("{stem}/install.sh"),
                    b"#!/bin/sh\n".to_vec(),
                    0o755,
                ));
                let bytes = archive_bytes(ArchiveFormat::TarGz, &entries, 315_532_800).unwrap();
                fs::write(&path, &bytes).unwrap();
                let m = d.join("manifest.json");
                let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&m).unwrap()).unwrap();
                v["artifacts"][0]["sha256"] = sha256_hex(&bytes).into();
                v["artifacts"][0]["size"] = bytes.len().into();
                fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
                reseal(d, &resign_key3);
            }),
            "install.sh is in the archive but not in manifest.json",
        ),
        (
            "dotdot",
            Box::new(|d: &Path| {
                let p = d.join("SHA256SUMS");
                let mut t = fs::read_to_string(&p).unwrap();
                t.push_str(&"0".repeat(64));
                t.push_str(" *../outside\n");
                fs::write(p, t).unwrap();
            }),
            "the name has a `..` component",
        ),
        (
            "truncated-envelope",
            Box::new(|d: &Path| {
                let p = d.join("provenance.intoto.jsonl");
                let b = fs::read(&p).unwrap();
                fs::write(&p, &b[..b.len() / 2]).unwrap();
            }),
            "not a valid DSSE envelope",
        ),
        (
            "edited-payload",
            Box::new(|d: &Path| {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD;
                let p = d.join("provenance.intoto.jsonl");
                let mut env: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
                let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
                let edited = String::from_utf8(payload)
                    .unwrap()
                    .replace("x86_64-musl", "x86_64-gnu");
                env["payload"] = b64.encode(edited.as_bytes()).into();
                fs::write(&p, format!("{env}\n")).unwrap();
                fs::write(d.join("provenance.intoto.json"), edited).unwrap();
            }),
            "no signature in the envelope verifies with key",
        ),
    ];
    for (name, tamper, message) in &cases {
        let d = fx.dir().join(format!("case-{name}"));
        copy_release(&dist, &d);
        tamper(&d);
        let r = verify_release(fx.dir(), &d, Some(&public));
        assert_eq!(r.code, 1, "{name}: exit {}\n{}{}", r.code, r.stdout, r.stderr);
        assert!(
            r.stdout.contains(message),
            "{name}: wanted `{message}` in\n{}",
            r.stdout
        );
    }
    // A wrong key.
    let r = verify_release(fx.dir(), &dist, Some(&other_public)).expect_code(1);
    assert!(
        r.stdout
            .contains("no signature in the envelope verifies with key"),
        "{}",
        r.stdout
    );
    // A symlink is refused, not followed.
    let d = fx.dir().join("case-symlink");
    copy_release(&dist, &d);
    std::os::unix::fs::symlink("/etc/passwd", d.join("passwd")).unwrap();
    let r = verify_release(fx.dir(), &d, Some(&public)).expect_code(1);
    assert!(r.stdout.contains("passwd is a symlink"), "{}", r.stdout);
    // Usage: no such directory, unreadable key.
    verify_release(fx.dir(), &fx.dir().join("nope"), None).expect_code(2);
    verify_release(fx.dir(), &dist, Some(&fx.dir().join("nope.pub"))).expect_code(2);
    // JSON output.
    let r = Run::of(kiln(fx.dir()).arg("verify-release").arg(&dist).arg("--json")).expect_code(0);
    assert_eq!(r.json()["ok"], true);
}

// issue 6: every flake.lock node is a resolved dependency: a git input with its commit, a path
// input with its NAR hash, both with narHash and lastModified from the lock.
#[test]
fn issue6_provenance_lists_every_flake_lock_node() {
    require_tool("git");
    let fx = Fixture::new("ok");
    let (git_dep, path_dep) = (fx.dir().join("gitdep"), fx.dir().join("pathdep"));
    fs::create_dir_all(&git_dep).unwrap();
    fs::create_dir_all(&path_dep).unwrap();
    fs::write(git_dep.join("a.txt"), "a\n").unwrap();
    fs::write(path_dep.join("b.txt"), "b\n").unwrap();
    sh(
        &git_dep,
        "git init -q && git add a.txt && git -c user.name=t -c user.email=t@example.org commit -qm a",
    )
    .expect_code(0);
    let flake = fx.dir().join("f/flake.nix");
    let text = fs::read_to_string(&flake).unwrap();
    let inputs = format!(
        "inputs.gitdep = {{ url = \"git+file://{}\"; flake = false; }};\n  \
         inputs.pathdep = {{ url = \"path:{}\"; flake = false; }};",
        git_dep.display(),
        path_dep.display()
    );
    let edited = text
        .replace("inputs = { };", &inputs)
        .replace("{ self }:", "{ self, ... }:");
    assert_ne!(text, edited);
    fs::write(&flake, edited).unwrap();
    Run::of(fx.build(&["--target", "x86_64-musl"])).expect_code(0);

    let lock: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("f/flake.lock")).unwrap()).unwrap();
    let statement: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("dist/provenance.intoto.json")).unwrap()).unwrap();
    validate(&[&fx.dir().join("dist/provenance.intoto.json")], "statement").expect_code(0);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let by_name = |n: &str| {
        deps.iter()
            .find(|d| d["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {deps:#?}"))
    };
    let nodes = lock["nodes"].as_object().unwrap();
    assert_eq!(nodes.len(), 3, "{lock}");
    for (name, node) in nodes.iter().filter(|(n, _)| n.as_str() != "root") {
        let d = by_name(&format!("flake.lock:{name}"));
        assert_eq!(d["annotations"]["narHash"], node["locked"]["narHash"]);
        assert_eq!(d["annotations"]["lastModified"], node["locked"]["lastModified"]);
        assert_eq!(d["digest"]["nixNarSha256"].as_str().unwrap().len(), 64);
    }
    let rev = lock["nodes"]["gitdep"]["locked"]["rev"].as_str().unwrap();
    let g = by_name("flake.lock:gitdep");
    assert_eq!(g["digest"]["gitCommit"], rev);
    assert_eq!(
        g["uri"],
        format!("git+file://{}@{rev}", git_dep.display()).as_str()
    );
    assert_eq!(
        by_name("flake.lock:pathdep")["uri"],
        format!("path:{}", path_dep.display()).as_str()
    );
}

// issues 6 and 7: images added to a signed release keep it verifiable. `kiln build --image
// --sign-key` restates and signs the provenance with the image archive as a subject; `kiln
// image` without a key drops the now stale signature and says so; the unpacked layout must
// match its `.oci.tar` byte for byte.
#[test]
fn issue6_images_in_a_signed_release_verify() {
    let fx = Fixture::new("ok");
    let (secret, public) = keygen(fx.dir(), "k");
    Run::of(
        fx.build(&["-t", "x86_64-musl,aarch64-musl", "--image", "--sign-key"])
            .arg(&secret),
    )
    .expect_code(0);
    let dist = fx.dir().join("dist");
    let statement: serde_json::Value =
        serde_json::from_slice(&fs::read(dist.join("provenance.intoto.json")).unwrap()).unwrap();
    let subjects: Vec<&str> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&"fixture-1.2.3.oci.tar"), "{subjects:?}");
    let r = verify_release(fx.dir(), &dist, Some(&public)).expect_code(0);
    assert!(r.stdout.contains("signature verified"), "{}", r.stdout);

    // kiln image without a key: the images are made again, the signature goes.
    let r = Run::of(kiln(fx.dir()).args(["image", "--from"]).arg(&dist)).expect_code(0);
    assert!(r.stderr.contains("signature was removed"), "{}", r.stderr);
    assert!(!dist.join("provenance.intoto.jsonl").exists());
    verify_release(fx.dir(), &dist, None).expect_code(0);
    let r = verify_release(fx.dir(), &dist, Some(&public)).expect_code(1);
    assert!(r.stdout.contains("not signed"), "{}", r.stdout);
    resign(&dist, &secret);
    verify_release(fx.dir(), &dist, Some(&public)).expect_code(0);

    // The unpacked layout is checked against the archive SHA256SUMS covers.
    let index = dist.join("fixture-1.2.3.oci/index.json");
    let mut bytes = fs::read(&index).unwrap();
    bytes.push(b'\n');
    fs::write(&index, bytes).unwrap();
    let r = verify_release(fx.dir(), &dist, Some(&public)).expect_code(1);
    assert!(
        r.stdout
            .contains("fixture-1.2.3.oci/index.json differs from fixture-1.2.3.oci.tar"),
        "{}",
        r.stdout
    );
    fs::write(dist.join("fixture-1.2.3.oci/blobs/sha256/extra"), b"x").unwrap();
    let r = verify_release(fx.dir(), &dist, Some(&public)).expect_code(1);
    assert!(
        r.stdout
            .contains("extra file fixture-1.2.3.oci/blobs/sha256/extra"),
        "{}",
        r.stdout
    );
}
