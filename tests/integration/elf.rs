//! The ELF side of the integration tests: the real-binary fixtures (built once per test run by
//! `tests/fixtures/elf/build.sh`), what kiln must report about them, an independent reading of
//! the same files with `readelf` to compare kiln's facts against, and running them under qemu.
//! Running kiln itself is [`crate::harness`]'s.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::harness::{ROOT, Test, tool_stdout};

/// The keys of one `kiln inspect --json` object, besides the optional `error`.
pub(crate) const INSPECT_KEYS: [&str; 24] = [
    "path",
    "format",
    "class",
    "endian",
    "machine",
    "elf_type",
    "interpreter",
    "needed",
    "rpath",
    "runpath",
    "linkage",
    "libc",
    "glibc_max",
    "pie",
    "relro",
    "nx",
    "canary",
    "stripped",
    "build_id",
    "store_references",
    "build_profile",
    "profile_evidence",
    "size",
    "sha256",
];

/// The inspect keys that describe the ELF file itself: null when the file
/// could not be inspected.
pub(crate) const ELF_FACT_KEYS: [&str; 18] = [
    "class",
    "endian",
    "machine",
    "elf_type",
    "interpreter",
    "needed",
    "rpath",
    "runpath",
    "linkage",
    "libc",
    "glibc_max",
    "pie",
    "relro",
    "nx",
    "canary",
    "stripped",
    "build_id",
    "build_profile",
];

/// Every ELF fixture that kiln must be able to inspect without error.
pub(crate) const GOOD_ELF_FIXTURES: [&str; 26] = [
    "x86_64-musl-static",
    "x86_64-musl-static-unstripped",
    "x86_64-musl-static-pie",
    "x86_64-musl-dynamic",
    "aarch64-musl-static",
    "aarch64-musl-static-pie",
    "x86_64-gnu-2.17",
    "x86_64-gnu-2.17-nopie",
    "x86_64-gnu-2.17-unstripped",
    "x86_64-gnu-2.34-getrandom",
    "libfoo.so",
    "x86_64-gnu-libfoo",
    "x86_64-gnu-execstack",
    "x86_64-gnu-norelro",
    "x86_64-gnu-partial-relro",
    "x86_64-gnu-full-relro",
    "x86_64-gnu-canary",
    "x86_64-gnu-nocanary",
    "nix-interp",
    "nix-rpath",
    "aarch64-gnu-2.28",
    "eeee-ref",
    "real-ref",
    "x86-static",
    "aarch64_be-static",
    "hello.o",
];

/// The store paths `real-ref.c` holds, as kiln must report them.
pub(crate) const REAL_REF_STORE_PATHS: [&str; 2] = [
    "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-foo-1.0",
    "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-bar-2.0",
];

/// The line every hello-style fixture prints.
pub(crate) const HELLO: &str = "hello from a kiln fixture";

/// The release-style fixture for each target attribute: the binary that must
/// pass `kiln verify --target ATTR` with exit 0.
pub(crate) const RELEASE_FIXTURES: [(&str, &str); 4] = [
    ("x86_64-gnu", "x86_64-gnu-2.17"),
    ("x86_64-musl", "x86_64-musl-static-pie"),
    ("aarch64-gnu", "aarch64-gnu-2.28"),
    ("aarch64-musl", "aarch64-musl-static"),
];

/// Where the aarch64 glibc sysroot for `qemu-aarch64-static -L` lives
/// (Debian's `libc6-arm64-cross`).
pub(crate) const AARCH64_GNU_SYSROOT: &str = "/usr/aarch64-linux-gnu";

// --- fixtures -------------------------------------------------------------

/// The directory holding the fixtures, built on first use (once per test
/// binary run; build.sh itself skips what is up to date).
#[track_caller]
pub(crate) fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(build_fixtures) {
        Ok(dir) => dir,
        Err(message) => panic!("{message}"),
    }
}

fn build_fixtures() -> Result<PathBuf, String> {
    // CARGO_TARGET_TMPDIR is <target-dir>/tmp.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| Path::new(ROOT).join("target"), Path::to_path_buf);
    let out = target_dir.join("kiln-fixtures").join("elf");
    let script = Path::new(ROOT).join("tests/fixtures/elf/build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot run bash {}: {e}; run scripts/setup", script.display()))?;
    if output.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "building the fixtures failed ({}); run scripts/setup.\n--- build.sh stderr ---\n{}\n--- build.sh stdout ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout),
        ))
    }
}

