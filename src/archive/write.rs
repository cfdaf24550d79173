//! Writing deterministic release archives: `tar.gz`, `tar.xz`, `tar.zst` and `zip`.
//!
//! This module owns the bytes of every archive kiln ships. The same entries and the same
//! `SOURCE_DATE_EPOCH` give the same bytes, whatever the input order, the host, the user, the
//! umask, the time zone or the file system's own timestamps and permissions:
//!
//! - entries are sorted by the bytes of their archive names (a directory's archive name carries
//!   its trailing `/`, so it sorts before its contents), and every parent directory gets an
//!   explicit entry, mode `0o755`;
//! - every entry's mtime is the given epoch; owner and group are uid/gid 0 with *empty* user and
//!   group names (a reader falls back to the numeric ids);
//! - modes are normalised: any execute bit gives `0o755`, none gives `0o644`; the source file's
//!   own permissions are never looked at;
//! - tar is plain POSIX ustar (no PAX, no GNU extension headers, ever: a name that does not fit
//!   ustar is an error), closed by the standard two zero blocks with no record padding;
//! - gzip: level [`GZIP_LEVEL`], no file name, header mtime 0, OS byte [`GZIP_OS`];
//!   xz: preset [`XZ_PRESET`], CRC64 check, single-threaded; zstd: level [`ZSTD_LEVEL`],
//!   single-threaded, content checksum, and the frame records the exact tar size (the whole tar
//!   is built first, so the size is a function of the entries alone);
//! - zip is written here, minimal: local headers, central directory, end record; raw deflate at
//!   level [`ZIP_DEFLATE_LEVEL`] (stored for directories and empty files), DOS time from the
//!   epoch in UTC, "version made by" Unix 2.0, Unix mode and type in the external attributes,
//!   no extra fields, no data descriptors, no zip64.
//!
//! An archive is built in memory and handed to the writer in one piece, so a refused entry or
//! an unreadable source leaves the output untouched.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::{Compression, Crc, GzBuilder};

use super::{ArchiveFormat, Member, MemberSource, normalize_mode};

/// gzip compression level (the maximum).
pub const GZIP_LEVEL: u32 = 9;
/// gzip header OS byte: 255, "unknown", so the bytes do not name the host. flate2 writes 255
/// when none is set; kiln sets it explicitly.
pub const GZIP_OS: u8 = 255;
/// xz preset (the `xz` default), used with a CRC64 check.
pub const XZ_PRESET: u32 = 6;
/// zstd compression level.
pub const ZSTD_LEVEL: i32 = 19;
/// Raw deflate level for zip members.
pub const ZIP_DEFLATE_LEVEL: u32 = 9;
/// The largest mtime a ustar header holds: 11 octal digits (year 2242).
pub const MAX_MTIME: u64 = 0o777_7777_7777;

/// Largest member size in a ustar header (11 octal digits: 8 GiB - 1).
const MAX_USTAR_SIZE: u64 = 0o777_7777_7777;
/// ustar `name` and `prefix` field sizes.
const USTAR_NAME: usize = 100;
const USTAR_PREFIX: usize = 155;
/// 1980-01-01T00:00:00Z and 2107-12-31T23:59:58Z: the range of an MS-DOS timestamp.
const DOS_MIN: u64 = 315_532_800;
const DOS_MAX: u64 = 4_354_819_198;
/// Values a zip without zip64 can hold in its 32-bit fields (0xFFFFFFFF means "see zip64").
const ZIP_MAX_U32: u64 = 0xFFFF_FFFE;
const ZIP_MAX_ENTRIES: usize = 0xFFFF;
/// "version made by": Unix (3), spec 2.0.
const ZIP_MADE_BY: u16 = (3 << 8) | 0x14; // 0x14 = 20
const ZIP_NEEDS_DEFLATE: u16 = 20;
const ZIP_NEEDS_STORE: u16 = 10;
const ZIP_STORED: u16 = 0;
const ZIP_DEFLATED: u16 = 8;
/// General purpose flag bit 11: the name is UTF-8.
const ZIP_FLAG_UTF8: u16 = 1 << 11;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
/// MS-DOS directory attribute, in the low byte of the external attributes.
const DOS_DIR_ATTR: u32 = 0x10;

/// Why an archive could not be written. Member errors name the entry and, for a file source,
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A format name that is not one of [`ArchiveFormat::ALL`].
    #[error("unknown archive format `{given}` (valid: tar.gz, tar.xz, tar.zst, zip)")]
    UnknownFormat {
        /// The name given.
        given: String,
    },
    /// An entry name that is not a safe relative path.
    #[error("archive entry `{name}`: invalid name: {reason}")]
    InvalidName {
        /// The entry name (control characters escaped).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two entries with the same name.
    #[error("archive entry `{name}` is given twice")]
    DuplicateName {
        /// The entry name.
        name: String,
    },
    /// A file entry whose name is also a parent directory of another entry.
    #[error("archive entry `{name}` is a file, but `{child}` needs it to be a directory")]
    FileIsDirectory {
        /// The file entry.
        name: String,
        /// An entry inside it.
        child: String,
    },
    /// A name that does not fit the format's header.
    #[error("archive entry `{name}`: the name is too long for {format}: {rule}")]
    NameTooLong {
        /// The entry name.
        name: String,
        /// The format being written.
        format: ArchiveFormat,
        /// The format's limit.
        rule: &'static str,
    },
    /// A file source that is a symlink, a directory or another non-regular file.
    #[error("archive entry `{name}`: source `{}` is {kind}, not a regular file", path.display())]
    NotRegularFile {
        /// The entry name.
        name: String,
        /// The source path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// A file source that was replaced between its check and its opening.
    #[error("archive entry `{name}`: source `{}` was replaced while being archived", path.display())]
    SourceChanged {
        /// The entry name.
        name: String,
        /// The source path.
        path: PathBuf,
    },
    /// A file source that could not be read.
    #[error("archive entry `{name}`: reading `{}`: {source}", path.display())]
    ReadSource {
        /// The entry name.
        name: String,
        /// The source path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A member larger than the format can hold.
    #[error("archive entry `{name}` is {size} bytes, more than {format} can hold ({limit} bytes)")]
    TooLarge {
        /// The entry name.
        name: String,
        /// Its size in bytes.
        size: u64,
        /// The format being written.
        format: ArchiveFormat,
        /// The largest size the format holds.
        limit: u64,
    },
    /// A zip whose offsets would pass 4 GiB (kiln writes no zip64).
    #[error("zip archive passes 4 GiB at entry `{name}`; kiln writes no zip64")]
    ZipTooLarge {
        /// The entry at which the limit was passed (or `central directory`).
        name: String,
    },
    /// A zip with more entries than a zip without zip64 holds.
    #[error("zip archive would have {count} entries, more than 65535; kiln writes no zip64")]
    TooManyEntries {
        /// The number of entries, implied directories included.
        count: usize,
    },
    /// An mtime past what a ustar header holds.
    #[error("mtime {mtime} is past the largest a ustar header holds ({MAX_MTIME})")]
    MtimeOutOfRange {
        /// The mtime given.
        mtime: u64,
    },
    /// The compressor failed.
    #[error("compressing the {format} archive: {source}")]
    Compress {
        /// The format being written.
        format: ArchiveFormat,
        /// The error.
        source: io::Error,
    },
    /// The output could not be written.
    #[error("writing the archive: {0}")]
    Write(#[source] io::Error),
}

/// Writes `entries` as a `format` archive to `out`, every entry stamped with `mtime` (the
/// `SOURCE_DATE_EPOCH`). The archive is built in memory first and written with one
/// `write_all`: on error nothing has been written. `out` is not flushed or synced.
pub fn write_archive<W: Write + ?Sized>(
    format: ArchiveFormat,
    entries: &[Member],
    mtime: u64,
    out: &mut W,
) -> Result<(), ArchiveError> {
    let bytes = archive_bytes(format, entries, mtime)?;
    out.write_all(&bytes).map_err(ArchiveError::Write)
}

/// The bytes of the `format` archive of `entries` with every mtime `mtime`; see the module
/// documentation for what is normalised.
pub fn archive_bytes(format: ArchiveFormat, entries: &[Member], mtime: u64) -> Result<Vec<u8>, ArchiveError> {
    if mtime > MAX_MTIME {
        return Err(ArchiveError::MtimeOutOfRange { mtime });
    }
    let members = plan(entries)?;
    let compress_err = |source| ArchiveError::Compress { format, source };
    match format {
        ArchiveFormat::TarGz => {
            let tar = tar_bytes(&members, mtime, format)?;
            gzip(&tar).map_err(compress_err)
        }
        ArchiveFormat::TarXz => {
            let tar = tar_bytes(&members, mtime, format)?;
            xz(&tar).map_err(compress_err)
        }
        ArchiveFormat::TarZst => {
            let tar = tar_bytes(&members, mtime, format)?;
            zstd(&tar).map_err(compress_err)
        }
        ArchiveFormat::Zip => zip_bytes(&members, mtime),
    }
}

/// The bytes of a plain, uncompressed ustar archive of `entries` (the tar inside a `tar.gz`,
/// with the same normalisation): what OCI image layers and the `oci-archive` are made of.
pub fn ustar_bytes(entries: &[Member], mtime: u64) -> Result<Vec<u8>, ArchiveError> {
    if mtime > MAX_MTIME {
        return Err(ArchiveError::MtimeOutOfRange { mtime });
    }
    let members = plan(entries)?;
    tar_bytes(&members, mtime, ArchiveFormat::TarGz)
}

/// One archive member: a file entry or an implied directory.
#[derive(Debug)]
enum Record<'a> {
    Dir { name: String },
    File { member: &'a Member, mode: u32 },
}

impl Record<'_> {
    /// The name written into the archive; directories end with `/`.
    fn archive_name(&self) -> Cow<'_, str> {
        match self {
            Record::Dir { name } => Cow::Owned(format!("{name}/")),
            Record::File { member, .. } => Cow::Borrowed(&member.name),
        }
    }

    /// The name errors report.
    fn entry_name(&self) -> &str {
        match self {
            Record::Dir { name } => name,
            Record::File { member, .. } => &member.name,
        }
    }
}

/// Validates the entries and returns the members in archive order: files and implied
/// directories, sorted by the bytes of their archive names.
fn plan(entries: &[Member]) -> Result<Vec<Record<'_>>, ArchiveError> {
    let mut files: BTreeMap<&str, &Member> = BTreeMap::new();
    for entry in entries {
        check_name(&entry.name)?;
        if files.insert(entry.name.as_str(), entry).is_some() {
            return Err(ArchiveError::DuplicateName {
                name: entry.name.clone(),
            });
        }
    }
    // Every proper prefix ending before a `/` is a directory, mapped to one entry inside it.
    let mut dirs: BTreeMap<&str, &str> = BTreeMap::new();
    for name in files.keys() {
        for (i, _) in name.match_indices('/') {
            dirs.entry(&name[..i]).or_insert(name);
        }
    }
    if let Some((dir, child)) = dirs.iter().find(|(dir, _)| files.contains_key(*dir)) {
        return Err(ArchiveError::FileIsDirectory {
            name: (*dir).to_owned(),
            child: (*child).to_owned(),
        });
    }
    let mut members: Vec<Record<'_>> = dirs
        .into_keys()
        .map(|d| Record::Dir { name: d.to_owned() })
        .chain(files.into_values().map(|e| Record::File {
            member: e,
            mode: normalize_mode(e.mode),
        }))
        .collect();
    members.sort_by(|a, b| a.archive_name().as_bytes().cmp(b.archive_name().as_bytes()));
    Ok(members)
}

