//! `kiln inspect`: its facts about every fixture, checked against `readelf`
//! on the same file, and its handling of files it cannot inspect. Issue 3.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::elf::{
    ELF_FACT_KEYS, GOOD_ELF_FIXTURES, INSPECT_KEYS, REAL_REF_STORE_PATHS, Readelf, fixture, fixtures_dir, fx,
    inspect_json, missing_path, readelf, sha256sum, store_path_of, str_field,
};
use crate::harness::{Output, Test};

/// What a fact is expected to be.
enum Expect {
    Exactly(Value),
    OneOf(Vec<Value>),
}

/// kiln's expected facts for an ELF file, derived from readelf's view of it.
/// Facts that readelf cannot decide for this file are left out.
fn expected_facts(name: &str, re: &Readelf) -> Vec<(&'static str, Expect)> {
    use Expect::{Exactly, OneOf};
    let relocatable = re.elf_type == "rel";
    let shared_library = name == "libfoo.so";
    let mut facts = vec![
        ("format", Exactly(json!("elf"))),
        ("class", Exactly(json!(re.class))),
        ("endian", Exactly(json!(re.endian))),
        ("machine", Exactly(json!(re.machine))),
        ("elf_type", Exactly(json!(re.elf_type))),
        ("interpreter", Exactly(json!(re.interpreter))),
        ("needed", Exactly(json!(re.needed))),
        ("rpath", Exactly(json!(re.rpath))),
        ("runpath", Exactly(json!(re.runpath))),
        ("glibc_max", Exactly(json!(re.glibc_max()))),
        ("stripped", Exactly(json!(!re.has_symtab))),
        ("build_id", Exactly(json!(re.build_id))),
    ];

    let dynamic = re.interpreter.is_some() || !re.needed.is_empty();
    if !relocatable {
        let linkage = if dynamic {
            "dynamic"
        } else if re.has_segment("DYNAMIC") && re.elf_type == "dyn" {
            "static-pie"
        } else {
            "static"
        };
        facts.push(("linkage", Exactly(json!(linkage))));

        let relro = if !re.has_segment("GNU_RELRO") {
            Exactly(json!("none"))
        } else if re.bind_now {
            Exactly(json!("full"))
        } else if re.has_segment("DYNAMIC") {
            Exactly(json!("partial"))
        } else {
            // A static binary with PT_GNU_RELRO has no lazy binding to
            // speak of: either answer is defensible.
            OneOf(vec![json!("partial"), json!("full")])
        };
        facts.push(("relro", relro));

        if let Some(stack) = re.segments.iter().find(|s| s.kind == "GNU_STACK") {
            facts.push(("nx", Exactly(json!(!stack.flags.contains('E')))));
        }
    }
    if !shared_library {
        facts.push(("pie", Exactly(json!(re.elf_type == "dyn"))));
    }
    if re.has_dynsym {
        facts.push(("canary", Exactly(json!(re.dynsym_stack_chk_fail))));
    }

    let musl_evidence = re.interpreter.as_deref().is_some_and(|i| i.contains("ld-musl"));
    let gnu_evidence = re.interpreter.as_deref().is_some_and(|i| i.contains("ld-linux"))
        || !re.glibc_versions.is_empty()
        || re.needed.iter().any(|n| n == "libc.so.6");
    let libc = match (musl_evidence, gnu_evidence) {
        (true, false) => Exactly(json!("musl")),
        (false, true) => Exactly(json!("gnu")),
        (false, false) if !dynamic => OneOf(vec![Value::Null, json!("musl")]),
        _ => panic!("{name}: readelf shows mixed or no libc evidence for a dynamic file"),
    };
    facts.push(("libc", libc));
    facts
}

