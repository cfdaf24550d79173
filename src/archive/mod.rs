//! Release archives: `tar.gz`, `tar.xz`, `tar.zst` and `zip`, written deterministically and
//! read back strictly.
//!
//! - [`write`](mod@write): the bytes of every archive kiln ships, the same for the same members
//!   and `SOURCE_DATE_EPOCH` (sorting, normalised modes and owners, plain ustar, fixed
//!   compressor settings; see its documentation);
//! - [`read`](mod@read): an archive read whole, streaming and within fixed limits, the way `tar`,
//!   `gzip -d`, `xz -d` and `zstd -d` read it, refusing whatever two extractors could read
//!   differently; its private `zip` module parses the zip layout the writer produces.
//!
//! Both sides share [`ArchiveFormat`], and the writer takes [`Member`]s: a name, where the bytes
//! come from, and a mode.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub mod read;
pub mod write;
mod zip;

/// What the reader's and the zip parser's unit tests build their archives from.
#[cfg(test)]
pub(crate) mod testing {
    use super::{ArchiveFormat, Member, UnpackedMembers, read_archive};

    /// 1980-01-01, the first instant a zip can hold.
    pub(crate) const EPOCH: u64 = 315_532_800;

    /// A binary and a document under one top directory.
    pub(crate) fn entries() -> Vec<Member> {
        vec![
            Member::bytes("top/bin", b"\x7fELF...".to_vec(), 0o755),
            Member::bytes("top/README.md", b"hi\n".to_vec(), 0o644),
        ]
    }

    /// `bytes` read whole as `f`.
    pub(crate) fn read(f: ArchiveFormat, bytes: &[u8]) -> Result<UnpackedMembers, String> {
        read_archive(f, std::io::Cursor::new(bytes))
    }
}

pub use read::{
    MAX_MEMBER, MAX_MEMBERS, MAX_UNPACKED, Unpacked, UnpackedMembers, XZ_MEMLIMIT, ZSTD_WINDOW_LOG_MAX,
    read_archive, read_archive_keeping, read_plain_tar,
};
pub use write::{
    ArchiveError, GZIP_LEVEL, GZIP_OS, MAX_MTIME, XZ_PRESET, ZIP_DEFLATE_LEVEL, ZSTD_LEVEL, archive_bytes,
    ustar_bytes, write_archive,
};

/// An archive format kiln can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArchiveFormat {
    /// ustar compressed with gzip.
    TarGz,
    /// ustar compressed with xz.
    TarXz,
    /// ustar compressed with zstd.
    TarZst,
    /// zip with raw deflate.
    Zip,
}

impl ArchiveFormat {
    /// Every format, in the order of their names.
    pub const ALL: [ArchiveFormat; 4] = [
        ArchiveFormat::TarGz,
        ArchiveFormat::TarXz,
        ArchiveFormat::TarZst,
        ArchiveFormat::Zip,
    ];

    /// The file-name extension, without a leading dot: `tar.gz`, `tar.xz`, `tar.zst`, `zip`.
    /// It is also the format's name for [`FromStr`] and [`fmt::Display`].
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::TarXz => "tar.xz",
            ArchiveFormat::TarZst => "tar.zst",
            ArchiveFormat::Zip => "zip",
        }
    }

    /// The format a release file is in, by its name's extension (`hello.tar.gz`: `TarGz`).
    pub fn of_file(name: &str) -> Option<ArchiveFormat> {
        ArchiveFormat::ALL
            .into_iter()
            .find(|f| name.ends_with(&format!(".{}", f.extension())))
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for ArchiveFormat {
    type Err = ArchiveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArchiveFormat::ALL
            .into_iter()
            .find(|f| f.extension() == s)
            .ok_or_else(|| ArchiveError::UnknownFormat { given: s.to_owned() })
    }
}

/// Where an entry's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberSource {
    /// A regular file, read when the archive is written. Symlinks, directories and other
    /// special files are refused; the file's own mode and timestamps are ignored.
    File(PathBuf),
    /// Bytes given in memory.
    Bytes(Vec<u8>),
}

/// One file in an archive. Directories are implied by the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path inside the archive: relative, `/`-separated, with no empty, `.` or `..`
    /// components, no `\`, no control characters and no trailing `/`.
    pub name: String,
    /// The entry's bytes.
    pub source: MemberSource,
    /// Unix mode; only whether any execute bit is set matters (see [`normalize_mode`]).
    pub mode: u32,
}

impl Member {
    /// An entry read from the file at `path`.
    pub fn file(name: impl Into<String>, path: impl Into<PathBuf>, mode: u32) -> Member {
        Member {
            name: name.into(),
            source: MemberSource::File(path.into()),
            mode,
        }
    }

    /// An entry with the given bytes.
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) -> Member {
        Member {
            name: name.into(),
            source: MemberSource::Bytes(bytes.into()),
            mode,
        }
    }
}

/// The mode a file entry is written with: `0o755` if `mode` has any execute bit, else `0o644`.
pub fn normalize_mode(mode: u32) -> u32 {
    if mode & 0o111 == 0 { 0o644 } else { 0o755 }
}
