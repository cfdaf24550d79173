//! `kiln verify`: every finding code fires on a fixture made for it and stays
//! quiet on one that is fine; the release-style fixtures pass their target;
//! exit codes, JSON shape and human output. Issue 3.

use serde_json::Value;

use crate::elf::{
    RELEASE_FIXTURES, codes_with, findings, fx, missing_path, nix_target, str_field, verify_json,
};
use crate::harness::Test;

/// `kiln verify --json FIXTURE --target TARGET EXTRA...` for one fixture,
/// asserting the exit code and that `ok` agrees with the findings.
#[track_caller]
fn verify1(name: &str, target: &str, extra: &[&str], exit: i32) -> Value {
    let obj = verify_json(&[fx(name)], target, extra, exit).remove(0);
    let errors = codes_with(&obj, "error");
    assert_eq!(
        obj["ok"],
        Value::Bool(errors.is_empty()),
        "{name} on {target}: `ok` must be true exactly when there is no error finding\n{obj:#}"
    );
    assert_eq!(
        exit == 0,
        errors.is_empty(),
        "{name} on {target}: exit {exit} vs findings\n{obj:#}"
    );
    obj
}

/// Asserts that finding `code` is present with `severity`.
#[track_caller]
fn fires(obj: &Value, code: &str, severity: &str) {
    let found: Vec<_> = findings(obj).into_iter().filter(|(c, _)| c == code).collect();
    assert!(!found.is_empty(), "expected finding {code} ({severity})\n{obj:#}");
    assert!(
        found.iter().all(|(_, s)| s == severity),
        "finding {code} should have severity {severity}\n{obj:#}"
    );
}

/// Asserts that finding `code` is absent.
#[track_caller]
fn quiet(obj: &Value, code: &str) {
    assert!(
        findings(obj).iter().all(|(c, _)| c != code),
        "finding {code} should not fire\n{obj:#}"
    );
}

/// Asserts the exact set of error codes.
#[track_caller]
fn errors_are(obj: &Value, expected: &[&str]) {
    let mut got = codes_with(obj, "error");
    got.sort();
    got.dedup();
    let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "error findings\n{obj:#}");
}

// issue 3: the release-style binaries pass their own target, by attr and by
// triple (warnings allowed), in JSON and in human output.
#[test]
fn issue3_verify_release_fixtures_pass_their_target() {
    for (attr, name) in RELEASE_FIXTURES {
        let triple = nix_target(attr)["triple"].as_str().expect("triple").to_owned();
        for target in [attr, triple.as_str()] {
            let obj = verify1(name, target, &[], 0);
            assert_eq!(obj["ok"], true, "{name} on {target}\n{obj:#}");
            let run = Test::new()
                .args(["verify", fx(name).as_str(), "--target", target])
                .success();
            let first = run.stdout.lines().next().unwrap_or("");
            assert!(
                first.starts_with("ok"),
                "human output should start with ok\n{run}"
            );
        }
    }
}

// issue 3
#[test]
fn issue3_verify_not_elf() {
    for name in ["script.sh", "empty", "hello.exe", "hello.macho"] {
        let obj = verify1(name, "x86_64-musl", &[], 1);
        fires(&obj, "not-elf", "error");
        errors_are(&obj, &["not-elf"]);
    }
    quiet(
        &verify1("x86_64-musl-static-pie", "x86_64-musl", &[], 0),
        "not-elf",
    );
    // An ELF that cannot be parsed is malformed, not "not ELF".
    quiet(&verify1("truncated", "x86_64-musl", &[], 1), "not-elf");
}

// issue 3
#[test]
fn issue3_verify_malformed_elf() {
    for name in ["truncated", "corrupt"] {
        for target in ["x86_64-musl", "x86_64-gnu"] {
            let obj = verify1(name, target, &[], 1);
            fires(&obj, "malformed-elf", "error");
            errors_are(&obj, &["malformed-elf"]);
        }
    }
    quiet(
        &verify1("x86_64-musl-static-pie", "x86_64-musl", &[], 0),
        "malformed-elf",
    );
    quiet(&verify1("script.sh", "x86_64-musl", &[], 1), "malformed-elf");
}

