//! SHA-256 digests and `SHA256SUMS` files.
//!
//! This module owns how kiln hashes release files and the `SHA256SUMS` text it ships beside
//! them. The text is GNU coreutils' format, which `sha256sum -c` checks: one line per file,
//! `<64 lower-case hex digits> *<name>` (the `*` marks binary mode), sorted by the bytes of the
//! name, each line ending in `\n`. Names are relative to the directory holding `SHA256SUMS`.
//! Names that coreutils would have to escape (a newline or a backslash) are refused rather than
//! escaped, as are absolute names and names with a `..` component; kiln ships no such file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Read buffer for [`sha256_file`].
const BUF_SIZE: usize = 1 << 20;
/// Hex digits in a SHA-256 digest.
const HEX_LEN: usize = 64;

/// Why a `SHA256SUMS` text could not be written or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// A line of a parsed text that is not `<hex>  <name>` or `<hex> *<name>` with a valid
    /// digest and name.
    #[error("SHA256SUMS line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A name listed twice in a parsed text.
    #[error("SHA256SUMS line {line}: `{name}` is already listed on line {first}")]
    DuplicateLine {
        /// 1-based line number of the repeat.
        line: usize,
        /// 1-based line number of the first listing.
        first: usize,
        /// The name.
        name: String,
    },
    /// A name that cannot be written.
    #[error("SHA256SUMS entry `{name}`: {reason}")]
    Name {
        /// The name (control characters escaped).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A digest that is not 64 hex digits.
    #[error("SHA256SUMS entry `{name}`: `{digest}` is not a SHA-256 digest (64 hex digits)")]
    Digest {
        /// The name.
        name: String,
        /// The digest given.
        digest: String,
    },
    /// A name given twice to [`write_sha256sums`].
    #[error("SHA256SUMS entry `{name}` is given twice")]
    Duplicate {
        /// The name.
        name: String,
    },
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of the file at `path`, read in 1 MiB chunks.
pub fn sha256_file(path: impl AsRef<Path>) -> io::Result<String> {
    sha256_reader(&mut File::open(path)?).map(|(digest, _)| digest)
}

/// Lower-case hex SHA-256 of everything `r` yields, read in 1 MiB chunks, and its length.
pub fn sha256_reader(r: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Why `name` may not appear in a `SHA256SUMS` kiln writes or reads, if it may not.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the name is empty")
    } else if name.contains('\n') {
        Some("the name contains a newline")
    } else if name.contains('\r') {
        Some("the name contains a carriage return")
    } else if name.contains('\\') {
        Some("the name contains a backslash")
    } else if name.contains('\0') {
        Some("the name contains a NUL byte")
    } else if name.starts_with('/') {
        Some("the name is absolute")
    } else if name.split('/').any(|c| c == "..") {
        Some("the name has a `..` component")
    } else {
        None
    }
}

/// `digest` in lower case if it is 64 hex digits of either case.
fn normalize_digest(digest: &str) -> Option<String> {
    (digest.len() == HEX_LEN && digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digest.to_ascii_lowercase())
}

/// The `SHA256SUMS` text for `(name, hex digest)` pairs: sorted by name, binary marker, one
/// `\n`-terminated line each. Digests may be of either case and are written in lower case.
/// Refuses empty, absolute and `..` names, names with a newline, carriage return, backslash or
/// NUL, malformed digests and names given twice.
pub fn write_sha256sums(entries: &[(String, String)]) -> Result<String, ChecksumError> {
    let mut sorted: BTreeMap<&str, String> = BTreeMap::new();
    for (name, digest) in entries {
        if let Some(reason) = name_problem(name) {
            return Err(ChecksumError::Name {
                name: name.escape_debug().to_string(),
                reason,
            });
        }
        let Some(digest) = normalize_digest(digest) else {
            return Err(ChecksumError::Digest {
                name: name.clone(),
                digest: digest.clone(),
            });
        };
        if sorted.insert(name, digest).is_some() {
            return Err(ChecksumError::Duplicate { name: name.clone() });
        }
    }
    let mut text = String::with_capacity(sorted.len() * (HEX_LEN + 32));
    for (name, digest) in sorted {
        text.push_str(&digest);
        text.push_str(" *");
        text.push_str(name);
        text.push('\n');
    }
    Ok(text)
}

