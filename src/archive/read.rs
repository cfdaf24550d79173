//! Reading an archive back: what `kiln verify-release` and `kiln image` see of a release archive.
//!
//! An archive is read whole, the way `tar`, `unzip`, `gzip -d`, `xz -d` and `zstd -d` read the
//! file, streaming and within fixed limits ([`MAX_MEMBER`], [`MAX_UNPACKED`], [`MAX_MEMBERS`],
//! [`ZSTD_WINDOW_LOG_MAX`], [`XZ_MEMLIMIT`]); anything on which two extractors could disagree is
//! refused. kiln's own writer ([`super::write`]) never produces it (see docs/archives.md, "What
//! verify-release accepts"). Every regular-file member is hashed; ELF members (or all, when
//! asked) are kept in a private, already unlinked temporary file as [`Unpacked`].

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use super::ArchiveFormat;
use super::zip::read_zip;

/// Reads a plain (uncompressed) ustar stream, as [`read_archive_keeping`] reads the tar inside
/// a `tar.gz`: the `oci-archive` and the image layers kiln writes.
pub fn read_plain_tar(r: impl Read, keep_all: bool) -> Result<UnpackedMembers, String> {
    let mut sink = Collector::new(keep_all);
    read_tar(&mut Budget::new(r), &mut sink)?;
    sink.finish()
}

/// The most memory kiln lets the xz decoder take when reading an archive back: 64 MiB. The
/// dictionary size comes from the archive's block header (up to 4 GiB, allocated up front and
/// filled as the stream is decoded); kiln's preset 6 needs 9 MiB to decode, presets up to 8
/// fit, and the limit keeps `kiln verify-release` under 128 MiB resident whatever the archive.
pub const XZ_MEMLIMIT: u64 = 64 << 20;
/// The most one member may unpack to: 1 GiB (the tar or zip header says so before any byte is
/// read).
pub const MAX_MEMBER: u64 = 1 << 30;
/// The most an archive's decompressed stream may hold, headers and padding included: 2 GiB.
pub const MAX_UNPACKED: u64 = 2 << 30;
/// The most members (files and directories) an archive may hold: zip's own limit without zip64.
pub const MAX_MEMBERS: usize = 0xFFFF;
/// The largest zstd window verify-release decodes: 2^24 bytes (16 MiB). kiln's level 19 uses at
/// most 2^23; a frame asking for more is refused before its window is allocated.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;
/// Permission bits a member may have: setuid, setgid, sticky and group or world write are
/// refused (kiln writes 0755 and 0644 only).
const ALLOWED_MODE: u32 = 0o755;
const BLOCK: usize = 512;
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// One regular-file member of an archive.
#[derive(Debug)]
pub struct Unpacked {
    /// Its Unix permission bits.
    pub mode: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Whether its bytes start with the ELF magic.
    elf: bool,
    /// Its bytes, kept (in a private, already unlinked temporary file) when they start with
    /// the ELF magic, or for every member when asked.
    data: Option<File>,
}

impl Unpacked {
    /// Whether the member's bytes start with the ELF magic.
    pub fn is_elf(&self) -> bool {
        self.elf
    }

    /// The member's bytes, when they were kept.
    pub fn bytes(&self) -> Option<io::Result<Vec<u8>>> {
        let mut f = self.data.as_ref()?;
        let mut v = Vec::new();
        Some(
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.read_to_end(&mut v))
                .map(|_| v),
        )
    }

    /// The temporary file holding the member's bytes, when they were kept.
    pub fn kept(&self) -> Option<&File> {
        self.data.as_ref()
    }

    /// Runs `f` over the member's kept bytes, mapped rather than read into memory.
    pub fn with_mapped<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Option<io::Result<T>> {
        let file = self.data.as_ref()?;
        Some(crate::elf::mapped::Mapped::open(file, self.size).map(|m| f(m.bytes())))
    }
}

/// An archive's regular-file members by (normalised) name.
pub type UnpackedMembers = BTreeMap<String, Unpacked>;

/// Reads a whole `format` archive from `r` (see [`read_archive_keeping`]); only ELF members'
/// bytes are kept.
pub fn read_archive<R: Read + Seek>(format: ArchiveFormat, r: R) -> Result<UnpackedMembers, String> {
    read_archive_keeping(format, r, false)
}

