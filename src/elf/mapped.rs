//! A read-only memory map of one file (for ELF inspection and `verify-release`'s reads), and
//! the only module of kiln with `unsafe` code: mmap, `madvise` and the `SIGBUS` handler.
//!
//! kiln reads every byte of a binary once (hash and store-reference scan) and a few structures of
//! it again (ELF headers). A map gives both without copying the file into memory; releasing each
//! chunk after the sequential pass keeps the resident set small even for gigabyte files.
//!
//! A file that shrinks while it is mapped makes reads past its new end raise `SIGBUS`. kiln
//! turns that into an error instead of a death: every live map is registered in a fixed table,
//! and a `SIGBUS` handler that finds the faulting address inside a registered map replaces the
//! rest of that map with anonymous zero pages (`MAP_FIXED`), flags it and returns, so the read
//! completes (with zeros) and [`Mapped::changed`] tells the caller the bytes cannot be trusted.
//! A `SIGBUS` anywhere else gets the previous disposition back and is raised again, as before.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// How many maps can be guarded at once (kiln maps one file at a time per thread).
const SLOTS: usize = 64;
/// A slot's `len` while it is being filled in or emptied.
const BUSY: usize = usize::MAX;

/// Start address and length of each guarded map; a `len` of 0 is a free slot.
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Set by the handler when it papered over a vanished part of the slot's map.
static FAULTED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// The page size, read once before the handler is installed.
static PAGE: AtomicUsize = AtomicUsize::new(4096);
/// The `SIGBUS` disposition before kiln's, restored for faults outside kiln's maps.
static PREVIOUS: OnceLock<Result<Previous, String>> = OnceLock::new();

/// The saved `sigaction`, plain data.
struct Previous(libc::sigaction);
// SAFETY: `sigaction` is a plain C struct of integers and a handler address; it is written once
// before the handler is installed and only read afterwards.
unsafe impl Sync for Previous {}
unsafe impl Send for Previous {}

/// Installs the `SIGBUS` handler once per process.
fn install() -> io::Result<()> {
    let r = PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = usize::try_from(page)
            && page.is_power_of_two()
        {
            PAGE.store(page, Ordering::Relaxed);
        }
        // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_sigbus as *const () as usize;
        new.sa_flags = libc::SA_SIGINFO;
        // SAFETY: as above.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call; the handler only touches atomics and
        // async-signal-safe system calls (mmap, sigaction).
        let rc = unsafe {
            libc::sigemptyset(&raw mut new.sa_mask);
            libc::sigaction(libc::SIGBUS, &raw const new, &raw mut old)
        };
        if rc == 0 {
            Ok(Previous(old))
        } else {
            Err(io::Error::last_os_error().to_string())
        }
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "cannot install the SIGBUS handler: {e}"
        ))),
    }
}

/// The `SIGBUS` handler (async-signal-safe: atomics, `mmap`, `sigaction`).
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for i in 0..SLOTS {
        let len = LENS[i].load(Ordering::Acquire);
        if len == 0 || len == BUSY {
            continue;
        }
        let start = STARTS[i].load(Ordering::Acquire);
        if addr < start || addr - start >= len {
            continue;
        }
        let from = addr & !(page - 1);
        let end = (start + len).div_ceil(page) * page;
        // SAFETY: `from..end` lies inside the registered map (whole pages of it), which its
        // owner keeps mapped until it unregisters; replacing those pages with private zero
        // pages changes what the owner's reads return (it is told through FAULTED) but never
        // touches memory outside the map.
        let r = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if r != libc::MAP_FAILED {
            FAULTED[i].store(true, Ordering::Release);
            return;
        }
        break;
    }
    // Not a fault kiln can explain: put the previous disposition back and return; the faulting
    // instruction runs again and the signal is delivered as if kiln had never caught it.
    // SAFETY: restoring the disposition the kernel gave us (or SIG_DFL, an all-zero
    // sigaction, should the fault come while the handler is being installed).
    unsafe {
        if let Some(Ok(prev)) = PREVIOUS.get() {
            libc::sigaction(libc::SIGBUS, &raw const prev.0, std::ptr::null_mut());
        } else {
            let dfl: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGBUS, &raw const dfl, std::ptr::null_mut());
        }
    }
}

/// A file's bytes, mapped; an empty file maps to an empty slice.
pub(crate) struct Mapped {
    map: Option<Mmap>,
    slot: Option<usize>,
}

impl Mapped {
    /// Maps `len` bytes of `file` read-only, guarded against the file shrinking.
    pub(crate) fn open(file: &File, len: u64) -> io::Result<Mapped> {
        if len == 0 {
            return Ok(Mapped {
                map: None,
                slot: None,
            });
        }
        install()?;
        let len = usize::try_from(len).map_err(|_| io::Error::other("file too large to map"))?;
        // SAFETY: the map is read-only and private to this process. If the file shrinks while
        // kiln reads it, the SIGBUS handler above replaces the vanished pages with zeros and
        // flags the map, and the caller reports the file as changed instead of trusting them.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
        // Advice is a hint; failing to give it changes nothing.
        let _ = map.advise(Advice::Sequential);
        let slot = register(map.as_ptr() as usize, map.len());
        Ok(Mapped { map: Some(map), slot })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Whether part of the file vanished while it was mapped (its bytes there read as zeros).
    pub(crate) fn changed(&self) -> bool {
        self.slot.is_some_and(|i| FAULTED[i].load(Ordering::Acquire))
    }

    /// Drops the resident pages of `start..end` (they are re-read from the file if touched again).
    pub(crate) fn release(&self, start: usize, end: usize) {
        let Some(map) = &self.map else { return };
        let page = PAGE.load(Ordering::Relaxed);
        let aligned = start - start % page;
        if end <= aligned {
            return;
        }
        // SAFETY: MADV_DONTNEED on a read-only private mapping discards only clean pages; the
        // next access faults the same bytes back in from the file (or the same zeros, where the
        // handler replaced vanished pages), so every outstanding `&[u8]` into the map still sees
        // identical contents.
        let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, aligned, end - aligned) };
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // Unregister before the map goes away, so the handler never maps over a reused range.
        if let Some(i) = self.slot.take() {
            LENS[i].store(BUSY, Ordering::Release);
            FAULTED[i].store(false, Ordering::Release);
            STARTS[i].store(0, Ordering::Release);
            LENS[i].store(0, Ordering::Release);
        }
    }
}

/// Claims a free slot for `start..start+len`; `None` when all are taken (the map then works
/// unguarded, as it did before the table existed).
fn register(start: usize, len: usize) -> Option<usize> {
    for i in 0..SLOTS {
        if LENS[i]
            .compare_exchange(0, BUSY, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            FAULTED[i].store(false, Ordering::Release);
            STARTS[i].store(start, Ordering::Release);
            LENS[i].store(len, Ordering::Release);
            return Some(i);
        }
    }
    None
}
