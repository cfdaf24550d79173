//! Helpers the benchmarks share (a module directory, so cargo does not take it for a bench).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// An unsigned environment knob with a default.
pub(crate) fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fastest of `runs` timings of `f`.
pub(crate) fn best<F: FnMut()>(runs: u64, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Writes `mib` MiB of xorshift bytes (seeded with `state`) to `path`, a MiB at a time, so the
/// benchmark process itself stays small.
pub(crate) fn random_file(path: &Path, mib: u64, mut state: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for word in chunk.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        w.write_all(&chunk).unwrap();
    }
}

/// Copies the directory tree `from` to `to` (files and directories only; the example crates
/// and `nix/` hold no symlinks).
#[allow(dead_code)] // not every benchmark copies a tree
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The median of some timings (the upper middle one for an even count); zero for none.
#[allow(dead_code)] // not every benchmark takes medians
pub(crate) fn median_of(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
