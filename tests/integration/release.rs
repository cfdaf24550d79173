//! Provenance, SBOMs, signatures and `kiln verify-release` (issue 6), on real `kiln build`s of
//! the `ok` fixture, checked with `sha256sum` and with independent Python implementations
//! (jsonschema, securesystemslib, cyclonedx-python-lib) that `scripts/setup` installs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Output, Test, listing, repo, require_tool, sh};
use crate::nixenv::{Fixture, cache_dir};

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
fn validate(args: &[&Path], cmd: &str) -> Output {
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
    Output::of(c)
}

/// A key pair made by `kiln keygen` in `dir`.
fn keygen(dir: &Path, prefix: &str) -> (PathBuf, PathBuf) {
    Test::in_dir(dir).args(["keygen", "--out", prefix]).success();
    (
        dir.join(format!("{prefix}.key")),
        dir.join(format!("{prefix}.pub")),
    )
}

fn verify_release(dir: &Path, release: &Path, key: Option<&Path>) -> Output {
    let mut c = Test::in_dir(dir).arg("verify-release").arg(release);
    if let Some(k) = key {
        c = c.arg("--key").arg(k);
    }
    c.run()
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
    fx.build(&["--target", "x86_64-musl,aarch64-gnu", "--sign-key", &secret_arg])
        .success();
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
    sh(&dist, "sha256sum -c SHA256SUMS").success();

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
    validate(&[&statement_file], "statement").success();
    let sboms: Vec<PathBuf> = stems.iter().map(|s| dist.join(format!("{s}.cdx.json"))).collect();
    let sbom_refs: Vec<&Path> = sboms.iter().map(PathBuf::as_path).collect();
    validate(&sbom_refs, "cyclonedx").success();
    let sbom: serde_json::Value = serde_json::from_slice(&fs::read(&sboms[0]).unwrap()).unwrap();
    assert_eq!(sbom["components"][0]["purl"], "pkg:cargo/itoa@1.0.15");
    assert_eq!(
        sbom["dependencies"][0],
        serde_json::json!({"ref": stems[0], "dependsOn": ["pkg:cargo/itoa@1.0.15"]})
    );
    let env_file = dist.join("provenance.intoto.jsonl");
    let r = validate(&[&env_file, &public], "dsse").success();
    assert!(r.stdout.contains("dsse ok: 5 subjects"), "{}", r.stdout);

    let r = verify_release(fx.dir(), &dist, Some(&public)).success();
    assert!(
        r.stdout.contains("2 binaries pass their targets' policies"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("signature verified"), "{}", r.stdout);

    // A second run: manifest, archives, SBOMs and SHA256SUMS are byte-identical; only the
    // provenance (times, invocation id) and its signature differ.
    fx.build(&[
        "--target",
        "x86_64-musl,aarch64-gnu",
        "--sign-key",
        &secret_arg,
        "--out",
        "again",
    ])
    .success();
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
    fx.build(&["--target", "x86_64-musl"]).success();
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
    validate(&[&dist.join("provenance.intoto.json")], "statement").success();
    let r = verify_release(fx.dir(), &dist, None).success();
    assert!(r.stdout.contains("unsigned release"), "{}", r.stdout);
    let (secret, public) = keygen(fx.dir(), "k");
    let r = verify_release(fx.dir(), &dist, Some(&public)).failure();
    assert!(r.stdout.contains("the release is not signed"), "{}", r.stdout);
    Test::in_dir(fx.dir())
        .arg("sign")
        .arg("--key")
        .arg(&secret)
        .arg(&dist)
        .success();
    verify_release(fx.dir(), &dist, Some(&public)).success();
    validate(&[&dist.join("provenance.intoto.jsonl"), &public], "dsse").success();
    let r = verify_release(fx.dir(), &dist, None).success();
    assert!(r.stdout.contains("signature not checked"), "{}", r.stdout);
}

// issue 6: keygen writes the secret 0600, prints only the key id, never overwrites.
#[test]
fn issue6_keygen_files_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Test::in_dir(tmp.path()).args(["keygen", "--out", "ci"]).success();
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
        sh(tmp.path(), "openssl pkey -in ci.key -pubout | cmp - ci.pub").success();
    }
    let r = Test::in_dir(tmp.path()).args(["keygen", "--out", "ci"]).status(2);
    assert!(r.stderr.contains("not overwriting"), "{}", r.stderr);
    // A public key is no signing key: refused before anything is built.
    let r = Test::in_dir(tmp.path())
        .args(["build", "--sign-key", "ci.pub"])
        .status(2);
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
    Test::in_dir(dir)
        .arg("sign")
        .arg("--key")
        .arg(key)
        .arg(dir)
        .success();
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
    fx.build(&["--target", "x86_64-musl", "--sign-key", &secret_arg])
        .success();
    let dist = fx.dir().join("dist");
    verify_release(fx.dir(), &dist, Some(&public)).success();
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
                use kiln::archive::{ArchiveFormat, Member, archive_bytes};
                let path = d.join(archive);
                let members = kiln::archive::read_archive_keeping(
                    ArchiveFormat::TarGz,
                    fs::File::open(&path).unwrap(),
                    true,
                )
                .unwrap();
                let stem = archive.trim_end_matches(".tar.gz");
                let mut entries: Vec<Member> = members
                    .into_iter()
                    .map(|(n, m)| Member::bytes(n, m.bytes().unwrap().unwrap(), 0o755))
                    .collect();
                entries.push(Member::bytes(
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
    let r = verify_release(fx.dir(), &dist, Some(&other_public)).failure();
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
    let r = verify_release(fx.dir(), &d, Some(&public)).failure();
    assert!(r.stdout.contains("passwd is a symlink"), "{}", r.stdout);
    // Usage: no such directory, unreadable key.
    verify_release(fx.dir(), &fx.dir().join("nope"), None).status(2);
    verify_release(fx.dir(), &dist, Some(&fx.dir().join("nope.pub"))).status(2);
    // JSON output.
    let r = Test::in_dir(fx.dir())
        .arg("verify-release")
        .arg(&dist)
        .arg("--json")
        .success();
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
    .success();
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
    fx.build(&["--target", "x86_64-musl"]).success();

    let lock: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("f/flake.lock")).unwrap()).unwrap();
    let statement: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("dist/provenance.intoto.json")).unwrap()).unwrap();
    validate(&[&fx.dir().join("dist/provenance.intoto.json")], "statement").success();
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
    fx.build(&["-t", "x86_64-musl,aarch64-musl", "--image", "--sign-key"])
        .arg(&secret)
        .success();
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
    let r = verify_release(fx.dir(), &dist, Some(&public)).success();
    assert!(r.stdout.contains("signature verified"), "{}", r.stdout);

    // kiln image without a key: the images are made again, the signature goes.
    let r = Test::in_dir(fx.dir())
        .args(["image", "--from"])
        .arg(&dist)
        .success();
    assert!(r.stderr.contains("signature was removed"), "{}", r.stderr);
    assert!(!dist.join("provenance.intoto.jsonl").exists());
    verify_release(fx.dir(), &dist, None).success();
    let r = verify_release(fx.dir(), &dist, Some(&public)).failure();
    assert!(r.stdout.contains("not signed"), "{}", r.stdout);
    resign(&dist, &secret);
    verify_release(fx.dir(), &dist, Some(&public)).success();

    // The unpacked layout is checked against the archive SHA256SUMS covers.
    let index = dist.join("fixture-1.2.3.oci/index.json");
    let mut bytes = fs::read(&index).unwrap();
    bytes.push(b'\n');
    fs::write(&index, bytes).unwrap();
    let r = verify_release(fx.dir(), &dist, Some(&public)).failure();
    assert!(
        r.stdout
            .contains("fixture-1.2.3.oci/index.json differs from fixture-1.2.3.oci.tar"),
        "{}",
        r.stdout
    );
    fs::write(dist.join("fixture-1.2.3.oci/blobs/sha256/extra"), b"x").unwrap();
    let r = verify_release(fx.dir(), &dist, Some(&public)).failure();
    assert!(
        r.stdout
            .contains("extra file fixture-1.2.3.oci/blobs/sha256/extra"),
        "{}",
        r.stdout
    );
}