/// Reads a whole `format` archive from `r`, streaming, within [`MAX_MEMBER`], [`MAX_UNPACKED`]
/// and [`MAX_MEMBERS`]: every member is hashed, ELF members (or all, with `keep_all`) are kept
/// in an unlinked temporary file. Refuses what an extractor could read differently from kiln:
/// a second gzip member, xz stream or zstd frame, bytes after the compressed stream, non-zero
/// bytes after the tar's end-of-archive blocks, PAX or GNU extension headers, links and special
/// files, names given twice (also as `./a` or `a//b`) or reaching outside the archive, zip
/// members without a Unix mode, zip records that disagree with their local header or overlap,
/// and modes with setuid, setgid, sticky or group/world write bits.
pub fn read_archive_keeping<R: Read + Seek>(
    format: ArchiveFormat,
    mut r: R,
    keep_all: bool,
) -> Result<UnpackedMembers, String> {
    let mut sink = Collector::new(keep_all);
    match format {
        ArchiveFormat::Zip => read_zip(&mut r, &mut sink)?,
        ArchiveFormat::TarGz => {
            let mut br = BufReader::new(r);
            {
                let mut dec = flate2::bufread::GzDecoder::new(&mut br);
                read_tar(&mut Budget::new(&mut dec), &mut sink)?;
            }
            no_trailing(&mut br, "gzip member", &[GZIP_MAGIC])?;
        }
        ArchiveFormat::TarXz => {
            let mut br = BufReader::new(r);
            {
                let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                    .map_err(|e| format!("cannot decompress: {e}"))?;
                let mut dec = liblzma::bufread::XzDecoder::new_stream(&mut br, stream);
                read_tar(&mut Budget::new(&mut dec), &mut sink)?;
            }
            no_trailing(&mut br, "xz stream", &[XZ_MAGIC])?;
        }
        ArchiveFormat::TarZst => {
            let mut br = BufReader::new(r);
            {
                let mut dec = zstd::stream::read::Decoder::with_buffer(&mut br)
                    .map_err(|e| format!("cannot decompress: {e}"))?
                    .single_frame();
                dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| format!("cannot decompress: {e}"))?;
                read_tar(&mut Budget::new(&mut dec), &mut sink)?;
            }
            // Skippable frames (magic 0x184D2A50 to 0x184D2A5F) are frames too.
            let skippable: Vec<[u8; 4]> = (0x50..=0x5f).map(|b| [b, 0x2a, 0x4d, 0x18]).collect();
            let mut magics: Vec<&[u8]> = vec![ZSTD_MAGIC];
            magics.extend(skippable.iter().map(|m| &m[..]));
            no_trailing(&mut br, "zstd frame", &magics)?;
        }
    }
    sink.finish()
}

/// A second compressed stream or any other byte after the first is refused: `gzip -d`, `xz -d`
/// and `zstd -d` would unpack (or warn about and skip) what kiln did not verify.
fn no_trailing(br: &mut impl BufRead, what: &str, magics: &[&[u8]]) -> Result<(), String> {
    let rest = br.fill_buf().map_err(|e| format!("reading the archive: {e}"))?;
    if rest.is_empty() {
        return Ok(());
    }
    if magics.iter().any(|m| rest.starts_with(m)) {
        return Err(format!(
            "a second {what} follows the first; kiln reads (and writes) exactly one"
        ));
    }
    Err(format!(
        "data after the end of the {what}; kiln writes none, and an extractor may read it"
    ))
}

/// Counts the decompressed bytes and fails past [`MAX_UNPACKED`].
struct Budget<R> {
    inner: R,
    used: u64,
}

impl<R: Read> Budget<R> {
    fn new(inner: R) -> Self {
        Budget { inner, used: 0 }
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(MAX_UNPACKED + 1 - self.used).unwrap_or(usize::MAX);
        let take = buf.len().min(room);
        let n = self.inner.read(&mut buf[..take])?;
        self.used += n as u64;
        if self.used > MAX_UNPACKED {
            return Err(io::Error::other(too_big(MAX_UNPACKED)));
        }
        Ok(n)
    }
}

fn too_big(limit: u64) -> String {
    format!("decompresses to more than {limit} bytes")
}

fn io_err(e: &io::Error) -> String {
    let text = e.to_string();
    if text.starts_with("decompresses to more than") {
        text
    } else {
        format!("cannot decompress: {text}")
    }
}

/// Fills `block`; `false` at a clean end of input, an error inside a block.
fn read_block(r: &mut impl Read, block: &mut [u8; BLOCK]) -> Result<bool, String> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut block[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err("truncated tar: the stream ends inside a block".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(&e)),
        }
    }
    Ok(true)
}