// issue 3
#[test]
fn issue3_verify_wrong_class() {
    let obj = verify1("x86-static", "x86_64-musl", &[], 1);
    fires(&obj, "wrong-class", "error");
    errors_are(&obj, &["wrong-class", "wrong-machine"]);
    quiet(
        &verify1("x86_64-musl-static-pie", "x86_64-musl", &[], 0),
        "wrong-class",
    );
    quiet(
        &verify1("aarch64_be-static", "aarch64-musl", &[], 1),
        "wrong-class",
    );
}

// issue 3
#[test]
fn issue3_verify_wrong_machine() {
    let obj = verify1("aarch64-musl-static", "x86_64-musl", &[], 1);
    fires(&obj, "wrong-machine", "error");
    errors_are(&obj, &["wrong-machine"]);
    let obj = verify1("x86_64-musl-static-pie", "aarch64-musl", &[], 1);
    errors_are(&obj, &["wrong-machine"]);
    fires(
        &verify1("aarch64-gnu-2.28", "x86_64-gnu", &[], 1),
        "wrong-machine",
        "error",
    );
    quiet(
        &verify1("aarch64-musl-static", "aarch64-musl", &[], 0),
        "wrong-machine",
    );
    quiet(
        &verify1("aarch64_be-static", "aarch64-musl", &[], 1),
        "wrong-machine",
    );
}

// issue 3
#[test]
fn issue3_verify_wrong_endian() {
    let obj = verify1("aarch64_be-static", "aarch64-musl", &[], 1);
    fires(&obj, "wrong-endian", "error");
    errors_are(&obj, &["wrong-endian"]);
    quiet(
        &verify1("aarch64-musl-static", "aarch64-musl", &[], 0),
        "wrong-endian",
    );
    quiet(
        &verify1("aarch64-musl-static", "x86_64-musl", &[], 1),
        "wrong-endian",
    );
}

// issue 3
#[test]
fn issue3_verify_not_executable() {
    let obj = verify1("hello.o", "x86_64-musl", &[], 1);
    fires(&obj, "not-executable", "error");
    errors_are(&obj, &["not-executable"]);
    quiet(
        &verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0),
        "not-executable",
    );
    // A shared library is ET_DYN: not this finding.
    let lib = verify_json(&[fx("libfoo.so")], "x86_64-gnu", &[], 0).remove(0);
    quiet(&lib, "not-executable");
}

// issue 3
#[test]
fn issue3_verify_not_static() {
    let obj = verify1("x86_64-musl-dynamic", "x86_64-musl", &[], 1);
    fires(&obj, "not-static", "error");
    errors_are(&obj, &["not-static"]);
    let obj = verify1("x86_64-gnu-2.17", "x86_64-musl", &[], 1);
    fires(&obj, "not-static", "error");
    // A musl static-pie has a DYNAMIC segment and is still static.
    for name in ["x86_64-musl-static-pie", "x86_64-musl-static", "eeee-ref"] {
        quiet(&verify1(name, "x86_64-musl", &[], 0), "not-static");
    }
    quiet(
        &verify1("aarch64-musl-static-pie", "aarch64-musl", &[], 0),
        "not-static",
    );
    // Only musl targets demand static linking.
    quiet(&verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0), "not-static");
}

// issue 3
#[test]
fn issue3_verify_wrong_libc() {
    let obj = verify1("x86_64-gnu-2.17", "x86_64-musl", &[], 1);
    fires(&obj, "wrong-libc", "error");
    errors_are(&obj, &["wrong-libc", "not-static"]);
    let obj = verify1("x86_64-musl-dynamic", "x86_64-gnu", &[], 1);
    fires(&obj, "wrong-libc", "error");
    errors_are(&obj, &["wrong-libc", "nonstandard-interpreter"]);
    quiet(&verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0), "wrong-libc");
    quiet(
        &verify1("x86_64-musl-static-pie", "x86_64-musl", &[], 0),
        "wrong-libc",
    );
    quiet(
        &verify1("x86_64-musl-dynamic", "x86_64-musl", &[], 1),
        "wrong-libc",
    );
}

