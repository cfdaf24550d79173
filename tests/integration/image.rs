//! `kiln image` and `kiln build --image` (issue 7): OCI images of the `ok` fixture's static
//! binaries, checked with real tools — an independent layout checker (`tests/oci/check_layout.py`),
//! skopeo, umoci, qemu-user and Debian's `docker-registry` on a loopback port. A missing tool
//! fails the test with a pointer to `scripts/setup`.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Output, Test, repo, require_tool};
use crate::nixenv::Fixture;

const LAYOUT: &str = "dist/fixture-1.2.3.oci";
const OCI_TAR: &str = "dist/fixture-1.2.3.oci.tar";

fn tools(list: &[&str]) {
    for t in list {
        require_tool(t);
    }
}

fn check_layout(dir: &Path, layout: &str, archs: &str) -> Output {
    Output::of(
        Command::new("python3")
            .arg(repo().join("tests/oci/check_layout.py"))
            .arg(dir.join(layout))
            .arg(archs),
    )
}

fn skopeo(dir: &Path, args: &[&str]) -> Output {
    Output::of(Command::new("skopeo").args(args).current_dir(dir)).success()
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = fs::read_to_string(dir.join("dist/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `umoci unpack --rootless` of `layout:tag` into `bundle-<tag>`; returns the rootfs.
fn unpack(dir: &Path, layout: &str, tag: &str) -> PathBuf {
    let bundle = format!("bundle-{tag}");
    Output::of(
        Command::new("umoci")
            .args([
                "unpack",
                "--rootless",
                "--image",
                &format!("{layout}:{tag}"),
                &bundle,
            ])
            .current_dir(dir),
    )
    .success();
    dir.join(bundle).join("rootfs")
}

/// Runs `/usr/local/bin/fixture --version` of an unpacked rootfs: natively or under
/// qemu-aarch64; with `in_root`, under qemu with the rootfs as prefix (its loader and libc).
fn run_in(rootfs: &Path, arch: &str, in_root: bool) -> Output {
    let bin = rootfs.join("usr/local/bin/fixture");
    let qemu = if arch == "arm64" {
        "qemu-aarch64-static"
    } else {
        "qemu-x86_64-static"
    };
    let mut cmd = if in_root {
        let mut c = Command::new(qemu);
        c.arg("-L").arg(rootfs).arg(&bin);
        c
    } else if arch == "arm64" {
        let mut c = Command::new(qemu);
        c.arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    Output::of(cmd.arg("--version")).success()
}

/// Builds the fixture with `--image` (and the host's CA bundle when present).
fn built_with_image(extra: &[&str]) -> Fixture {
    let fx = Fixture::new("ok");
    let mut args = vec!["--image"];
    args.extend_from_slice(extra);
    fx.build(&args).success();
    fx
}

/// The oci.tar, unpacked by tar, is the same valid layout.
fn untar_and_check(dir: &Path) {
    fs::create_dir(dir.join("untarred")).unwrap();
    Output::of(
        Command::new("tar")
            .args(["-xf", OCI_TAR, "-C", "untarred"])
            .current_dir(dir),
    )
    .success();
    let check = check_layout(dir, "untarred", "amd64,arm64");
    assert_eq!(check.code, 0, "oci.tar:\n{}", check.stdout);
    assert_eq!(
        fs::read(dir.join("untarred/index.json")).unwrap(),
        fs::read(dir.join(LAYOUT).join("index.json")).unwrap()
    );
}

/// To docker-archive and back: the same layer content (diff_ids) comes back.
fn docker_archive_round_trip(dir: &Path, cfg: &serde_json::Value) {
    skopeo(
        dir,
        &[
            "copy",
            &format!("oci:{LAYOUT}:1.2.3-amd64"),
            "docker-archive:docker.tar:fixture:1.2.3",
        ],
    );
    skopeo(dir, &["copy", "docker-archive:docker.tar", "oci:back:1.2.3"]);
    let back = skopeo(dir, &["inspect", "--config", "oci:back:1.2.3"]).json();
    assert_eq!(back["rootfs"]["diff_ids"], cfg["rootfs"]["diff_ids"]);
    assert_eq!(back["config"]["User"], "65532:65532");
}

/// Reproducible: a second `kiln image` on the same dist and a second `kiln build --image` give
/// identical bytes; other contents give other digests.
fn reproducible(fx: &Fixture, m: &serde_json::Value) {
    let dir = fx.dir();
    let tar1 = fs::read(dir.join(OCI_TAR)).unwrap();
    Test::in_dir(dir)
        .args([
            "image",
            "--from",
            "dist",
            "--ca-certs",
            "/etc/ssl/certs/ca-certificates.crt",
        ])
        .success();
    assert_eq!(
        fs::read(dir.join(OCI_TAR)).unwrap(),
        tar1,
        "oci.tar differs between runs"
    );
    assert_eq!(manifest(dir)["images"], m["images"]);
    // A whole second build with --image into another directory: the same digests and bytes.
    fx.build(&[
        "--image",
        "--out",
        "dist2",
        "--ca-certs",
        "/etc/ssl/certs/ca-certificates.crt",
    ])
    .success();
    let m2: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("dist2/manifest.json")).unwrap()).unwrap();
    assert_eq!(m2["images"], m["images"]);
    assert_eq!(fs::read(dir.join("dist2/fixture-1.2.3.oci.tar")).unwrap(), tar1);
    // …and without the CA bundle the layer (and so every digest above it) changes.
    Test::in_dir(dir).args(["image", "--from", "dist"]).success();
    assert_ne!(manifest(dir)["images"]["index"], m["images"]["index"]);
}

// issue 7: the layout is valid OCI, reproducible, readable by skopeo and umoci, and runs.
#[test]
fn issue7_build_image_layout_is_valid_and_runs_on_both_arches() {
    tools(&[
        "python3",
        "skopeo",
        "umoci",
        "qemu-aarch64-static",
        "sha256sum",
        "tar",
    ]);
    let ca = Path::new("/etc/ssl/certs/ca-certificates.crt");
    assert!(
        ca.is_file(),
        "{} missing: run scripts/setup (ca-certificates)",
        ca.display()
    );
    let fx = built_with_image(&["--ca-certs", "/etc/ssl/certs/ca-certificates.crt"]);
    let dir = fx.dir();

    // The independent checker: media types, digests, sizes, config, layers.
    let check = check_layout(dir, LAYOUT, "amd64,arm64");
    assert_eq!(
        check.code, 0,
        "layout check failed:\n{}{}",
        check.stdout, check.stderr
    );

    // SHA256SUMS covers the oci.tar; manifest.json has the images section.
    let sums = fs::read_to_string(dir.join("dist/SHA256SUMS")).unwrap();
    assert!(sums.contains(" *fixture-1.2.3.oci.tar\n"), "{sums}");
    Output::of(
        Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(dir.join("dist")),
    )
    .success();
    let m = manifest(dir);
    let images = &m["images"];
    assert_eq!(images["layout"], "fixture-1.2.3.oci");
    assert_eq!(images["tag"], "1.2.3");
    let index = images["index"].as_str().unwrap().to_owned();
    let plats: Vec<&str> = images["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(plats, ["linux/amd64", "linux/arm64"]);

    // skopeo reads the layout and the oci-archive; the digest is the index's.
    let raw = skopeo(dir, &["inspect", "--raw", &format!("oci:{LAYOUT}:1.2.3")]);
    assert_eq!(
        format!("sha256:{}", kiln::checksum::sha256_bytes(raw.stdout.as_bytes())),
        index
    );
    let info = skopeo(dir, &["inspect", &format!("oci:{LAYOUT}:1.2.3-arm64")]).json();
    assert_eq!(info["Architecture"], "arm64");
    assert_eq!(info["Labels"]["org.opencontainers.image.version"], "1.2.3");
    let created = info["Labels"]["org.opencontainers.image.created"]
        .as_str()
        .unwrap();
    let epoch = m["source_date_epoch"].as_u64().unwrap();
    assert_eq!(created, kiln::oci::layout::rfc3339(epoch));
    let archived = skopeo(
        dir,
        &["inspect", "--raw", &format!("oci-archive:{OCI_TAR}:1.2.3")],
    );
    assert_eq!(archived.stdout, raw.stdout);
    untar_and_check(dir);
    let cfg = skopeo(
        dir,
        &["inspect", "--config", &format!("oci:{LAYOUT}:1.2.3-amd64")],
    )
    .json();
    assert_eq!(cfg["config"]["User"], "65532:65532");
    assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/local/bin/fixture");

    docker_archive_round_trip(dir, &cfg);

    // umoci unpacks each platform; the binary runs (arm64 under qemu-user).
    for (arch, triple) in [
        ("amd64", "x86_64-unknown-linux-musl"),
        ("arm64", "aarch64-unknown-linux-musl"),
    ] {
        let rootfs = unpack(dir, LAYOUT, &format!("1.2.3-{arch}"));
        let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
        assert!(passwd.contains(":65532:65532:"), "{passwd}");
        assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
        let out = run_in(&rootfs, arch, false);
        assert!(out.stdout.contains(triple), "{arch}: {}", out.stdout);
    }

    reproducible(&fx, &m);
}

// issue 7: the checker itself fails on a broken layout (the test can fail).
#[test]
fn issue7_checker_rejects_a_tampered_blob() {
    tools(&["python3"]);
    let fx = built_with_image(&[]);
    let dir = fx.dir();
    let check = check_layout(dir, LAYOUT, "amd64,arm64");
    assert_eq!(check.code, 0, "{}", check.stdout);
    let m = manifest(dir);
    let layer = m["images"]["platforms"][0]["layers"][0].as_str().unwrap();
    let path = dir.join(LAYOUT).join("blobs/sha256").join(&layer[7..]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[600] ^= 1;
    fs::write(&path, bytes).unwrap();
    let check = check_layout(dir, LAYOUT, "amd64,arm64");
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check.stdout.contains("does not match its digest"),
        "{}",
        check.stdout
    );
}

/// Debian's docker-registry on a free loopback port, killed on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        require_tool("docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("kiln-registry-")
            .tempdir()
            .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let reg = Registry {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        reg
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// issue 7: push to a registry on 127.0.0.1, pull back by digest, digests unchanged.
#[test]
fn issue7_push_to_loopback_registry_and_pull_back_by_digest() {
    tools(&["skopeo", "python3"]);
    let fx = Fixture::new("ok");
    fx.build(&[]).success();
    let dir = fx.dir();
    let reg = Registry::start();
    let host = format!("127.0.0.1:{}", reg.port);
    let run = Test::in_dir(dir)
        .args(["image", "--json", "--push", &format!("{host}/kiln/fixture:v1")])
        .success();
    let out = run.json();
    let index = out["index"].as_str().unwrap().to_owned();
    assert_eq!(out["pushed"]["digest"], index.as_str());

    let by_digest = format!("docker://{host}/kiln/fixture@{index}");
    let raw = skopeo(dir, &["inspect", "--tls-verify=false", "--raw", &by_digest]);
    assert_eq!(
        format!("sha256:{}", kiln::checksum::sha256_bytes(raw.stdout.as_bytes())),
        index
    );
    let by_tag = skopeo(
        dir,
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{host}/kiln/fixture:v1"),
        ],
    );
    assert_eq!(by_tag.stdout, raw.stdout);
    skopeo(
        dir,
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--tls-verify=false",
            &by_digest,
            "oci:pulled:v1",
        ],
    );
    let mut ours: Vec<PathBuf> = fs::read_dir(dir.join(LAYOUT).join("blobs/sha256"))
        .unwrap()
        .map(|e| PathBuf::from(e.unwrap().file_name()))
        .collect();
    let mut theirs: Vec<PathBuf> = fs::read_dir(dir.join("pulled/blobs/sha256"))
        .unwrap()
        .map(|e| PathBuf::from(e.unwrap().file_name()))
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "pulled blobs differ from the pushed layout");
    let check = check_layout(dir, "pulled", "amd64,arm64");
    assert_eq!(check.code, 0, "{}", check.stdout);

    // A second push uploads nothing new.
    let again = Test::in_dir(dir)
        .args(["image", "--push", &format!("{host}/kiln/fixture:v1")])
        .success();
    assert!(again.stdout.contains("(0 blob(s) uploaded)"), "{}", again.stdout);
    drop(reg);
}

// issue 7: gnu targets and non-loopback pushes are refused with one line, exit 2.
#[test]
fn issue7_refuses_gnu_targets_and_remote_push() {
    let fx = Fixture::new("ok");
    fx.build(&[]).success();
    let dir = fx.dir();
    let run = Test::in_dir(dir)
        .args(["image", "--target", "x86_64-gnu"])
        .status(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("x86_64-unknown-linux-gnu"), "{}", run.stderr);
    assert!(run.stderr.contains("scratch image"), "{}", run.stderr);
    assert!(!dir.join(LAYOUT).exists());
    let run = Test::in_dir(dir)
        .args(["image", "--push", "192.0.2.1:5000/app:1"])
        .status(2);
    assert!(run.stderr.contains("loopback"), "{}", run.stderr);
    assert!(
        !dir.join(LAYOUT).exists(),
        "nothing is written when the push is refused"
    );
    // A dist with only gnu targets has nothing to image.
    let fx = Fixture::new("ok");
    fx.build(&["--target", "x86_64-gnu", "--image"]).status(2);
}

// issue 7: gnu targets go on a base image (`--base`, an OCI layout) that brings the loader and
// libc; the base's layers, labels and Env are kept, its Cmd dropped; the binaries run.
#[test]
fn issue7_gnu_targets_on_a_base_layout_run() {
    tools(&[
        "python3",
        "skopeo",
        "umoci",
        "qemu-aarch64-static",
        "qemu-x86_64-static",
    ]);
    let fx = Fixture::new("ok");
    fx.build(&[]).success();
    let dir = fx.dir();
    Output::of(
        Command::new("python3")
            .arg(repo().join("tests/oci/make_base.py"))
            .arg(dir.join("base")),
    )
    .success();
    Test::in_dir(dir)
        .args(["image", "--target", "x86_64-gnu,aarch64-gnu", "--base", "base"])
        .success();
    // issue 13: the image is cross-checked against manifest.json, the base's layers by digest
    // and kiln's layer against the gnu binaries.
    let r = Test::in_dir(dir).args(["verify-release", "dist"]).success();
    assert!(r.stdout.contains("ok "), "{}", r.stdout);
    let check = Output::of(
        Command::new("python3")
            .arg(repo().join("tests/oci/check_layout.py"))
            .arg(dir.join(LAYOUT))
            .args(["amd64,arm64", "on-base"]),
    );
    assert_eq!(check.code, 0, "{}", check.stdout);
    let cfg = skopeo(
        dir,
        &["inspect", "--config", &format!("oci:{LAYOUT}:1.2.3-amd64")],
    )
    .json();
    assert_eq!(cfg["config"]["Labels"]["base.label"], "kept");
    assert_eq!(cfg["config"]["Env"][0], "PATH=/usr/local/bin:/usr/bin:/bin");
    assert!(cfg["config"].get("Cmd").is_none(), "{cfg}");
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(cfg["config"]["User"], "65532:65532");
    for (arch, triple) in [
        ("amd64", "x86_64-unknown-linux-gnu"),
        ("arm64", "aarch64-unknown-linux-gnu"),
    ] {
        let rootfs = unpack(dir, LAYOUT, &format!("1.2.3-{arch}"));
        let out = run_in(&rootfs, arch, true);
        assert!(out.stdout.contains(triple), "{arch}: {}", out.stdout);
    }
    // Both the musl and the gnu target of one architecture: one image per platform only.
    let run = Test::in_dir(dir)
        .args(["image", "--target", "x86_64-gnu,x86_64-musl", "--base", "base"])
        .status(2);
    assert!(run.stderr.contains("one image per platform"), "{}", run.stderr);
}