/// The path of fixture `name`, which must exist.
#[track_caller]
#[must_use]
pub(crate) fn fixture(name: &str) -> PathBuf {
    let path = fixtures_dir().join(name);
    assert!(
        path.symlink_metadata().is_ok(),
        "fixture {name} is missing at {}; see tests/fixtures/elf/README.md",
        path.display()
    );
    path
}

/// A path next to the fixtures that does not exist.
#[track_caller]
#[must_use]
pub(crate) fn missing_path() -> PathBuf {
    let path = fixtures_dir().join("no-such-file");
    assert!(
        path.symlink_metadata().is_err(),
        "{} should not exist",
        path.display()
    );
    path
}

/// `fixture(name)` as a `String`, for building argument lists and comparing
/// with the `path` kiln echoes back.
#[track_caller]
#[must_use]
pub(crate) fn fx(name: &str) -> String {
    fixture(name)
        .to_str()
        .expect("fixture paths are UTF-8")
        .to_owned()
}

// --- tools ----------------------------------------------------------------

/// The lowercase hex sha256 of a file, from `sha256sum`.
#[track_caller]
#[must_use]
pub(crate) fn sha256sum(path: &Path) -> String {
    let out = tool_stdout("sha256sum", &[path]);
    out.split_whitespace()
        .next()
        .expect("sha256sum prints a hash")
        .to_owned()
}

// --- running kiln on fixtures ---------------------------------------------

/// `kiln inspect --json FILES...`, asserting the exit code; one object per file.
#[track_caller]
#[must_use]
pub(crate) fn inspect_json(files: &[String], code: i32) -> Vec<Value> {
    Test::new()
        .args(["inspect", "--json"])
        .args(files)
        .status(code)
        .json_array(files.len())
}

/// `kiln verify --json FILES... --target TARGET EXTRA...`, asserting the exit
/// code; one object per file.
#[track_caller]
#[must_use]
pub(crate) fn verify_json(files: &[String], target: &str, extra: &[&str], code: i32) -> Vec<Value> {
    Test::new()
        .args(["verify", "--json"])
        .args(files)
        .args(["--target", target])
        .args(extra)
        .status(code)
        .json_array(files.len())
}

// --- targets.json ---------------------------------------------------------

/// The `targets` array of `nix/targets.json`.
#[track_caller]
#[must_use]
pub(crate) fn nix_targets() -> Vec<Value> {
    let path = Path::new(ROOT).join("nix/targets.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match &doc["targets"] {
        Value::Array(targets) => targets.clone(),
        other => panic!("{}: `targets` is not an array: {other}", path.display()),
    }
}

/// The `nix/targets.json` entry whose `attr` is `attr`.
#[track_caller]
#[must_use]
pub(crate) fn nix_target(attr: &str) -> Value {
    nix_targets()
        .into_iter()
        .find(|t| t["attr"] == attr)
        .unwrap_or_else(|| panic!("no target with attr {attr} in nix/targets.json"))
}

// --- JSON helpers ---------------------------------------------------------

/// A string field of a JSON object.
#[track_caller]
#[must_use]
pub(crate) fn str_field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {obj:#}"))
}

/// The `(code, severity)` pairs of one `kiln verify --json` object.
#[track_caller]
#[must_use]
pub(crate) fn findings(obj: &Value) -> Vec<(String, String)> {
    let Value::Array(items) = &obj["findings"] else {
        panic!("`findings` is not an array in {obj:#}")
    };
    items
        .iter()
        .map(|f| {
            (
                str_field(f, "code").to_owned(),
                str_field(f, "severity").to_owned(),
            )
        })
        .collect()
}

/// The codes of the findings with `severity`.
#[track_caller]
#[must_use]
pub(crate) fn codes_with(obj: &Value, severity: &str) -> Vec<String> {
    findings(obj)
        .into_iter()
        .filter(|(_, s)| s == severity)
        .map(|(c, _)| c)
        .collect()
}

// --- readelf ----------------------------------------------------------------

/// One program header as readelf prints it.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) kind: String,
    /// readelf's flag letters with the spaces removed, e.g. "RW", "RE", "RWE".
    pub(crate) flags: String,
}

