//! The lock that keeps two `kiln build` runs from exporting into the same `--out` at once.
//!
//! The lock is an exclusive [`File::try_lock`] (an `flock(2)` on Linux) on `.<name>.kiln-lock`
//! beside the destination, taken before the build starts and released after the export (or any
//! failure): the second run fails at once naming the holder's pid, which the holder writes into
//! the file, or with `--wait-lock` waits for it. The holder removes the file when it is done; a
//! run that locked a file someone just removed notices (the path no longer names the locked
//! inode) and locks the new one instead.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proc::Interrupt;

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "{dest} is being written by another kiln (pid {pid}, lock {lock}); wait for it or pass --wait-lock"
    )]
    Held {
        /// The destination directory.
        dest: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's pid as written in the lock file ("unknown" if unreadable).
        pid: String,
    },
    /// The lock file could not be created or locked.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM arrived while waiting.
    #[error("interrupted while waiting for the lock on {0}")]
    Interrupted(PathBuf),
}

/// A held lock on a destination directory; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct OutLock {
    path: PathBuf,
    file: File,
}

/// The lock file of `dest`: `.<name>.kiln-lock` in the same directory.
pub fn lock_path(dest: &Path) -> PathBuf {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map_or_else(|| "dist".into(), |n| n.to_string_lossy().into_owned());
    parent.join(format!(".{name}.kiln-lock"))
}

/// Takes the exclusive lock without waiting: `Ok(false)` when another holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

impl OutLock {
    /// Takes the lock of `dest` (creating its parent directory). Without `wait`, a lock held by
    /// another process is an error naming its pid; with it, polls until it is free.
    pub fn acquire(dest: &Path, wait: bool, interrupt: &Interrupt) -> Result<OutLock, LockError> {
        let path = lock_path(dest);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            if try_lock(&file).map_err(io)? {
                // The previous holder may have removed the file between our open and lock.
                let same = fs::metadata(&path)
                    .ok()
                    .zip(file.metadata().ok())
                    .is_some_and(|(p, f)| p.dev() == f.dev() && p.ino() == f.ino());
                if !same {
                    continue;
                }
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                writeln!(file, "{}", std::process::id()).map_err(io)?;
                return Ok(OutLock { path, file });
            }
            if !wait {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(LockError::Held {
                    dest: dest.to_path_buf(),
                    lock: path.clone(),
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid.to_owned()
                    },
                });
            }
            if interrupt.is_set() {
                return Err(LockError::Interrupted(dest.to_path_buf()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        // Removed while still locked, so a waiter that opened it sees it is stale; the lock
        // itself goes with the descriptor.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder_and_the_first_release_frees_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dist");
        let never = Interrupt::never();
        let first = OutLock::acquire(&dest, false, &never).unwrap();
        let text = fs::read_to_string(lock_path(&dest)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        // The lock belongs to the open file description: a second open in this process
        // conflicts just as another process would.
        let err = OutLock::acquire(&dest, false, &never).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        assert!(msg.contains("dist"), "{msg}");
        drop(first);
        assert!(!lock_path(&dest).exists());
        let again = OutLock::acquire(&dest, false, &never).unwrap();
        drop(again);
    }

    #[test]
    fn lock_path_is_beside_the_destination() {
        assert_eq!(
            lock_path(Path::new("out/dist")),
            PathBuf::from("out/.dist.kiln-lock")
        );
        assert_eq!(lock_path(Path::new("dist")), PathBuf::from("./.dist.kiln-lock"));
    }
}