// ---- issue 13: archives read as the extractors read them, release contents, weak keys -------

const STEM13: &str = "fixture-1.2.3-x86_64-unknown-linux-musl";
const BIN13: &str = "fixture-1.2.3-x86_64-unknown-linux-musl/fixture";

/// `cp -a`: a release with its image layout directory.
fn copy_tree(from: &Path, to: &Path) {
    sh(
        Path::new("."),
        &format!("cp -a '{}' '{}'", from.display(), to.display()),
    )
    .success();
}

/// Every member of an archive in the dist, bytes and mode, in archive order of names.
fn members13(path: &Path, format: kiln::archive::ArchiveFormat) -> Vec<(String, Vec<u8>, u32)> {
    kiln::archive::read_archive_keeping(format, fs::File::open(path).unwrap(), true)
        .unwrap()
        .into_iter()
        .map(|(n, m)| (n, m.bytes().unwrap().unwrap(), m.mode))
        .collect()
}

/// A ustar stream of `(name as written, mode, data)` regular files, written by the tar crate
/// (the name is copied into the header byte for byte, `./` and `//` included).
fn raw_tar13(files: &[(String, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, mode, data) in files {
        let mut h = tar::Header::new_ustar();
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz13(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

fn xz13(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

fn zst13(tar: &[u8]) -> Vec<u8> {
    zstd::encode_all(tar, 1).unwrap()
}

/// Replaces the x86_64-musl archive with `bytes` under `<stem>.<ext>`, updates manifest.json,
/// SHA256SUMS and the statement's subjects, and signs with `key`: a release whose every digest
/// and signature holds, so only the archive's contents can refuse it.
#[allow(clippy::many_single_char_names)]
fn put_archive13(d: &Path, key: &Path, ext: &str, bytes: &[u8]) {
    let old = format!("{STEM13}.tar.gz");
    let new = format!("{STEM13}.{ext}");
    fs::remove_file(d.join(&old)).unwrap();
    fs::write(d.join(&new), bytes).unwrap();
    let m = d.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&m).unwrap()).unwrap();
    let a = v["artifacts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["file"] == old.as_str())
        .unwrap();
    a["file"] = new.clone().into();
    a["sha256"] = sha256_hex(bytes).into();
    a["size"] = bytes.len().into();
    fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    for f in ["SHA256SUMS", "provenance.intoto.json"] {
        let t = fs::read_to_string(d.join(f)).unwrap();
        fs::write(d.join(f), t.replace(&old, &new)).unwrap();
    }
    reseal(d, key);
}

/// Edits manifest.json with `edit` and reseals with `key`.
fn edit_manifest13(d: &Path, key: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let m = d.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&m).unwrap()).unwrap();
    edit(&mut v);
    fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    reseal(d, key);
}

/// A public key file holding the identity point, a small-order ed25519 key.
fn weak_public13(path: &Path) {
    use base64::Engine;
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let mut point = [0u8; 32];
    point[0] = 1;
    der.extend_from_slice(&point);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    fs::write(
        path,
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"),
    )
    .unwrap();
}

/// An envelope over `statement` whose one signature is (R = identity, s = 0): it verifies with
/// the identity key under the lax ed25519 equation, for any message.
fn forged_envelope13(statement: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    format!(
        "{}\n",
        serde_json::json!({
            "payloadType": "application/vnd.in-toto+json",
            "payload": b64.encode(statement),
            "signatures": [{"keyid": "", "sig": b64.encode(sig)}],
        })
    )
}

/// The signed four-target release with images the issue 13 tests tamper with.
fn four_target_release(fx: &Fixture, secret: &Path) -> PathBuf {
    fx.build(&[
        "-t",
        "x86_64-musl,aarch64-musl,x86_64-gnu,aarch64-gnu",
        "--image",
        "--sign-key",
    ])
    .arg(secret)
    .success();
    fx.dir().join("dist")
}

// issue 13 (items 3, 4, 6): a signed four-target release with images, tampered in every class
// issue 13 names and in the classes issue 6 already refused, each resealed and re-signed where
// that gets it past the digests: all refused with their own message; the benign variants (text
// mode marker, upper-case hex, an extra good signature, the other archive formats, zero padding
// after the tar's end) verify.
#[test]
#[allow(
    clippy::too_many_lines, // one table of cases
    clippy::many_single_char_names,
    clippy::type_complexity,
    clippy::format_collect
)]
fn issue13_tamper_matrix() {
    use kiln::archive::{ArchiveFormat, Member, archive_bytes};
    let fx = Fixture::new("ok");
    let (secret, public) = keygen(fx.dir(), "k");
    let (other_secret, other_public) = keygen(fx.dir(), "other");
    let dist = four_target_release(&fx, &secret);
    verify_release(fx.dir(), &dist, Some(&public)).success();
    let archive = dist.join(format!("{STEM13}.tar.gz"));
    let members = members13(&archive, ArchiveFormat::TarGz);
    let bin = members.iter().find(|m| m.0 == BIN13).unwrap().1.clone();
    let gnu = members13(
        &dist.join("fixture-1.2.3-x86_64-unknown-linux-gnu.tar.gz"),
        ArchiveFormat::TarGz,
    )
    .into_iter()
    .find(|m| m.0.ends_with("/fixture"))
    .unwrap()
    .1;
    // The kiln tar, and raw tars of the musl archive's files with one change.
    let entries: Vec<Member> = members
        .iter()
        .map(|(n, b, m)| Member::bytes(n.clone(), b.clone(), *m))
        .collect();
    let tar = kiln::archive::ustar_bytes(&entries, 315_532_800).unwrap();
    let files: Vec<(String, u32, Vec<u8>)> = members
        .iter()
        .map(|(n, b, m)| (n.clone(), *m, b.clone()))
        .collect();
    let with = |edit: &dyn Fn(&mut Vec<(String, u32, Vec<u8>)>)| {
        let mut f = files.clone();
        edit(&mut f);
        raw_tar13(&f)
    };
    let set_mode = |mode: u32| {
        with(&move |f: &mut Vec<(String, u32, Vec<u8>)>| {
            f.iter_mut().find(|m| m.0 == BIN13).unwrap().1 = mode;
        })
    };
    let zip = archive_bytes(ArchiveFormat::Zip, &entries, 315_532_800).unwrap();
    // The zip with the binary's central record edited.
    let zip_edit = |edit: &dyn Fn(&mut [u8])| {
        let mut z = zip.clone();
        let u16_at = |z: &[u8], at: usize| usize::from(u16::from_le_bytes([z[at], z[at + 1]]));
        let end = z.len() - 22;
        let mut at = u32::from_le_bytes(z[end + 16..end + 20].try_into().unwrap()) as usize;
        loop {
            let n = u16_at(&z, at + 28);
            if &z[at + 46..at + 46 + n] == BIN13.as_bytes() {
                edit(&mut z[at..at + 46]);
                return z;
            }
            at += 46 + n + u16_at(&z, at + 30) + u16_at(&z, at + 32);
        }
    };
    let (k, s) = (secret.clone(), secret.clone());
    let put = move |ext: &'static str, bytes: Vec<u8>| -> Tamper {
        let key = k.clone();
        Box::new(move |d: &Path| put_archive13(d, &key, ext, &bytes))
    };
    let manifest_edit = move |edit: fn(&mut serde_json::Value)| -> Tamper {
        let key = s.clone();
        Box::new(move |d: &Path| edit_manifest13(d, &key, edit))
    };
    let huge = {
        let mut h = tar::Header::new_ustar();
        h.set_path(format!("{STEM13}/README.md")).unwrap();
        h.set_size(3_500_000_000);
        h.set_mode(0o644);
        h.set_cksum();
        let mut t = h.as_bytes().to_vec();
        t.extend_from_slice(&vec![0u8; 1 << 20]);
        t
    };
    let after_end = [
        tar.clone(),
        raw_tar13(&[(format!("{STEM13}/evil"), 0o755, gnu.clone())]),
    ]
    .concat();

    let cases: Vec<(&str, Tamper, &str)> = vec![
        // Classes issue 6 refused.
        (
            "flip-archive",
            Box::new(|d: &Path| flip_byte(&d.join(format!("{STEM13}.tar.gz")), 100)),
            "the file was changed",
        ),
        (
            "flip-manifest",
            Box::new(|d: &Path| flip_byte(&d.join("manifest.json"), 10)),
            "manifest.json: sha256",
        ),
        (
            "flip-statement",
            Box::new(|d: &Path| flip_byte(&d.join("provenance.intoto.json"), 200)),
            "differs from the statement signed",
        ),
        (
            "extra-file",
            Box::new(|d: &Path| fs::write(d.join("extra.txt"), "x").unwrap()),
            "extra file extra.txt",
        ),
        (
            "missing-file",
            Box::new(|d: &Path| fs::remove_file(d.join(format!("{STEM13}.tar.gz"))).unwrap()),
            "missing file",
        ),
        (
            "symlink",
            Box::new(|d: &Path| std::os::unix::fs::symlink("/etc/passwd", d.join("passwd")).unwrap()),
            "passwd is a symlink",
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
            "stray-in-layout",
            Box::new(|d: &Path| fs::write(d.join("fixture-1.2.3.oci/blobs/sha256/extra"), "x").unwrap()),
            "extra file fixture-1.2.3.oci/blobs/sha256/extra",
        ),
        // Item 3: the whole compressed file.
        (
            "gzip-second-member",
            put("tar.gz", [gz13(&tar), gz13(&tar)].concat()),
            "a second gzip member",
        ),
        (
            "xz-second-stream",
            put("tar.xz", [xz13(&tar), xz13(&tar)].concat()),
            "a second xz stream",
        ),
        (
            "zstd-second-frame",
            put("tar.zst", [zst13(&tar), zst13(&tar)].concat()),
            "a second zstd frame",
        ),
        (
            "gzip-trailing",
            put("tar.gz", [gz13(&tar), b"garbage".to_vec()].concat()),
            "data after the end of the gzip member",
        ),
        (
            "xz-trailing",
            put("tar.xz", [xz13(&tar), b"garbage".to_vec()].concat()),
            "data after the end of the xz stream",
        ),
        (
            "zstd-trailing",
            put("tar.zst", [zst13(&tar), b"garbage".to_vec()].concat()),
            "data after the end of the zstd frame",
        ),
        // Item 3: the whole tar.
        (
            "member-after-end-gz",
            put("tar.gz", gz13(&after_end)),
            "after the tar's end-of-archive blocks",
        ),
        (
            "member-after-end-zst",
            put("tar.zst", zst13(&after_end)),
            "after the tar's end-of-archive blocks",
        ),
        (
            "duplicate-dot-slash",
            put(
                "tar.gz",
                gz13(&with(&|f: &mut Vec<(String, u32, Vec<u8>)>| {
                    f.insert(0, (format!("./{BIN13}"), 0o755, gnu.clone()));
                })),
            ),
            "is given twice",
        ),
        (
            "duplicate-same-name",
            put(
                "tar.xz",
                xz13(&with(&|f: &mut Vec<(String, u32, Vec<u8>)>| {
                    f.push((BIN13.to_owned(), 0o755, gnu.clone()));
                })),
            ),
            "is given twice",
        ),
        (
            "duplicate-double-slash",
            put(
                "tar.zst",
                zst13(&with(&|f: &mut Vec<(String, u32, Vec<u8>)>| {
                    f.insert(0, (BIN13.replace('/', "//"), 0o755, gnu.clone()));
                })),
            ),
            "is given twice",
        ),
        ("setuid", put("tar.gz", gz13(&set_mode(0o4755))), "mode 4755"),
        ("setgid", put("tar.gz", gz13(&set_mode(0o2755))), "mode 2755"),
        (
            "world-writable",
            put("tar.gz", gz13(&set_mode(0o757))),
            "mode 0757",
        ),
        (
            "group-writable",
            put("tar.gz", gz13(&set_mode(0o775))),
            "mode 0775",
        ),
        (
            "elf-as-readme",
            put(
                "tar.gz",
                gz13(&with(&|f: &mut Vec<(String, u32, Vec<u8>)>| {
                    f.push((format!("{STEM13}/README.md"), 0o644, gnu.clone()));
                })),
            ),
            "README.md fails the x86_64-unknown-linux-musl policy",
        ),
        (
            "pax-header",
            put("tar.gz", {
                let mut b = tar::Builder::new(Vec::new());
                let mut h = tar::Header::new_ustar();
                h.set_size(bin.len() as u64);
                h.set_mode(0o755);
                b.append_data(
                    &mut h,
                    format!("{STEM13}/{}/fixture", "x".repeat(150)),
                    bin.as_slice(),
                )
                .unwrap();
                gz13(&b.into_inner().unwrap())
            }),
            "plain ustar",
        ),
        (
            "zip-symlink",
            put(
                "zip",
                zip_edit(&|r: &mut [u8]| r[38..42].copy_from_slice(&(0o120_777u32 << 16).to_le_bytes())),
            ),
            "is a symlink",
        ),
        (
            "zip-no-unix-mode",
            put("zip", zip_edit(&|r: &mut [u8]| r[5] = 0)),
            "has no Unix mode",
        ),
        (
            "zip-trailing",
            put("zip", [zip.clone(), b"x".to_vec()].concat()),
            "no end record in the last 22 bytes",
        ),
        // Item 5: a member declaring 3.5 GB.
        (
            "declared-3.5-gb",
            put("tar.zst", zst13(&huge)),
            "more than the 1073741824 bytes",
        ),
        // Item 4: release contents.
        (
            "empty-release",
            manifest_edit(|v| v["artifacts"] = serde_json::json!([])),
            "lists no artifacts",
        ),
        (
            "duplicate-artifact",
            manifest_edit(|v| {
                let first = v["artifacts"][0].clone();
                v["artifacts"].as_array_mut().unwrap().push(first);
            }),
            "twice",
        ),
        (
            "image-undescribed",
            manifest_edit(|v| {
                v.as_object_mut().unwrap().remove("images");
            }),
            "that manifest.json does not describe",
        ),
        (
            "image-platforms-swapped",
            manifest_edit(|v| {
                let p = v["images"]["platforms"].as_array_mut().unwrap();
                let t0 = p[0]["target"].clone();
                p[0]["target"] = p[1]["target"].clone();
                p[1]["target"] = t0;
            }),
            "is not a binary of manifest.json",
        ),
        (
            "image-archive-digest",
            manifest_edit(|v| v["images"]["archive_sha256"] = "0".repeat(64).into()),
            "differs from manifest.json's images",
        ),
    ];
    // Every case is tried; the ones not refused as they should be are listed at the end.
    let mut tried = 0;
    let mut refused = 0;
    let mut failures: Vec<String> = Vec::new();
    for (name, tamper, message) in &cases {
        let d = fx.dir().join(format!("case-{name}"));
        copy_tree(&dist, &d);
        tamper(&d);
        let r = verify_release(fx.dir(), &d, Some(&public));
        tried += 1;
        if r.code == 1 && r.stdout.contains(message) {
            refused += 1;
        } else {
            failures.push(format!(
                "{name}: exit {}, wanted `{message}` in\n{}{}",
                r.code, r.stdout, r.stderr
            ));
        }
    }
    // A wrong key, and a weak key with a signature forged for it.
    tried += 1;
    let r = verify_release(fx.dir(), &dist, Some(&other_public));
    if r.code == 1 && r.stdout.contains("no signature in the envelope verifies") {
        refused += 1;
    } else {
        failures.push(format!("wrong-key: exit {}\n{}", r.code, r.stdout));
    }
    tried += 1;
    let d = fx.dir().join("case-weak-key");
    copy_tree(&dist, &d);
    let statement = fs::read(d.join("provenance.intoto.json")).unwrap();
    fs::write(d.join("provenance.intoto.jsonl"), forged_envelope13(&statement)).unwrap();
    let weak = fx.dir().join("weak.pub");
    weak_public13(&weak);
    let r = verify_release(fx.dir(), &d, Some(&weak));
    let one_line = r.stderr.lines().count() == 1;
    if r.code == 2 && one_line && r.stderr.contains("weak.pub") && r.stderr.contains("weak (small-order)") {
        refused += 1;
    } else {
        failures.push(format!("weak-key: exit {}\n{}{}", r.code, r.stdout, r.stderr));
    }

    // Benign variants.
    let mut benign: Vec<(&str, Tamper)> = vec![
        (
            "text-mode-marker",
            Box::new(|d: &Path| {
                let t = fs::read_to_string(d.join("SHA256SUMS")).unwrap();
                assert!(t.contains(" *"));
                fs::write(d.join("SHA256SUMS"), t.replace(" *", "  ")).unwrap();
            }),
        ),
        (
            "upper-case-hex",
            Box::new(|d: &Path| {
                let t = fs::read_to_string(d.join("SHA256SUMS")).unwrap();
                let up: String = t
                    .lines()
                    .map(|l| format!("{}{}\n", l[..64].to_uppercase(), &l[64..]))
                    .collect();
                fs::write(d.join("SHA256SUMS"), up).unwrap();
            }),
        ),
        (
            "extra-good-signature",
            Box::new(move |d: &Path| {
                let o = d.with_extension("other");
                copy_tree(d, &o);
                resign(&o, &other_secret);
                let env = |p: &Path| -> serde_json::Value {
                    serde_json::from_slice(&fs::read(p.join("provenance.intoto.jsonl")).unwrap()).unwrap()
                };
                let mut mine = env(d);
                let theirs = env(&o);
                mine["signatures"]
                    .as_array_mut()
                    .unwrap()
                    .insert(0, theirs["signatures"][0].clone());
                fs::write(d.join("provenance.intoto.jsonl"), format!("{mine}\n")).unwrap();
            }),
        ),
        (
            "zero-padding-after-end",
            put("tar.gz", gz13(&[tar.clone(), vec![0u8; 10240]].concat())),
        ),
    ];
    for f in [ArchiveFormat::TarXz, ArchiveFormat::TarZst, ArchiveFormat::Zip] {
        benign.push((
            f.extension(),
            put(f.extension(), archive_bytes(f, &entries, 315_532_800).unwrap()),
        ));
    }
    let mut accepted = 0;
    for (name, change) in &benign {
        let d = fx.dir().join(format!("benign-{name}"));
        copy_tree(&dist, &d);
        change(&d);
        let r = verify_release(fx.dir(), &d, Some(&public));
        if r.code == 0 {
            accepted += 1;
        } else {
            failures.push(format!(
                "benign {name}: exit {}\n{}{}",
                r.code, r.stdout, r.stderr
            ));
        }
    }
    println!(
        "issue13 tamper matrix: {refused}/{tried} refused, {accepted}/{} benign variants accepted",
        benign.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
    assert_eq!((refused, tried), (cases.len() + 2, cases.len() + 2));
    assert_eq!(accepted, benign.len());
}

