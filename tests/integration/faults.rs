//! Faults during `kiln build` (issue 9): signals while nix builds, a full disk while exporting,
//! two runs into one `--out`, a store path that disappears before export, and hostile input
//! (symlinked binaries, flake references with shell syntax), a signal at the very start and
//! an unwritable stderr or stdout (issue 13). Each failure leaves the old `dist/` as it was and
//! nothing behind, with its exit code (never a panic).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Output, Test, listing, require_tool, staging_dirs};
use crate::nixenv::Fixture;

/// A tag unique to this run, so derivations named with it are really built.
fn tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos}-{}", std::process::id())
}

/// An inline flake whose `x86_64-musl` package is a busybox shell derivation running `script`.
fn shell_flake(name: &str, script: &str) -> String {
    format!(
        r#"{{ outputs = {{ self }}: let
  bb = (import ./nix/hermetic-tools.nix {{ }}).busybox;
in {{ packages.x86_64-linux.x86_64-musl = derivation {{
  name = "{name}"; system = "x86_64-linux"; builder = "${{bb}}/busybox";
  args = [ "sh" "-c" "{script}" ];
}}; }}; }}
"#
    )
}

/// A flake whose `x86_64-musl` package ships the release-style musl fixture as `bin/hello`,
/// under a name unique to this run.
fn hello_flake(tag: &str) -> Fixture {
    let flake = shell_flake(
        &format!("hello-{tag}"),
        "${bb}/busybox mkdir -p $out/bin; ${bb}/busybox cp ${./hello} $out/bin/hello",
    );
    let fx = Fixture::inline(&flake, &[]);
    fs::copy(
        crate::elf::fixtures_dir().join("x86_64-musl-static-pie"),
        fx.dir().join("f/hello"),
    )
    .unwrap();
    fx
}

/// Every file of `dir` with its bytes.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    listing(dir)
        .into_iter()
        .map(|f| (f.clone(), fs::read(dir.join(&f)).unwrap()))
        .collect()
}

/// An old `dist/` to be kept: a minimal one as kiln writes it (its marker, and SHA256SUMS
/// listing every file), so kiln would replace it were it not interrupted.
fn old_dist(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let dist = dir.join("dist");
    fs::create_dir_all(&dist).unwrap();
    fs::write(dist.join(".kiln-dist"), "kiln-dist v1\n").unwrap();
    fs::write(dist.join("manifest.json"), "{\"old\": \"release\"}\n").unwrap();
    fs::write(
        dist.join("SHA256SUMS"),
        "0000000000000000000000000000000000000000000000000000000000000000 *manifest.json\n",
    )
    .unwrap();
    contents(&dist)
}

/// The old `dist/` of `dir` is still `before`, and no staging directory is left beside it.
fn assert_dist_kept(dir: &Path, before: &[(String, Vec<u8>)]) {
    assert_eq!(contents(&dir.join("dist")), before, "old dist/ changed");
    assert!(
        staging_dirs(dir).is_empty(),
        "left behind: {:?}",
        staging_dirs(dir)
    );
}