// issue 3
#[test]
fn issue3_verify_nonstandard_interpreter() {
    let obj = verify1("nix-interp", "x86_64-gnu", &[], 1);
    fires(&obj, "nonstandard-interpreter", "error");
    errors_are(
        &obj,
        &["nonstandard-interpreter", "store-reference", "store-rpath"],
    );
    let obj = verify1("x86_64-musl-dynamic", "x86_64-gnu", &[], 1);
    fires(&obj, "nonstandard-interpreter", "error");
    quiet(
        &verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0),
        "nonstandard-interpreter",
    );
    quiet(
        &verify1("aarch64-gnu-2.28", "aarch64-gnu", &[], 0),
        "nonstandard-interpreter",
    );
    quiet(
        &verify1("nix-rpath", "x86_64-gnu", &[], 1),
        "nonstandard-interpreter",
    );
    // A gnu-target check: a musl target reports not-static instead.
    quiet(
        &verify1("x86_64-musl-dynamic", "x86_64-musl", &[], 1),
        "nonstandard-interpreter",
    );
}

// issue 3
#[test]
fn issue3_verify_store_reference() {
    let obj = verify1("real-ref", "x86_64-musl", &[], 1);
    fires(&obj, "store-reference", "error");
    errors_are(&obj, &["store-reference"]);
    fires(
        &verify1("nix-interp", "x86_64-gnu", &[], 1),
        "store-reference",
        "error",
    );
    // The all-'e' placeholder is not a store reference.
    quiet(&verify1("eeee-ref", "x86_64-musl", &[], 0), "store-reference");
    quiet(
        &verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0),
        "store-reference",
    );
}

// issue 3
#[test]
fn issue3_verify_store_rpath() {
    // RUNPATH (nix-interp) and RPATH (nix-rpath).
    fires(
        &verify1("nix-interp", "x86_64-gnu", &[], 1),
        "store-rpath",
        "error",
    );
    let obj = verify1("nix-rpath", "x86_64-gnu", &[], 1);
    fires(&obj, "store-rpath", "error");
    errors_are(&obj, &["store-rpath", "store-reference"]);
    // A RUNPATH of $ORIGIN is fine.
    quiet(
        &verify1(
            "x86_64-gnu-libfoo",
            "x86_64-gnu",
            &["--allow-needed", "libfoo"],
            0,
        ),
        "store-rpath",
    );
    // Store paths in data are store-reference, not store-rpath.
    quiet(&verify1("real-ref", "x86_64-musl", &[], 1), "store-rpath");
}

// issue 3
#[test]
fn issue3_verify_glibc_too_new() {
    // getrandom needs GLIBC_2.25 and the 2.34 build needs GLIBC_2.34.
    let obj = verify1("x86_64-gnu-2.34-getrandom", "x86_64-gnu", &[], 1);
    fires(&obj, "glibc-too-new", "error");
    errors_are(&obj, &["glibc-too-new"]);
    fires(
        &verify1(
            "x86_64-gnu-2.34-getrandom",
            "x86_64-gnu",
            &["--glibc-max", "2.33"],
            1,
        ),
        "glibc-too-new",
        "error",
    );
    quiet(
        &verify1(
            "x86_64-gnu-2.34-getrandom",
            "x86_64-gnu",
            &["--glibc-max", "2.34"],
            0,
        ),
        "glibc-too-new",
    );
    quiet(&verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0), "glibc-too-new");
    quiet(
        &verify1("aarch64-gnu-2.28", "aarch64-gnu", &[], 0),
        "glibc-too-new",
    );
    // Versions compare as numbers: 2.2.5 > 2.2, 2.4 < 2.10, 2.4 > 2.3.
    fires(
        &verify1("x86_64-gnu-2.17", "x86_64-gnu", &["--glibc-max", "2.2"], 1),
        "glibc-too-new",
        "error",
    );
    quiet(
        &verify1("x86_64-gnu-2.17", "x86_64-gnu", &["--glibc-max", "2.3"], 0),
        "glibc-too-new",
    );
    quiet(
        &verify1("x86_64-gnu-canary", "x86_64-gnu", &["--glibc-max", "2.10"], 0),
        "glibc-too-new",
    );
    fires(
        &verify1("x86_64-gnu-canary", "x86_64-gnu", &["--glibc-max", "2.3"], 1),
        "glibc-too-new",
        "error",
    );
}