// issue 13 (item 4): `kiln image --sign-key` verifies the dist first and refuses a tampered one
// or one with stray files, leaving it as it was; a dist that verifies is imaged and signed.
#[test]
#[allow(clippy::format_collect)]
fn issue13_image_sign_key_refuses_a_dist_that_does_not_verify() {
    let fx = Fixture::new("ok");
    let (secret, public) = keygen(fx.dir(), "k");
    fx.build(&["-t", "x86_64-musl", "--sign-key"])
        .arg(&secret)
        .success();
    let dist = fx.dir().join("dist");
    let image = |d: &Path| {
        Test::in_dir(fx.dir())
            .args(["image", "--from"])
            .arg(d)
            .arg("--sign-key")
            .arg(&secret)
            .run()
    };
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "stray",
            Box::new(|d: &Path| fs::write(d.join("stray.sh"), "#!/bin/sh\n").unwrap()),
        ),
        (
            "flipped",
            Box::new(|d: &Path| flip_byte(&d.join(format!("{STEM13}.tar.gz")), 100)),
        ),
        (
            "sums-edited",
            Box::new(|d: &Path| {
                // SHA256SUMS rewritten to match a changed archive; the signature no longer covers it.
                flip_byte(&d.join(format!("{STEM13}.tar.gz")), 100);
                let sums = fs::read_to_string(d.join("SHA256SUMS")).unwrap();
                let fresh: String = sums
                    .lines()
                    .map(|l| {
                        format!(
                            "{} *{}\n",
                            sha256_hex(&fs::read(d.join(&l[66..])).unwrap()),
                            &l[66..]
                        )
                    })
                    .collect();
                fs::write(d.join("SHA256SUMS"), fresh).unwrap();
            }),
        ),
    ];
    for (name, tamper) in &cases {
        let d = fx.dir().join(format!("img-{name}"));
        copy_tree(&dist, &d);
        tamper(&d);
        let before = sh(&d, "find . -type f | sort | xargs sha256sum").success().stdout;
        let r = image(&d);
        assert_eq!(r.code, 2, "{name}: exit {}\n{}{}", r.code, r.stdout, r.stderr);
        // A stray file is refused before the signature is considered: `--from` takes only a
        // dist kiln wrote (issue 13 item 1); every other tampering fails the verification.
        let why = if *name == "stray" {
            "which kiln did not write"
        } else {
            "refusing to sign: the dist does not verify"
        };
        assert!(
            r.stderr.contains(why) && r.stderr.lines().count() == 1,
            "{name}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(&d.display().to_string()),
            "{name}: {}",
            r.stderr
        );
        let after = sh(&d, "find . -type f | sort | xargs sha256sum").success().stdout;
        assert_eq!(before, after, "{name}: the dist was changed");
    }
    image(&dist).success();
    verify_release(fx.dir(), &dist, Some(&public)).success();
}