/// What readelf says about an ELF file: the independent oracle for kiln's facts.
#[derive(Debug, Clone)]
pub(crate) struct Readelf {
    pub(crate) class: u64,
    pub(crate) endian: String,
    pub(crate) machine: String,
    pub(crate) elf_type: String,
    pub(crate) interpreter: Option<String>,
    pub(crate) segments: Vec<Segment>,
    pub(crate) needed: Vec<String>,
    pub(crate) rpath: Vec<String>,
    pub(crate) runpath: Vec<String>,
    pub(crate) bind_now: bool,
    /// `GLIBC_x.y[.z]` versions from the version-needs section, without the prefix.
    pub(crate) glibc_versions: Vec<String>,
    pub(crate) build_id: Option<String>,
    pub(crate) has_symtab: bool,
    pub(crate) has_dynsym: bool,
    pub(crate) dynsym_stack_chk_fail: bool,
}

impl Readelf {
    /// Whether a program header of this kind exists.
    #[must_use]
    pub(crate) fn has_segment(&self, kind: &str) -> bool {
        self.segments.iter().any(|s| s.kind == kind)
    }

    /// The highest needed GLIBC version, compared numerically.
    #[must_use]
    pub(crate) fn glibc_max(&self) -> Option<String> {
        self.glibc_versions
            .iter()
            .max_by(|a, b| version_key(a).cmp(&version_key(b)))
            .cloned()
    }
}

/// "2.2.5" → [2, 2, 5], for numeric comparison.
#[track_caller]
#[must_use]
pub(crate) fn version_key(version: &str) -> Vec<u32> {
    version
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("bad version {version}")))
        .collect()
}

/// The text between the first `[` and the last `]` of a line.
fn bracketed(line: &str) -> Option<&str> {
    let start = line.find('[')?;
    let end = line.rfind(']')?;
    (start < end).then(|| &line[start + 1..end])
}

/// The value after `key:` on readelf's file-header lines.
fn header_value<'a>(header: &'a str, key: &str) -> &'a str {
    header
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("readelf -h printed no `{key}` line:\n{header}"))
}

fn split_path_list(list: &str) -> Vec<String> {
    list.split(':').map(str::to_owned).collect()
}

/// Reads `path` with readelf (-h, -l, -d, -V, -n, -S, --dyn-syms).
#[track_caller]
#[must_use]
pub(crate) fn readelf(path: &Path) -> Readelf {
    let p = path.as_os_str();
    let run = |flag: &str| tool_stdout("readelf", &[OsStr::new(flag), p]);
    let (class, endian, machine, elf_type) = parse_file_header(&run("-hW"));
    let (interpreter, segments) = parse_program_headers(&run("-lW"));
    let dynamic = parse_dynamic(&run("-dW"));
    let glibc_versions = parse_version_needs(&run("-VW"));
    let build_id = run("-nW")
        .lines()
        .find_map(|l| l.split("Build ID: ").nth(1))
        .map(|id| id.trim().to_ascii_lowercase());
    let sections = run("-SW");
    let has_section_type = |kind: &str| sections.lines().any(|l| l.split_whitespace().any(|w| w == kind));
    let dynsym_stack_chk_fail = tool_stdout("readelf", &[OsStr::new("--dyn-syms"), OsStr::new("-W"), p])
        .lines()
        .any(|l| {
            l.split_whitespace()
                .any(|w| w.split('@').next() == Some("__stack_chk_fail"))
        });

    Readelf {
        class,
        endian: endian.to_owned(),
        machine: machine.to_owned(),
        elf_type: elf_type.to_owned(),
        interpreter,
        segments,
        needed: dynamic.needed,
        rpath: dynamic.rpath,
        runpath: dynamic.runpath,
        bind_now: dynamic.bind_now,
        glibc_versions,
        build_id,
        has_symtab: has_section_type("SYMTAB"),
        has_dynsym: has_section_type("DYNSYM"),
        dynsym_stack_chk_fail,
    }
}