/// Refuses names that are not safe, canonical, relative `/`-separated paths.
fn check_name(name: &str) -> Result<(), ArchiveError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('/') {
        Some("it is absolute")
    } else if name.contains('\\') {
        Some("it contains a backslash")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.contains("//") {
        Some("it contains `//`")
    } else if name.ends_with('/') {
        Some("it ends with `/` (directories are implied by the names of their contents)")
    } else if name.split('/').any(|c| c == "..") {
        Some("it has a `..` component")
    } else if name.split('/').any(|c| c == ".") {
        Some("it has a `.` component")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ArchiveError::InvalidName {
            name: name.escape_debug().to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The bytes of a member: a file's contents, or nothing for a directory.
fn member_data<'a>(member: &'a Record<'_>) -> Result<Cow<'a, [u8]>, ArchiveError> {
    match member {
        Record::Dir { .. } => Ok(Cow::Borrowed(&[])),
        Record::File { member, .. } => match &member.source {
            MemberSource::Bytes(bytes) => Ok(Cow::Borrowed(bytes)),
            MemberSource::File(path) => read_source(&member.name, path).map(Cow::Owned),
        },
    }
}

/// Reads a regular file, refusing symlinks and anything that is not a regular file, and a file
/// swapped for another between the check and the open.
fn read_source(name: &str, path: &Path) -> Result<Vec<u8>, ArchiveError> {
    let read_err = |source| ArchiveError::ReadSource {
        name: name.to_owned(),
        path: path.to_owned(),
        source,
    };
    let not_regular = |kind| ArchiveError::NotRegularFile {
        name: name.to_owned(),
        path: path.to_owned(),
        kind,
    };
    let meta = fs::symlink_metadata(path).map_err(read_err)?;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Err(not_regular("a symbolic link"));
    }
    if file_type.is_dir() {
        return Err(not_regular("a directory"));
    }
    if !file_type.is_file() {
        return Err(not_regular("a special file"));
    }
    let mut file = File::open(path).map_err(read_err)?;
    let opened = file.metadata().map_err(read_err)?;
    if !opened.is_file() || opened.dev() != meta.dev() || opened.ino() != meta.ino() {
        return Err(ArchiveError::SourceChanged {
            name: name.to_owned(),
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(opened.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(read_err)?;
    Ok(bytes)
}

/// Splits an archive name into the ustar `prefix` and `name` fields, or `None` if it cannot
/// fit. The split is at the last `/` that leaves a prefix of at most 155 bytes and a non-empty
/// rest; the rest must then fit 100 bytes.
fn ustar_split(path: &str) -> Option<(&str, &str)> {
    if path.len() <= USTAR_NAME {
        return Some(("", path));
    }
    let (i, _) = path
        .match_indices('/')
        .rev()
        .find(|&(i, _)| i <= USTAR_PREFIX && i + 1 < path.len())?;
    let rest = &path[i + 1..];
    (rest.len() <= USTAR_NAME).then(|| (&path[..i], rest))
}

/// The uncompressed ustar archive of `members`; `format` is named in errors.
fn tar_bytes(members: &[Record<'_>], mtime: u64, format: ArchiveFormat) -> Result<Vec<u8>, ArchiveError> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let archive_name = member.archive_name();
        let Some((prefix, name)) = ustar_split(&archive_name) else {
            return Err(ArchiveError::NameTooLong {
                name: member.entry_name().to_owned(),
                format,
                rule: "ustar holds at most 100 bytes, or a directory part of at most 155 bytes \
                       and a rest of at most 100 bytes, and kiln writes no PAX or GNU long-name \
                       headers",
            });
        };
        let data = member_data(member)?;
        let size = data.len() as u64;
        if size > MAX_USTAR_SIZE {
            return Err(ArchiveError::TooLarge {
                name: member.entry_name().to_owned(),
                size,
                format,
                limit: MAX_USTAR_SIZE,
            });
        }
        let mut header = tar::Header::new_ustar();
        let ustar = header.as_ustar_mut().expect("a new ustar header is ustar");
        ustar.name[..name.len()].copy_from_slice(name.as_bytes());
        ustar.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
        let (entry_type, mode) = match member {
            Record::Dir { .. } => (tar::EntryType::Directory, 0o755),
            Record::File { mode, .. } => (tar::EntryType::Regular, *mode),
        };
        header.set_entry_type(entry_type);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(size);
        header.set_mtime(mtime);
        header.set_device_major(0).map_err(ArchiveError::Write)?;
        header.set_device_minor(0).map_err(ArchiveError::Write)?;
        header.set_cksum();
        builder
            .append(&header, data.as_ref())
            .map_err(ArchiveError::Write)?;
    }
    builder.into_inner().map_err(ArchiveError::Write)
}

fn gzip(tar: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder: GzEncoder<Vec<u8>> = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS)
        .write(Vec::new(), Compression::new(GZIP_LEVEL));
    encoder.write_all(tar)?;
    encoder.finish()
}

fn xz(tar: &[u8]) -> io::Result<Vec<u8>> {
    let stream = liblzma::stream::Stream::new_easy_encoder(XZ_PRESET, liblzma::stream::Check::Crc64)?;
    let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    encoder.write_all(tar)?;
    encoder.finish()
}

fn zstd(tar: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(tar.len() as u64))?;
    encoder.write_all(tar)?;
    encoder.finish()
}

/// MS-DOS time and date of a Unix time, in UTC, clamped to 1980-01-01..=2107-12-31; seconds
/// are rounded down to even.
fn dos_datetime(unix: u64) -> (u16, u16) {
    let t = unix.clamp(DOS_MIN, DOS_MAX);
    let c = crate::civil::from_unix(i64::try_from(t).expect("clamped to 2107"));
    let time = (c.hour << 11) | (c.minute << 5) | (c.second / 2);
    let year = u32::try_from(c.year - 1980).expect("clamped to 1980..=2107");
    let date = (year << 9) | (c.month << 5) | c.day;
    (
        u16::try_from(time).expect("a DOS time fits 16 bits"),
        u16::try_from(date).expect("a clamped DOS date fits 16 bits"),
    )
}

/// A zip 32-bit field, refusing the values that would need zip64.
fn zip_u32(value: u64, name: &str) -> Result<u32, ArchiveError> {
    if value > ZIP_MAX_U32 {
        return Err(ArchiveError::ZipTooLarge {
            name: name.to_owned(),
        });
    }
    Ok(u32::try_from(value).expect("checked against the zip limit"))
}

fn put16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// The zip archive of `members`.
fn zip_bytes(members: &[Record<'_>], mtime: u64) -> Result<Vec<u8>, ArchiveError> {
    if members.len() > ZIP_MAX_ENTRIES {
        return Err(ArchiveError::TooManyEntries { count: members.len() });
    }
    let (dos_time, dos_date) = dos_datetime(mtime);
    let mut out = Vec::new();
    let mut central = Vec::new();
    for member in members {
        let entry_name = member.entry_name();
        let name = member.archive_name();
        let name_len = u16::try_from(name.len()).map_err(|_| ArchiveError::NameTooLong {
            name: entry_name.to_owned(),
            format: ArchiveFormat::Zip,
            rule: "a zip name holds at most 65535 bytes",
        })?;
        let data = member_data(member)?;
        let size = data.len() as u64;
        if size > ZIP_MAX_U32 {
            return Err(ArchiveError::TooLarge {
                name: entry_name.to_owned(),
                size,
                format: ArchiveFormat::Zip,
                limit: ZIP_MAX_U32,
            });
        }
        let mut crc = Crc::new();
        crc.update(&data);
        let (method, needs, stored) = if data.is_empty() {
            (ZIP_STORED, ZIP_NEEDS_STORE, Cow::Borrowed(&[][..]))
        } else {
            let mut encoder = DeflateEncoder::new(Vec::new(), Compression::new(ZIP_DEFLATE_LEVEL));
            let deflated = encoder
                .write_all(&data)
                .and_then(|()| encoder.finish())
                .map_err(|source| ArchiveError::Compress {
                    format: ArchiveFormat::Zip,
                    source,
                })?;
            (ZIP_DEFLATED, ZIP_NEEDS_DEFLATE, Cow::Owned(deflated))
        };
        let flags = if name.is_ascii() { 0 } else { ZIP_FLAG_UTF8 };
        let compressed = zip_u32(stored.len() as u64, entry_name)?;
        let uncompressed = zip_u32(size, entry_name)?;
        let offset = zip_u32(out.len() as u64, entry_name)?;
        let external = match member {
            Record::Dir { .. } => ((S_IFDIR | 0o755) << 16) | DOS_DIR_ATTR,
            Record::File { mode, .. } => (S_IFREG | mode) << 16,
        };

        // Local file header.
        put32(&mut out, 0x0403_4b50);
        put16(&mut out, needs);
        put16(&mut out, flags);
        put16(&mut out, method);
        put16(&mut out, dos_time);
        put16(&mut out, dos_date);
        put32(&mut out, crc.sum());
        put32(&mut out, compressed);
        put32(&mut out, uncompressed);
        put16(&mut out, name_len);
        put16(&mut out, 0); // extra field length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&stored);

        // Central directory header.
        put32(&mut central, 0x0201_4b50);
        put16(&mut central, ZIP_MADE_BY);
        put16(&mut central, needs);
        put16(&mut central, flags);
        put16(&mut central, method);
        put16(&mut central, dos_time);
        put16(&mut central, dos_date);
        put32(&mut central, crc.sum());
        put32(&mut central, compressed);
        put32(&mut central, uncompressed);
        put16(&mut central, name_len);
        put16(&mut central, 0); // extra field length
        put16(&mut central, 0); // comment length
        put16(&mut central, 0); // disk number start
        put16(&mut central, 0); // internal attributes
        put32(&mut central, external);
        put32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let count = u16::try_from(members.len()).expect("checked against the zip entry limit");
    let cd_offset = zip_u32(out.len() as u64, "central directory")?;
    let cd_size = zip_u32(central.len() as u64, "central directory")?;
    zip_u32(out.len() as u64 + central.len() as u64, "central directory")?;
    out.extend_from_slice(&central);

    // End of central directory record.
    put32(&mut out, 0x0605_4b50);
    put16(&mut out, 0); // this disk
    put16(&mut out, 0); // disk with the central directory
    put16(&mut out, count);
    put16(&mut out, count);
    put32(&mut out, cd_size);
    put32(&mut out, cd_offset);
    put16(&mut out, 0); // comment length
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::checksum::sha256_bytes;

    /// 2023-11-14T22:13:21Z: odd, so the zip's two-second rounding shows.
    const MTIME: u64 = 1_700_000_001;
    const MTIME_TEXT: &str = "2023-11-14 22:13";
    const TAR_FORMATS: [ArchiveFormat; 3] =
        [ArchiveFormat::TarGz, ArchiveFormat::TarXz, ArchiveFormat::TarZst];

    // ---- helpers --------------------------------------------------------------------------

    /// Gregorian leap years, for the tests' own inverse of the DOS date (independent of
    /// `crate::civil`, which the writer uses).
    fn is_leap(year: u64) -> bool {
        (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
    }

    /// The path of an external tool the tests need; a missing one fails the test.
    fn tool(name: &str) -> PathBuf {
        which::which(name).unwrap_or_else(|_| {
            panic!("`{name}` is not installed and the archive tests need it: run scripts/setup")
        })
    }

    /// Runs `cmd`, requires success and an empty stderr, and returns stdout.
    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd:?} failed ({}): {stderr}", out.status);
        assert!(stderr.trim().is_empty(), "{cmd:?} warned: {stderr}");
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    fn long_name() -> String {
        format!("kiln-1.0/{}/{}", "d".repeat(80), "f".repeat(90))
    }

    /// A release-like set of entries, one from a real file with odd permissions, and the tree
    /// it must extract to: path (no trailing `/`) -> (mode, bytes or `None` for a directory).
    #[allow(clippy::type_complexity)]
    fn fixture(dir: &Path) -> (Vec<Member>, BTreeMap<String, (u32, Option<Vec<u8>>)>) {
        let license = dir.join("LICENSE");
        fs::write(&license, b"MIT License\n\nCopyright kiln authors\n").unwrap();
        fs::set_permissions(&license, Permissions::from_mode(0o600)).unwrap();
        let binary: Vec<u8> = b"\x7fELF not really\n".repeat(300);
        let entries = vec![
            Member::bytes("kiln-1.0/bin/kiln", binary.clone(), 0o700),
            Member::file("kiln-1.0/LICENSE", &license, 0o600),
            Member::bytes("kiln-1.0/README.md", "# kiln\n", 0o664),
            Member::bytes("kiln-1.0/share/doc/empty", Vec::new(), 0o644),
            Member::bytes("kiln-1.0/bin-helper", "#!/bin/sh\n", 0o100_775),
            Member::bytes(long_name(), "deep\n", 0o755),
        ];
        let mut tree = BTreeMap::new();
        for d in ["kiln-1.0", "kiln-1.0/bin", "kiln-1.0/share", "kiln-1.0/share/doc"] {
            tree.insert(d.to_owned(), (0o755, None));
        }
        tree.insert(format!("kiln-1.0/{}", "d".repeat(80)), (0o755, None));
        tree.insert("kiln-1.0/bin/kiln".to_owned(), (0o755, Some(binary)));
        tree.insert(
            "kiln-1.0/LICENSE".to_owned(),
            (0o644, Some(b"MIT License\n\nCopyright kiln authors\n".to_vec())),
        );
        tree.insert(
            "kiln-1.0/README.md".to_owned(),
            (0o644, Some(b"# kiln\n".to_vec())),
        );
        tree.insert("kiln-1.0/share/doc/empty".to_owned(), (0o644, Some(Vec::new())));
        tree.insert(
            "kiln-1.0/bin-helper".to_owned(),
            (0o755, Some(b"#!/bin/sh\n".to_vec())),
        );
        tree.insert(long_name(), (0o755, Some(b"deep\n".to_vec())));
        (entries, tree)
    }

    /// Archive names in the order they must appear: directories with their `/`, byte order.
    fn expected_order(tree: &BTreeMap<String, (u32, Option<Vec<u8>>)>) -> Vec<String> {
        let mut names: Vec<String> = tree
            .iter()
            .map(|(n, (_, data))| {
                if data.is_some() {
                    n.clone()
                } else {
                    format!("{n}/")
                }
            })
            .collect();
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        names
    }

    /// Everything under `root`: relative path -> (mode, bytes or `None` for a directory).
    fn walk(root: &Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
        fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Option<Vec<u8>>)>) {
            for item in fs::read_dir(dir).unwrap() {
                let path = item.unwrap().path();
                let meta = fs::symlink_metadata(&path).unwrap();
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
                let mode = meta.mode() & 0o7777;
                if meta.is_dir() {
                    out.insert(rel, (mode, None));
                    go(root, &path, out);
                } else {
                    assert!(meta.is_file(), "{rel} is neither file nor directory");
                    out.insert(rel, (mode, Some(fs::read(&path).unwrap())));
                }
            }
        }
        let mut out = BTreeMap::new();
        go(root, root, &mut out);
        out
    }

    /// `stat -c %Y` of every path under `root`, keyed by relative path.
    fn mtimes(root: &Path, rels: impl IntoIterator<Item = String>) -> BTreeMap<String, u64> {
        let rels: Vec<String> = rels.into_iter().collect();
        let out = run(Command::new(tool("stat"))
            .arg("-c")
            .arg("%Y")
            .args(rels.iter().map(|r| root.join(r))));
        rels.into_iter()
            .zip(out.lines().map(|l| l.parse().unwrap()))
            .collect()
    }

    fn decompress(format: ArchiveFormat, bytes: &[u8]) -> Vec<u8> {
        let mut tar = Vec::new();
        match format {
            ArchiveFormat::TarGz => flate2::read::GzDecoder::new(bytes).read_to_end(&mut tar),
            ArchiveFormat::TarXz => liblzma::read::XzDecoder::new(bytes).read_to_end(&mut tar),
            ArchiveFormat::TarZst => zstd::stream::read::Decoder::new(bytes)
                .unwrap()
                .read_to_end(&mut tar),
            ArchiveFormat::Zip => panic!("zip is not a tar"),
        }
        .unwrap();
        tar
    }

    /// One member as read back: archive name, mode, mtime, bytes (`None` for a directory).
    type ReadMember = (String, u32, u64, Option<Vec<u8>>);

    /// Reads a tar with the `tar` crate, raw (extension headers would show as members), and
    /// checks every header is plain ustar owned by 0:0 with empty owner names.
    fn read_tar(tar: &[u8]) -> Vec<ReadMember> {
        assert_eq!(tar.len() % 512, 0);
        assert!(tar.len() >= 1024 && tar[tar.len() - 1024..].iter().all(|&b| b == 0));
        let mut archive = tar::Archive::new(tar);
        let mut out = Vec::new();
        for entry in archive.entries().unwrap().raw(true) {
            let mut entry = entry.unwrap();
            let header = entry.header();
            let ustar = header.as_ustar().expect("every header is ustar");
            assert_eq!(&ustar.magic, b"ustar\0");
            assert_eq!(&ustar.version, b"00");
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.gid().unwrap(), 0);
            assert_eq!(header.username_bytes(), Some(&b""[..]));
            assert_eq!(header.groupname_bytes(), Some(&b""[..]));
            let name = String::from_utf8(header.path_bytes().into_owned()).unwrap();
            let mode = header.mode().unwrap();
            let mtime = header.mtime().unwrap();
            let data = match header.entry_type() {
                tar::EntryType::Directory => {
                    assert_eq!(header.size().unwrap(), 0);
                    None
                }
                tar::EntryType::Regular => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).unwrap();
                    Some(data)
                }
                other => panic!("{name}: unexpected entry type {other:?}"),
            };
            out.push((name, mode, mtime, data));
        }
        out
    }

    /// Reads a zip written here through its central directory, checking the local headers
    /// agree and the CRCs match.
    fn read_zip(zip: &[u8]) -> Vec<ReadMember> {
        let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(zip[i..i + 4].try_into().unwrap());
        let usize_at = |i: usize| usize::try_from(u32_at(i)).unwrap();
        let end = zip.len() - 22;
        assert_eq!(
            u32_at(end),
            0x0605_4b50,
            "end record at the very end (no comment)"
        );
        let count = usize::from(u16_at(end + 10));
        let (cd_size, mut at) = (usize_at(end + 12), usize_at(end + 16));
        assert_eq!(at + cd_size, end);
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(at), 0x0201_4b50);
            assert_eq!(u16_at(at + 4), ZIP_MADE_BY);
            let (method, dos_time, dos_date, crc) =
                (u16_at(at + 10), u16_at(at + 12), u16_at(at + 14), u32_at(at + 16));
            let (csize, usize_) = (usize_at(at + 20), usize_at(at + 24));
            let name_len = usize::from(u16_at(at + 28));
            assert_eq!(
                (u16_at(at + 30), u16_at(at + 32)),
                (0, 0),
                "no extra field, no comment"
            );
            let external = u32_at(at + 38);
            let local = usize_at(at + 42);
            let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
            // The local header repeats the central one from `version needed` to the name.
            assert_eq!(u32_at(local), 0x0403_4b50);
            assert_eq!(
                zip[local + 4..local + 26],
                zip[at + 6..at + 28],
                "{name}: local header differs"
            );
            assert_eq!(u16_at(local + 28), 0, "{name}: local extra field");
            assert_eq!(u16_at(at + 8) & (1 << 3), 0, "{name}: data descriptor flag");
            let start = local + 30 + name_len;
            let stored = &zip[start..start + csize];
            let data = match method {
                ZIP_STORED => stored.to_vec(),
                ZIP_DEFLATED => {
                    let mut data = Vec::new();
                    flate2::read::DeflateDecoder::new(stored)
                        .read_to_end(&mut data)
                        .unwrap();
                    data
                }
                other => panic!("{name}: method {other}"),
            };
            assert_eq!(data.len(), usize_);
            let mut check = Crc::new();
            check.update(&data);
            assert_eq!(check.sum(), crc, "{name}: crc");
            let unix = external >> 16;
            let dir = name.ends_with('/');
            assert_eq!(
                unix & 0o170_000,
                if dir { S_IFDIR } else { S_IFREG },
                "{name}: type bits"
            );
            let secs = dos_to_unix(dos_time, dos_date);
            out.push((name, unix & 0o7777, secs, (!dir).then_some(data)));
            at += 46 + name_len;
        }
        out
    }

    /// The inverse of `dos_datetime`, for tests (a naive day count from 1980).
    fn dos_to_unix(time: u16, date: u16) -> u64 {
        let (year, month, day) = (
            1980 + u64::from(date >> 9),
            u64::from((date >> 5) & 0xf),
            u64::from(date & 0x1f),
        );
        let mut days = (1980..year)
            .map(|y| if is_leap(y) { 366 } else { 365 })
            .sum::<u64>();
        let months = [
            31,
            if is_leap(year) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        days += months[..usize::try_from(month - 1).unwrap()].iter().sum::<u64>() + day - 1;
        let secs =
            u64::from(time >> 11) * 3600 + u64::from((time >> 5) & 0x3f) * 60 + u64::from(time & 0x1f) * 2;
        DOS_MIN + days * 86_400 + secs
    }

    fn python(script: &str, args: &[&Path]) -> Value {
        let out = run(Command::new(tool("python3")).arg("-c").arg(script).args(args));
        serde_json::from_str(&out).unwrap()
    }

    // ---- formats and modes ----------------------------------------------------------------

    #[test]
    fn format_names_round_trip() {
        for format in ArchiveFormat::ALL {
            assert_eq!(format.to_string(), format.extension());
            assert_eq!(format.extension().parse::<ArchiveFormat>().unwrap(), format);
        }
        assert_eq!("tar.zst".parse::<ArchiveFormat>().unwrap(), ArchiveFormat::TarZst);
        let err = "tgz".parse::<ArchiveFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown archive format `tgz` (valid: tar.gz, tar.xz, tar.zst, zip)"
        );
    }

    #[test]
    fn modes_normalize_on_any_exec_bit() {
        for (given, want) in [
            (0o644, 0o644),
            (0o600, 0o644),
            (0, 0o644),
            (0o4666, 0o644),
            (0o100, 0o755),
            (0o001, 0o755),
            (0o777, 0o755),
            (0o100_700, 0o755),
        ] {
            assert_eq!(normalize_mode(given), want, "{given:o}");
        }
    }

    // ---- determinism ----------------------------------------------------------------------

    #[test]
    fn input_order_does_not_change_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (entries, _) = fixture(dir.path());
        let mut reversed = entries.clone();
        reversed.reverse();
        let mut rotated = entries.clone();
        rotated.rotate_left(2);
        for format in ArchiveFormat::ALL {
            let a = archive_bytes(format, &entries, MTIME).unwrap();
            assert_eq!(a, archive_bytes(format, &reversed, MTIME).unwrap(), "{format}");
            assert_eq!(a, archive_bytes(format, &rotated, MTIME).unwrap(), "{format}");
            let mut written = Vec::new();
            write_archive(format, &rotated, MTIME, &mut written).unwrap();
            assert_eq!(sha256_bytes(&a), sha256_bytes(&written), "{format}");
        }
    }

    #[test]
    fn members_come_in_byte_order_with_their_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (entries, tree) = fixture(dir.path());
        let want = expected_order(&tree);
        // `bin-helper` sorts before `bin/` because `-` < `/`: plain byte order of archive names.
        assert!(
            want.iter().position(|n| n == "kiln-1.0/bin-helper")
                < want.iter().position(|n| n == "kiln-1.0/bin/")
        );
        for format in TAR_FORMATS {
            let members = read_tar(&decompress(
                format,
                &archive_bytes(format, &entries, MTIME).unwrap(),
            ));
            let names: Vec<String> = members.iter().map(|m| m.0.clone()).collect();
            assert_eq!(names, want, "{format}");
            for (name, mode, mtime, data) in members {
                let key = name.trim_end_matches('/');
                assert_eq!(
                    (mode, data.as_ref()),
                    (tree[key].0, tree[key].1.as_ref()),
                    "{format} {name}"
                );
                assert_eq!(mtime, MTIME, "{format} {name}");
            }
        }
        let zip = read_zip(&archive_bytes(ArchiveFormat::Zip, &entries, MTIME).unwrap());
        let names: Vec<String> = zip.iter().map(|m| m.0.clone()).collect();
        assert_eq!(names, want, "zip");
        for (name, mode, mtime, data) in zip {
            let key = name.trim_end_matches('/');
            assert_eq!(
                (mode, data.as_ref()),
                (tree[key].0, tree[key].1.as_ref()),
                "zip {name}"
            );
            assert_eq!(
                mtime,
                MTIME - 1,
                "zip {name}: DOS time rounds down to even seconds"
            );
        }
    }

    /// Pinned digests of a small archive per format. A failure means the bytes changed: a code
    /// change here, or a dependency update (flate2/miniz_oxide, liblzma, zstd, tar) that now
    /// compresses differently, which breaks reproducing earlier releases bit for bit. Update
    /// the digests only deliberately.
    #[test]
    fn pinned_digests() {
        let entries = [
            Member::bytes("demo/bin/demo", b"#!/bin/sh\necho demo\n".repeat(50), 0o755),
            Member::bytes("demo/README", "demo\n", 0o644),
        ];
        let tar = decompress(
            ArchiveFormat::TarGz,
            &archive_bytes(ArchiveFormat::TarGz, &entries, MTIME).unwrap(),
        );
        let mut got = vec![("tar".to_owned(), sha256_bytes(&tar))];
        for format in ArchiveFormat::ALL {
            got.push((
                format.to_string(),
                sha256_bytes(&archive_bytes(format, &entries, MTIME).unwrap()),
            ));
        }
        let want = [
            (
                "tar",
                "404bc87f082c0b43204cf628be6d31b9a4ced0ba410d495a2d86d4b130523a92",
            ),
            (
                "tar.gz",
                "418a75646b51ee2efc5902992c3cb95b30203276ec1f9bf2784b7d9d4901f886",
            ),
            (
                "tar.xz",
                "055bcf240a8d943451c780d4dc343255e11fc2fa199e422dfd87b1a05f5dc112",
            ),
            (
                "tar.zst",
                "397475bea1dd3f3a0ff63de0f65c399d0346a383ec1a201f2cea1e601d87685e",
            ),
            (
                "zip",
                "396eaf094f43c67c5198365fdf69dcfc935b607555093a078b5521dece3e919a",
            ),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, d)| ((*f).to_owned(), (*d).to_owned()))
            .collect();
        assert_eq!(got, want, "archive bytes changed (see this test's doc)");
    }

    #[test]
    fn empty_entry_list_gives_valid_empty_archives() {
        for format in TAR_FORMATS {
            let tar = decompress(format, &archive_bytes(format, &[], MTIME).unwrap());
            assert_eq!(tar, vec![0u8; 1024], "{format}");
        }
        let zip = archive_bytes(ArchiveFormat::Zip, &[], MTIME).unwrap();
        assert_eq!(zip.len(), 22);
        assert!(read_zip(&zip).is_empty());
    }

    // ---- compressor headers ---------------------------------------------------------------

    #[test]
    fn gzip_header_has_no_name_no_mtime_fixed_os() {
        let bytes = archive_bytes(ArchiveFormat::TarGz, &[Member::bytes("a", "a", 0o644)], MTIME).unwrap();
        assert_eq!(bytes[..3], [0x1f, 0x8b, 8], "gzip magic, deflate");
        assert_eq!(bytes[3], 0, "FLG: no FNAME, FCOMMENT, FEXTRA or FHCRC");
        assert_eq!(bytes[4..8], [0, 0, 0, 0], "MTIME 0");
        assert_eq!(bytes[8], 2, "XFL 2: maximum compression");
        assert_eq!(bytes[9], GZIP_OS, "OS byte");
        // `gzip -lv` agrees there is no stored name or time to restore.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        fs::write(&path, &bytes).unwrap();
        let listing = run(Command::new(tool("gzip")).arg("-lvN").arg(&path));
        let row = listing.lines().nth(1).unwrap_or_default();
        assert!(row.starts_with("defla "), "{listing}");
        let shown = Path::new(row.split_whitespace().last().unwrap_or_default());
        assert_eq!(
            shown.file_name(),
            Some("a.tar".as_ref()),
            "no stored name: {listing}"
        );
    }

    #[test]
    fn xz_stream_uses_crc64() {
        let bytes = archive_bytes(ArchiveFormat::TarXz, &[Member::bytes("a", "a", 0o644)], MTIME).unwrap();
        assert_eq!(bytes[..6], [0xfd, b'7', b'z', b'X', b'Z', 0]);
        assert_eq!(bytes[6..8], [0, 0x04], "stream flags: CRC64");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.xz");
        fs::write(&path, &bytes).unwrap();
        let listing = run(Command::new(tool("xz")).arg("--robot").arg("-lv").arg(&path));
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with("stream\t") && l.contains("CRC64")),
            "{listing}"
        );
    }

    #[test]
    fn zstd_frame_has_checksum_and_exact_size() {
        let entries = [Member::bytes("a", "a", 0o644)];
        let bytes = archive_bytes(ArchiveFormat::TarZst, &entries, MTIME).unwrap();
        assert_eq!(bytes[..4], [0x28, 0xb5, 0x2f, 0xfd]);
        assert_ne!(bytes[4] & 0b100, 0, "content checksum flag");
        let tar_len = decompress(ArchiveFormat::TarZst, &bytes).len() as u64;
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&bytes).ok(),
            Some(Some(tar_len))
        );
    }

    // ---- GNU tar, Python, unzip -----------------------------------------------------------

    fn check_with_gnu_tar(format: ArchiveFormat, flags: &[&str]) {
        tool("tar");
        match format {
            ArchiveFormat::TarXz => drop(tool("xz")),
            ArchiveFormat::TarZst => drop(tool("zstd")),
            _ => {}
        }
        let dir = tempfile::tempdir().unwrap();
        let (entries, tree) = fixture(dir.path());
        let archive = dir.path().join(format!("kiln.{}", format.extension()));
        let mut file = File::create(&archive).unwrap();
        write_archive(format, &entries, MTIME, &mut file).unwrap();
        drop(file);
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        run(Command::new("tar")
            .args(flags)
            .arg(&archive)
            .arg("-p")
            .arg("-C")
            .arg(&out));
        let got = walk(&out);
        assert_eq!(got, tree, "{format}: extracted tree");
        let times = mtimes(&out, got.into_keys());
        assert!(times.values().all(|&t| t == MTIME), "{format}: mtimes {times:?}");
    }

    #[test]
    fn gnu_tar_extracts_tar_gz() {
        check_with_gnu_tar(ArchiveFormat::TarGz, &["-xzf"]);
    }

    #[test]
    fn gnu_tar_extracts_tar_xz() {
        check_with_gnu_tar(ArchiveFormat::TarXz, &["-xJf"]);
    }

    #[test]
    fn gnu_tar_extracts_tar_zst() {
        check_with_gnu_tar(ArchiveFormat::TarZst, &["--zstd", "-xf"]);
    }

    #[test]
    fn gnu_tar_lists_modes_owner_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let (entries, tree) = fixture(dir.path());
        let archive = dir.path().join("kiln.tar.gz");
        fs::write(
            &archive,
            archive_bytes(ArchiveFormat::TarGz, &entries, MTIME).unwrap(),
        )
        .unwrap();
        let listing = run(Command::new(tool("tar"))
            .env("TZ", "UTC")
            .arg("--utc")
            .arg("-tvzf")
            .arg(&archive));
        let lines: Vec<&str> = listing.lines().collect();
        let want = expected_order(&tree);
        assert_eq!(lines.len(), want.len(), "{listing}");
        for (line, name) in lines.iter().zip(&want) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let perms = match tree[name.trim_end_matches('/')] {
                (_, None) => "drwxr-xr-x",
                (0o755, Some(_)) => "-rwxr-xr-x",
                _ => "-rw-r--r--",
            };
            assert_eq!(fields[0], perms, "{line}");
            assert_eq!(fields[1], "0/0", "{line}: numeric owner, names empty");
            assert_eq!(format!("{} {}", fields[3], fields[4]), MTIME_TEXT, "{line}");
            assert_eq!(fields[5], name, "{line}");
        }
    }

    const PY_TAR: &str = r"