/// An octal ustar number field (NUL- or space-terminated, leading spaces allowed).
fn octal(field: &[u8], what: &str) -> Result<u64, String> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(format!(
            "tar header with a base-256 {what}; kiln writes plain ustar"
        ));
    }
    let text = field
        .split(|b| *b == 0 || *b == b' ')
        .find(|s| !s.is_empty())
        .unwrap_or(b"");
    let text = std::str::from_utf8(text).map_err(|_| format!("tar header with a bad {what}"))?;
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| format!("tar header with a bad {what}"))
}

/// A plain POSIX ustar stream, to its end: members, the two zero blocks, then nothing but zero
/// bytes (GNU tar pads to its record size with zeros and ignores them; anything else after the
/// end is refused).
fn read_tar(r: &mut impl Read, sink: &mut Collector) -> Result<(), String> {
    let mut h = [0u8; BLOCK];
    loop {
        if !read_block(r, &mut h)? {
            return Err("truncated tar: no end-of-archive blocks".into());
        }
        if h.iter().all(|b| *b == 0) {
            if !read_block(r, &mut h)? || h.iter().any(|b| *b != 0) {
                return Err(
                    "a single zero block inside the tar: the end-of-archive marker is two, and GNU tar reads on after one"
                        .into(),
                );
            }
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) if buf[..n].iter().any(|b| *b != 0) => {
                        return Err(
                            "data after the tar's end-of-archive blocks; an extractor reading on (tar --ignore-zeros) would unpack it"
                                .into(),
                        );
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err(&e)),
                }
            }
        }
        let sum = octal(&h[148..156], "checksum")?;
        let want: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(*b)
                }
            })
            .sum();
        if sum != want {
            return Err("corrupt tar: a header's checksum does not match".into());
        }
        if &h[257..263] != b"ustar\0" || &h[263..265] != b"00" {
            return Err("not a POSIX ustar header; kiln writes plain ustar".into());
        }
        let field = |b: &[u8]| {
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            b[..end].to_vec()
        };
        let (name, prefix) = (field(&h[0..100]), field(&h[345..500]));
        let mut raw = prefix;
        if !raw.is_empty() {
            raw.push(b'/');
        }
        raw.extend_from_slice(&name);
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let mode = u32::try_from(octal(&h[100..108], "mode")?).map_err(|_| "tar header with a bad mode")?;
        let size = octal(&h[124..136], "size")?;
        match h[156] {
            b'0' | 0 => {
                if raw.ends_with('/') {
                    // Old tars mark directories so, and GNU tar still extracts one as a directory.
                    return Err(format!(
                        "member {raw} is a regular file whose name ends in `/`: tar makes it a directory"
                    ));
                }
                if size > MAX_MEMBER {
                    return Err(format!(
                        "member {raw} is {size} bytes, more than the {MAX_MEMBER} bytes verify-release unpacks"
                    ));
                }
                sink.file(&raw, mode, size, &mut r.take(size))?;
                let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
                io::copy(&mut r.take(pad), &mut io::sink()).map_err(|e| io_err(&e))?;
            }
            b'5' => {
                if size != 0 {
                    return Err(format!("directory member {raw} has a size"));
                }
                sink.dir(&raw, mode)?;
            }
            b'x' | b'g' | b'L' | b'K' => {
                return Err(format!(
                    "a PAX or GNU extension header (type {}) before {raw}: it renames or changes a member for some extractors; kiln writes plain ustar",
                    char::from(h[156])
                ));
            }
            _ => {
                return Err(format!(
                    "member {raw} is a link or special file; a release archive holds regular files only"
                ));
            }
        }
    }
}

/// The name an extractor writes to: no empty or `.` components; refuses absolute names and `..`.
fn normalize(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') || raw.split('/').any(|c| c == "..") {
        return Err(format!("member {raw} points outside the archive"));
    }
    let parts: Vec<&str> = raw.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() {
        return Err(format!("member {raw:?} has an empty name"));
    }
    Ok(parts.join("/"))
}

/// Collects members as they are read: names, modes, digests and (some) bytes.
pub(super) struct Collector {
    keep_all: bool,
    files: UnpackedMembers,
    /// Every name seen, with the name as written (for the duplicate message).
    seen: BTreeMap<String, String>,
}