/// Checks that an inspect object has exactly the spec's keys (plus `error`
/// when `with_error`, and the keys that are only present when they have
/// something to say: a non-empty `load_problems`, `path_bytes`,
/// `interpreter_bytes`), appending any problem to `problems`.
fn check_keys(label: &str, obj: &Value, with_error: bool, problems: &mut Vec<String>) {
    let Value::Object(map) = obj else {
        problems.push(format!("{label}: not a JSON object: {obj}"));
        return;
    };
    let mut expected: Vec<&str> = INSPECT_KEYS.to_vec();
    if with_error {
        expected.push("error");
    }
    expected.sort_unstable();
    if map
        .get("load_problems")
        .is_some_and(|p| p.as_array().is_none_or(Vec::is_empty))
    {
        problems.push(format!(
            "{label}: `load_problems` present but not a non-empty array"
        ));
    }
    let optional = ["load_problems", "path_bytes", "interpreter_bytes"];
    let mut got: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !optional.contains(k))
        .collect();
    got.sort_unstable();
    if got != expected {
        problems.push(format!("{label}: keys {got:?}, expected exactly {expected:?}"));
    }
}

#[track_caller]
fn fail_on(problems: &[String], context: &str) {
    if !problems.is_empty() {
        let mut text = String::new();
        for p in problems {
            let _ = writeln!(text, "  - {p}");
        }
        panic!("{} problem(s) {context}:\n{text}", problems.len());
    }
}

// issue 3: every fact kiln reports about every inspectable fixture agrees with
// readelf (and sha256sum) on the same file. One kiln call for all of them.
#[test]
fn issue3_inspect_json_facts_match_readelf() {
    let files: Vec<String> = GOOD_ELF_FIXTURES.iter().map(|n| fx(n)).collect();
    let objects = inspect_json(&files, 0);
    let mut problems = Vec::new();
    for ((name, file), obj) in GOOD_ELF_FIXTURES.iter().zip(&files).zip(&objects) {
        check_keys(name, obj, false, &mut problems);
        if obj["path"] != file.as_str() {
            problems.push(format!(
                "{name}: path {} (argument order or echo broken)",
                obj["path"]
            ));
        }
        let path = Path::new(file);
        let re = readelf(path);
        for (key, expect) in expected_facts(name, &re) {
            let got = &obj[key];
            match expect {
                Expect::Exactly(want) if *got != want => {
                    problems.push(format!("{name}: `{key}` is {got}, readelf says {want}"));
                }
                Expect::OneOf(wants) if !wants.contains(got) => {
                    problems.push(format!("{name}: `{key}` is {got}, expected one of {wants:?}"));
                }
                _ => {}
            }
        }
        let size = path.metadata().expect("fixture metadata").len();
        if obj["size"] != json!(size) {
            problems.push(format!(
                "{name}: `size` is {}, the file has {size} bytes",
                obj["size"]
            ));
        }
        let sha = sha256sum(path);
        if obj["sha256"] != json!(sha) {
            problems.push(format!(
                "{name}: `sha256` is {}, sha256sum says {sha}",
                obj["sha256"]
            ));
        }
    }
    fail_on(&problems, "in kiln inspect --json vs readelf");
}

