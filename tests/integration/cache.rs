//! `kiln cache` against real stores (issue 8): a `file://` binary cache written by
//! `kiln cache push`, and a second local store (a chroot store in a temp dir) that pulls from it
//! trusting one public key. The right key substitutes; a wrong key, a tampered narinfo and a
//! tampered NAR are refused with one line naming the store path. The commands act on the
//! units `kiln build` builds, packages included (issue 13).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Output, Test};
use crate::nixenv::{Fixture, nix_config, path_env, variant};

/// `nix` with the test settings (for key generation only; everything else goes through kiln).
fn nix(dir: &Path) -> Command {
    let mut c = Command::new("nix");
    c.current_dir(dir)
        .env("NIX_CONFIG", nix_config())
        .env("PATH", path_env())
        .args(["--extra-experimental-features", "nix-command"]);
    c
}

/// Writes `<name>.sec` and returns (secret key file, public key).
fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let sec = dir.join(format!("{name}.sec"));
    let out = Output::of(nix(dir).args(["key", "generate-secret", "--key-name", name])).success();
    fs::write(&sec, out.stdout.trim()).unwrap();
    let mut c = nix(dir);
    c.args(["key", "convert-secret-to-public"])
        .stdin(fs::File::open(&sec).unwrap());
    let public = Output::of(c).success().stdout.trim().to_owned();
    assert!(public.starts_with(&format!("{name}:")), "{public}");
    (sec, public)
}

/// kiln using a fresh local store rooted at `root` instead of the test store, as another
/// machine would: with its own narinfo cache (Nix caches narinfo per cache URI in
/// `$XDG_CACHE_HOME/nix`). The store's database is created first by one nix call, as kiln's
/// concurrent first queries would race to create it (`SQLite database … is busy`).
fn kiln_in_store(dir: &Path, root: &Path) -> Test {
    let xdg = root.with_extension("xdg-cache");
    let local = format!("local?root={}", root.display());
    Output::of(
        nix(dir)
            .env("XDG_CACHE_HOME", &xdg)
            .args(["path-info", "--all", "--store", &local]),
    )
    .success();
    let mut c = Test::in_dir(dir).env("XDG_CACHE_HOME", &xdg).env(
        "NIX_CONFIG",
        format!("{}store = {}\n", nix_config(), root.display()),
    );
    if variant() == "modern" {
        // scripts/modern-nix's wrapper sets its own store after NIX_CONFIG; it reads this.
        c = c.env("KILN_MODERN_NIX_STORE", root);
    }
    c
}

struct Setup {
    fx: Fixture,
    cache_dir: PathBuf,
    uri: String,
    public: String,
    out_path: String,
}

/// Builds the musl fixture, pushes it signed with a fresh key to a `file://` cache.
fn pushed(key_name: &str, sign: bool) -> Setup {
    let fx = Fixture::new("ok");
    fx.build(&["-t", "x86_64-musl"]).success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("dist/manifest.json")).unwrap()).unwrap();
    let out_path = manifest["artifacts"][0]["store_path"]
        .as_str()
        .unwrap()
        .to_owned();
    let (sec, public) = keypair(fx.dir(), key_name);
    let cache_dir = fx.dir().join("cache");
    let uri = format!("file://{}?compression=none", cache_dir.display());
    let flake = fx.flake_ref();
    let base = ["--flake", flake.as_str(), "-t", "x86_64-musl"];

    let run = Test::in_dir(fx.dir())
        .args(["cache", "status", "--from", &uri])
        .args(base)
        .failure();
    assert!(
        run.stdout.contains("missing") && run.stdout.contains(&out_path),
        "{}",
        run.stdout
    );

    let mut push = Test::in_dir(fx.dir())
        .args(["cache", "push", "--to", &uri])
        .args(base);
    if sign {
        push = push.arg("--key").arg(&sec);
    }
    let run = push.success();
    assert!(run.stdout.contains("pushed"), "{}", run.stdout);

    let run = Test::in_dir(fx.dir())
        .args(["cache", "status", "--from", &uri, "--json"])
        .args(base)
        .success();
    let j = run.json();
    assert_eq!(j[0]["status"], "present");
    assert_eq!(j[0]["store_path"], out_path.as_str());
    Setup {
        fx,
        cache_dir,
        uri,
        public,
        out_path,
    }
}

