//! Parsing the zip layout kiln writes (see [`super::write`]), for [`super::read`]: local headers
//! and their data back to back from offset 0, the central directory, and a 22-byte end record
//! with no comment. Anything else a zip may be (zip64, encryption, data descriptors, members
//! made on another system, records that overlap or leave gaps) is refused, because another
//! extractor could read it differently.

use std::io::{self, Read, Seek, SeekFrom};

use super::read::{Collector, MAX_MEMBER};

/// The largest zip central directory read: 16 MiB.
const MAX_ZIP_DIRECTORY: u64 = 16 << 20;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn zip_io(e: &io::Error) -> String {
    format!("reading the zip: {e}")
}

/// Reads the zip layout kiln writes: local headers and their data back to back from offset 0,
/// then the central directory, then a 22-byte end record with no comment; no zip64, no
/// encryption, no data descriptors, stored or deflated members made on Unix. Every central
/// record must agree with its local header (name, method, CRC, sizes) and the members must tile
/// the file in order, so no two records share data and nothing hides between them; every
/// member's CRC-32 and size are checked.
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
pub(super) fn read_zip<R: Read + Seek>(r: &mut R, sink: &mut Collector) -> Result<(), String> {
    let len = r.seek(SeekFrom::End(0)).map_err(|e| zip_io(&e))?;
    let end_at = len.checked_sub(22).ok_or("not a zip: too short")?;
    let mut end = [0u8; 22];
    r.seek(SeekFrom::Start(end_at)).map_err(|e| zip_io(&e))?;
    r.read_exact(&mut end).map_err(|e| zip_io(&e))?;
    if le32(&end, 0) != 0x0605_4b50 {
        return Err(
            "not a zip kiln wrote: no end record in the last 22 bytes (a comment or data after it)".into(),
        );
    }
    let (disk, cd_disk) = (le16(&end, 4), le16(&end, 6));
    let (here, count) = (le16(&end, 8), le16(&end, 10));
    let (cd_size, cd_at) = (u64::from(le32(&end, 12)), u64::from(le32(&end, 16)));
    if disk != 0 || cd_disk != 0 || here != count {
        return Err("a multi-disk zip; kiln writes one file".into());
    }
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_at == 0xFFFF_FFFF {
        return Err("a zip64 archive; kiln writes no zip64".into());
    }
    if cd_at + cd_size != end_at {
        return Err("the zip's central directory does not end at its end record".into());
    }
    if cd_size > MAX_ZIP_DIRECTORY {
        return Err(format!(
            "the zip's central directory is more than {MAX_ZIP_DIRECTORY} bytes"
        ));
    }
    let mut cd = vec![0u8; usize::try_from(cd_size).map_err(|_| "zip too large")?];
    r.seek(SeekFrom::Start(cd_at)).map_err(|e| zip_io(&e))?;
    r.read_exact(&mut cd).map_err(|e| zip_io(&e))?;
    let mut at = 0usize;
    // Where the next local header must start: the members tile the file from offset 0.
    let mut next_local: u64 = 0;
    for _ in 0..count {
        let rec = cd.get(at..at + 46).ok_or("corrupt zip central directory")?;
        if le32(rec, 0) != 0x0201_4b50 {
            return Err("corrupt zip central directory".into());
        }
        let made_by = le16(rec, 4);
        let flags = le16(rec, 8);
        let method = le16(rec, 10);
        let crc = le32(rec, 16);
        let csize = u64::from(le32(rec, 20));
        let usize_ = u64::from(le32(rec, 24));
        let (n, e, c) = (
            usize::from(le16(rec, 28)),
            usize::from(le16(rec, 30)),
            usize::from(le16(rec, 32)),
        );
        let external = le32(rec, 38);
        let local = u64::from(le32(rec, 42));
        let name_bytes = cd
            .get(at + 46..at + 46 + n)
            .ok_or("corrupt zip central directory")?
            .to_vec();
        let raw = String::from_utf8_lossy(&name_bytes).into_owned();
        at += 46 + n + e + c;
        if at > cd.len() {
            return Err("corrupt zip central directory".into());
        }
        if made_by >> 8 != 3 {
            return Err(format!(
                "zip member {raw} has no Unix mode (made by system {}); unzip would pick its own",
                made_by >> 8
            ));
        }
        if flags & 1 != 0 {
            return Err(format!("zip member {raw} is encrypted"));
        }
        if flags & 8 != 0 {
            return Err(format!(
                "zip member {raw} uses a data descriptor; kiln writes none"
            ));
        }
        let mode = external >> 16;
        let kind = mode & 0o170_000;
        if kind == 0o120_000 {
            return Err(format!(
                "zip member {raw} is a symlink; a release archive holds regular files only"
            ));
        }
        if mode == 0 {
            return Err(format!("zip member {raw} has no Unix mode"));
        }
        if local != next_local {
            return Err(format!(
                "zip member {raw}: its data is not where the previous member ends (overlapping or hidden data)"
            ));
        }
        let mut lh = [0u8; 30];
        r.seek(SeekFrom::Start(local)).map_err(|e| zip_io(&e))?;
        r.read_exact(&mut lh).map_err(|e| zip_io(&e))?;
        if le32(&lh, 0) != 0x0403_4b50 {
            return Err(format!("zip member {raw}: corrupt local header"));
        }
        let (ln, le) = (usize::from(le16(&lh, 26)), u64::from(le16(&lh, 28)));
        let mut lname = vec![0u8; ln];
        r.read_exact(&mut lname).map_err(|e| zip_io(&e))?;
        let same = lname == name_bytes
            && le16(&lh, 6) == flags
            && le16(&lh, 8) == method
            && le32(&lh, 14) == crc
            && u64::from(le32(&lh, 18)) == csize
            && u64::from(le32(&lh, 22)) == usize_;
        if !same {
            return Err(format!(
                "zip member {raw}: the local header and the central directory disagree"
            ));
        }
        let start = local + 30 + ln as u64 + le;
        next_local = start + csize;
        if next_local > cd_at {
            return Err(format!(
                "zip member {raw}: its data runs into the central directory"
            ));
        }
        r.seek(SeekFrom::Start(start)).map_err(|e| zip_io(&e))?;
        match kind {
            0o040_000 => {
                if !raw.ends_with('/') || usize_ != 0 || csize != 0 {
                    return Err(format!("zip directory member {raw} is malformed"));
                }
                sink.dir(&raw, mode & 0o7777)?;
                continue;
            }
            0o100_000 if !raw.ends_with('/') => {}
            _ => {
                return Err(format!(
                    "zip member {raw} is a link or special file; a release archive holds regular files only"
                ));
            }
        }
        if usize_ > MAX_MEMBER {
            return Err(format!(
                "member {raw} is {usize_} bytes, more than the {MAX_MEMBER} bytes verify-release unpacks"
            ));
        }
        let raw_data = (&mut *r).take(csize);
        let got_crc = match method {
            0 => {
                if csize != usize_ {
                    return Err(format!("zip member {raw}: stored with two sizes"));
                }
                let mut cr = flate2::CrcReader::new(raw_data);
                sink.file(&raw, mode & 0o7777, usize_, &mut cr)?;
                cr.crc().sum()
            }
            8 => {
                let mut cr = flate2::CrcReader::new(flate2::read::DeflateDecoder::new(raw_data));
                sink.file(&raw, mode & 0o7777, usize_, &mut (&mut cr).take(usize_ + 1))?;
                cr.crc().sum()
            }
            m => return Err(format!("zip member {raw}: unsupported method {m}")),
        };
        if got_crc != crc {
            return Err(format!("zip member {raw}: CRC-32 mismatch"));
        }
    }
    if at != cd.len() {
        return Err("the zip's central directory holds more than its records".into());
    }
    if next_local != cd_at {
        return Err("data between the last zip member and the central directory".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{ArchiveFormat, Member, archive_bytes, read_archive};

    use crate::archive::testing::{EPOCH, entries, read};

    /// `zip` with its central directory replaced by `copies` records that all point at the
    /// first file member's local header, under names of the same length.
    fn overlapping_zip(zip: &[u8], copies: u16) -> Vec<u8> {
        let u16_at = |at: usize| usize::from(u16::from_le_bytes([zip[at], zip[at + 1]]));
        let u32_at = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap()) as usize;
        let end = zip.len() - 22;
        let cd = u32_at(end + 16);
        let record_len = 46 + u16_at(cd + 28) + u16_at(cd + 30) + u16_at(cd + 32);
        let name_len = u16_at(cd + 28);
        let mut out = zip[..cd].to_vec();
        for i in 0..copies {
            let mut record = zip[cd..cd + record_len].to_vec();
            if i > 0 {
                record[46..46 + name_len].copy_from_slice(format!("{i:0name_len$}").as_bytes());
            }
            out.extend_from_slice(&record);
        }
        let mut eocd = zip[end..].to_vec();
        eocd[8..10].copy_from_slice(&copies.to_le_bytes());
        eocd[10..12].copy_from_slice(&copies.to_le_bytes());
        let cd_size = u32::try_from(record_len * usize::from(copies)).unwrap();
        eocd[12..16].copy_from_slice(&cd_size.to_le_bytes());
        eocd[16..20].copy_from_slice(&u32::try_from(cd).unwrap().to_le_bytes());
        out.extend_from_slice(&eocd);
        out
    }

    #[test]
    fn zip_records_sharing_data_are_refused() {
        let data = vec![0u8; 1000];
        let zip = archive_bytes(ArchiveFormat::Zip, &[Member::bytes("member00", data, 0o644)], 0).unwrap();
        read_archive(
            ArchiveFormat::Zip,
            std::io::Cursor::new(&overlapping_zip(&zip, 1)),
        )
        .unwrap();
        // A second record pointing at the first member's data: the members no longer tile the
        // file, so no data is ever counted (or unpacked) twice.
        let err = read_archive(
            ArchiveFormat::Zip,
            std::io::Cursor::new(&overlapping_zip(&zip, 2)),
        )
        .unwrap_err();
        assert!(err.contains("overlapping or hidden data"), "{err}");
    }

    /// The kiln zip of [`entries`] with the central record of `top/bin` edited by `edit`
    /// (given the record's bytes).
    fn edited_zip(edit: impl Fn(&mut [u8])) -> Vec<u8> {
        let mut zip = archive_bytes(ArchiveFormat::Zip, &entries(), EPOCH).unwrap();
        let end = zip.len() - 22;
        let mut at = le32(&zip, end + 16) as usize;
        loop {
            let n = usize::from(le16(&zip, at + 28));
            if &zip[at + 46..at + 46 + n] == b"top/bin" {
                edit(&mut zip[at..at + 46]);
                return zip;
            }
            at += 46 + n + usize::from(le16(&zip, at + 30)) + usize::from(le16(&zip, at + 32));
        }
    }

    #[test]
    fn issue13_zip_symlinks_and_members_without_unix_mode_are_refused() {
        read(ArchiveFormat::Zip, &edited_zip(|_| {})).unwrap();
        let symlink = edited_zip(|rec| rec[38..42].copy_from_slice(&(0o120_777u32 << 16).to_le_bytes()));
        let err = read(ArchiveFormat::Zip, &symlink).unwrap_err();
        assert!(err.contains("is a symlink"), "{err}");
        let dos = edited_zip(|rec| rec[5] = 0);
        let err = read(ArchiveFormat::Zip, &dos).unwrap_err();
        assert!(err.contains("has no Unix mode"), "{err}");
        let no_mode = edited_zip(|rec| rec[38..42].copy_from_slice(&0u32.to_le_bytes()));
        let err = read(ArchiveFormat::Zip, &no_mode).unwrap_err();
        assert!(err.contains("has no Unix mode"), "{err}");
        let setuid = edited_zip(|rec| rec[38..42].copy_from_slice(&(0o104_755u32 << 16).to_le_bytes()));
        let err = read(ArchiveFormat::Zip, &setuid).unwrap_err();
        assert!(err.contains("mode 4755"), "{err}");
        let zip = edited_zip(|_| {});
        let err = read(ArchiveFormat::Zip, &[zip.clone(), b"x".to_vec()].concat()).unwrap_err();
        assert!(err.contains("no end record"), "{err}");
    }
}