// issue 3: the facts that motivate kiln, spelled out for the fixtures made
// for them (the readelf comparison above covers them too, but a regression
// should name the fact).
#[test]
fn issue3_inspect_headline_facts() {
    let names = [
        "x86_64-musl-static",
        "x86_64-musl-static-pie",
        "x86_64-musl-dynamic",
        "aarch64-musl-static",
        "x86_64-gnu-2.17",
        "x86_64-gnu-2.17-nopie",
        "x86_64-gnu-2.34-getrandom",
        "x86_64-gnu-execstack",
        "x86_64-gnu-norelro",
        "x86_64-gnu-partial-relro",
        "x86_64-gnu-full-relro",
        "x86_64-gnu-canary",
        "x86_64-gnu-nocanary",
        "x86_64-gnu-2.17-unstripped",
        "x86-static",
        "aarch64_be-static",
        "hello.o",
    ];
    let files: Vec<String> = names.iter().map(|n| fx(n)).collect();
    let objects = inspect_json(&files, 0);
    let by_name = |n: &str| &objects[names.iter().position(|x| *x == n).expect("listed")];
    let expect = |n: &str, key: &str, want: Value| {
        assert_eq!(by_name(n)[key], want, "{n}: `{key}`\n{:#}", by_name(n));
    };
    expect("x86_64-musl-static", "linkage", json!("static"));
    expect("x86_64-musl-static", "pie", json!(false));
    expect("x86_64-musl-static-pie", "linkage", json!("static-pie"));
    expect("x86_64-musl-static-pie", "pie", json!(true));
    expect("x86_64-musl-static-pie", "interpreter", Value::Null);
    expect("x86_64-musl-static-pie", "needed", json!([]));
    expect("x86_64-musl-dynamic", "linkage", json!("dynamic"));
    expect("x86_64-musl-dynamic", "libc", json!("musl"));
    expect(
        "x86_64-musl-dynamic",
        "interpreter",
        json!("/lib/ld-musl-x86_64.so.1"),
    );
    expect("aarch64-musl-static", "machine", json!("aarch64"));
    expect("aarch64-musl-static", "glibc_max", Value::Null);
    expect("x86_64-gnu-2.17", "libc", json!("gnu"));
    expect("x86_64-gnu-2.17", "glibc_max", json!("2.2.5"));
    expect(
        "x86_64-gnu-2.17",
        "interpreter",
        json!("/lib64/ld-linux-x86-64.so.2"),
    );
    expect("x86_64-gnu-2.17", "needed", json!(["libc.so.6"]));
    expect("x86_64-gnu-2.17", "stripped", json!(true));
    expect("x86_64-gnu-2.17", "nx", json!(true));
    expect("x86_64-gnu-2.17-nopie", "pie", json!(false));
    expect("x86_64-gnu-2.17-nopie", "elf_type", json!("exec"));
    expect("x86_64-gnu-2.34-getrandom", "glibc_max", json!("2.34"));
    expect("x86_64-gnu-execstack", "nx", json!(false));
    expect("x86_64-gnu-norelro", "relro", json!("none"));
    expect("x86_64-gnu-partial-relro", "relro", json!("partial"));
    expect("x86_64-gnu-full-relro", "relro", json!("full"));
    expect("x86_64-gnu-canary", "canary", json!(true));
    expect("x86_64-gnu-canary", "glibc_max", json!("2.4"));
    expect("x86_64-gnu-nocanary", "canary", json!(false));
    expect("x86_64-gnu-2.17-unstripped", "stripped", json!(false));
    expect("x86-static", "class", json!(32));
    expect("x86-static", "machine", json!("x86"));
    expect("aarch64_be-static", "endian", json!("big"));
    expect("aarch64_be-static", "class", json!(64));
    expect("hello.o", "elf_type", json!("rel"));
    for obj in &objects {
        let id = &obj["build_id"];
        assert!(
            id.is_null()
                || id.as_str().is_some_and(|s| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                }),
            "build_id must be lowercase hex or null: {obj:#}"
        );
    }
}

// issue 3: store references are found anywhere in the bytes, cut after the
// name, sorted and distinct; the all-'e' placeholder is not one.
#[test]
fn issue3_inspect_store_references() {
    let names = [
        "real-ref",
        "eeee-ref",
        "nix-interp",
        "nix-rpath",
        "x86_64-gnu-2.17",
        "x86_64-musl-static",
    ];
    let files: Vec<String> = names.iter().map(|n| fx(n)).collect();
    let objects = inspect_json(&files, 0);

    assert_eq!(
        objects[0]["store_references"],
        json!(REAL_REF_STORE_PATHS),
        "real-ref\n{:#}",
        objects[0]
    );
    assert_eq!(
        objects[1]["store_references"],
        json!([]),
        "eeee-ref: the placeholder is no reference\n{:#}",
        objects[1]
    );

    // The patched interpreter and RUNPATH/RPATH, as readelf reads them.
    for (i, name) in [(2, "nix-interp"), (3, "nix-rpath")] {
        let re = readelf(&fixture(name));
        let mut want: Vec<String> = re
            .interpreter
            .iter()
            .chain(&re.rpath)
            .chain(&re.runpath)
            .filter(|p| p.starts_with("/nix/store/"))
            .map(|p| store_path_of(p))
            .collect();
        want.sort();
        want.dedup();
        assert!(
            !want.is_empty(),
            "{name}: readelf shows no store path; fixture broken"
        );
        assert_eq!(
            objects[i]["store_references"],
            json!(want),
            "{name}\n{:#}",
            objects[i]
        );
    }
    assert_eq!(objects[4]["store_references"], json!([]), "x86_64-gnu-2.17");
    assert_eq!(objects[5]["store_references"], json!([]), "x86_64-musl-static");
}

