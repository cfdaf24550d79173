//! Reading a `dist/` back: the one place its files are opened and its documents parsed.
//!
//! `kiln verify-release`, `kiln image` and `kiln cache --from-dist` all read a dist through
//! this module, and it parses each document into the type its writer serialises: the
//! [`Manifest`] of [`crate::manifest`], the `SHA256SUMS` text of [`crate::checksum`], the
//! statement's subjects and [`Flags`] of [`crate::provenance`], and the archives through
//! [`crate::archive::read`]. A field renamed on the writing side is renamed here too, and a
//! statement whose flags do not parse is refused rather than read with defaults, so no reader
//! can silently check a release with a weaker policy than the one it was built with.
//!
//! Only regular files directly in the dist are read: a symlink is never followed, a FIFO never
//! blocks, and a document is read to at most [`MAX_DOCUMENT`] bytes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

use crate::checksum::{self, ChecksumError};
use crate::manifest::Manifest;
use crate::provenance::{self, Flags, STATEMENT_FILE};

/// The largest `SHA256SUMS`, `manifest.json`, statement or envelope read: 16 MiB.
pub const MAX_DOCUMENT: u64 = 16 << 20;
/// The checksum file's name in a dist.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The manifest's file name in a dist.
pub use crate::manifest::MANIFEST_FILE;

/// Why a file of a dist could not be read; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is absent.
    #[error("{name} is missing")]
    Missing {
        /// The file's name in the dist.
        name: String,
    },
    /// A symlink, directory, FIFO or other special file where a regular file belongs.
    #[error("{name} is not a regular file")]
    NotRegular {
        /// The file's name in the dist.
        name: String,
    },
    /// The OS refused.
    #[error("{name}: {source}")]
    Io {
        /// The file's name in the dist.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// A document larger than [`MAX_DOCUMENT`].
    #[error("{name} is {len} bytes, more than the {MAX_DOCUMENT} bytes verify-release reads of it")]
    TooLarge {
        /// The file's name in the dist.
        name: String,
        /// Its size.
        len: u64,
    },
    /// The file grew past [`MAX_DOCUMENT`] while it was read.
    #[error("{name} grew while being read")]
    Grew {
        /// The file's name in the dist.
        name: String,
    },
    /// `SHA256SUMS` does not parse.
    #[error("SHA256SUMS: {0}")]
    Sums(#[source] ChecksumError),
    /// `manifest.json` is not a kiln manifest.
    #[error("manifest.json: {0}")]
    Manifest(#[source] serde_json::Error),
    /// The statement is not JSON.
    #[error("{STATEMENT_FILE} is not JSON: {0}")]
    StatementJson(#[source] serde_json::Error),
    /// The statement is JSON but not the statement kiln writes.
    #[error("{STATEMENT_FILE}: {0}")]
    Statement(String),
}

fn io_error(name: &str) -> impl FnOnce(io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        name: name.to_owned(),
        source,
    }
}

/// Opens the regular file `name` directly in `dir` without following a symlink or blocking on
/// a FIFO; returns it with its size, or `None` when it is absent.
pub fn open_regular(dir: &Path, name: &str) -> Result<Option<(File, u64)>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let not_regular = || ReadError::NotRegular {
        name: name.to_owned(),
    };
    match fs::symlink_metadata(&path) {
        Err(_) => return Ok(None),
        Ok(m) if !m.is_file() => return Err(not_regular()),
        Ok(_) => {}
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(io_error(name))?;
    let m = f.metadata().map_err(io_error(name))?;
    if !m.is_file() {
        return Err(not_regular());
    }
    Ok(Some((f, m.len())))
}

/// Reads a small document (at most [`MAX_DOCUMENT`] bytes) from the open file `name` of size
/// `len`, from its start.
pub fn read_document(name: &str, f: &mut File, len: u64) -> Result<Vec<u8>, ReadError> {
    if len > MAX_DOCUMENT {
        return Err(ReadError::TooLarge {
            name: name.to_owned(),
            len,
        });
    }
    let mut v = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.take(MAX_DOCUMENT + 1).read_to_end(&mut v))
        .map_err(io_error(name))?;
    if v.len() as u64 > MAX_DOCUMENT {
        return Err(ReadError::Grew {
            name: name.to_owned(),
        });
    }
    Ok(v)
}

/// Reads the small regular file `name` directly in `dir`; `None` when it is absent.
pub fn read_regular(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, ReadError> {
    match open_regular(dir, name)? {
        None => Ok(None),
        Some((mut f, len)) => read_document(name, &mut f, len).map(Some),
    }
}

/// Reads the small regular file `name` directly in `dir`, which must be there.
fn read_required(dir: &Path, name: &str) -> Result<Vec<u8>, ReadError> {
    read_regular(dir, name)?.ok_or_else(|| ReadError::Missing {
        name: name.to_owned(),
    })
}

/// Streams `f` from its start through SHA-256; returns the hex digest and the number of bytes.
pub fn hash_file(f: &mut File) -> io::Result<(String, u64)> {
    f.seek(SeekFrom::Start(0))?;
    crate::checksum::sha256_reader(f)
}

/// A file of the release, opened once and hashed: what was hashed is what is read afterwards.
pub struct Opened {
    /// The open file.
    pub file: File,
    /// Its size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
}

/// Opens the regular file `name` directly in `dir` and hashes it; `None` when it is absent.
pub fn open_hashed(dir: &Path, name: &str) -> Result<Option<Opened>, ReadError> {
    let Some((mut file, _)) = open_regular(dir, name)? else {
        return Ok(None);
    };
    let (sha256, size) = hash_file(&mut file).map_err(io_error(name))?;
    Ok(Some(Opened { file, size, sha256 }))
}

/// `SHA256SUMS` text, as [`checksum::write_sha256sums`] writes it: `name -> sha256`.
pub fn parse_sums(bytes: &[u8]) -> Result<BTreeMap<String, String>, ReadError> {
    checksum::parse_sha256sums(&String::from_utf8_lossy(bytes))
        .map(|v| v.into_iter().collect())
        .map_err(ReadError::Sums)
}

/// The `SHA256SUMS` of the dist `dir`, which must have one.
pub fn sums(dir: &Path) -> Result<BTreeMap<String, String>, ReadError> {
    parse_sums(&read_required(dir, SUMS_FILE)?)
}

/// `manifest.json`'s bytes as the [`Manifest`] `kiln build` serialises.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ReadError> {
    serde_json::from_slice(bytes).map_err(ReadError::Manifest)
}

/// The `manifest.json` of the dist `dir`, which must have one.
pub fn manifest(dir: &Path) -> Result<Manifest, ReadError> {
    parse_manifest(&read_required(dir, MANIFEST_FILE)?)
}

/// The provenance statement, read back.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The whole statement (what `kiln image` restates).
    pub value: Value,
    /// `name -> sha256` of its subjects.
    pub subjects: BTreeMap<String, String>,
    /// The flags of the build it records.
    pub flags: Flags,
}