impl Collector {
    fn new(keep_all: bool) -> Self {
        Collector {
            keep_all,
            files: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    fn claim(&mut self, raw: &str, mode: u32) -> Result<String, String> {
        let name = normalize(raw)?;
        if let Some(first) = self.seen.get(&name) {
            return Err(format!(
                "member {raw} is given twice (also as {first}); extractors disagree on which copy wins"
            ));
        }
        if self.seen.len() >= MAX_MEMBERS {
            return Err(format!("more than {MAX_MEMBERS} members"));
        }
        if mode & 0o7777 & !ALLOWED_MODE != 0 {
            return Err(format!(
                "member {raw} has mode {:04o}: setuid, setgid, sticky and group- or world-writable members are refused",
                mode & 0o7777
            ));
        }
        self.seen.insert(name.clone(), raw.to_owned());
        Ok(name)
    }

    pub(super) fn dir(&mut self, raw: &str, mode: u32) -> Result<(), String> {
        self.claim(raw, mode).map(|_| ())
    }

    /// Streams one file member of `size` bytes from `r`.
    pub(super) fn file(&mut self, raw: &str, mode: u32, size: u64, r: &mut impl Read) -> Result<(), String> {
        let name = self.claim(raw, mode)?;
        let mut hasher = Sha256::new();
        // The first bytes, until there are enough to tell an ELF file.
        let mut pending: Vec<u8> = Vec::new();
        let mut keep: Option<bool> = None;
        let mut elf = false;
        let mut data: Option<File> = None;
        let mut buf = vec![0u8; 64 << 10];
        let mut total: u64 = 0;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("{raw}: {}", io_err(&e))),
            };
            total += n as u64;
            if total > size {
                return Err(format!("{raw}: more bytes than its header says"));
            }
            hasher.update(&buf[..n]);
            match keep {
                Some(true) => {
                    if let Some(f) = data.as_mut() {
                        f.write_all(&buf[..n]).map_err(|e| spill_err(&e))?;
                    }
                }
                Some(false) => {}
                None => {
                    pending.extend_from_slice(&buf[..n]);
                    if pending.len() >= 4 {
                        elf = pending.starts_with(b"\x7fELF");
                        keep = Some(elf || self.keep_all);
                        if elf || self.keep_all {
                            data = Some(spill(&pending)?);
                        }
                        pending = Vec::new();
                    }
                }
            }
        }
        if total != size {
            return Err(format!("truncated archive: member {raw} ends early"));
        }
        if keep.is_none() && self.keep_all {
            data = Some(spill(&pending)?);
        }
        let sha256 = hex::encode(hasher.finalize());
        self.files.insert(
            name,
            Unpacked {
                mode,
                size,
                sha256,
                elf,
                data,
            },
        );
        Ok(())
    }

    /// A file that is also another member's directory cannot be extracted.
    fn finish(self) -> Result<UnpackedMembers, String> {
        for name in self.files.keys() {
            for (i, _) in name.match_indices('/') {
                if self.files.contains_key(&name[..i]) {
                    return Err(format!(
                        "member {} is a file, but {name} needs it to be a directory",
                        &name[..i]
                    ));
                }
            }
        }
        Ok(self.files)
    }
}

/// A new temporary file holding `head`.
fn spill(head: &[u8]) -> Result<File, String> {
    let mut f = spill_file().map_err(|e| spill_err(&e))?;
    f.write_all(head).map_err(|e| spill_err(&e))?;
    Ok(f)
}

fn spill_err(e: &io::Error) -> String {
    format!("cannot keep an archive member in a temporary file: {e}")
}