import json, sys, tarfile
out = []
for path in sys.argv[1:]:
    with tarfile.open(path, 'r:*') as tf:
        members = []
        for m in tf.getmembers():
            data = tf.extractfile(m).read().hex() if m.isfile() else None
            members.append(dict(name=m.name, type=m.type.decode(), mode=m.mode, mtime=m.mtime,
                                uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname,
                                pax=m.pax_headers, data=data))
        out.append(dict(pax=tf.pax_headers, members=members))
print(json.dumps(out))
";

    #[test]
    fn python_tarfile_sees_plain_ustar() {
        let dir = tempfile::tempdir().unwrap();
        let (entries, tree) = fixture(dir.path());
        // Python's tarfile (before 3.14) reads no zstd: the zstd tool unpacks that one.
        let paths: Vec<PathBuf> = TAR_FORMATS
            .iter()
            .map(|&f| {
                let p = dir.path().join(format!("kiln.{}", f.extension()));
                fs::write(&p, archive_bytes(f, &entries, MTIME).unwrap()).unwrap();
                if f != ArchiveFormat::TarZst {
                    return p;
                }
                let tar = dir.path().join("kiln-from-zst.tar");
                run(Command::new(tool("zstd"))
                    .arg("-q")
                    .arg("-d")
                    .arg(&p)
                    .arg("-o")
                    .arg(&tar));
                tar
            })
            .collect();
        let args: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let report = python(PY_TAR, &args);
        let want = expected_order(&tree);
        for (archive, format) in report.as_array().unwrap().iter().zip(TAR_FORMATS) {
            assert_eq!(
                archive["pax"],
                serde_json::json!({}),
                "{format}: global PAX headers"
            );
            let members = archive["members"].as_array().unwrap();
            assert_eq!(members.len(), want.len(), "{format}");
            for (m, name) in members.iter().zip(&want) {
                let key = name.trim_end_matches('/');
                let (mode, data) = &tree[key];
                assert_eq!(m["name"], key, "{format}");
                assert_eq!(m["pax"], serde_json::json!({}), "{format} {key}: PAX headers");
                assert_eq!(
                    m["type"],
                    if data.is_some() { "0" } else { "5" },
                    "{format} {key}"
                );
                assert_eq!(m["mode"], *mode, "{format} {key}");
                assert_eq!(m["mtime"], MTIME, "{format} {key}");
                assert_eq!(
                    (&m["uid"], &m["gid"]),
                    (&Value::from(0), &Value::from(0)),
                    "{format} {key}"
                );
                assert_eq!(
                    (&m["uname"], &m["gname"]),
                    (&Value::from(""), &Value::from("")),
                    "{format} {key}"
                );
                let hex = data.as_ref().map(hex::encode);
                assert_eq!(m["data"], serde_json::json!(hex), "{format} {key}");
            }
        }
    }

    #[test]
    fn unzip_extracts_zip_with_modes_and_time() {
        tool("unzip");
        let dir = tempfile::tempdir().unwrap();
        let (entries, tree) = fixture(dir.path());
        let archive = dir.path().join("kiln.zip");
        fs::write(
            &archive,
            archive_bytes(ArchiveFormat::Zip, &entries, MTIME).unwrap(),
        )
        .unwrap();
        let test = run(Command::new("unzip").arg("-t").arg(&archive));
        assert!(test.contains("No errors detected"), "{test}");
        let out = dir.path().join("out");
        // Without extra fields unzip reads DOS time as local time: pin the zone to UTC.
        run(Command::new("unzip")
            .env("TZ", "UTC")
            .arg("-q")
            .arg(&archive)
            .arg("-d")
            .arg(&out));
        let got = walk(&out);
        assert_eq!(got, tree, "extracted tree");
        let times = mtimes(&out, got.into_keys());
        assert!(times.values().all(|&t| t == MTIME - 1), "mtimes {times:?}");
    }

    #[test]
    fn zipinfo_shows_unix_modes() {
        let dir = tempfile::tempdir().unwrap();
        let (entries, tree) = fixture(dir.path());
        let archive = dir.path().join("kiln.zip");
        fs::write(
            &archive,
            archive_bytes(ArchiveFormat::Zip, &entries, MTIME).unwrap(),
        )
        .unwrap();
        let listing = run(Command::new(tool("unzip")).arg("-Z").arg("-l").arg(&archive));
        let rows: Vec<&str> = listing.lines().filter(|l| l.contains(" unx ")).collect();
        let want = expected_order(&tree);
        assert_eq!(rows.len(), want.len(), "{listing}");
        for (row, name) in rows.iter().zip(&want) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (perms, method) = match tree[name.trim_end_matches('/')] {
                (_, None) => ("drwxr-xr-x", "stor"),
                (_, Some(ref d)) if d.is_empty() => ("-rw-r--r--", "stor"),
                (0o755, Some(_)) => ("-rwxr-xr-x", "defN"),
                _ => ("-rw-r--r--", "defN"),
            };
            assert_eq!(fields[0], perms, "{row}");
            assert_eq!(fields[1], "2.0", "{row}: made by version 2.0");
            assert_eq!(fields[2], "unx", "{row}");
            assert_eq!(fields[6], method, "{row}");
            assert_eq!(fields.last().copied(), Some(name.as_str()), "{row}");
        }
    }

    const PY_ZIP: &str = r"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    members = [dict(name=i.filename, system=i.create_system, version=i.create_version,
                    attr=i.external_attr, extra=i.extra.hex(), comment=i.comment.hex(),
                    date_time=list(i.date_time), method=i.compress_type, flags=i.flag_bits,
                    data=zf.read(i).hex()) for i in zf.infolist()]
    print(json.dumps(dict(bad=zf.testzip(), comment=zf.comment.hex(), members=members)))