// issue 3
#[test]
fn issue3_verify_needed_not_allowed() {
    let obj = verify1("x86_64-gnu-libfoo", "x86_64-gnu", &[], 1);
    fires(&obj, "needed-not-allowed", "error");
    errors_are(&obj, &["needed-not-allowed"]);
    for other in ["libbar", "libfo", "libfoo.so.1"] {
        fires(
            &verify1("x86_64-gnu-libfoo", "x86_64-gnu", &["--allow-needed", other], 1),
            "needed-not-allowed",
            "error",
        );
    }
    for allow in ["libfoo", "libfoo.so"] {
        quiet(
            &verify1("x86_64-gnu-libfoo", "x86_64-gnu", &["--allow-needed", allow], 0),
            "needed-not-allowed",
        );
    }
    let both = ["--allow-needed", "libbar", "--allow-needed", "libfoo"];
    quiet(
        &verify1("x86_64-gnu-libfoo", "x86_64-gnu", &both, 0),
        "needed-not-allowed",
    );
    // libc.so.6 (glibc) and libc.so (musl) are on the default allowlist.
    quiet(
        &verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0),
        "needed-not-allowed",
    );
    quiet(
        &verify1("x86_64-musl-dynamic", "x86_64-musl", &[], 1),
        "needed-not-allowed",
    );
}

// issue 3
#[test]
fn issue3_verify_not_pie() {
    let obj = verify1("x86_64-gnu-2.17-nopie", "x86_64-gnu", &[], 0);
    fires(&obj, "not-pie", "warning");
    let obj = verify1("x86_64-gnu-2.17-nopie", "x86_64-gnu", &["--strict"], 1);
    fires(&obj, "not-pie", "error");
    fires(
        &verify1("aarch64-musl-static", "aarch64-musl", &[], 0),
        "not-pie",
        "warning",
    );
    quiet(&verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0), "not-pie");
    quiet(
        &verify1("x86_64-musl-static-pie", "x86_64-musl", &[], 0),
        "not-pie",
    );
}

// issue 3
#[test]
fn issue3_verify_no_relro() {
    fires(
        &verify1("x86_64-gnu-norelro", "x86_64-gnu", &[], 0),
        "no-relro",
        "warning",
    );
    fires(
        &verify1("x86_64-gnu-norelro", "x86_64-gnu", &["--strict"], 1),
        "no-relro",
        "error",
    );
    // Partial RELRO is not "no RELRO".
    quiet(
        &verify1("x86_64-gnu-partial-relro", "x86_64-gnu", &[], 0),
        "no-relro",
    );
    quiet(
        &verify1("x86_64-gnu-full-relro", "x86_64-gnu", &[], 0),
        "no-relro",
    );
}

// issue 3
#[test]
fn issue3_verify_exec_stack() {
    fires(
        &verify1("x86_64-gnu-execstack", "x86_64-gnu", &[], 0),
        "exec-stack",
        "warning",
    );
    fires(
        &verify1("x86_64-gnu-execstack", "x86_64-gnu", &["--strict"], 1),
        "exec-stack",
        "error",
    );
    quiet(&verify1("x86_64-gnu-2.17", "x86_64-gnu", &[], 0), "exec-stack");
}

// issue 3
#[test]
fn issue3_verify_not_stripped() {
    fires(
        &verify1("x86_64-gnu-2.17-unstripped", "x86_64-gnu", &[], 0),
        "not-stripped",
        "warning",
    );
    fires(
        &verify1("x86_64-musl-static-unstripped", "x86_64-musl", &[], 0),
        "not-stripped",
        "warning",
    );
    let obj = verify1(
        "x86_64-gnu-2.17-unstripped",
        "x86_64-gnu",
        &["--require-stripped"],
        1,
    );
    fires(&obj, "not-stripped", "error");
    errors_are(&obj, &["not-stripped"]);
    fires(
        &verify1("x86_64-gnu-2.17-unstripped", "x86_64-gnu", &["--strict"], 1),
        "not-stripped",
        "error",
    );
    quiet(
        &verify1("x86_64-gnu-2.17", "x86_64-gnu", &["--require-stripped"], 0),
        "not-stripped",
    );
    quiet(
        &verify1("x86_64-musl-static", "x86_64-musl", &["--require-stripped"], 0),
        "not-stripped",
    );
}

