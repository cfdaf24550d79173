//! Finding `/nix/store/<hash>-<name>` strings in arbitrary bytes.
//!
//! A store path is `/nix/store/`, 32 characters of Nix's base-32 alphabet
//! (`0123456789abcdfghijklmnpqrsvwxyz`: no `e`, `o`, `u` or `t`), a dash, and a name of
//! `[A-Za-z0-9+._?=-]` characters. The alphabet matters: crane, nixpkgs' `remove-references-to`
//! and `nuke-refs` overwrite hashes with `eeee…`, which can never be a real hash, so those
//! placeholders are not references and must not fail a release.

use std::collections::BTreeSet;

use memchr::memmem::Finder;

/// The store directory prefix kiln looks for.
pub const STORE_PREFIX: &[u8] = b"/nix/store/";
const HASH_LEN: usize = 32;

/// Whether `c` belongs to Nix's base-32 alphabet.
pub fn is_nix_base32(c: u8) -> bool {
    matches!(c, b'0'..=b'9' | b'a'..=b'z') && !matches!(c, b'e' | b'o' | b'u' | b't')
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.' | b'_' | b'?' | b'=')
}

/// Collects distinct store references across chunked scans of one buffer.
pub struct StoreRefScanner {
    finder: Finder<'static>,
    found: BTreeSet<String>,
}

impl Default for StoreRefScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreRefScanner {
    /// A scanner with nothing found yet.
    pub fn new() -> Self {
        StoreRefScanner {
            finder: Finder::new(STORE_PREFIX),
            found: BTreeSet::new(),
        }
    }

    /// Records every reference that *starts* in `bytes[start..end]`; it may read past `end` to
    /// finish one, so chunk boundaries never split or lose a reference.
    pub fn scan(&mut self, bytes: &[u8], start: usize, end: usize) {
        let window_end = (end + STORE_PREFIX.len() - 1).min(bytes.len());
        let window = &bytes[start..window_end];
        for pos in self.finder.find_iter(window) {
            let at = start + pos;
            if at >= end {
                break;
            }
            if let Some(r) = reference_at(bytes, at) {
                self.found.insert(r);
            }
        }
    }

    /// The sorted distinct references.
    pub fn finish(self) -> Vec<String> {
        self.found.into_iter().collect()
    }
}

/// The store reference starting at `at` (which holds `/nix/store/`), if it is a real one.
fn reference_at(bytes: &[u8], at: usize) -> Option<String> {
    let hash_start = at + STORE_PREFIX.len();
    let hash = bytes.get(hash_start..hash_start + HASH_LEN)?;
    if !hash.iter().copied().all(is_nix_base32) || bytes.get(hash_start + HASH_LEN) != Some(&b'-') {
        return None;
    }
    let name_start = hash_start + HASH_LEN + 1;
    let name_len = bytes[name_start..]
        .iter()
        .take(211)
        .take_while(|&&c| is_name_char(c))
        .count();
    if name_len == 0 {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[at..name_start + name_len]).into_owned())
}

/// All references in one buffer (convenience for small inputs and tests).
pub fn find_all(bytes: &[u8]) -> Vec<String> {
    let mut s = StoreRefScanner::new();
    s.scan(bytes, 0, bytes.len());
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-foo-1.0";

    #[test]
    fn finds_real_hashes_and_cuts_at_the_name() {
        let text =
            format!("x{REAL}/share/y\0{REAL}\0/nix/store/g4xq8r9a98k9dsblwdw5lxj9fvxidzy0-busybox-1.35.0");
        assert_eq!(
            find_all(text.as_bytes()),
            vec![
                REAL.to_owned(),
                "/nix/store/g4xq8r9a98k9dsblwdw5lxj9fvxidzy0-busybox-1.35.0".to_owned()
            ]
        );
    }

    #[test]
    fn placeholders_and_partial_paths_do_not_count() {
        for text in [
            "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-rust-1.95.0/lib",
            "/nix/store/",
            "/nix/store/0123456789abcdfghijklmnpqrsvwxy",
            "/nix/store/0123456789abcdfghijklmnpqrsvwxyz",
            "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-",
            "/nix/store/0123456789abcdfghijklmnpqrsvwxyz_foo",
            "/nix/store/0123456789ABCDFGHIJKLMNPQRSVWXYZ-foo",
        ] {
            assert!(find_all(text.as_bytes()).is_empty(), "{text}");
        }
    }

    #[test]
    fn chunk_boundaries_do_not_lose_references() {
        let mut bytes = vec![b'.'; 100];
        bytes.extend_from_slice(REAL.as_bytes());
        bytes.extend_from_slice(b"/bin");
        for cut in 95..160 {
            let mut s = StoreRefScanner::new();
            s.scan(&bytes, 0, cut.min(bytes.len()));
            s.scan(&bytes, cut.min(bytes.len()), bytes.len());
            assert_eq!(s.finish(), vec![REAL.to_owned()], "cut at {cut}");
        }
    }
}