/// What `format` kiln must report for each uninspectable file; `None` for
/// paths that cannot be read at all.
fn bad_inputs() -> Vec<(String, PathBuf, Option<&'static str>)> {
    let mut v: Vec<(String, PathBuf, Option<&'static str>)> = [
        ("empty", Some("unknown")),
        ("script.sh", Some("unknown")),
        ("truncated", Some("elf")),
        ("corrupt", Some("elf")),
        ("hello.exe", Some("pe")),
        ("hello.macho", Some("macho")),
        ("directory", None),
    ]
    .into_iter()
    .map(|(n, f)| (n.to_owned(), fixture(n), f))
    .collect();
    v.push(("missing".to_owned(), missing_path(), None));
    v
}

// issue 3: files that cannot be inspected get an object with every key, ELF
// facts null, a one-line `error`, size and sha256 when readable; the good files
// around them are still reported, in argument order; exit 2.
#[test]
fn issue3_inspect_bad_files_are_reported_in_order_exit_2() {
    let bad = bad_inputs();
    let mut files = vec![fx("x86_64-musl-static")];
    files.extend(bad.iter().map(|(_, p, _)| p.to_str().expect("UTF-8").to_owned()));
    files.push(fx("x86_64-gnu-2.17"));
    let objects = inspect_json(&files, 2);

    let mut problems = Vec::new();
    for (i, good) in [(0, "x86_64-musl-static"), (files.len() - 1, "x86_64-gnu-2.17")] {
        check_keys(good, &objects[i], false, &mut problems);
        if objects[i]["format"] != "elf" || objects[i]["machine"] != "x86_64" {
            problems.push(format!(
                "{good}: not inspected next to bad files: {:#}",
                objects[i]
            ));
        }
    }
    for ((name, path, format), obj) in bad.iter().zip(&objects[1..]) {
        check_keys(name, obj, true, &mut problems);
        if obj["path"] != path.to_str().expect("UTF-8") {
            problems.push(format!("{name}: path {} (order broken?)", obj["path"]));
        }
        match obj["error"].as_str() {
            Some(e) if !e.trim().is_empty() && !e.contains('\n') => {}
            _ => problems.push(format!(
                "{name}: `error` must be a one-line string, got {}",
                obj["error"]
            )),
        }
        if obj["format"] != json!(format) {
            problems.push(format!(
                "{name}: `format` is {}, expected {}",
                obj["format"],
                json!(format)
            ));
        }
        for key in ELF_FACT_KEYS {
            if !obj[key].is_null() {
                problems.push(format!("{name}: `{key}` should be null, got {}", obj[key]));
            }
        }
        if obj["store_references"] != json!([]) {
            problems.push(format!(
                "{name}: `store_references` should be [], got {}",
                obj["store_references"]
            ));
        }
        let readable = path.is_file();
        let (want_size, want_sha) = if readable {
            (
                json!(path.metadata().expect("metadata").len()),
                json!(sha256sum(path)),
            )
        } else {
            (Value::Null, Value::Null)
        };
        if obj["size"] != want_size || obj["sha256"] != want_sha {
            problems.push(format!(
                "{name}: size/sha256 are {}/{}, expected {want_size}/{want_sha}",
                obj["size"], obj["sha256"]
            ));
        }
    }
    fail_on(&problems, "in kiln inspect --json on uninspectable files");
}

// issue 3: each bad file alone, JSON and human output: exit 2, no panic,
// the error named on stderr or stdout.
#[test]
fn issue3_inspect_each_bad_file_alone_exits_2() {
    for (name, path, _) in bad_inputs() {
        let file = path.to_str().expect("UTF-8").to_owned();
        let objects = inspect_json(std::slice::from_ref(&file), 2);
        assert!(objects[0]["error"].is_string(), "{name}: {:#}", objects[0]);
        let run = Test::new().args(["inspect", file.as_str()]).status(2);
        assert!(
            run.stdout.contains(&file) || run.stderr.contains(&file),
            "{name}: the human output should name the file\n{run}"
        );
    }
}

