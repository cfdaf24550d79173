//! Process control that std lacks: a polite SIGTERM to a child, and the signal flags that let
//! kiln clean up (end nix, remove staging directories) instead of dying mid-write. Safe code
//! only: rustix wraps kill(2), signal-hook's `flag` module the handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustix::process::{Pid, Signal, kill_process};
use signal_hook::consts::{SIGINT, SIGTERM};

/// Sends SIGTERM to `pid` (a child's; nothing for 0 or a pid out of range).
pub(crate) fn terminate(pid: u32) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    // A child that already exited (ESRCH) is what was wanted anyway.
    let _ = kill_process(pid, Signal::TERM);
}

/// Set when SIGINT or SIGTERM arrives; remembers which one for the exit code.
#[derive(Clone)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    /// The number of the last signal received, 0 before any.
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Installs handlers for SIGINT and SIGTERM that only set flags. After this the process no
    /// longer dies on those signals: long operations must poll [`Interrupt::is_set`].
    pub fn install() -> std::io::Result<Interrupt> {
        let flag = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&flag))?;
            let number = usize::try_from(sig).expect("signal numbers are positive");
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), number)?;
        }
        Ok(Interrupt { flag, signal })
    }

    /// A flag that is never set (for library callers and tests).
    pub fn never() -> Interrupt {
        Interrupt {
            flag: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicUsize::new(0)),
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
        if self.signal.load(Ordering::SeqCst) == SIGTERM as usize {
            143
        } else {
            130
        }
    }
}