// issue 3: --strict makes warnings errors, and nothing else.
#[test]
fn issue3_verify_strict() {
    let plain = verify1("x86_64-gnu-2.17-nopie", "x86_64-gnu", &[], 0);
    let strict = verify1("x86_64-gnu-2.17-nopie", "x86_64-gnu", &["--strict"], 1);
    let mut warned = codes_with(&plain, "warning");
    let mut errored = codes_with(&strict, "error");
    warned.sort();
    errored.sort();
    assert_eq!(
        warned, errored,
        "--strict should turn exactly the warnings into errors"
    );
    assert!(
        codes_with(&strict, "warning").is_empty(),
        "no warnings left under --strict\n{strict:#}"
    );
    // A clean binary stays clean.
    let obj = verify1("x86_64-gnu-2.17", "x86_64-gnu", &["--strict"], 0);
    assert!(
        findings(&obj).is_empty(),
        "x86_64-gnu-2.17 should have no findings at all\n{obj:#}"
    );
    let _ = verify1(
        "x86_64-musl-static-pie",
        "x86_64-musl",
        &["--strict", "--require-stripped"],
        0,
    );
}

// issue 3: the JSON shape, for many files in one call, in argument order.
#[test]
fn issue3_verify_json_shape_and_order() {
    let names = [
        "x86_64-gnu-2.17",
        "nix-interp",
        "x86_64-gnu-2.17-nopie",
        "script.sh",
        "x86_64-gnu-libfoo",
        "x86_64-gnu-2.17-unstripped",
    ];
    let files: Vec<String> = names.iter().map(|n| fx(n)).collect();
    let objects = verify_json(&files, "x86_64-gnu", &[], 1);
    for ((name, file), obj) in names.iter().zip(&files).zip(&objects) {
        let Value::Object(map) = obj else {
            panic!("{name}: not an object: {obj}")
        };
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["findings", "ok", "path", "target"],
            "{name}: keys\n{obj:#}"
        );
        assert_eq!(obj["path"], file.as_str(), "{name}: path / argument order");
        assert_eq!(
            obj["target"], "x86_64-unknown-linux-gnu",
            "{name}: target is the full triple"
        );
        let Value::Array(items) = &obj["findings"] else {
            panic!("{name}: findings not an array")
        };
        for f in items {
            let Value::Object(fmap) = f else {
                panic!("{name}: finding not an object: {f}")
            };
            let mut fkeys: Vec<&str> = fmap.keys().map(String::as_str).collect();
            fkeys.sort_unstable();
            assert_eq!(
                fkeys,
                ["code", "message", "severity"],
                "{name}: finding keys\n{f:#}"
            );
            let severity = str_field(f, "severity");
            assert!(
                severity == "error" || severity == "warning",
                "{name}: severity {severity}"
            );
            let message = str_field(f, "message");
            assert!(
                !message.trim().is_empty() && !message.contains('\n'),
                "{name}: message {message:?}"
            );
        }
        assert_eq!(
            obj["ok"],
            Value::Bool(codes_with(obj, "error").is_empty()),
            "{name}: ok\n{obj:#}"
        );
    }
    let oks: Vec<bool> = objects.iter().map(|o| o["ok"] == true).collect();
    assert_eq!(oks, [true, false, true, false, false, true]);
}

// issue 3: a file that cannot be read is an I/O error (exit 2) with `error`
// in its object; the other files are still verified.
#[test]
fn issue3_verify_io_errors_exit_2() {
    let missing = missing_path().to_str().expect("UTF-8").to_owned();
    let files = [
        fx("x86_64-musl-static-pie"),
        missing.clone(),
        fx("directory"),
        fx("script.sh"),
    ];
    let objects = verify_json(&files, "x86_64-musl", &[], 2);
    assert_eq!(objects[0]["ok"], true, "{:#}", objects[0]);
    assert!(objects[0].get("error").is_none(), "{:#}", objects[0]);
    for obj in &objects[1..3] {
        let error = obj["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no `error` string\n{obj:#}"));
        assert!(
            !error.trim().is_empty() && !error.contains('\n'),
            "error should be one line: {error:?}"
        );
    }
    assert_eq!(objects[1]["path"], missing.as_str());
    fires(&objects[3], "not-elf", "error");
    // Alone, and in human output.
    for path in [missing.as_str(), fx("directory").as_str()] {
        let _ = verify_json(&[path.to_owned()], "x86_64-musl", &[], 2);
        let run = Test::new()
            .args(["verify", path, "--target", "x86_64-musl"])
            .status(2);
        assert!(
            run.stdout.contains(path) || run.stderr.contains(path),
            "name the file\n{run}"
        );
    }
}

