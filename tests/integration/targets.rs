//! `kiln targets` and the `--target` argument, against `nix/targets.json`;
//! and proof that each target's release-style fixture is what it claims, by
//! running it under the target's qemu. All for issue 3.

use serde_json::Value;

use crate::elf::{
    AARCH64_GNU_SYSROOT, HELLO, RELEASE_FIXTURES, fixture, fx, inspect_json, nix_target, nix_targets,
    run_under_qemu, str_field, verify_json,
};
use crate::harness::Test;

/// The fields every target object must carry, in `kiln targets --json` as in
/// the data file.
const TARGET_FIELDS: [&str; 12] = [
    "triple",
    "attr",
    "arch",
    "system",
    "libc",
    "linkage",
    "elf_class",
    "elf_endian",
    "elf_machine",
    "interpreter",
    "glibc_floor",
    "qemu",
];

const KNOWN_TRIPLES: [&str; 4] = [
    "x86_64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-gnu",
    "aarch64-unknown-linux-musl",
];

// issue 3
#[test]
fn issue3_targets_json_equals_nix_targets_json() {
    let expected = nix_targets();
    assert_eq!(expected.len(), 4, "nix/targets.json should hold the four targets");
    let got = Test::new()
        .args(["targets", "--json"])
        .success()
        .json_array(expected.len());
    for (i, (want, have)) in expected.iter().zip(&got).enumerate() {
        for key in TARGET_FIELDS {
            assert!(
                want.get(key).is_some(),
                "nix/targets.json target {i} has no `{key}`"
            );
            assert_eq!(
                have.get(key),
                want.get(key),
                "target {i} ({}), key `{key}`: kiln targets --json differs from nix/targets.json",
                want["triple"]
            );
        }
        // Whatever else kiln prints must agree with the file too.
        let Value::Object(fields) = have else {
            panic!("target {i} is not an object: {have}")
        };
        for (key, value) in fields {
            if let Some(file_value) = want.get(key) {
                assert_eq!(value, file_value, "target {i}, key `{key}`");
            }
        }
    }
    let triples: Vec<&str> = got.iter().map(|t| str_field(t, "triple")).collect();
    assert_eq!(triples, KNOWN_TRIPLES, "order as in nix/targets.json");
}

// issue 3
#[test]
fn issue3_targets_human_lists_every_triple_and_attr() {
    let run = Test::new().args(["targets"]).success();
    for target in nix_targets() {
        for key in ["triple", "attr"] {
            let value = str_field(&target, key);
            assert!(
                run.stdout.contains(value),
                "`kiln targets` does not mention {value}\n{run}"
            );
        }
    }
}

// issue 3
#[test]
fn issue3_unknown_target_exits_2_listing_known_triples() {
    let file = fx("x86_64-musl-static");
    for bogus in ["riscv64-unknown-linux-gnu", "x86_64-gnux", "X86_64-MUSL"] {
        for json in [false, true] {
            let mut args = vec!["verify", file.as_str(), "--target", bogus];
            if json {
                args.push("--json");
            }
            let run = Test::new().args(&args).status(2);
            let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "stderr should be one line\n{run}");
            assert!(
                lines[0].contains(&format!("unknown target '{bogus}'")),
                "stderr should say unknown target '{bogus}'\n{run}"
            );
            for triple in KNOWN_TRIPLES {
                assert!(lines[0].contains(triple), "stderr should list {triple}\n{run}");
            }
        }
    }
}

// issue 3
#[test]
fn issue3_target_accepts_triple_or_attr() {
    for (attr, name) in RELEASE_FIXTURES {
        let target = nix_target(attr);
        let triple = str_field(&target, "triple");
        for given in [attr, triple] {
            let out = verify_json(&[fx(name)], given, &[], 0);
            assert_eq!(
                out[0]["target"], triple,
                "verify --target {given}: `target` must be the full triple\n{:#}",
                out[0]
            );
        }
    }
}

// issue 3: the release-style fixture of every target runs under the target's
// qemu user binary (from nix/targets.json) and kiln reads the ELF identity the
// target table promises.
#[test]
fn issue3_release_fixtures_run_under_target_qemu_and_match_target() {
    for (attr, name) in RELEASE_FIXTURES {
        let target = nix_target(attr);
        let qemu = str_field(&target, "qemu");
        let sysroot = (attr == "aarch64-gnu").then_some(AARCH64_GNU_SYSROOT);
        let stdout = run_under_qemu(qemu, sysroot, &fixture(name));
        assert_eq!(stdout.trim_end(), HELLO, "{name} under {qemu}");

        let facts = &inspect_json(&[fx(name)], 0)[0];
        assert_eq!(facts["class"], target["elf_class"], "{name}: class");
        assert_eq!(facts["endian"], target["elf_endian"], "{name}: endian");
        assert_eq!(facts["machine"], target["elf_machine"], "{name}: machine");
        assert_eq!(facts["interpreter"], target["interpreter"], "{name}: interpreter");
        assert_eq!(facts["libc"], target["libc"], "{name}: libc");
        // The table says "static" for musl, and a static-pie counts as static.
        let linkage = str_field(facts, "linkage");
        match str_field(&target, "linkage") {
            "static" => assert!(
                linkage == "static" || linkage == "static-pie",
                "{name}: linkage {linkage}"
            ),
            other => assert_eq!(linkage, other, "{name}: linkage"),
        }
    }
}

// issue 3: the other aarch64 fixtures are real aarch64 programs too.
#[test]
fn issue3_other_aarch64_fixtures_run_under_qemu() {
    let out = run_under_qemu("qemu-aarch64-static", None, &fixture("aarch64-musl-static-pie"));
    assert_eq!(out.trim_end(), HELLO);
    let out = run_under_qemu("qemu-aarch64_be-static", None, &fixture("aarch64_be-static"));
    assert_eq!(out.trim_end(), "hello from a kiln fixture (no libc)");
}

// issue 3: the x86_64 and x86 fixtures run on this machine (through qemu, so
// that the test does not depend on the host's CPU or loader being x86_64).
#[test]
fn issue3_x86_fixtures_run_under_qemu() {
    for name in [
        "x86_64-musl-static",
        "x86_64-musl-static-unstripped",
        "x86_64-musl-static-pie",
        "x86_64-gnu-2.17",
        "x86_64-gnu-2.17-nopie",
        "x86_64-gnu-2.17-unstripped",
        "x86_64-gnu-execstack",
        "x86_64-gnu-norelro",
        "x86_64-gnu-partial-relro",
        "x86_64-gnu-full-relro",
    ] {
        let out = run_under_qemu("qemu-x86_64-static", None, &fixture(name));
        assert_eq!(out.trim_end(), HELLO, "{name}");
    }
    for (name, line) in [
        (
            "x86_64-gnu-2.34-getrandom",
            "hello from a kiln fixture (getrandom)",
        ),
        ("x86_64-gnu-libfoo", "hello from a kiln fixture (libfoo)"),
        ("x86_64-gnu-canary", "hello from a kiln fixture (canary)"),
        ("x86_64-gnu-nocanary", "hello from a kiln fixture (canary)"),
    ] {
        let out = run_under_qemu("qemu-x86_64-static", None, &fixture(name));
        assert_eq!(out.trim_end(), line, "{name}");
    }
    let out = run_under_qemu("qemu-i386-static", None, &fixture("x86-static"));
    assert_eq!(out.trim_end(), "hello from a kiln fixture (no libc)");
}