impl Setup {
    fn narinfo(&self) -> PathBuf {
        let base = Path::new(&self.out_path).file_name().unwrap().to_string_lossy();
        let hash = base.split('-').next().unwrap();
        self.cache_dir.join(format!("{hash}.narinfo"))
    }

    /// `kiln cache pull` into a fresh store; returns the run and the store root.
    fn pull(&self, store: &str, trust: &str) -> (Output, PathBuf) {
        let root = self.fx.dir().join(store);
        let flake = self.fx.flake_ref();
        let run = kiln_in_store(self.fx.dir(), &root)
            .args(["cache", "pull", "--from", &self.uri, "--trust", trust])
            .args(["--flake", &flake, "-t", "x86_64-musl"])
            .run();
        (run, root)
    }

    #[track_caller]
    fn assert_refused(&self, run: &Output, root: &Path, reason: &str) {
        assert_eq!(run.code, 1, "refused:\n{}\n{}", run.stdout, run.stderr);
        let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("kiln: ")).collect();
        assert_eq!(lines.len(), 1, "one line:\n{}", run.stderr);
        assert!(
            lines[0].contains(&self.out_path) && lines[0].contains(reason),
            "names {} and '{reason}': {}",
            self.out_path,
            lines[0]
        );
        // Not valid in the consumer store (nix may leave an unregistered directory behind).
        let flake = self.fx.flake_ref();
        let local = format!("local?root={}", root.display());
        let st = Test::in_dir(self.fx.dir())
            .args(["cache", "status", "--from", &local, "--flake", &flake])
            .args(["-t", "x86_64-musl"])
            .failure();
        assert!(st.stdout.contains("missing"), "{}", st.stdout);
    }
}

fn nixenv_on_disk(root: &Path, store_path: &str) -> PathBuf {
    root.join(store_path.trim_start_matches('/'))
}

// issue 8: push signs and copies; another store that trusts the key substitutes the output.
#[test]
fn issue8_cache_push_then_pull_into_another_store_with_the_right_key() {
    let s = pushed("kiln-test-good", true);
    let narinfo = fs::read_to_string(s.narinfo()).unwrap();
    assert!(narinfo.contains("Sig: kiln-test-good:"), "{narinfo}");

    let (run, root) = s.pull("consumer", &s.public);
    let run = run.success();
    assert!(run.stdout.contains("pulled"), "{}", run.stdout);
    let bin = nixenv_on_disk(&root, &s.out_path).join("bin/fixture");
    assert!(bin.is_file(), "{} substituted", bin.display());
    let v = Output::of(Command::new(&bin).arg("--version")).success();
    assert!(v.stdout.contains("1.2.3"), "{}", v.stdout);

    // --from-dist: the store paths of dist/manifest.json, no evaluation.
    let dir = s.fx.dir();
    let run = Test::in_dir(dir)
        .args(["cache", "status", "--from", &s.uri, "--from-dist", "dist", "-v"])
        .success();
    assert!(
        run.stdout.contains("present") && run.stdout.contains(&s.out_path),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(" eval "),
        "nothing evaluated:\n{}",
        run.stderr
    );
    let other = format!("file://{}", dir.join("cache2").display());
    Test::in_dir(dir)
        .args(["cache", "status", "--from", &other, "--from-dist", "dist"])
        .failure();
    Test::in_dir(dir)
        .args(["cache", "push", "--to", &other, "--from-dist", "dist"])
        .success();
    Test::in_dir(dir)
        .args(["cache", "status", "--from", &other, "--from-dist", "dist"])
        .success();
    let run = Test::in_dir(dir)
        .args(["cache", "status", "--from", &other, "--from-dist", "nowhere"])
        .status(2);
    assert!(run.stderr.contains("nowhere/manifest.json"), "{}", run.stderr);
    Test::in_dir(dir)
        .args([
            "cache",
            "status",
            "--from",
            &other,
            "--from-dist",
            "dist",
            "-t",
            "aarch64-gnu",
        ])
        .status(2);
}