/// A private temporary file that no other process can open: `O_TMPFILE` in the temporary
/// directory, or a fresh name removed right after it is created.
fn spill_file() -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir();
    if let Ok(f) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
    {
        return Ok(f);
    }
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".kiln-member-{}-{n}", std::process::id()));
        match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Member, archive_bytes};

    #[test]
    fn reads_every_archive_format_kiln_writes() {
        let entries = vec![
            Member::bytes("top/bin", b"\x7fELF...".to_vec(), 0o755),
            Member::bytes("top/README", b"hi\n".to_vec(), 0o644),
        ];
        for f in ArchiveFormat::ALL {
            let bytes = archive_bytes(f, &entries, 315_532_800).unwrap();
            let m = read_archive_keeping(f, std::io::Cursor::new(&bytes), true).unwrap();
            assert_eq!(m.len(), 2, "{f}");
            assert_eq!(m["top/bin"].bytes().unwrap().unwrap(), b"\x7fELF...", "{f}");
            assert!(m["top/bin"].is_elf(), "{f}");
            assert_eq!(m["top/README"].bytes().unwrap().unwrap(), b"hi\n", "{f}");
            assert!(!m["top/README"].is_elf(), "{f}");
            assert_eq!(m["top/bin"].mode, 0o755, "{f}");
            // Without keep_all only the ELF member's bytes are kept.
            let m = read_archive(f, std::io::Cursor::new(&bytes)).unwrap();
            assert!(
                m["top/bin"].bytes().is_some() && m["top/README"].bytes().is_none(),
                "{f}"
            );
        }
    }

    #[test]
    fn xz_dictionary_size_is_not_trusted() {
        // 152 bytes whose LZMA2 block header asks for a 4 GiB dictionary (the CRC32 fixed up),
        // which liblzma allocated up front: the fuzz target's 2 GiB malloc limit caught it.
        let bytes = include_bytes!("../../tests/fixtures/fuzz/archive-xz-4gib-dictionary.tar.xz");
        let err = read_archive(ArchiveFormat::TarXz, std::io::Cursor::new(bytes)).unwrap_err();
        assert!(err.starts_with("cannot decompress: "), "{err}");
    }

    #[test]
    fn refuses_links_in_archives() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "top/bin", "/etc/passwd").unwrap();
        let tar_bytes = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
        let err = read_archive(ArchiveFormat::TarGz, std::io::Cursor::new(gz.finish().unwrap())).unwrap_err();
        assert!(err.contains("member top/bin is a link"), "{err}");
    }

    #[test]
    fn refuses_names_outside_the_archive() {
        assert!(normalize("../x").is_err());
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("a/../../x").is_err());
        assert_eq!(normalize("top/bin").unwrap(), "top/bin");
        assert_eq!(normalize("./top//bin").unwrap(), "top/bin");
        assert_eq!(normalize("top/./bin/").unwrap(), "top/bin");
    }
}

#[cfg(test)]
mod refusals {
    use super::*;
    use crate::archive::archive_bytes;

    const EPOCH: u64 = 315_532_800;

    use crate::archive::testing::{entries, read};

    fn gz(tar: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    }

    fn xz(tar: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    }

    fn zst(tar: &[u8]) -> Vec<u8> {
        zstd::encode_all(tar, 1).unwrap()
    }

    fn compress(f: ArchiveFormat, tar: &[u8]) -> Vec<u8> {
        match f {
            ArchiveFormat::TarGz => gz(tar),
            ArchiveFormat::TarXz => xz(tar),
            ArchiveFormat::TarZst => zst(tar),
            ArchiveFormat::Zip => unreachable!(),
        }
    }

    const TARS: [ArchiveFormat; 3] = [ArchiveFormat::TarGz, ArchiveFormat::TarXz, ArchiveFormat::TarZst];