/// The words of a text, split where a fact value cannot continue.
fn tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '(' | ')' | '[' | ']' | '=' | '|')
    })
    .map(|t| t.trim_end_matches(':'))
    .filter(|t| !t.is_empty())
    .collect()
}

// issue 3: human output is one block per file starting with its path, and
// shows the linkage, machine and interpreter.
#[test]
fn issue3_inspect_human_blocks() {
    let names = [
        "x86_64-gnu-2.17",
        "x86_64-musl-static-pie",
        "aarch64-musl-static",
        "x86_64-musl-dynamic",
        "aarch64-gnu-2.28",
    ];
    let files: Vec<String> = names.iter().map(|n| fx(n)).collect();
    let facts = inspect_json(&files, 0);
    let mut args = vec!["inspect".to_owned()];
    args.extend(files.iter().cloned());
    let run = Test::new().args(&args).success();

    let lines: Vec<&str> = run.stdout.lines().collect();
    let starts: Vec<usize> = files
        .iter()
        .map(|f| {
            lines
                .iter()
                .position(|l| l.trim_start().starts_with(f.as_str()))
                .unwrap_or_else(|| panic!("no line starts with {f}\n{run}"))
        })
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "blocks out of argument order\n{run}"
    );
    for (i, name) in names.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(lines.len());
        // Leave the path out: it contains words like "static" and "aarch64".
        let block = lines[starts[i]..end].join("\n").replace(files[i].as_str(), "");
        let words = tokens(&block);
        for key in ["linkage", "machine", "interpreter"] {
            if let Some(value) = facts[i][key].as_str() {
                assert!(
                    words.contains(&value),
                    "{name}: block does not show {key} {value}\n{block}"
                );
            }
        }
    }
}