/// Class, byte order, machine and type from `readelf -h`, in kiln's words.
fn parse_file_header(header: &str) -> (u64, &'static str, &'static str, &'static str) {
    let class = match header_value(header, "Class:") {
        "ELF64" => 64,
        "ELF32" => 32,
        other => panic!("readelf: unexpected class {other}"),
    };
    let data = header_value(header, "Data:");
    let endian = if data.contains("little endian") {
        "little"
    } else if data.contains("big endian") {
        "big"
    } else {
        panic!("readelf: unexpected data encoding {data}")
    };
    let machine = match header_value(header, "Machine:") {
        "Advanced Micro Devices X86-64" => "x86_64",
        "AArch64" => "aarch64",
        "Intel 80386" => "x86",
        other => panic!("readelf: machine {other} has no mapping in elf.rs"),
    };
    let elf_type = match header_value(header, "Type:")
        .split_whitespace()
        .next()
        .unwrap_or("")
    {
        "EXEC" => "exec",
        "DYN" => "dyn",
        "REL" => "rel",
        "CORE" => "core",
        "NONE" => "none",
        other => panic!("readelf: unexpected type {other}"),
    };
    (class, endian, machine, elf_type)
}

/// The interpreter and the program headers from `readelf -l`.
fn parse_program_headers(program: &str) -> (Option<String>, Vec<Segment>) {
    let mut interpreter = None;
    let mut segments = Vec::new();
    let mut in_table = false;
    for line in program.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Type ") && trimmed.contains("Offset") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if trimmed.is_empty() {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix("[Requesting program interpreter: ") {
            interpreter = Some(rest.trim_end_matches(']').to_owned());
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
        assert!(words.len() >= 8, "readelf -l: unexpected line {line}");
        segments.push(Segment {
            kind: words[0].to_owned(),
            flags: words[6..words.len() - 1].concat(),
        });
    }
    (interpreter, segments)
}

/// The dynamic-section entries the tests compare.
struct DynamicEntries {
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    bind_now: bool,
}

/// NEEDED, RPATH, RUNPATH and BIND_NOW (DF_BIND_NOW or DF_1_NOW) from `readelf -d`.
fn parse_dynamic(dynamic: &str) -> DynamicEntries {
    let mut entries = DynamicEntries {
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: Vec::new(),
        bind_now: false,
    };
    for line in dynamic.lines() {
        if line.contains("(NEEDED)") {
            entries
                .needed
                .push(bracketed(line).expect("NEEDED has [name]").to_owned());
        } else if line.contains("(RPATH)") {
            entries
                .rpath
                .extend(split_path_list(bracketed(line).expect("RPATH has [list]")));
        } else if line.contains("(RUNPATH)") {
            entries
                .runpath
                .extend(split_path_list(bracketed(line).expect("RUNPATH has [list]")));
        } else if (line.contains("(FLAGS)") && line.contains("BIND_NOW"))
            || (line.contains("(FLAGS_1)") && line.split_whitespace().any(|w| w == "NOW"))
        {
            entries.bind_now = true;
        }
    }
    entries
}

/// The `GLIBC_x.y[.z]` versions (without the prefix) in the version-needs
/// section of `readelf -V`.
fn parse_version_needs(versions: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_needs = false;
    for line in versions.lines() {
        if line.starts_with("Version needs section") {
            in_needs = true;
        } else if line.starts_with("Version ") {
            in_needs = false;
        } else if let Some(rest) = line.split("Name: GLIBC_").nth(1).filter(|_| in_needs) {
            let v = rest.split_whitespace().next().unwrap_or("");
            if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
                found.push(v.to_owned());
            }
        }
    }
    found
}

/// The `/nix/store/<hash>-<name>` prefix of a path inside the store.
#[track_caller]
#[must_use]
pub(crate) fn store_path_of(path: &str) -> String {
    let rest = path
        .strip_prefix("/nix/store/")
        .unwrap_or_else(|| panic!("{path} is not in /nix/store"));
    let name = rest.split('/').next().unwrap_or(rest);
    format!("/nix/store/{name}")
}

// --- emulation ----------------------------------------------------------------

/// Runs `file` under `qemu` (with `-L sysroot` when given) and returns its
/// stdout; fails the test unless it exits 0.
#[track_caller]
#[must_use]
pub(crate) fn run_under_qemu(qemu: &str, sysroot: Option<&str>, file: &Path) -> String {
    let mut args: Vec<&OsStr> = Vec::new();
    if let Some(root) = sysroot {
        assert!(
            Path::new(root).join("lib").is_dir(),
            "the sysroot {root} is missing (Debian package libc6-arm64-cross); run scripts/setup"
        );
        args.extend([OsStr::new("-L"), OsStr::new(root)]);
    }
    args.push(file.as_os_str());
    tool_stdout(qemu, &args)
}
