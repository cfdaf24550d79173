//! The provenance documents of a release, read as `kiln verify-release`, `kiln sign` and
//! `kiln image` read them: the in-toto statement (`subjects_of`, `restate`) and the one-line
//! DSSE envelope (`Envelope`, `payload`, `verify_envelope`). The same bytes are tried as both.
//!
//! Properties: restating a statement with its own subjects keeps exactly those subjects; a
//! parsed envelope survives a serialize/parse round trip.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use kiln::provenance::{restate, subjects_of};
use kiln::sign::{self, Envelope};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The public half of the throwaway key that signed the seed envelopes.
const SEED_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAExvtwEpOre4QFkTUs07EbP3RR1xFWpMIxxSddKgAyC0=
-----END PUBLIC KEY-----
";

fn statement(bytes: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    let Ok(subjects) = subjects_of(&value) else {
        return;
    };
    let sums: Vec<(String, String)> = subjects.into_iter().collect();
    let restated = restate(&value, &sums, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .expect("a statement with subjects can be restated");
    let again: Value = serde_json::from_slice(&restated).expect("a restated statement is JSON");
    let back: Vec<(String, String)> = subjects_of(&again)
        .expect("a restated statement has subjects")
        .into_iter()
        .collect();
    assert_eq!(back, sums, "restating with the same subjects changed them");
}

fn envelope(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let [one] = lines.as_slice() else {
        return;
    };
    let Ok(env) = serde_json::from_str::<Envelope>(one) else {
        return;
    };
    let line = serde_json::to_string(&env).expect("an envelope serializes");
    let back: Envelope = serde_json::from_str(&line).expect("a written envelope parses");
    assert_eq!(back, env, "envelope round trip changed it");
    let key = sign::parse_public(SEED_KEY).expect("the seed key parses");
    if let Ok(payload) = sign::verify_envelope(&env, &key) {
        statement(&payload);
    }
    if let Ok(payload) = sign::payload(&env) {
        statement(&payload);
    }
}

fuzz_target!(|data: &[u8]| {
    statement(data);
    envelope(data);
    // Key files are read with the same PEM code; cheap to try on every input.
    let text = String::from_utf8_lossy(data);
    let _ = sign::parse_public(&text);
    let _ = sign::parse_secret(&text);
});
