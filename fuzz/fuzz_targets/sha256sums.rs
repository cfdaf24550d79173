//! `SHA256SUMS` text as `kiln verify-release` reads it (bytes decoded lossily as UTF-8).
//! Whatever parses must be writable, and writing then parsing must give the same entries,
//! sorted by name: the writer and the parser agree on every text the parser accepts.
#![no_main]

use kiln::checksum::{parse_sha256sums, write_sha256sums};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(entries) = parse_sha256sums(&text) else {
        return;
    };
    let written = write_sha256sums(&entries).expect("every parsed entry can be written");
    let again = parse_sha256sums(&written).expect("written text parses");
    let mut sorted = entries;
    sorted.sort();
    assert_eq!(again, sorted, "parse(write(parse(text))) lost or changed entries");
    assert_eq!(
        write_sha256sums(&again).expect("rewritable"),
        written,
        "the written text is not a fixed point"
    );
});