/// Runs `cmd` under GNU time and returns its exit code, its peak resident set (KiB, `%M`, from
/// the kernel's rusage of the child) and its stdout.
fn peak_rss13(cmd: &Command, scratch: &Path) -> (i32, i64, String) {
    require_tool("/usr/bin/time");
    let report = scratch.join("time.out");
    let mut c = Command::new("/usr/bin/time");
    c.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    let out = c.output().unwrap();
    let kib = fs::read_to_string(&report)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        kib,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// issue 13 (item 5): verify-release stays under 128 MiB resident on the largest dist the tests
// make (four targets with images) and on a 256 MiB decompression bomb of each format (a README.md
// of zeros, within the limits, so it is unpacked to its end before the missing binary is
// reported), and refuses a zstd frame
// declaring a 3.5 GB member at once. Measured as the child's peak RSS (wait4).
#[test]
fn issue13_verify_release_memory_is_bounded() {
    const LIMIT_KIB: i64 = 128 << 10;
    const BOMB: u64 = 256 << 20;
    let fx = Fixture::new("ok");
    let (secret, public) = keygen(fx.dir(), "k");
    let dist = four_target_release(&fx, &secret);
    let measure = |d: &Path| {
        let c = Test::in_dir(fx.dir())
            .arg("verify-release")
            .arg(d)
            .arg("--key")
            .arg(&public)
            .command();
        peak_rss13(&c, fx.dir())
    };
    let (code, rss, out) = measure(&dist);
    assert_eq!(code, 0, "{out}");
    println!("issue13 verify-release peak RSS: four-target dist with images: {rss} KiB");
    assert!(rss < LIMIT_KIB, "four-target dist: {rss} KiB");

    // A ustar stream of one README.md of BOMB zero bytes is its header and zeros.
    let mut h = tar::Header::new_ustar();
    h.set_path(format!("{STEM13}/README.md")).unwrap();
    h.set_size(BOMB);
    h.set_mode(0o644);
    h.set_cksum();
    let header = fx.dir().join("bomb-header");
    fs::write(&header, h.as_bytes()).unwrap();
    let zeros = BOMB + 1024;
    for (ext, tool) in [
        ("tar.gz", "gzip -1"),
        ("tar.xz", "xz -0 -T1"),
        ("tar.zst", "zstd -q -1"),
    ] {
        let file = fx.dir().join(format!("bomb.{ext}"));
        sh(
            fx.dir(),
            &format!(
                "{{ cat '{}'; head -c {zeros} /dev/zero; }} | {tool} > '{}'",
                header.display(),
                file.display()
            ),
        )
        .success();
        let d = fx.dir().join(format!("bomb-{ext}"));
        copy_tree(&dist, &d);
        put_archive13(&d, &secret, ext, &fs::read(&file).unwrap());
        let (code, rss, out) = measure(&d);
        println!(
            "issue13 verify-release peak RSS: {ext} bomb ({} bytes to {BOMB}): {rss} KiB, exit {code}",
            fs::metadata(&file).unwrap().len()
        );
        // Read to its end: only then is the missing binary reported.
        assert_eq!(code, 1, "{ext}: {out}");
        assert!(
            out.contains("fixture is missing from the archive"),
            "{ext}: {out}"
        );
        assert!(rss < LIMIT_KIB, "{ext} bomb: {rss} KiB");
    }
    // zip: one deflated member of BOMB zeros, written by Python's zipfile with a Unix mode.
    let file = fx.dir().join("bomb.zip");
    sh(
        fx.dir(),
        &format!(
            "python3 -c 'import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1], \"w\")\n\
             i = zipfile.ZipInfo(sys.argv[2], (1980, 1, 1, 0, 0, 0))\n\
             i.create_system = 3\n\
             i.external_attr = 0o100644 << 16\n\
             i.compress_type = zipfile.ZIP_DEFLATED\n\
             with z.open(i, \"w\") as w:\n    [w.write(bytes(1 << 20)) for _ in range({})]\n\
             z.close()' '{}' '{STEM13}/README.md'",
            BOMB >> 20,
            file.display()
        ),
    )
    .success();
    let d = fx.dir().join("bomb-zip");
    copy_tree(&dist, &d);
    put_archive13(&d, &secret, "zip", &fs::read(&file).unwrap());
    let (code, rss, out) = measure(&d);
    println!(
        "issue13 verify-release peak RSS: zip bomb ({} bytes to {BOMB}): {rss} KiB, exit {code}",
        fs::metadata(&file).unwrap().len()
    );
    assert_eq!(code, 1, "zip: {out}");
    assert!(out.contains("fixture is missing from the archive"), "zip: {out}");
    assert!(rss < LIMIT_KIB, "zip bomb: {rss} KiB");

    // The issue's case: a zstd frame declaring a 3.5 GB member.
    let mut h = tar::Header::new_ustar();
    h.set_path(format!("{STEM13}/README.md")).unwrap();
    h.set_size(3_500_000_000);
    h.set_mode(0o644);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.resize(t.len() + (64 << 20), 0);
    let d = fx.dir().join("bomb-declared");
    copy_tree(&dist, &d);
    put_archive13(&d, &secret, "tar.zst", &zst13(&t));
    let (code, rss, out) = measure(&d);
    println!("issue13 verify-release peak RSS: zstd frame declaring 3.5 GB: {rss} KiB, exit {code}");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("more than the 1073741824 bytes"), "{out}");
    assert!(rss < LIMIT_KIB, "declared 3.5 GB: {rss} KiB");
}

