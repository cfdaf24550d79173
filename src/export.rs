//! Writing `dist/` atomically.
//!
//! Everything is written into a staging directory beside the destination
//! (`.<name>.kiln-staging-<pid>`), each file fsynced, the directory fsynced, and only then
//! swapped into place with renames: the old `dist/` moves aside, the new one takes its name,
//! the old one is removed. SIGINT/SIGTERM are held as flags during the swap (see
//! `crate::proc::Interrupt`), and any failure or interrupt before it removes the staging
//! directory, so a previous `dist/` survives everything short of a power cut between the two
//! renames (after which it is still there under `.<name>.kiln-old-<pid>`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::archive::{self, ArchiveFormat, Entry, EntrySource};
use crate::checksum;
use crate::proc::Interrupt;

/// Failures while exporting; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Building an archive failed.
    #[error("{file}: {source}")]
    Archive {
        /// The archive being written.
        file: String,
        /// What went wrong.
        source: archive::ArchiveError,
    },
    /// SIGINT or SIGTERM arrived; nothing was published.
    #[error("interrupted; {0} left as it was")]
    Interrupted(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file of the release, to be written into the staging directory.
pub enum Output {
    /// An archive built from entries.
    Archive {
        /// File name in `dist/`.
        file: String,
        /// Its format.
        format: ArchiveFormat,
        /// Its members.
        entries: Vec<Entry>,
    },
    /// A file with given contents.
    Bytes {
        /// File name in `dist/`.
        file: String,
        /// Contents.
        bytes: Vec<u8>,
    },
}

/// A staging directory that removes itself unless published.
pub struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    mtime: u64,
    interrupt: Interrupt,
    published: bool,
}

impl Staging {
    /// Creates the staging directory next to `dest`.
    pub fn new(dest: &Path, mtime: u64, interrupt: Interrupt) -> Result<Staging, ExportError> {
        let parent = parent_of(dest);
        fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let name = dest
            .file_name()
            .map_or_else(|| "dist".into(), |n| n.to_string_lossy().into_owned());
        let dir = parent.join(format!(".{name}.kiln-staging-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        Ok(Staging {
            dir,
            dest: dest.to_path_buf(),
            mtime,
            interrupt,
            published: false,
        })
    }

    /// The staging directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_interrupt(&self) -> Result<(), ExportError> {
        if self.interrupt.is_set() {
            return Err(ExportError::Interrupted(self.dest.clone()));
        }
        Ok(())
    }

    /// Writes one output, fsynced; returns its SHA-256 and size.
    pub fn write(&self, output: &Output) -> Result<(String, u64), ExportError> {
        self.check_interrupt()?;
        pause_for_tests();
        let name = match output {
            Output::Archive { file, .. } | Output::Bytes { file, .. } => file,
        };
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let file = File::create(&path).map_err(io_err(&path))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        match output {
            Output::Archive {
                file,
                format,
                entries,
            } => {
                archive::write_archive(*format, entries, self.mtime, &mut w).map_err(|source| {
                    ExportError::Archive {
                        file: file.clone(),
                        source,
                    }
                })?;
            }
            Output::Bytes { bytes, .. } => w.write_all(bytes).map_err(io_err(&path))?,
        }
        let file = w.into_inner().map_err(|e| ExportError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_err(&path))?;
        drop(file);
        let sha = checksum::sha256_file(&path).map_err(io_err(&path))?;
        let size = fs::metadata(&path).map_err(io_err(&path))?.len();
        self.check_interrupt()?;
        Ok((sha, size))
    }

    /// Writes `SHA256SUMS` over every file written so far, fsyncs the directory and swaps it
    /// into place.
    pub fn publish(mut self, sums: &[(String, String)]) -> Result<PathBuf, ExportError> {
        let text = checksum::write_sha256sums(sums).map_err(|e| ExportError::Io {
            path: self.dir.join("SHA256SUMS"),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.write(&Output::Bytes {
            file: "SHA256SUMS".into(),
            bytes: text.into_bytes(),
        })?;
        sync_dir(&self.dir)?;
        self.check_interrupt()?;
        // From here on signals are only flags: nothing checks them until the swap is done.
        let parent = parent_of(&self.dest);
        let name = self
            .dest
            .file_name()
            .map_or_else(|| "dist".into(), |n| n.to_string_lossy().into_owned());
        let old = parent.join(format!(".{name}.kiln-old-{}", std::process::id()));
        let had_old = match fs::symlink_metadata(&self.dest) {
            Ok(m) if m.is_dir() => true,
            Ok(_) => {
                return Err(ExportError::Io {
                    path: self.dest.clone(),
                    source: std::io::Error::other("exists and is not a directory"),
                });
            }
            Err(_) => false,
        };
        if had_old {
            fs::rename(&self.dest, &old).map_err(io_err(&self.dest))?;
        }
        if let Err(source) = fs::rename(&self.dir, &self.dest) {
            if had_old {
                let _ = fs::rename(&old, &self.dest);
            }
            return Err(ExportError::Io {
                path: self.dest.clone(),
                source,
            });
        }
        self.published = true;
        sync_dir(&parent)?;
        if had_old {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// A testing knob: `KILN_EXPORT_PAUSE_MS` sleeps before each file is written, so tests can
/// deliver a signal while an export is in progress. Unset in normal use.
fn pause_for_tests() {
    if let Some(ms) = std::env::var("KILN_EXPORT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Archive entries for one target: `<top>/<binary>` (0755) for each binary and `<top>/<doc>`
/// (0644) for each document.
pub fn target_entries(top: &str, binaries: &[(String, PathBuf)], docs: &[(String, PathBuf)]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (name, path) in binaries {
        entries.push(Entry {
            name: format!("{top}/{name}"),
            source: EntrySource::File(path.clone()),
            mode: 0o755,
        });
    }
    for (name, path) in docs {
        entries.push(Entry {
            name: format!("{top}/{name}"),
            source: EntrySource::File(path.clone()),
            mode: 0o644,
        });
    }
    entries
}

/// Files copied next to the binaries when the source tree has them.
pub const DOC_FILES: &[&str] = &[
    "README",
    "README.md",
    "README.txt",
    "LICENSE",
    "LICENSE.md",
    "LICENSE.txt",
    "LICENSE-MIT",
    "LICENSE-APACHE",
    "COPYING",
    "NOTICE",
];

/// The documents present in `dir` (regular files only, never symlinks).
pub fn find_docs(dir: &Path) -> Vec<(String, PathBuf)> {
    DOC_FILES
        .iter()
        .map(|n| ((*n).to_owned(), dir.join(n)))
        .filter(|(_, p)| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect()
}
