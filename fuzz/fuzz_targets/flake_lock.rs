//! The flake.lock graph as `kiln build` records it in the provenance: either a flake.lock file
//! itself or `nix flake metadata --json` output (whose `locks` is the same graph). Every node
//! becomes a resolved dependency (`locked_uri`, SRI NAR hash to hex, annotations); the
//! statement written from it must still be a statement whose subjects are the ones given.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use kiln::nix::FlakeMetadata;
use kiln::provenance::{Inputs, locked_uri, statement_bytes, subjects_of};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let metadata = match serde_json::from_value::<FlakeMetadata>(value.clone()) {
        Ok(m) if !m.locks.is_null() => m,
        _ => FlakeMetadata {
            url: None,
            original_url: None,
            path: None,
            revision: None,
            last_modified: None,
            locked: Value::Null,
            locks: value,
        },
    };
    let _ = locked_uri(&metadata.locked);
    let subjects = vec![(
        "SHA256SUMS".to_owned(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned(),
    )];
    let inputs = Inputs {
        subjects: &subjects,
        flake: ".",
        metadata: &metadata,
        outputs: &[],
        flags: kiln::provenance::Flags::default(),
        nix_version: "nix (Nix) 2.26.3",
        system: "x86_64-linux",
        sandbox: Some("true"),
        env: BTreeMap::new(),
        started: UNIX_EPOCH,
        finished: UNIX_EPOCH + Duration::from_secs(60),
        invocation_id: "00000000-0000-4000-8000-000000000000".to_owned(),
    };
    let bytes = statement_bytes(&inputs);
    let written: Value = serde_json::from_slice(&bytes).expect("the statement is JSON");
    let back: Vec<(String, String)> = subjects_of(&written)
        .expect("the statement has its subjects")
        .into_iter()
        .collect();
    assert_eq!(back, subjects);
});