// issue 3: every prefix of a real ELF and a few byte-flipped copies: never a
// panic, always one object with exactly the spec's keys, exit 0 or 2.
#[test]
fn issue3_inspect_never_panics_on_prefixes_and_flipped_bytes() {
    let source = fixture("x86_64-gnu-2.17");
    let bytes = std::fs::read(&source).expect("read fixture");
    let tmp = tempfile::Builder::new()
        .prefix("kiln-damaged-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create a temporary directory");
    let dir = tmp.path();
    let mut files = Vec::new();
    let mut cut = 0;
    while cut < bytes.len() {
        let path = dir.join(format!("prefix-{cut}"));
        std::fs::write(&path, &bytes[..cut]).expect("write prefix");
        files.push(path.to_str().expect("UTF-8").to_owned());
        cut += if cut < 256 { 3 } else { 61 };
    }
    // Overwrite each 8-byte field of the ELF header and the first program
    // header with 0xff.
    for offset in (16..64 + 56).step_by(8) {
        let mut copy = bytes.clone();
        copy[offset..offset + 8].fill(0xff);
        let path = dir.join(format!("flipped-{offset}"));
        std::fs::write(&path, &copy).expect("write flipped copy");
        files.push(path.to_str().expect("UTF-8").to_owned());
    }
    let mut args = vec!["inspect".to_owned(), "--json".to_owned()];
    args.extend(files.iter().cloned());
    let run = Test::new().args(&args).run();
    assert!(
        run.code == 0 || run.code == 2,
        "exit {}\n{}",
        run.code,
        run.stderr
    );
    let objects = run.json_array(files.len());
    let mut problems = Vec::new();
    for (file, obj) in files.iter().zip(&objects) {
        let label = Path::new(file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(file);
        check_keys(label, obj, obj.get("error").is_some(), &mut problems);
        if obj.get("error").is_some() && !obj["error"].is_string() {
            problems.push(format!("{label}: `error` is not a string"));
        }
        if obj["sha256"].is_null() {
            problems.push(format!("{label}: readable file without sha256"));
        }
    }
    // The bare prefixes up to the ELF header cannot be inspected.
    for (file, obj) in files.iter().zip(&objects).take(10) {
        if obj.get("error").is_none() {
            problems.push(format!(
                "{file}: a {}-byte prefix inspected without error",
                obj["size"]
            ));
        }
    }
    fail_on(&problems, "on damaged copies of x86_64-gnu-2.17");
}

// issue 3: usage errors exit 2.
#[test]
fn issue3_inspect_usage_errors_exit_2() {
    let _ = Test::new().args(["inspect"]).status(2);
    let _ = Test::new()
        .args(["inspect", "--no-such-flag", fx("x86_64-gnu-2.17").as_str()])
        .status(2);
    let _ = Test::new().args(["no-such-command"]).status(2);
}

// issue 3: a path kiln echoes is the argument as given, also when relative.
#[test]
fn issue3_inspect_echoes_relative_paths() {
    let dir = fixtures_dir();
    let run = Test::in_dir(dir)
        .args(["inspect", "--json", "x86_64-gnu-2.17", "./aarch64-musl-static"])
        .success();
    let objects = run.json_array(2);
    assert_eq!(str_field(&objects[0], "path"), "x86_64-gnu-2.17");
    assert_eq!(str_field(&objects[1], "path"), "./aarch64-musl-static");
}

// --- issue 13 -----------------------------------------------------------------

/// `kiln ARGS...` with `env`, stopped (and the test failed) after `limit`.
fn kiln_limited(args: &[&std::ffi::OsStr], env: &[(&str, &str)], limit_s: u64) -> Output {
    let mut test = Test::new()
        .args(args)
        .timeout(std::time::Duration::from_secs(limit_s));
    for (k, v) in env {
        test = test.env(k, v);
    }
    test.run()
}

/// Asserts stderr is exactly one line naming `path` and saying `why`.
#[track_caller]
fn one_line_error(run: &Output, path: &Path, why: &str) {
    let lines: Vec<&str> = run.stderr.lines().collect();
    let want = format!("{}: {why}", path.display());
    assert!(
        lines.len() == 1 && lines[0].contains(&want),
        "expected one stderr line with {want:?}\n{run}"
    );
}

// issue 13 item 7: a FIFO is refused at once (exit 2, one line naming it), by
// inspect and verify, instead of blocking in open() forever.
#[test]
fn issue13_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe");
    let _ = crate::harness::tool_stdout("mkfifo", &[&fifo]);
    let f = fifo.as_os_str();
    for args in [
        vec!["inspect".as_ref(), f],
        vec!["inspect".as_ref(), "--json".as_ref(), f],
        vec!["verify".as_ref(), f, "--target".as_ref(), "x86_64-musl".as_ref()],
    ] {
        let run = kiln_limited(&args, &[], 20).status(2);
        one_line_error(&run, &fifo, "not a regular file (a FIFO)");
    }
}