/// The pids (other than this process) whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Waits for `child` at most `limit`; kills it and fails if it does not end.
fn wait_for(mut child: Child, limit: Duration) -> (i32, String, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            return (status.code().unwrap_or(-1), stderr, start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kiln did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal_during_nix_build(signal: &str, code: i32) {
    let tag = tag();
    let flake = shell_flake(
        &format!("slow-{tag}"),
        &format!("${{bb}}/busybox sleep 300; ${{bb}}/busybox mkdir $out; : {tag}"),
    );
    let fx = Fixture::inline(&flake, &[]);
    let before = old_dist(fx.dir());
    // First the derivations kiln evaluated are being built; then, the flake having been
    // evaluated before, its attributes themselves (with kiln's queries beside the build).
    for round in ["evaluated derivations", "flake attributes"] {
        eprintln!("round: {round}");
        interrupt_build(&fx, &tag, signal, code, &before);
    }
}

fn interrupt_build(fx: &Fixture, tag: &str, signal: &str, code: i32, before: &[(String, Vec<u8>)]) {
    let child = spawn_until_sleeping(fx, tag);
    // `nix build` of the derivation (named after the tag) or of the flake's attribute.
    let nix_builds: Vec<_> = processes_with("build --json --no-link")
        .into_iter()
        .filter(|(_, c)| c.contains(&format!("slow-{tag}")) || c.contains(&fx.flake_ref()))
        .collect();
    assert!(!nix_builds.is_empty(), "no `nix build` of slow-{tag} seen");
    std::thread::sleep(Duration::from_millis(300));
    signal_and_check(fx, child, tag, signal, code, Duration::from_secs(8), before);
}

/// Starts `kiln build` of the x86_64-musl package and waits until a builder whose command line
/// holds `tag` sleeps (so nix really runs it).
fn spawn_until_sleeping(fx: &Fixture, tag: &str) -> Child {
    let child = fx
        .build(&["--target", "x86_64-musl"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !processes_with("sleep 300; ").iter().any(|(_, c)| c.contains(tag)) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the builder never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Sends `signal` to kiln and checks it ends with `code` within `limit`, leaves no process
/// with `tag` running, `dist/` as `before` and no staging directory.
fn signal_and_check(
    fx: &Fixture,
    child: Child,
    tag: &str,
    signal: &str,
    code: i32,
    limit: Duration,
    before: &[(String, Vec<u8>)],
) {
    Output::of(Command::new("kill").args([signal, &child.id().to_string()])).success();
    let (got, stderr, took) = wait_for(child, Duration::from_secs(20));
    assert_eq!(got, code, "{stderr}");
    assert!(took < limit, "kiln took {took:?} to stop");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // nix and its builder are gone (allow the builder's sandbox a moment to be torn down).
    let start = Instant::now();
    loop {
        let left = processes_with(tag);
        if left.is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "left running: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_dist_kept(fx.dir(), before);
}

// issue 9: a signal while nix evaluates (here blocked on an import-from-derivation whose
// builder sleeps) ends the evaluation too, promptly, and keeps dist/.
#[test]
fn issue9_sigterm_during_evaluation() {
    let tag = tag();
    let flake = format!(
        r#"{{ outputs = {{ self }}: let
  bb = (import ./nix/hermetic-tools.nix {{ }}).busybox;
  slow = derivation {{
    name = "slow-eval-{tag}"; system = "x86_64-linux"; builder = "${{bb}}/busybox";
    args = [ "sh" "-c" "${{bb}}/busybox sleep 300; : {tag}; ${{bb}}/busybox mkdir $out; echo {{}} > $out/p.nix" ];
  }};
in {{ packages.x86_64-linux.x86_64-musl = import "${{slow}}/p.nix"; }}; }}
"#
    );
    let fx = Fixture::inline(&flake, &[]);
    let before = old_dist(fx.dir());
    let child = spawn_until_sleeping(&fx, &tag);
    signal_and_check(&fx, child, &tag, "-TERM", 143, Duration::from_secs(5), &before);
}

// issue 9: SIGINT while nix builds ends kiln with 130, ends nix and its builder, keeps dist/.
#[test]
fn issue9_sigint_during_nix_build() {
    signal_during_nix_build("-INT", 130);
}

// issue 9: the same for SIGTERM, with 143.
#[test]
fn issue9_sigterm_during_nix_build() {
    signal_during_nix_build("-TERM", 143);
}

/// A tmpfs mounted for one test, unmounted (lazily if busy) when dropped, even on panic.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        require_tool("mount");
        fs::create_dir_all(dir).unwrap();
        Output::of(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir),
        )
        .success();
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    /// Bytes free, as df reports them.
    fn available(&self) -> u64 {
        let r = Output::of(Command::new("df").args(["-B1", "--output=avail"]).arg(&self.dir)).success();
        r.stdout.lines().nth(1).unwrap().trim().parse().unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

// issue 9: a disk that fills up during export: exit 2, one line naming the file and ENOSPC, the
// old dist/ as it was, no staging dir.
#[test]
fn issue9_full_disk_during_export() {
    require_tool("df");
    let fx = Fixture::new("ok");
    let mnt = fx.dir().join("mnt");
    let tmpfs = Tmpfs::mount(&mnt, "4m");
    let out = mnt.join("dist");
    let out_arg = out.to_str().unwrap().to_owned();
    fx.build(&["--target", "x86_64-musl", "--out", &out_arg])
        .success();
    // The old dist is a one-target release; the new run would write four.
    let before = contents(&out);
    // Leave 16 KiB: room for the lock file and a start, not for four archives.
    let filler = mnt.join("filler");
    let free = tmpfs.available();
    fs::write(&filler, vec![0u8; usize::try_from(free - 16 * 1024).unwrap()]).unwrap();
    let r = fx.build(&["--out", &out_arg]).status(2);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("kiln: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{}", r.stderr));
    assert!(line.contains("No space left on device"), "{}", r.stderr);
    assert_eq!(line.matches("No space left").count(), 1, "said twice: {line}");
    assert!(
        [
            ".tar.gz",
            "manifest.json",
            "SHA256SUMS",
            "provenance",
            "kiln-staging"
        ]
        .iter()
        .any(|f| line.contains(f)),
        "the error names no file: {line}"
    );
    assert_eq!(contents(&out), before, "old dist/ changed");
    assert_eq!(listing(&mnt), ["dist", "filler"], "left behind");
    drop(tmpfs);
}

/// Runs nix with the test settings; it must succeed.
fn nix(args: &[&str]) -> Output {
    Output::of(
        Command::new("nix")
            .args(args)
            .env("NIX_CONFIG", crate::nixenv::nix_config())
            .env("PATH", crate::nixenv::path_env()),
    )
    .success()
}

fn wait_for_staging(dir: &Path, child: &mut Child) {
    let start = Instant::now();
    while !staging_dirs(dir).iter().any(|n| n.contains(".kiln-staging-")) {
        assert!(start.elapsed() < Duration::from_secs(120), "export never started");
        assert!(child.try_wait().unwrap().is_none(), "kiln ended before exporting");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// issue 9: a second build into the same --out fails at once naming the first one's pid;
// with --wait-lock it waits and then succeeds; the first finishes undisturbed.
#[test]
fn issue9_two_builds_into_one_out_are_locked() {
    let fx = Fixture::new("ok");
    let mut first = fx
        .build(&["--target", "x86_64-musl"])
        .env("KILN_EXPORT_PAUSE_MS", "1500")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_staging(fx.dir(), &mut first);
    let start = Instant::now();
    let second = fx.build(&["--target", "x86_64-musl"]).status(2);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the second run did not fail fast"
    );
    let line = second
        .stderr
        .lines()
        .find(|l| l.starts_with("kiln: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{}", second.stderr));
    assert!(line.contains(&format!("pid {}", first.id())), "{line}");
    assert!(line.contains("--wait-lock"), "{line}");
    // kiln image replaces the same dist/: it waits its turn too.
    let image = Test::in_dir(fx.dir()).args(["image", "--from", "dist"]).status(2);
    assert!(
        image.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        image.stderr
    );
    let waiter = fx
        .build(&["--target", "x86_64-musl", "--wait-lock"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr, _) = wait_for(first, Duration::from_secs(120));
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr, _) = wait_for(waiter, Duration::from_secs(120));
    assert_eq!(code, 0, "{stderr}");
    assert!(fx.dir().join("dist/manifest.json").exists());
    assert!(
        staging_dirs(fx.dir()).is_empty(),
        "left behind: {:?}",
        staging_dirs(fx.dir())
    );
}

// issue 9: an output deleted from the store between verification and export: a one-line
// error naming the store path, exit 2, the old dist/ as it was.
#[test]
fn issue9_store_path_deleted_before_export() {
    let tag = tag();
    let fx = hello_flake(&tag);
    let before = old_dist(fx.dir());
    let out = nix(&[
        "eval",
        "--raw",
        &format!("{}#packages.x86_64-linux.x86_64-musl.outPath", fx.flake_ref()),
    ])
    .stdout;
    assert!(out.ends_with(&format!("-hello-{tag}")), "{out}");
    let mut child = fx
        .build(&["--target", "x86_64-musl"])
        .env("KILN_EXPORT_PAUSE_MS", "4000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The export sleeps 4 s before its first file, the archive: delete the output meanwhile.
    wait_for_staging(fx.dir(), &mut child);
    nix(&["store", "delete", &out]);
    let (code, stderr, _) = wait_for(child, Duration::from_secs(60));
    assert_eq!(code, 2, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("kiln: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    assert!(line.contains(&out), "{line}");
    assert!(line.contains("no longer in the Nix store"), "{line}");
    assert_dist_kept(fx.dir(), &before);
}

// issue 9 (audit): a symlink in an output's bin/ is refused, never followed into the archive.
#[test]
fn issue9_symlink_in_bin_is_refused() {
    let tag = tag();
    let flake = shell_flake(
        &format!("symlink-{tag}"),
        "${bb}/busybox mkdir -p $out/bin; ${bb}/busybox cp ${./hello} $out/bin/y; ${bb}/busybox ln -s y $out/bin/x",
    );
    let fx = Fixture::inline(&flake, &[]);
    fs::copy(
        crate::elf::fixtures_dir().join("x86_64-musl-static-pie"),
        fx.dir().join("f/hello"),
    )
    .unwrap();
    let before = old_dist(fx.dir());
    let r = fx.build(&["--target", "x86_64-musl", "--json"]).failure();
    let j = r.json();
    let t = &j["targets"][0];
    assert_eq!(t["status"], "verify-failed", "{t}");
    let error = t["error"].as_str().unwrap();
    assert!(error.contains("bin/x") && error.contains("symlink"), "{error}");
    assert_dist_kept(fx.dir(), &before);
}

// issue 9 (audit): a flake reference with spaces and shell syntax is one argument to nix, never
// a command line: kiln fails cleanly (exit 2, one error line) and nothing it names is run.
#[test]
fn issue9_hostile_flake_ref_is_one_argument() {
    require_tool("nix");
    let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
    for flake in [
        "path:./a b;touch pwned",
        "path:./x$(touch pwned)",
        "path:./x`touch pwned`",
        "./a b && touch pwned",
    ] {
        let r = Test::in_dir(tmp.path())
            .args(["build", "--target", "x86_64-musl", "--flake", flake])
            .status(2);
        let errors: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("kiln: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", r.stderr);
        assert!(
            errors[0].contains(flake),
            "the error does not quote {flake:?}: {}",
            r.stderr
        );
        assert!(!tmp.path().join("pwned").exists(), "{flake:?} ran a command");
        assert!(!tmp.path().join("dist").exists());
    }
    // A reference nix would read as an option is refused before nix sees it.
    for flake in ["--option", "-L", "--impure"] {
        let r = Test::in_dir(tmp.path())
            .args(["build", "--target", "x86_64-musl", &format!("--flake={flake}")])
            .status(2);
        assert!(
            r.stderr.contains("would read as an option"),
            "{flake}: {}",
            r.stderr
        );
    }
    assert_eq!(listing(tmp.path()), Vec::<String>::new(), "left behind");
}

/// A directory with a `nix` that is the real one, except that `nix --version` first sleeps
/// `secs`: a window in which a Ctrl-C reaches kiln and its first nix together.
fn slow_version_nix(dir: &Path, secs: u32) -> String {
    let real = Output::of(
        Command::new("sh")
            .args(["-c", "command -v nix"])
            .env("PATH", crate::nixenv::path_env()),
    )
    .success()
    .stdout
    .trim()
    .to_owned();
    let bin = dir.join("slow-nix-bin");
    fs::create_dir_all(&bin).unwrap();
    let script = bin.join("nix");
    fs::write(
        &script,
        format!("#!/bin/sh\ncase \"$1\" in --version) /bin/sleep {secs};; esac\nexec '{real}' \"$@\"\n"),
    )
    .unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), crate::nixenv::path_env())
}

// issue 13 item 9: a Ctrl-C at the very start of `kiln build` (the terminal signals kiln and the
// `nix --version` it just started, as one process group) is an interrupt, 130 (143 for
// SIGTERM), not "nix --version failed" with exit 2; the old dist/ stays as it was.
#[test]
fn issue13_signal_at_the_start_of_build_is_an_interrupt() {
    use std::os::unix::process::CommandExt;
    let fx = Fixture::new("ok");
    let before = old_dist(fx.dir());
    let path = slow_version_nix(fx.dir(), 3);
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let mut child = fx
            .build(&["--target", "x86_64-musl"])
            .env("PATH", &path)
            .command()
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the (slowed) `nix --version` runs, then signal the whole group.
        let start = Instant::now();
        while !processes_with("nix --version")
            .iter()
            .any(|(_, c)| c.contains("slow-nix-bin"))
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "nix --version never ran"
            );
            assert!(child.try_wait().unwrap().is_none(), "kiln ended early");
            std::thread::sleep(Duration::from_millis(10));
        }
        let group = format!("-{}", child.id());
        Output::of(Command::new("kill").args([signal, "--", &group])).success();
        let (got, stderr, _) = wait_for(child, Duration::from_secs(30));
        assert_eq!(got, code, "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_dist_kept(fx.dir(), &before);
    }
}

// issue 13 item 9: an unwritable stderr or stdout (a full device) never panics (exit 101):
// errors keep exit 2, a good build keeps 0 with its progress lines lost, and a summary that
// cannot be written is an environment error (2).
#[test]
fn issue13_unwritable_stderr_or_stdout_does_not_panic() {
    let fx = Fixture::new("ok");
    let full = || fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let status = |mut test: Test| test.command().status().unwrap().code();
    assert_eq!(
        status(fx.build(&["--target", "sparc-musl"]).stderr(full())),
        Some(2),
        "a usage error with stderr on /dev/full"
    );
    assert_eq!(
        status(
            fx.build(&["--target", "x86_64-musl"])
                .stdout(Stdio::null())
                .stderr(full())
        ),
        Some(0),
        "a good build with stderr on /dev/full"
    );
    assert!(fx.dir().join("dist/manifest.json").is_file());
    assert_eq!(
        status(
            fx.build(&["--target", "x86_64-musl"])
                .stdout(full())
                .stderr(full())
        ),
        Some(2),
        "a good build with stdout and stderr on /dev/full"
    );
    let r = fx.build(&["--target", "x86_64-musl"]).stdout(full()).status(2);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
}
