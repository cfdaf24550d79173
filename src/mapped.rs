//! A read-only memory map of one file, the only place kiln uses `unsafe`.
//!
//! kiln reads every byte of a binary once (hash and store-reference scan) and a few structures of
//! it again (ELF headers). A map gives both without copying the file into memory; releasing each
//! chunk after the sequential pass keeps the resident set small even for gigabyte files.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// A file's bytes, mapped; an empty file maps to an empty slice.
pub(crate) struct Mapped {
    map: Option<Mmap>,
}

impl Mapped {
    /// Maps `len` bytes of `file` read-only.
    pub(crate) fn open(file: &File, len: u64) -> io::Result<Mapped> {
        if len == 0 {
            return Ok(Mapped { map: None });
        }
        // SAFETY: the map is read-only and private to this process. If another process truncates
        // the file while kiln reads it, reads past the new end raise SIGBUS; kiln inspects build
        // outputs in the read-only Nix store or files the user handed it, where that does not
        // happen in practice, and the alternative (copying whole binaries) costs memory.
        let map = unsafe { Mmap::map(file)? };
        // Advice is a hint; failing to give it changes nothing.
        let _ = map.advise(Advice::Sequential);
        Ok(Mapped { map: Some(map) })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Drops the resident pages of `start..end` (they are re-read from the file if touched again).
    pub(crate) fn release(&self, start: usize, end: usize) {
        let Some(map) = &self.map else { return };
        let page = 4096;
        let aligned = start - start % page;
        if end <= aligned {
            return;
        }
        // SAFETY: MADV_DONTNEED on a read-only, file-backed private mapping discards only clean
        // page-cache references; the next access faults the same bytes back in from the file, so
        // every outstanding `&[u8]` into the map still sees identical contents.
        let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, aligned, end - aligned) };
    }
}