// issue 13 item 7: a file truncated while kiln has it mapped is an error (exit
// 2, "<file>: changed size while being read"), not a SIGBUS death. The file is
// a 1 GiB sparse file, truncated once kiln's map of it shows in /proc/PID/maps.
#[test]
fn issue13_file_shrinking_while_read_is_an_error() {
    use std::os::unix::process::ExitStatusExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big");
    for args in [vec!["inspect"], vec!["verify", "--target", "x86_64-musl"]] {
        let file = std::fs::File::create(&big).expect("create");
        file.set_len(1 << 30).expect("set_len");
        let child = Test::in_dir(dir.path())
            .args(&args)
            .arg(&big)
            .env("KILN_INSPECT_PAUSE_MS", "2000")
            .command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn kiln");
        let maps = format!("/proc/{}/maps", child.id());
        let started = std::time::Instant::now();
        let mapped = loop {
            let text = std::fs::read_to_string(&maps).unwrap_or_default();
            if text.contains(big.to_str().expect("UTF-8")) {
                break true;
            }
            if started.elapsed() > std::time::Duration::from_secs(20) {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        file.set_len(4096).expect("truncate");
        let out = child.wait_with_output().expect("wait");
        let run = Output::of_output(&format!("kiln {}", args.join(" ")), &out);
        assert!(mapped, "kiln never mapped {}\n{run}", big.display());
        assert!(
            out.status.signal().is_none(),
            "kiln died of signal {:?}\n{run}",
            out.status.signal()
        );
        let run = run.status(2);
        one_line_error(&run, &big, "changed size while being read");
    }
}

// issue 13 item 10: `inspect --json` of a non-UTF-8 path prints JSON: the path
// escaped for humans plus its exact bytes in hex (it printed nothing, exit 2).
#[test]
fn issue13_inspect_json_non_utf8_path() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join(OsStr::from_bytes(b"d\xff\x01"));
    std::fs::create_dir(&sub).expect("mkdir");
    let bin = sub.join("static-pie");
    std::fs::copy(fx("x86_64-musl-static-pie"), &bin).expect("copy");
    let plain = fx("x86_64-musl-static");
    let run = Test::new()
        .args([
            OsStr::new("inspect"),
            OsStr::new("--json"),
            bin.as_os_str(),
            OsStr::new(&plain),
        ])
        .success();
    let objects = run.json_array(2);
    let want_hex = crate::harness::hex(bin.as_os_str().as_bytes());
    assert_eq!(objects[0]["path_bytes"], want_hex.as_str(), "{run}");
    assert!(
        str_field(&objects[0], "path").ends_with("d\\xff\\x01/static-pie"),
        "{run}"
    );
    assert_eq!(
        objects[0]["sha256"],
        sha256sum(&fixture("x86_64-musl-static-pie")).as_str()
    );
    // A UTF-8 path has no path_bytes.
    assert_eq!(objects[1]["path"], plain.as_str());
    assert!(objects[1].get("path_bytes").is_none(), "{run}");
    // The human block names the file on one line.
    let run = Test::new()
        .args([OsStr::new("inspect"), bin.as_os_str()])
        .success();
    assert!(
        run.stdout
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("d\\xff\\x01/static-pie")),
        "{run}"
    );
}

/// `kiln inspect --json FILE`'s own peak RSS in KiB, as GNU time reports it.
///
/// Not wait4 on a child of this process: a spawned child's `ru_maxrss` takes in the high-water
/// mark of the address space it was spawned from (Linux keeps it across exec), so it reads as
/// at least this test binary's own peak, which grows with the tests running beside it. GNU
/// time is a small process, and kiln, forked from it, starts from its size.
fn inspect_peak_rss_kib(file: &Path) -> i64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("maxrss");
    let command = Test::in_dir(crate::harness::ROOT)
        .args(["inspect", "--json"])
        .arg(file)
        .command();
    let kiln = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(kiln)
        .args(args)
        .current_dir(crate::harness::ROOT)
        .stdout(std::process::Stdio::null());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    let status = timed
        .status()
        .expect("run /usr/bin/time (Debian package `time`, installed by scripts/setup)");
    assert!(status.success(), "kiln inspect failed on {}", file.display());
    let text = std::fs::read_to_string(&report).expect("read GNU time's report");
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("GNU time wrote {text:?}: {e}"))
}

// issue 13 item 7 (the memory goal kept): the map stays and a large *static*
// binary is read one chunk at a time too. detect_libc used to search the whole
// map for glibc's strings after the pass had released it, faulting every page
// back in (peak RSS = file size for static binaries).
#[test]
fn issue13_large_static_binary_inspects_in_small_memory() {
    use std::io::Write as _;
    const MIB: usize = 96;
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big-static");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&big).expect("create"));
    out.write_all(&std::fs::read(fixture("x86_64-musl-static")).expect("read fixture"))
        .expect("write");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..MIB {
        for b in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        out.write_all(&chunk).expect("write");
    }
    out.flush().expect("flush");
    drop(out);
    let obj = inspect_json(&[big.to_str().expect("UTF-8").to_owned()], 0).remove(0);
    assert_eq!(obj["linkage"], "static", "{obj:#}");
    let peak_mib = inspect_peak_rss_kib(&big) / 1024;
    assert!(
        peak_mib < 48,
        "peak RSS {peak_mib} MiB inspecting a {MIB} MiB static binary"
    );
}