// issue 3: usage errors exit 2.
#[test]
fn issue3_verify_usage_errors_exit_2() {
    let file = fx("x86_64-gnu-2.17");
    let _ = Test::new().args(["verify", file.as_str()]).status(2);
    let _ = Test::new().args(["verify", "--target", "x86_64-gnu"]).status(2);
    let _ = Test::new()
        .args([
            "verify",
            file.as_str(),
            "--target",
            "x86_64-gnu",
            "--glibc-max",
            "banana",
        ])
        .status(2);
    let _ = Test::new()
        .args([
            "verify",
            file.as_str(),
            "--target",
            "x86_64-gnu",
            "--no-such-flag",
        ])
        .status(2);
}

// issue 3: human output: one line per file starting with ok or FAIL and
// naming the file, then one indented `<severity> <code>: <message>` line per
// finding, matching the JSON findings (a summary line may close the output).
#[test]
fn issue3_verify_human_output() {
    let names = ["x86_64-gnu-2.17-nopie", "nix-interp", "x86_64-gnu-2.17"];
    let files: Vec<String> = names.iter().map(|n| fx(n)).collect();
    let objects = verify_json(&files, "x86_64-gnu", &[], 1);
    let mut args = vec!["verify".to_owned()];
    args.extend(files.iter().cloned());
    args.extend(["--target".to_owned(), "x86_64-gnu".to_owned()]);
    let run = Test::new().args(&args).failure();

    let mut lines: Vec<&str> = run.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    // A closing summary line after the last file is allowed.
    if lines.last().is_some_and(|l| {
        !l.starts_with(char::is_whitespace) && !l.starts_with("ok") && !l.starts_with("FAIL")
    }) {
        lines.pop();
    }
    let heads: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.starts_with(char::is_whitespace))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(heads.len(), names.len(), "one unindented line per file\n{run}");
    for (k, (file, obj)) in files.iter().zip(&objects).enumerate() {
        let head = lines[heads[k]];
        let word = if obj["ok"] == true { "ok" } else { "FAIL" };
        assert!(
            head.starts_with(word),
            "line for {file} should start with {word}: {head}\n{run}"
        );
        assert!(head.contains(file.as_str()), "line should name {file}: {head}");
        let end = heads.get(k + 1).copied().unwrap_or(lines.len());
        let detail: Vec<&str> = lines[heads[k] + 1..end].iter().map(|l| l.trim()).collect();
        let expected = findings(obj);
        assert_eq!(
            detail.len(),
            expected.len(),
            "one line per finding for {file}\n{run}"
        );
        for (code, severity) in expected {
            let prefix = format!("{severity} {code}: ");
            assert!(
                detail.iter().any(|l| l.starts_with(&prefix)),
                "no line `{prefix}…` for {file}\n{run}"
            );
        }
    }
}

// --- issue 13: the kernel's view of ELF files -------------------------------

/// What Linux does when asked to execute `path` (an x86_64 fixture, run natively):
/// `Ok(stdout)` when it ran to a clean exit, `Err(why)` when exec failed or the process died.
fn kernel_runs(path: &str) -> Result<String, String> {
    use std::os::unix::process::ExitStatusExt as _;
    match std::process::Command::new(path).output() {
        Err(e) => Err(format!("exec failed: {e} (os error {:?})", e.raw_os_error())),
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "ran and failed: exit {:?}, signal {:?}",
            out.status.code(),
            out.status.signal()
        )),
    }
}

/// The single inspect object of one fixture, with exit 0.
fn inspect1(name: &str) -> Value {
    crate::elf::inspect_json(&[fx(name)], 0).remove(0)
}

