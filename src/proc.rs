//! Process control that std lacks: a polite SIGTERM to a child, and the signal flags that let
//! kiln clean up (end nix, remove staging directories) instead of dying mid-write.
#![allow(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Sends SIGTERM to `pid`.
pub(crate) fn terminate(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with a child's pid and a valid signal number has no memory effects.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// Set when SIGINT or SIGTERM arrives; remembers which one for the exit code.
#[derive(Clone)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    signal: Arc<AtomicI32>,
}

impl Interrupt {
    /// Installs handlers for SIGINT and SIGTERM that only set flags. After this the process no
    /// longer dies on those signals: long operations must poll [`Interrupt::is_set`].
    pub fn install() -> std::io::Result<Interrupt> {
        let flag = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicI32::new(0));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&flag))?;
            let s = Arc::clone(&signal);
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe {
                signal_hook::low_level::register(sig, move || s.store(sig, Ordering::SeqCst))?;
            }
        }
        Ok(Interrupt { flag, signal })
    }

    /// A flag that is never set (for library callers and tests).
    pub fn never() -> Interrupt {
        Interrupt {
            flag: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicI32::new(0)),
        }
    }

    /// Whether a signal arrived.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag itself, for polling loops.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// The conventional exit status for the signal received: 130 (SIGINT) or 143 (SIGTERM).
    pub fn exit_code(&self) -> u8 {
        match self.signal.load(Ordering::SeqCst) {
            signal_hook::consts::SIGTERM => 143,
            _ => 130,
        }
    }
}