    /// A ustar stream of `(name, mode, kind, data)` members, as the tar crate writes them.
    fn raw_tar(members: &[(&str, u32, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, mode, kind, data) in members {
            let mut h = tar::Header::new_ustar();
            h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
            h.set_mode(*mode);
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn issue13_second_stream_and_trailing_data_are_refused() {
        for f in TARS {
            let one = archive_bytes(f, &entries(), EPOCH).unwrap();
            read(f, &one).unwrap();
            let two = [one.clone(), one.clone()].concat();
            let err = read(f, &two).unwrap_err();
            assert!(err.contains("a second"), "{f}: {err}");
            let junk = [one.clone(), b"junk".to_vec()].concat();
            let err = read(f, &junk).unwrap_err();
            assert!(err.contains("data after the end of the"), "{f}: {err}");
            let zeros = [one, vec![0; 8]].concat();
            assert!(read(f, &zeros).is_err(), "{f}: stream padding");
        }
    }

    #[test]
    fn issue13_data_after_the_tar_end_is_refused_zero_padding_is_not() {
        let tar = crate::archive::ustar_bytes(&entries(), EPOCH).unwrap();
        let hidden = raw_tar(&[("top/evil", 0o755, tar::EntryType::Regular, b"\x7fELF evil")]);
        for f in TARS {
            let padded = [tar.clone(), vec![0; 10240]].concat();
            read(f, &compress(f, &padded)).unwrap();
            let after = [tar.clone(), hidden.clone()].concat();
            let err = read(f, &compress(f, &after)).unwrap_err();
            assert!(
                err.contains("after the tar's end-of-archive blocks"),
                "{f}: {err}"
            );
            // One zero block, then a member: GNU tar warns and reads on.
            let lone = [&tar[..tar.len() - 512], &hidden[..]].concat();
            let err = read(f, &compress(f, &lone)).unwrap_err();
            assert!(err.contains("single zero block"), "{f}: {err}");
        }
    }

    #[test]
    fn issue13_duplicate_members_are_refused() {
        use tar::EntryType::Regular;
        for (a, b) in [
            ("top/bin", "top/bin"),
            ("top/bin", "./top/bin"),
            ("top/bin", "top//bin"),
        ] {
            let tar = raw_tar(&[
                (a, 0o755, Regular, b"\x7fELF one"),
                (b, 0o755, Regular, b"\x7fELF two"),
            ]);
            for f in TARS {
                let err = read(f, &compress(f, &tar)).unwrap_err();
                assert!(err.contains("is given twice"), "{f} {a} {b}: {err}");
            }
        }
        let tar = raw_tar(&[("top/bin/", 0o755, Regular, b"\x7fELF")]);
        let err = read(ArchiveFormat::TarGz, &gz(&tar)).unwrap_err();
        assert!(err.contains("tar makes it a directory"), "{err}");
        let tar = raw_tar(&[("top", 0o644, Regular, b"x"), ("top/bin", 0o755, Regular, b"y")]);
        let err = read(ArchiveFormat::TarGz, &gz(&tar)).unwrap_err();
        assert!(err.contains("needs it to be a directory"), "{err}");
    }

    #[test]
    fn issue13_unsafe_modes_are_refused() {
        for mode in [0o4755, 0o2755, 0o1755, 0o757, 0o775, 0o666] {
            let tar = raw_tar(&[("top/bin", mode, tar::EntryType::Regular, b"\x7fELF")]);
            let err = read(ArchiveFormat::TarZst, &zst(&tar)).unwrap_err();
            assert!(err.contains(&format!("mode {mode:04o}")), "{err}");
        }
        let tar = raw_tar(&[("top/bin", 0o700, tar::EntryType::Regular, b"\x7fELF")]);
        read(ArchiveFormat::TarZst, &zst(&tar)).unwrap();
    }

    #[test]
    fn issue13_extension_headers_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("top/{}", "n".repeat(120)), &b"x"[..])
            .unwrap();
        let err = read(ArchiveFormat::TarGz, &gz(&b.into_inner().unwrap())).unwrap_err();
        assert!(err.contains("plain ustar"), "{err}");
    }

    #[test]
    fn issue13_declared_sizes_past_the_limits_are_refused_before_reading() {
        // A header declaring 3.5 GB: refused from the header alone.
        let mut h = tar::Header::new_ustar();
        h.set_path("top/README.md").unwrap();
        h.set_size(3_500_000_000);
        h.set_mode(0o644);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&[0; 4096]);
        for f in TARS {
            let err = read(f, &compress(f, &tar)).unwrap_err();
            assert!(err.contains("more than the 1073741824 bytes"), "{f}: {err}");
        }
    }

    #[test]
    fn issue13_fuzz_seeds_are_read_as_intended() {
        let seed = |name: &str| {
            fs::read(format!(
                "{}/fuzz/seeds/archive/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        for (name, f) in [
            ("hello.tar.gz", ArchiveFormat::TarGz),
            ("hello.tar.xz", ArchiveFormat::TarXz),
            ("hello.tar.zst", ArchiveFormat::TarZst),
            ("hello.zip", ArchiveFormat::Zip),
            (
                "hello-0.1.0-x86_64-unknown-linux-gnu.tar.gz",
                ArchiveFormat::TarGz,
            ),
        ] {
            read(f, &seed(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for (name, f, why) in [
            (
                "multi-member.tar.gz",
                ArchiveFormat::TarGz,
                "a second gzip member",
            ),
            ("multi-stream.tar.xz", ArchiveFormat::TarXz, "a second xz stream"),
            (
                "multi-frame.tar.zst",
                ArchiveFormat::TarZst,
                "a second zstd frame",
            ),
            (
                "trailing-garbage.tar.gz",
                ArchiveFormat::TarGz,
                "data after the end of the gzip",
            ),
            ("duplicate-member.tar.gz", ArchiveFormat::TarGz, "is given twice"),
            ("duplicate-member.zip", ArchiveFormat::Zip, "is given twice"),
            (
                "member-after-end.tar.gz",
                ArchiveFormat::TarGz,
                "after the tar's end-of-archive blocks",
            ),
        ] {
            let err = read(f, &seed(name)).unwrap_err();
            assert!(err.contains(why), "{name}: {err}");
        }
    }
}