// issue 13 item 2: with two PT_INTERP headers the kernel uses the first; kiln
// reports the first and fails the file with multiple-interpreters.
#[test]
fn issue13_two_interpreters_first_one_counts() {
    let obj = inspect1("two-interp");
    assert_eq!(obj["interpreter"], "/lib64/ld-linux-x86-64.so.2", "{obj:#}");
    let verdict = verify1("two-interp", "x86_64-gnu", &[], 1);
    errors_are(&verdict, &["multiple-interpreters"]);
    // The kernel's view: it runs the binary with the first loader.
    let ran = kernel_runs(&fx("two-interp")).expect("the kernel runs two-interp with its first PT_INTERP");
    assert!(ran.contains(crate::elf::HELLO), "{ran}");
}

// issue 13 item 2: a non-UTF-8 interpreter is still the interpreter: shown
// escaped, exact in interpreter_bytes, and a musl static-pie carrying it is
// dynamic (not-static), not "ok".
#[test]
fn issue13_non_utf8_interpreter_is_seen() {
    let obj = inspect1("interp-nonutf8");
    assert_eq!(obj["interpreter"], "/lib/ld-\\xff.so", "{obj:#}");
    assert_eq!(obj["interpreter_bytes"], "2f6c69622f6c642dff2e736f", "{obj:#}");
    assert_eq!(obj["linkage"], "dynamic", "{obj:#}");
    let verdict = verify1("interp-nonutf8", "x86_64-musl", &[], 1);
    fires(&verdict, "not-static", "error");
    let human = Test::new()
        .args(["verify", fx("interp-nonutf8").as_str(), "--target", "x86_64-musl"])
        .failure();
    assert!(human.stdout.contains("/lib/ld-\\xff.so"), "{human}");
    let text = Test::new()
        .args(["inspect", fx("interp-nonutf8").as_str()])
        .success();
    assert!(text.stdout.contains("/lib/ld-\\xff.so"), "{text}");
    // The kernel's view: it looks for that loader (ENOENT) instead of running the
    // program as the static-pie it was before the header was added.
    match kernel_runs(&fx("interp-nonutf8")) {
        Err(why) => assert!(why.contains("os error Some(2)"), "{why}"),
        Ok(out) => panic!("the kernel ran interp-nonutf8 as a static program: {out}"),
    }
    assert!(kernel_runs(&fx("x86_64-musl-static-pie")).is_ok());
}