// issue 8: a wrong key, an unsigned push, a tampered narinfo and a tampered NAR are refused.
#[test]
fn issue8_cache_pull_refuses_wrong_keys_and_tampering() {
    let s = pushed("kiln-test-tamper", true);
    let (_, other) = keypair(s.fx.dir(), "someone-else");
    let (run, root) = s.pull("wrong-key", &other);
    s.assert_refused(&run, &root, "not signed by a trusted key");

    // Tampered narinfo: one byte of every signature changed. (The fixture's output is the same
    // store path in every run, so it carries the signatures of earlier runs too.)
    let info_path = s.narinfo();
    let original = fs::read_to_string(&info_path).unwrap();
    assert!(original.contains("Sig: kiln-test-tamper:"), "{original}");
    let tampered: String = original
        .lines()
        .map(|l| match l.strip_prefix("Sig: ") {
            Some(sig) => {
                let (name, b64) = sig.split_once(':').unwrap();
                let mut b = b64.as_bytes().to_vec();
                b[4] = if b[4] == b'A' { b'B' } else { b'A' };
                format!("Sig: {name}:{}\n", String::from_utf8(b).unwrap())
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert_ne!(tampered, original);
    fs::write(&info_path, &tampered).unwrap();
    let (run, root) = s.pull("tampered-sig", &s.public);
    s.assert_refused(&run, &root, "not signed by a trusted key");
    fs::write(&info_path, &original).unwrap();

    // Tampered NAR: one byte of the file contents flipped (compression=none keeps it plain).
    let nar = fs::read_dir(s.cache_dir.join("nar"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "nar"))
        .expect("a .nar in the cache");
    let mut data = fs::read(&nar).unwrap();
    let at = data.len() / 2;
    data[at] ^= 0x01;
    fs::write(&nar, &data).unwrap();
    let (run, root) = s.pull("tampered-nar", &s.public);
    s.assert_refused(&run, &root, "NAR hash mismatch");
}

// issue 8: pushing without --key leaves the path unsigned, so a key-checking consumer refuses it.
#[test]
fn issue8_cache_unsigned_push_is_refused_by_a_consumer() {
    let s = pushed("kiln-test-unsigned", false);
    let narinfo = fs::read_to_string(s.narinfo()).unwrap();
    assert!(!narinfo.contains("kiln-test-unsigned:"), "{narinfo}");
    let (run, root) = s.pull("unsigned", &s.public);
    s.assert_refused(&run, &root, "not signed by a trusted key");
}

// issue 8: `kiln build --cache URI --cache-key KEY` in an empty store substitutes the output
// (that store has neither zig nor busybox, so a local build could not succeed).
#[test]
fn issue8_build_substitutes_from_the_cache_into_an_empty_store() {
    let s = pushed("kiln-test-build", true);
    let root = s.fx.dir().join("fresh");
    let flake = s.fx.flake_ref();
    let run = kiln_in_store(s.fx.dir(), &root)
        .args([
            "build",
            "--flake",
            &flake,
            "-t",
            "x86_64-musl",
            "--out",
            "dist2",
            "--cache",
            &s.uri,
            "--cache-key",
            &s.public,
            "-v",
        ])
        .run()
        .success();
    assert!(
        run.stderr.contains("copying path") && run.stderr.contains("from 'file://"),
        "substituted from the cache:\n{}",
        run.stderr
    );
    assert!(s.fx.dir().join("dist2/SHA256SUMS").is_file());
    assert!(nixenv_on_disk(&root, &s.out_path).join("bin/fixture").is_file());

    // Without the key the same build cannot substitute and fails.
    let root = s.fx.dir().join("fresh-untrusted");
    let run = kiln_in_store(s.fx.dir(), &root)
        .args([
            "build",
            "--flake",
            &flake,
            "-t",
            "x86_64-musl",
            "--out",
            "dist3",
            "--cache",
            &s.uri,
        ])
        .run();
    assert_ne!(run.code, 0, "{}", run.stderr);
}

// issue 13 item 14: the cache commands act on the units `kiln build` builds: with
// `[package.metadata.kiln] packages` (or `--package`) of a multi-program flake, the store
// paths of packages.<system>.<package>-<attr>, not of the targets' own attributes.
#[test]
fn issue13_cache_uses_the_packages_build_uses() {
    let fx = Fixture::new("many");
    fs::write(
        fx.dir().join("f/Cargo.toml"),
        "[package]\nname = \"many\"\nversion = \"1.2.3\"\n\n[package.metadata.kiln]\n\
         targets = [\"x86_64-musl\"]\npackages = [\"extra\"]\n",
    )
    .unwrap();
    fx.build(&[]).success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.dir().join("dist/manifest.json")).unwrap()).unwrap();
    let arts = manifest["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 1, "{manifest}");
    assert_eq!(arts[0]["attr"], "extra-x86_64-musl");
    let built = arts[0]["store_path"].as_str().unwrap().to_owned();
    let uri = format!("file://{}?compression=none", fx.dir().join("cache").display());
    let flake = fx.flake_ref();
    let cache = |args: &[&str]| {
        Test::in_dir(fx.dir())
            .arg("cache")
            .args(args)
            .args(["--flake", &flake])
    };

    // The project's packages, as kiln build used them.
    let r = cache(&["status", "--from", &uri, "--json"]).run().failure();
    let j = r.json();
    assert_eq!(j.as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j[0]["store_path"], built.as_str(), "{j}");
    assert_eq!(j[0]["attr"], "extra-x86_64-musl", "{j}");
    assert_eq!(j[0]["package"], "extra", "{j}");
    cache(&["push", "--to", &uri]).run().success();
    let r = cache(&["status", "--from", &uri, "--json"]).run().success();
    assert_eq!(r.json()[0]["status"], "present");

    // --package overrides them, for every target, as for kiln build.
    let r = cache(&["status", "--from", &uri, "--json", "--package", "fixture,extra"])
        .run()
        .failure();
    let j = r.json();
    let attrs: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attr"].as_str().unwrap())
        .collect();
    assert_eq!(attrs, ["fixture-x86_64-musl", "extra-x86_64-musl"], "{j}");
    assert_eq!(j[1]["status"], "present", "{j}");
    assert_eq!(j[0]["status"], "missing", "{j}");

    // From the dist, --package picks among its artifacts.
    let dist_args = ["status", "--from", &uri, "--from-dist", "dist", "--json"];
    let r = Test::in_dir(fx.dir())
        .arg("cache")
        .args(dist_args)
        .args(["--package", "extra"])
        .success();
    assert_eq!(r.json()[0]["store_path"], built.as_str());
    let r = Test::in_dir(fx.dir())
        .arg("cache")
        .args(dist_args)
        .args(["--package", "fixture"])
        .status(2);
    assert!(r.stderr.contains("no artifacts"), "{}", r.stderr);
}

// issue 18 item 1: `kiln cache` takes `--package` as `kiln build` does, with `--from-dist` too
// (which read it unchecked: a name build refuses was reported as "no artifacts").
#[test]
fn issue18_cache_from_dist_checks_package_names_as_build_does() {
    let fx = Fixture::new("many");
    let built = Test::in_dir(fx.dir())
        .args(["build", "--flake", &fx.flake_ref(), "--package", "a/b"])
        .status(2);
    let refusal = "--package: package 'a/b' is not a name of letters, digits, '_', '-' and '+'";
    assert!(built.stderr.contains(refusal), "{}", built.stderr);
    for from_dist in [false, true] {
        let flake = fx.flake_ref();
        let source: [&str; 2] = if from_dist {
            ["--from-dist", "dist"]
        } else {
            ["--flake", &flake]
        };
        let r = Test::in_dir(fx.dir())
            .args([
                "cache",
                "status",
                "--from",
                "file:///nonexistent",
                "--package",
                "a/b",
            ])
            .args(source)
            .status(2);
        assert!(r.stderr.contains(refusal), "from_dist {from_dist}: {}", r.stderr);
        assert!(!r.stderr.contains("no artifacts"), "{}", r.stderr);
    }
}
