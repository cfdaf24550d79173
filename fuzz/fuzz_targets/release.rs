//! A whole release directory through `kiln verify-release` (`release::verify`): the
//! SHA256SUMS, manifest, statement and envelope checks and the policy re-check of every binary
//! in the archive, on files the harness writes to a private temporary directory.
//!
//! The input is up to six parts separated by `\n=====\n`:
//! 1. the archive's file name (`a.tar.gz` when empty or not a plain file name);
//! 2. the archive's bytes;
//! 3. `manifest.json`;
//! 4. `provenance.intoto.json`;
//! 5. `SHA256SUMS` (written by the harness over the archive and the manifest when empty);
//! 6. the envelope: empty for none, `sign` to have the harness sign the statement with a fixed
//!    key (and verify with it), anything else is written as it is.
//!
//! In parts 3 to 5, `@sha256:archive@`, `@size:archive@` and (in 4 and 5) `@sha256:manifest@`
//! are replaced by the real digest and size, so mutations can get past the digest checks.
#![no_main]

use std::fs;
use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use kiln::checksum::{sha256_bytes, write_sha256sums};
use kiln::sign::SecretKey;
use libfuzzer_sys::fuzz_target;

const SEPARATOR: &[u8] = b"\n=====\n";

fn parts(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < 5 {
        match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + SEPARATOR.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out.resize(6, &[]);
    out
}

fn replace(bytes: &[u8], pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for (from, to) in pairs {
        text = text.replace(from, to);
    }
    text.into_bytes()
}

fn archive_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    let reserved = [
        "SHA256SUMS",
        "manifest.json",
        "provenance.intoto.json",
        "provenance.intoto.jsonl",
    ];
    // A name the directory can hold and SHA256SUMS can list.
    let plain = name.len() <= 200
        && !name.contains('/')
        && name != "."
        && !reserved.contains(&name.as_ref())
        && write_sha256sums(&[(name.to_string(), "0".repeat(64))]).is_ok();
    if plain {
        name.into_owned()
    } else {
        "a.tar.gz".to_owned()
    }
}

fuzz_target!(|data: &[u8]| {
    let p = parts(data);
    let dir = std::env::temp_dir().join(format!("kiln-fuzz-release-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temporary directory");
    let write = |name: &str, bytes: &[u8]| {
        let path: PathBuf = dir.join(name);
        fs::write(&path, bytes).expect("write into the temporary directory");
    };

    let name = archive_name(p[0]);
    let archive = p[1];
    let archive_sha = sha256_bytes(archive);
    let archive_size = archive.len().to_string();
    let manifest = replace(
        p[2],
        &[
            ("@sha256:archive@", &archive_sha),
            ("@size:archive@", &archive_size),
        ],
    );
    let manifest_sha = sha256_bytes(&manifest);
    let all = [
        ("@sha256:archive@", archive_sha.as_str()),
        ("@size:archive@", archive_size.as_str()),
        ("@sha256:manifest@", manifest_sha.as_str()),
    ];
    let statement = replace(p[3], &all);
    let sums = if p[4].is_empty() {
        write_sha256sums(&[
            (name.clone(), archive_sha.clone()),
            ("manifest.json".to_owned(), manifest_sha.clone()),
        ])
        .expect("plain names")
        .into_bytes()
    } else {
        replace(p[4], &all)
    };
    write(&name, archive);
    write("manifest.json", &manifest);
    write("provenance.intoto.json", &statement);
    write("SHA256SUMS", &sums);

    let signing = SigningKey::from_bytes(&[7; 32]);
    let key = if p[5] == b"sign" {
        write(
            "provenance.intoto.jsonl",
            &SecretKey::new(signing.clone()).envelope_line(&statement),
        );
        Some(signing.verifying_key())
    } else {
        if !p[5].is_empty() {
            write("provenance.intoto.jsonl", p[5]);
        }
        None
    };

    let report = kiln::release::verify(&dir, key.as_ref()).expect("the directory is readable");
    let text = kiln::release::render(&report);
    // `KILN_FUZZ_DEBUG=1 cargo fuzz run release INPUT` shows what verify-release said.
    if std::env::var_os("KILN_FUZZ_DEBUG").is_some() {
        eprint!("{text}");
    }
    let _ = serde_json::to_vec(&report).expect("the report serializes");
    let _ = fs::remove_dir_all(&dir);
});
