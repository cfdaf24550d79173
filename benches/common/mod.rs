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