/// A real crate beside the fixture's flake: normal deps itoa and serde (with the `derive`
/// proc-macro and what only it pulls in: proc-macro2, quote, syn, unicode-ident), libc only on
/// musl, a dev-dependency (memchr), a build-dependency (cc, with shlex and find-msvc-tools),
/// and windows-only dependencies (windows-sys, and cc again as a normal dependency). The crates
/// come from the local cargo cache; `Cargo.lock` is made offline.
fn crate_fixture() -> Fixture {
    require_tool("cargo");
    let fx = Fixture::new("ok");
    let f = fx.dir().join("f");
    fs::write(
        f.join("Cargo.toml"),
        r#"[package]
name = "fixture"
version = "1.2.3"
edition = "2021"
build = "build.rs"

[[bin]]
name = "fixture"
path = "main.rs"

[dependencies]
itoa = "1"
serde = { version = "1", features = ["derive"] }

[dev-dependencies]
memchr = "2"

[build-dependencies]
cc = "1"

[target.'cfg(windows)'.dependencies]
windows-sys = { version = "*", features = ["Win32_Foundation"] }
cc = "1"

[target.'cfg(all(target_os = "linux", target_env = "musl"))'.dependencies]
libc = "0.2"
"#,
    )
    .unwrap();
    fs::write(f.join("main.rs"), "fn main() {}\n").unwrap();
    fs::write(f.join("build.rs"), "fn main() {}\n").unwrap();
    Output::of(
        Command::new("cargo")
            .args(["generate-lockfile", "--offline"])
            .current_dir(&f)
            .env("RUSTUP_AUTO_INSTALL", "0"),
    )
    .success();
    fx
}