// issue 13 item 2: binaries the kernel refuses (or starts only to crash) are
// errors with their own codes, never "ok".
#[test]
fn issue13_unloadable_binaries_are_errors() {
    for (name, target, code) in [
        ("interp-no-nul", "x86_64-gnu", "bad-interpreter"),
        ("gnu-no-interp", "x86_64-gnu", "no-interpreter"),
        ("no-phdrs", "x86_64-musl", "unloadable"),
        ("load-past-eof", "x86_64-musl", "unloadable"),
    ] {
        let verdict = verify1(name, target, &[], 1);
        fires(&verdict, code, "error");
        assert_eq!(verdict["ok"], false, "{name}");
        let facts = inspect1(name);
        let problems = facts["load_problems"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no load_problems\n{facts:#}"));
        assert!(problems.iter().any(|p| p["code"] == code), "{name}\n{facts:#}");
        // The kernel agrees: exec fails, or the process dies.
        if let Ok(out) = kernel_runs(&fx(name)) {
            panic!("{name}: the kernel ran it cleanly: {out}");
        }
    }
    // No good fixture has a load problem.
    let good: Vec<String> = crate::elf::GOOD_ELF_FIXTURES.iter().map(|n| fx(n)).collect();
    for (name, obj) in crate::elf::GOOD_ELF_FIXTURES
        .iter()
        .zip(crate::elf::inspect_json(&good, 0))
    {
        assert!(obj.get("load_problems").is_none(), "{name}\n{obj:#}");
    }
    // The fixtures they were made from are fine, for kiln and for the kernel.
    for (name, target) in [
        ("x86_64-gnu-2.17", "x86_64-gnu"),
        ("x86_64-musl-static", "x86_64-musl"),
    ] {
        let verdict = verify1(name, target, &[], 0);
        assert!(inspect1(name).get("load_problems").is_none(), "{name}");
        assert!(kernel_runs(&fx(name)).is_ok(), "{name}");
        let _ = verdict;
    }
}

// issue 13 item 10: non-UTF-8 paths: `verify --json` and `verify-release
// --json` print JSON (escaped path plus exact hex bytes) instead of nothing and
// exit 2; `keygen --out` writes exactly PREFIX.key and PREFIX.pub.
#[test]
fn issue13_non_utf8_paths_in_verify_json_and_keygen() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join(OsStr::from_bytes(b"hello-\xff"));
    std::fs::copy(fx("x86_64-musl-static-pie"), &bin).expect("copy");
    let hex = crate::harness::hex;

    let run = Test::new()
        .args([
            OsStr::new("verify"),
            OsStr::new("--json"),
            bin.as_os_str(),
            OsStr::new("--target"),
            OsStr::new("x86_64-musl"),
        ])
        .success();
    let obj = run.json_array(1).remove(0);
    assert_eq!(obj["path_bytes"], hex(bin.as_os_str().as_bytes()), "{run}");
    assert!(str_field(&obj, "path").ends_with("hello-\\xff"), "{run}");

    let release = dir.path().join(OsStr::from_bytes(b"dist-\xfe"));
    std::fs::create_dir(&release).expect("mkdir");
    let run = Test::new()
        .args([
            OsStr::new("verify-release"),
            OsStr::new("--json"),
            release.as_os_str(),
        ])
        .run();
    let obj = run.json();
    assert_eq!(obj["dir_bytes"], hex(release.as_os_str().as_bytes()), "{run}");
    assert_eq!(obj["ok"], false, "{run}");
    let _ = run.failure();

    let prefix = dir.path().join(OsStr::from_bytes(b"key-\xfd"));
    let _ = Test::new()
        .args([OsStr::new("keygen"), OsStr::new("--out"), prefix.as_os_str()])
        .success();
    for suffix in [&b".key"[..], b".pub"] {
        let mut name = prefix.as_os_str().as_bytes().to_vec();
        name.extend_from_slice(suffix);
        let path = std::path::PathBuf::from(OsStr::from_bytes(&name));
        assert!(path.is_file(), "keygen did not write {}", path.display());
    }
    let lossy = dir.path().join("key-\u{fffd}.key");
    assert!(!lossy.exists(), "keygen wrote a lossy name");
}

/// The permissions (`rw-p`, `rwxp`) of the `[stack]` mapping of `path` (an x86_64 fixture that
/// writes to stdout), read from /proc while the program is blocked writing to a full pipe.
fn kernel_stack_perms(path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let (mut reader, mut writer) = std::io::pipe().expect("pipe");
    // A pipe holds 64 KiB: fill it so the program's first write blocks.
    writer.write_all(&vec![b'.'; 65536]).expect("fill the pipe");
    let child = std::process::Command::new(path)
        .stdout(writer.try_clone().expect("clone the pipe"))
        .spawn()
        .expect("spawn");
    drop(writer);
    let maps = format!("/proc/{}/maps", child.id());
    let started = std::time::Instant::now();
    let perms = loop {
        let text = std::fs::read_to_string(&maps).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.ends_with("[stack]")) {
            break line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        }
        assert!(started.elapsed().as_secs() < 20, "no [stack] in {maps}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut sink = Vec::new();
    let _ = reader.read_to_end(&mut sink);
    let mut child = child;
    let _ = child.wait();
    perms
}

// issue 13 item 2 (same class): with two PT_GNU_STACK headers the kernel obeys
// the last; kiln read the first and called an executable stack non-executable.
#[test]
fn issue13_last_gnu_stack_counts_like_the_kernel() {
    let obj = inspect1("two-gnu-stack");
    assert_eq!(obj["nx"], false, "{obj:#}");
    let verdict = verify1("two-gnu-stack", "x86_64-musl", &[], 0);
    fires(&verdict, "exec-stack", "warning");
    assert_eq!(kernel_stack_perms(&fx("two-gnu-stack")), "rwxp");
    assert_eq!(kernel_stack_perms(&fx("x86_64-musl-static")), "rw-p");
    assert_eq!(inspect1("x86_64-musl-static")["nx"], true);
}