/// Parses a `SHA256SUMS` text into `(name, lower-case hex digest)` pairs, in file order.
/// Accepts the text (`  `) and binary (` *`) separators and digests of either case. Refuses,
/// with the line number: blank lines, lines not of the form `<64 hex><sep><name>`, escaped
/// (`\`-prefixed) lines, names that [`write_sha256sums`] would refuse, and a name listed twice.
/// The last line may lack its `\n`.
pub fn parse_sha256sums(text: &str) -> Result<Vec<(String, String)>, ChecksumError> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (index, line) in body.split('\n').enumerate() {
        let number = index + 1;
        let bad = |reason: String| ChecksumError::Line { line: number, reason };
        if line.is_empty() {
            return Err(bad("blank line".to_owned()));
        }
        if line.starts_with('\\') {
            return Err(bad("escaped names are not supported".to_owned()));
        }
        let (Some(digest), Some(rest)) = (line.get(..HEX_LEN), line.get(HEX_LEN..)) else {
            return Err(bad("expected 64 hex digits, a separator and a name".to_owned()));
        };
        let Some(digest) = normalize_digest(digest) else {
            return Err(bad(format!(
                "expected 64 hex digits, found `{}`",
                line.split([' ', '\t']).next().unwrap_or(line).escape_debug()
            )));
        };
        if rest.starts_with(|c: char| c.is_ascii_hexdigit()) {
            return Err(bad("the digest is longer than 64 hex digits".to_owned()));
        }
        let Some(name) = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")) else {
            return Err(bad("expected `  ` or ` *` after the digest".to_owned()));
        };
        if let Some(reason) = name_problem(name) {
            return Err(bad(format!("`{}`: {reason}", name.escape_debug())));
        }
        if let Some(&first) = seen.get(name) {
            return Err(ChecksumError::DuplicateLine {
                line: number,
                first,
                name: name.to_owned(),
            });
        }
        seen.insert(name, number);
        out.push((name.to_owned(), digest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;
    use std::process::Command;

    use proptest::prelude::*;

    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn sha256sum() -> PathBuf {
        which::which("sha256sum").unwrap_or_else(|_| {
            panic!("`sha256sum` is not installed and the checksum tests need it: run scripts/setup")
        })
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, d)| ((*n).to_owned(), (*d).to_owned()))
            .collect()
    }

    #[test]
    fn known_digests() {
        assert_eq!(sha256_bytes(b""), EMPTY);
        assert_eq!(sha256_bytes(b"abc"), ABC);
    }

    #[test]
    fn file_digest_streams_across_buffers_and_matches_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let data: Vec<u8> = (0..BUF_SIZE * 2 + 12_345)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        fs::write(&path, &data).unwrap();
        let digest = sha256_file(&path).unwrap();
        assert_eq!(digest, sha256_bytes(&data));
        let out = Command::new(sha256sum()).arg(&path).output().unwrap();
        assert!(out.status.success());
        let printed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(printed.split_whitespace().next(), Some(digest.as_str()));

        let empty = dir.path().join("empty");
        fs::write(&empty, b"").unwrap();
        assert_eq!(sha256_file(&empty).unwrap(), EMPTY);
        assert_eq!(
            sha256_file(dir.path().join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn writes_sorted_binary_lines() {
        let text = write_sha256sums(&pairs(&[
            ("kiln-x86_64.tar.gz", ABC),
            ("SHA256SUMS.sig", &EMPTY.to_uppercase()),
            ("kiln-aarch64.tar.gz", EMPTY),
        ]))
        .unwrap();
        assert_eq!(
            text,
            format!("{EMPTY} *SHA256SUMS.sig\n{EMPTY} *kiln-aarch64.tar.gz\n{ABC} *kiln-x86_64.tar.gz\n")
        );
        assert_eq!(write_sha256sums(&[]).unwrap(), "");
    }

    #[test]
    fn write_refuses_bad_entries() {
        for (name, digest, want) in [
            ("a\nb", ABC, "newline"),
            ("a\\b", ABC, "backslash"),
            ("a\rb", ABC, "carriage return"),
            ("", ABC, "empty"),
            ("/abs", ABC, "absolute"),
            ("../up", ABC, "`..`"),
            ("dir/../x", ABC, "`..`"),
        ] {
            let err = write_sha256sums(&pairs(&[(name, digest)])).unwrap_err();
            assert!(
                matches!(&err, ChecksumError::Name { reason, .. } if reason.contains(want)),
                "{name:?}: {err}"
            );
        }
        let short = &ABC[1..];
        let err = write_sha256sums(&pairs(&[("a", short)])).unwrap_err();
        assert!(matches!(err, ChecksumError::Digest { .. }), "{err}");
        let not_hex = format!("{}g", &ABC[1..]);
        assert!(matches!(
            write_sha256sums(&pairs(&[("a", &not_hex)])),
            Err(ChecksumError::Digest { .. })
        ));
        let err = write_sha256sums(&pairs(&[("a", ABC), ("a", EMPTY)])).unwrap_err();
        assert_eq!(err, ChecksumError::Duplicate { name: "a".to_owned() });
    }

    #[test]
    fn round_trip_and_both_separators() {
        let entries = pairs(&[("b.tar.gz", ABC), ("a.zip", EMPTY), ("dir/c.tar.xz", ABC)]);
        let text = write_sha256sums(&entries).unwrap();
        let mut sorted = entries.clone();
        sorted.sort();
        assert_eq!(parse_sha256sums(&text).unwrap(), sorted);

        let mixed = format!("{}  text mode.txt\n{EMPTY} *binary\n", ABC.to_uppercase());
        assert_eq!(
            parse_sha256sums(&mixed).unwrap(),
            pairs(&[("text mode.txt", ABC), ("binary", EMPTY)])
        );
        // The last newline is optional; an empty text lists nothing.
        assert_eq!(
            parse_sha256sums(&format!("{ABC} *x")).unwrap(),
            pairs(&[("x", ABC)])
        );
        assert_eq!(parse_sha256sums("").unwrap(), vec![]);
        // A name may start with a space or `*` after the separator (sha256sum reads it so).
        assert_eq!(
            parse_sha256sums(&format!("{ABC}  *star\n")).unwrap(),
            pairs(&[("*star", ABC)])
        );
    }

    #[test]
    fn parse_rejects_malformed_lines_with_their_number() {
        let good = format!("{ABC} *ok\n");
        for (bad, want) in [
            (format!("{}  short\n", &ABC[2..]), "64 hex digits"),
            (format!("{}zz  nothex\n", &ABC[2..]), "64 hex digits"),
            (format!("{ABC}0  long\n"), "longer than 64"),
            (format!("{ABC} single\n"), "`  ` or ` *`"),
            (format!("{ABC}\tname\n"), "`  ` or ` *`"),
            (format!("{ABC}  \n"), "empty"),
            (format!("{ABC}\n"), "after the digest"),
            ("\n".to_owned(), "blank line"),
            (format!("\\{ABC}  a\\\\b\n"), "escaped"),
            (format!("{ABC}  /etc/passwd\n"), "absolute"),
            (format!("{ABC}  ../x\n"), "`..`"),
            (format!("{ABC}  a/../../x\n"), "`..`"),
            (format!("{ABC}  crlf\r\n"), "carriage return"),
            (format!("SHA256 (bsd) = {ABC}\n"), "64 hex digits"),
        ] {
            let text = format!("{good}{bad}");
            let err = parse_sha256sums(&text).unwrap_err();
            match &err {
                ChecksumError::Line { line: 2, reason } => {
                    assert!(reason.contains(want), "{bad:?}: {reason}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
            assert!(err.to_string().starts_with("SHA256SUMS line 2: "), "{err}");
        }
        let dup = format!("{good}{EMPTY}  other\n{EMPTY}  ok\n");
        assert_eq!(
            parse_sha256sums(&dup).unwrap_err(),
            ChecksumError::DuplicateLine {
                line: 3,
                first: 1,
                name: "ok".to_owned()
            }
        );
    }

    #[test]
    fn sha256sum_checks_what_we_write() {
        let dir = tempfile::tempdir().unwrap();
        let files: [(&str, &[u8]); 3] = [
            ("kiln-1.0-x86_64.tar.gz", b"archive bytes"),
            ("kiln 1.0.zip", b"spaces too"),
            ("empty", b""),
        ];
        let mut entries = Vec::new();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            entries.push((name.to_owned(), sha256_file(&path).unwrap()));
        }
        fs::write(dir.path().join("SHA256SUMS"), write_sha256sums(&entries).unwrap()).unwrap();
        let check = || {
            Command::new(sha256sum())
                .args(["--check", "--strict", "SHA256SUMS"])
                .current_dir(dir.path())
                .output()
                .unwrap()
        };
        let ok = check();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        assert_eq!(String::from_utf8_lossy(&ok.stdout).matches(": OK").count(), 3);

        let path = dir.path().join("kiln-1.0-x86_64.tar.gz");
        let mut bytes = fs::read(&path).unwrap();
        bytes[3] ^= 1;
        fs::write(&path, bytes).unwrap();
        let bad = check();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stdout).contains("kiln-1.0-x86_64.tar.gz: FAILED"));
    }

    fn safe_name() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-zA-Z0-9_+][a-zA-Z0-9_.+ -]{0,11}", 1..4).prop_map(|s| s.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn round_trips(
            entries in prop::collection::btree_map(safe_name(), prop::array::uniform32(any::<u8>()), 0..12),
            upper in any::<bool>(),
        ) {
            let given: Vec<(String, String)> = entries
                .iter()
                .map(|(n, d)| {
                    let hex = hex::encode(d);
                    (n.clone(), if upper { hex.to_uppercase() } else { hex })
                })
                .collect();
            let text = write_sha256sums(&given).unwrap();
            prop_assert_eq!(text.lines().count(), given.len());
            let want: Vec<(String, String)> = entries.iter().map(|(n, d)| (n.clone(), hex::encode(d))).collect();
            prop_assert_eq!(parse_sha256sums(&text).unwrap(), want);
            let mut reversed = given.clone();
            reversed.reverse();
            prop_assert_eq!(write_sha256sums(&reversed).unwrap(), text);
        }
    }
}