";

    #[test]
    fn python_zipfile_reads_zip() {
        let dir = tempfile::tempdir().unwrap();
        let (mut entries, mut tree) = fixture(dir.path());
        entries.push(Member::bytes("kiln-1.0/données.txt", "é\n", 0o644));
        tree.insert(
            "kiln-1.0/données.txt".to_owned(),
            (0o644, Some("é\n".as_bytes().to_vec())),
        );
        let archive = dir.path().join("kiln.zip");
        fs::write(
            &archive,
            archive_bytes(ArchiveFormat::Zip, &entries, MTIME).unwrap(),
        )
        .unwrap();
        let report = python(PY_ZIP, &[&archive]);
        assert_eq!(report["bad"], Value::Null, "CRC check");
        assert_eq!(report["comment"], "");
        let members = report["members"].as_array().unwrap();
        let want = expected_order(&tree);
        assert_eq!(members.len(), want.len());
        for (m, name) in members.iter().zip(&want) {
            let (mode, data) = &tree[name.trim_end_matches('/')];
            assert_eq!(m["name"], name.as_str());
            assert_eq!(
                (&m["system"], &m["version"]),
                (&Value::from(3), &Value::from(20)),
                "{name}"
            );
            let attr = m["attr"].as_u64().unwrap();
            let kind = if data.is_some() { S_IFREG } else { S_IFDIR };
            assert_eq!(attr >> 16, u64::from(kind | mode), "{name}: unix mode and type");
            assert_eq!(
                attr & 0xffff,
                if data.is_some() { 0 } else { 0x10 },
                "{name}: DOS attributes"
            );
            assert_eq!(
                (&m["extra"], &m["comment"]),
                (&Value::from(""), &Value::from("")),
                "{name}"
            );
            assert_eq!(
                m["date_time"],
                serde_json::json!([2023, 11, 14, 22, 13, 20]),
                "{name}"
            );
            let utf8 = if name.is_ascii() { 0 } else { ZIP_FLAG_UTF8 };
            assert_eq!(m["flags"], u64::from(utf8), "{name}: flags (no data descriptor)");
            let stored = data.as_ref().is_none_or(Vec::is_empty);
            assert_eq!(m["method"], if stored { 0 } else { 8 }, "{name}");
            assert_eq!(
                m["data"],
                hex::encode(data.as_deref().unwrap_or_default()),
                "{name}"
            );
        }
    }

    // ---- zip details ----------------------------------------------------------------------

    #[test]
    fn dos_datetime_in_utc_with_clamping() {
        /// DOS (time, date) from calendar fields, by the format's bit layout.
        fn dos(ymd: [u16; 3], hms: [u16; 3]) -> (u16, u16) {
            let [year, month, day] = ymd;
            let [hour, minute, second] = hms;
            (
                (hour << 11) | (minute << 5) | (second / 2),
                ((year - 1980) << 9) | (month << 5) | day,
            )
        }
        assert_eq!(dos_datetime(DOS_MIN), dos([1980, 1, 1], [0, 0, 0]));
        assert_eq!(dos_datetime(0), dos_datetime(DOS_MIN), "clamped up to 1980");
        // 2000-02-29 12:34:56, a leap day.
        assert_eq!(dos_datetime(951_827_696), dos([2000, 2, 29], [12, 34, 56]));
        // 2023-11-14 22:13:21: odd seconds round down.
        assert_eq!(dos_datetime(MTIME), dos([2023, 11, 14], [22, 13, 20]));
        // 2107-12-31 23:59:58, and anything later clamps to it.
        let last = dos([2107, 12, 31], [23, 59, 58]);
        assert_eq!(dos_datetime(DOS_MAX), last);
        assert_eq!(dos_datetime(DOS_MAX + 1), last);
        assert_eq!(dos_datetime(MAX_MTIME), last);
        for t in [DOS_MIN, 951_827_696, MTIME, 1_709_208_000, DOS_MAX] {
            let (time, date) = dos_datetime(t);
            assert_eq!(dos_to_unix(time, date), t & !1, "{t}");
        }
    }

    #[test]
    fn zip_refuses_values_that_need_zip64() {
        assert_eq!(zip_u32(0xFFFF_FFFE, "x").unwrap(), 0xFFFF_FFFE);
        let err = zip_u32(0xFFFF_FFFF, "big.bin").unwrap_err();
        assert!(matches!(err, ArchiveError::ZipTooLarge { ref name } if name == "big.bin"));
        assert!(err.to_string().contains("`big.bin`"), "{err}");
        assert!(zip_u32(5 << 30, "x").is_err());
    }

    #[test]
    fn zip_refuses_too_many_entries() {
        let entries: Vec<Member> = (0..=ZIP_MAX_ENTRIES)
            .map(|i| Member::bytes(format!("f{i}"), Vec::new(), 0o644))
            .collect();
        let err = archive_bytes(ArchiveFormat::Zip, &entries, MTIME).unwrap_err();
        assert!(
            matches!(err, ArchiveError::TooManyEntries { count: 65_536 }),
            "{err}"
        );
    }

    // ---- refusals -------------------------------------------------------------------------

    #[test]
    fn refuses_unsafe_names() {
        for (name, reason) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../escape", "`..`"),
            ("a/../../b", "`..`"),
            ("a/..", "`..`"),
            ("a\\b", "backslash"),
            ("a\0b", "NUL"),
            ("a\nb", "control"),
            ("a//b", "`//`"),
            ("a/", "ends with `/`"),
            ("./a", "`.` component"),
            ("a/./b", "`.` component"),
        ] {
            for format in ArchiveFormat::ALL {
                let err = archive_bytes(format, &[Member::bytes(name, "x", 0o644)], MTIME).unwrap_err();
                let ArchiveError::InvalidName {
                    name: got,
                    reason: why,
                } = &err
                else {
                    panic!("{name:?}: {err}");
                };
                assert_eq!(got, &name.escape_debug().to_string());
                assert!(why.contains(reason), "{name:?}: {why}");
                assert!(
                    err.to_string().contains(&format!("`{}`", name.escape_debug())),
                    "{err}"
                );
            }
        }
        // Dots inside names are fine.
        archive_bytes(
            ArchiveFormat::TarGz,
            &[Member::bytes("a/..b/c.d/.e", "x", 0o644)],
            MTIME,
        )
        .unwrap();
    }

    #[test]
    fn refuses_duplicates_and_files_used_as_directories() {
        let dup = [Member::bytes("a/b", "1", 0o644), Member::bytes("a/b", "2", 0o644)];
        let err = archive_bytes(ArchiveFormat::Zip, &dup, MTIME).unwrap_err();
        assert!(
            matches!(err, ArchiveError::DuplicateName { ref name } if name == "a/b"),
            "{err}"
        );
        let clash = [
            Member::bytes("a/b/c", "1", 0o644),
            Member::bytes("a/b", "2", 0o644),
        ];
        let err = archive_bytes(ArchiveFormat::TarGz, &clash, MTIME).unwrap_err();
        assert!(
            matches!(err, ArchiveError::FileIsDirectory { ref name, ref child } if name == "a/b" && child == "a/b/c"),
            "{err}"
        );
    }

    #[test]
    fn refuses_symlink_source() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real");
        fs::write(&target, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for format in ArchiveFormat::ALL {
            let err = archive_bytes(format, &[Member::file("bin/tool", &link, 0o755)], MTIME).unwrap_err();
            assert!(
                matches!(
                    err,
                    ArchiveError::NotRegularFile {
                        kind: "a symbolic link",
                        ..
                    }
                ),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("`bin/tool`") && text.contains(&link.display().to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_directory_source() {
        let dir = tempfile::tempdir().unwrap();
        let err = archive_bytes(
            ArchiveFormat::TarXz,
            &[Member::file("share", dir.path(), 0o755)],
            MTIME,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ArchiveError::NotRegularFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn refuses_missing_source_naming_entry_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = archive_bytes(
            ArchiveFormat::Zip,
            &[Member::file("nope", &missing, 0o644)],
            MTIME,
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::ReadSource { .. }), "{err}");
        assert!(
            err.to_string().contains("`nope`") && err.to_string().contains(&missing.display().to_string())
        );
    }

    #[test]
    fn ustar_names_split_or_are_refused() {
        assert_eq!(
            ustar_split(&"a".repeat(100)),
            Some(("", "a".repeat(100).as_str()))
        );
        let deep = format!("{}/{}", "p".repeat(155), "n".repeat(100));
        assert_eq!(
            ustar_split(&deep),
            Some(("p".repeat(155).as_str(), "n".repeat(100).as_str()))
        );
        let dir = format!("{}/{}/", "p".repeat(100), "n".repeat(20));
        assert_eq!(
            ustar_split(&dir),
            Some(("p".repeat(100).as_str(), format!("{}/", "n".repeat(20)).as_str()))
        );
        assert_eq!(ustar_split(&"a".repeat(101)), None);
        assert_eq!(ustar_split(&format!("{}/{}", "p".repeat(156), "n")), None);
        assert_eq!(
            ustar_split(&format!("{}/{}", "p".repeat(10), "n".repeat(101))),
            None
        );

        // (entry name, the name the error must give: the entry, or the implied directory)
        for (name, refused) in [
            ("a".repeat(100), None),
            ("a".repeat(101), Some("a".repeat(101))),
            (
                format!("top/{}", "n".repeat(101)),
                Some(format!("top/{}", "n".repeat(101))),
            ),
            (format!("{}/x", "p".repeat(156)), Some("p".repeat(156))),
            (format!("{}/f", "d".repeat(100)), Some("d".repeat(100))),
            // A full 155-byte prefix, its directories each fitting too.
            (
                format!(
                    "{}/{}/{}/{}",
                    "p".repeat(50),
                    "q".repeat(50),
                    "r".repeat(53),
                    "n".repeat(100)
                ),
                None,
            ),
            // A directory's name must fit on its own, trailing `/` included: a component of
            // 100 bytes cannot be a directory even where a file below it would fit.
            (deep.clone(), Some("p".repeat(155))),
        ] {
            for format in TAR_FORMATS {
                let result = archive_bytes(format, &[Member::bytes(name.clone(), "x", 0o644)], MTIME);
                match (result, &refused) {
                    (Ok(bytes), None) => {
                        assert_eq!(read_tar(&decompress(format, &bytes)).last().unwrap().0, name);
                    }
                    (Err(err @ ArchiveError::NameTooLong { .. }), Some(want)) => {
                        let ArchiveError::NameTooLong {
                            name: got, format: f, ..
                        } = &err
                        else {
                            unreachable!()
                        };
                        assert_eq!((got, *f), (want, format));
                        assert!(err.to_string().contains("no PAX or GNU"), "{err}");
                    }
                    (other, _) => panic!("{format} {}: {other:?}", name.len()),
                }
            }
            // zip has no such limit.
            archive_bytes(
                ArchiveFormat::Zip,
                &[Member::bytes(name.clone(), "x", 0o644)],
                MTIME,
            )
            .unwrap();
        }
    }

    #[test]
    fn refuses_mtime_past_ustar() {
        archive_bytes(ArchiveFormat::TarGz, &[Member::bytes("a", "x", 0o644)], MAX_MTIME).unwrap();
        for format in ArchiveFormat::ALL {
            let err = archive_bytes(format, &[Member::bytes("a", "x", 0o644)], MAX_MTIME + 1).unwrap_err();
            assert!(matches!(err, ArchiveError::MtimeOutOfRange { .. }), "{err}");
        }
    }

    #[test]
    fn nothing_is_written_on_error() {
        let mut out = Vec::new();
        let entries = [
            Member::bytes("ok", "x", 0o644),
            Member::file("zz", "/nonexistent/kiln-test", 0o644),
        ];
        for format in ArchiveFormat::ALL {
            assert!(write_archive(format, &entries, MTIME, &mut out).is_err());
            assert!(out.is_empty(), "{format}");
        }
    }

    // ---- property -------------------------------------------------------------------------

    /// A path segment from a safe alphabet that is never `.` or `..`.
    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,7}"
    }

    /// Up to 8 distinct files, none of them a directory of another.
    fn files() -> impl Strategy<Value = Vec<(String, Vec<u8>, u32)>> {
        let name = prop::collection::vec(segment(), 1..4).prop_map(|s| s.join("/"));
        let body = prop::collection::vec(any::<u8>(), 0..3000);
        prop::collection::btree_map(name, (body, 0u32..0o1000), 1..8).prop_map(|m| {
            let names: BTreeSet<String> = m.keys().cloned().collect();
            m.into_iter()
                .filter(|(n, _)| !names.iter().any(|o| o.starts_with(&format!("{n}/"))))
                .map(|(n, (b, mode))| (n, b, mode))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn archives_are_deterministic_and_read_back(
            (files, shuffled) in files().prop_flat_map(|f| (Just(f.clone()), Just(f).prop_shuffle())),
            format in prop::sample::select(ArchiveFormat::ALL.to_vec()),
            mtime in 0u64..4_500_000_000,
        ) {
            let entries: Vec<Member> = files.iter().map(|(n, b, m)| Member::bytes(n.clone(), b.clone(), *m)).collect();
            let other: Vec<Member> = shuffled.iter().map(|(n, b, m)| Member::bytes(n.clone(), b.clone(), *m)).collect();
            let first = archive_bytes(format, &entries, mtime).unwrap();
            prop_assert_eq!(&first, &archive_bytes(format, &entries, mtime).unwrap());
            prop_assert_eq!(sha256_bytes(&first), sha256_bytes(&archive_bytes(format, &other, mtime).unwrap()));

            let mut want: BTreeMap<String, (u32, Option<Vec<u8>>)> = BTreeMap::new();
            for (name, body, mode) in &files {
                for (i, _) in name.match_indices('/') {
                    want.insert(format!("{}/", &name[..i]), (0o755, None));
                }
                want.insert(name.clone(), (normalize_mode(*mode), Some(body.clone())));
            }
            let members = if format == ArchiveFormat::Zip {
                read_zip(&first)
            } else {
                read_tar(&decompress(format, &first))
            };
            let want_time = if format == ArchiveFormat::Zip { mtime.clamp(DOS_MIN, DOS_MAX) & !1 } else { mtime };
            let order: Vec<&String> = want.keys().collect();
            let got_order: Vec<&String> = members.iter().map(|m| &m.0).collect();
            prop_assert_eq!(got_order, order);
            for (name, mode, time, data) in members {
                prop_assert_eq!(&(mode, data), &want[&name]);
                prop_assert_eq!(time, want_time);
            }
        }
    }
}