/// The component names of a target's SBOM in `dist`, and its `kiln:dependency-graph`.
fn sbom_names(dist: &Path, triple: &str) -> (Vec<String>, String, serde_json::Value) {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(dist.join(format!("fixture-1.2.3-{triple}.cdx.json"))).unwrap())
            .unwrap();
    let names = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let graph = v["metadata"]["properties"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "kiln:dependency-graph"))
        .map(|p| p["value"].as_str().unwrap().to_owned())
        .unwrap_or_default();
    (names, graph, v)
}

const NOT_LINKED: [&str; 10] = [
    "memchr",          // dev-dependency
    "cc",              // build-dependency (and a normal one on windows only)
    "shlex",           // only cc needs it
    "find-msvc-tools", // only cc needs it
    "serde_derive",    // proc-macro
    "proc-macro2",     // only the proc-macro needs it
    "quote",
    "syn",
    "unicode-ident",
    "windows-sys", // cfg(windows)
];

// issue 17 item 12: each target's SBOM lists what that target links: normal dependencies whose
// cfg holds for it; no dev-, build- or proc-macro crates (nor what only they pull in), no
// crates of other platforms.
#[test]
fn issue17_sbom_lists_what_each_target_links() {
    let fx = crate_fixture();
    // The crate's own cargo config and toolchain file name programs; kiln runs none of them.
    let f = fx.dir().join("f");
    let marker = fx.dir().join("wrapper-ran");
    fs::write(
        f.join("wrapper.sh"),
        format!("#!/bin/sh\ntouch '{}'\nexec \"$@\"\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(f.join("wrapper.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir(f.join(".cargo")).unwrap();
    fs::write(
        f.join(".cargo/config.toml"),
        format!("[build]\nrustc-wrapper = '{}'\n", f.join("wrapper.sh").display()),
    )
    .unwrap();
    fs::write(
        f.join("rust-toolchain.toml"),
        "[toolchain]\nchannel = \"0.0.1\"\n",
    )
    .unwrap();
    fx.build(&["--target", "x86_64-gnu,aarch64-musl"]).success();
    assert!(!marker.exists(), "kiln ran the crate's rustc-wrapper");
    let dist = fx.dir().join("dist");
    for (triple, libc) in [
        ("x86_64-unknown-linux-gnu", false),
        ("aarch64-unknown-linux-musl", true),
    ] {
        let (names, graph, v) = sbom_names(&dist, triple);
        for n in ["itoa", "serde", "serde_core"] {
            assert!(
                names.iter().any(|x| x == n),
                "{triple}: {n} missing from {names:?}"
            );
        }
        for n in NOT_LINKED.iter().chain(["windows-link"].iter()) {
            assert!(!names.iter().any(|x| x == n), "{triple}: {n} listed in {names:?}");
        }
        assert_eq!(
            names.iter().any(|x| x == "libc"),
            libc,
            "{triple}: libc in {names:?}"
        );
        assert!(graph.starts_with("cargo-metadata"), "{triple}: {graph}");
        // The graph: the release depends on what it links directly, serde on serde_core only.
        let deps = v["dependencies"].as_array().unwrap();
        let of = |r: &str| {
            deps.iter()
                .find(|d| d["ref"].as_str().unwrap().starts_with(r))
                .map_or_else(
                    || panic!("{triple}: no dependencies entry {r}: {v}"),
                    |d| d["dependsOn"].clone(),
                )
        };
        let root = of("fixture-1.2.3-");
        let root: Vec<&str> = root
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(root.len(), if libc { 3 } else { 2 }, "{triple}: {root:?}");
        assert!(
            root.iter()
                .all(|d| !d.contains("/cc@") && !d.contains("/memchr@")),
            "{root:?}"
        );
        let serde = of("pkg:cargo/serde@");
        assert_eq!(serde.as_array().unwrap().len(), 1, "{triple}: {serde}");
        assert!(
            serde[0].as_str().unwrap().starts_with("pkg:cargo/serde_core@"),
            "{serde}"
        );
    }
    validate(
        &[&dist.join("fixture-1.2.3-x86_64-unknown-linux-gnu.cdx.json")],
        "cyclonedx",
    )
    .success();
}

// issue 17 item 12: without cargo kiln falls back to every package of Cargo.lock, and the SBOM
// says so.
#[test]
fn issue17_sbom_without_cargo_says_it_lists_the_lock_file() {
    let fx = crate_fixture();
    let path: Vec<String> = crate::nixenv::path_env()
        .split(':')
        .filter(|d| !Path::new(d).join("cargo").exists())
        .map(str::to_owned)
        .collect();
    fx.build(&["--target", "x86_64-gnu"])
        .env("PATH", path.join(":"))
        .success();
    let (names, graph, _) = sbom_names(&fx.dir().join("dist"), "x86_64-unknown-linux-gnu");
    assert!(graph.starts_with("Cargo.lock: every package"), "{graph}");
    assert!(graph.contains("cargo not found"), "{graph}");
    for n in NOT_LINKED.iter().chain(["itoa", "serde", "libc"].iter()) {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
}