/// The statement's bytes: an in-toto statement with kiln's predicate, its subjects and the
/// build's [`Flags`] (which must parse: see the module documentation).
pub fn parse_statement(bytes: &[u8]) -> Result<Statement, ReadError> {
    let value: Value = serde_json::from_slice(bytes).map_err(ReadError::StatementJson)?;
    let subjects = provenance::subjects_of(&value).map_err(ReadError::Statement)?;
    let flags = provenance::flags_of(&value).map_err(ReadError::Statement)?;
    Ok(Statement {
        value,
        subjects,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_regular_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(read_regular(dir, MANIFEST_FILE).unwrap().is_none());
        let err = manifest(dir).unwrap_err().to_string();
        assert_eq!(err, "manifest.json is missing");
        fs::write(dir.join("real"), "{}").unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join(MANIFEST_FILE)).unwrap();
        let err = manifest(dir).unwrap_err().to_string();
        assert_eq!(err, "manifest.json is not a regular file");
        fs::write(dir.join(SUMS_FILE), "not a sum\n").unwrap();
        let err = sums(dir).unwrap_err().to_string();
        assert!(err.starts_with("SHA256SUMS: SHA256SUMS line 1"), "{err}");
    }

    #[test]
    fn the_sums_read_are_the_sums_written() {
        let written = vec![
            ("a.tar.gz".to_owned(), "a".repeat(64)),
            ("manifest.json".to_owned(), "b".repeat(64)),
        ];
        let text = checksum::write_sha256sums(&written).unwrap();
        let read = parse_sums(text.as_bytes()).unwrap();
        assert_eq!(read.into_iter().collect::<Vec<_>>(), written);
    }
}
