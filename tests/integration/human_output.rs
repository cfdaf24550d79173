//! Snapshots of kiln's output for people: the targets table, `inspect`'s and `verify`'s reports
//! on the ELF fixtures, `doctor`, a `build` summary and `verify-release`'s summary. The expected
//! text is in `snapshots/` beside this file, and a changed output fails the test; review the
//! `.snap.new` insta writes and move it over the `.snap` when the change is meant.
//!
//! What differs between machines and runs is replaced before the comparison: the fixture and
//! temp directories, store hashes, sha256 sums and build IDs, the Nix version and the paths of
//! the tools doctor found, and build durations.

use crate::elf::{fixtures_dir, fx};
use crate::harness::{Output, Test};
use crate::nixenv::Fixture;

/// Filters every snapshot here uses, plus `dirs` (each replaced by its `[NAME]`).
fn settings(dirs: &[(&std::path::Path, &str)]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    for (dir, name) in dirs {
        let text = dir.to_str().expect("test paths are UTF-8");
        settings.add_filter(&regex_escape(text), format!("[{name}]"));
    }
    settings.add_filter(r"/nix/store/[0-9a-df-np-sv-z]{32}", "/nix/store/[HASH]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[SHA256]");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[BUILD_ID]");
    settings.add_filter(r"\((\d+m)?\d+(\.\d+)?m?s\)", "([DURATION])");
    settings
}

/// `text` as a regex matching itself.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// stdout and stderr of a run, as one snapshot.
fn streams(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.code, output.stdout, output.stderr
    )
}

#[test]
fn targets_table() {
    let output = Test::new().arg("targets").success();
    settings(&[]).bind(|| insta::assert_snapshot!("targets", streams(&output)));
}

#[test]
fn inspect_reports() {
    let output = Test::new()
        .arg("inspect")
        .args([
            fx("x86_64-gnu-2.17"),
            fx("aarch64-musl-static"),
            fx("nix-rpath"),
            fx("x86_64-gnu-execstack"),
        ])
        .success();
    settings(&[(fixtures_dir(), "FIXTURES")]).bind(|| insta::assert_snapshot!("inspect", streams(&output)));
}

#[test]
fn verify_reports() {
    let pass = Test::new()
        .args(["verify", &fx("x86_64-gnu-2.17"), "--target", "x86_64-gnu"])
        .success();
    let fail = Test::new()
        .args([
            "verify",
            &fx("x86_64-gnu-2.34-getrandom"),
            &fx("x86_64-gnu-execstack"),
            "--target",
            "x86_64-gnu",
        ])
        .failure();
    let wrong_target = Test::new()
        .args(["verify", &fx("aarch64-musl-static"), "--target", "x86_64-musl"])
        .failure();
    let text = [pass, fail, wrong_target]
        .iter()
        .map(streams)
        .collect::<Vec<_>>()
        .join("\n");
    settings(&[(fixtures_dir(), "FIXTURES")]).bind(|| insta::assert_snapshot!("verify", text));
}

#[test]
fn doctor_report() {
    let output = Test::new().arg("doctor").run();
    let mut settings = settings(&[]);
    // The Nix found and where, the platforms this machine builds for, where the tools are.
    settings.add_filter(r"(?m)^(ok   nix +)\S+ at \S+$", "${1}[VERSION] at [PATH]");
    settings.add_filter(r"\(\+ [^)]*\)", "(+ [EXTRA_PLATFORMS])");
    settings.add_filter(r"builders: \S+", "builders: [BUILDERS]");
    settings.add_filter(r"(?m) /\S*/(qemu-[a-z0-9_]+-static) ", " [PATH]/$1 ");
    settings.bind(|| insta::assert_snapshot!("doctor", streams(&output)));
}

#[test]
fn build_and_verify_release_summaries() {
    let fx = Fixture::new("ok");
    let build = fx.build(&["--target", "x86_64-musl"]).success();
    let verify = fx.kiln().args(["verify-release", "dist"]).success();
    let dirs = [(fx.dir(), "TMP")];
    settings(&dirs).bind(|| {
        insta::assert_snapshot!("build", streams(&build));
        insta::assert_snapshot!("verify_release", streams(&verify));
    });
}

#[test]
fn inspect_of_a_file_written_by_the_test() {
    // Not an ELF file: inspect says so in one block, and exits 2.
    let test = Test::new().write("notes.txt", "not an ELF file\n");
    let path = test.dir().join("notes.txt");
    let dir = test.dir().to_path_buf();
    let output = test.arg("inspect").arg(&path).status(2);
    settings(&[(&dir, "TMP")]).bind(|| insta::assert_snapshot!("inspect_not_elf", streams(&output)));
}
