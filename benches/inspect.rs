//! `cargo bench --bench inspect`: kiln's ELF inspection and SHA-256 on one large ELF file,
//! against `sha256sum` and `readelf -a` on the same file, measured in the same run.
//!
//! The file is a real ELF (this benchmark's own executable) with a section of pseudo-random
//! bytes added by `objcopy`, `KILN_BENCH_MIB` MiB in all (default 256). Every tool reads it
//! from the page cache (one warm-up read first); each figure is the best of `KILN_BENCH_RUNS`
//! runs (default 5). Ratios above 1 mean kiln is faster. Peak RSS of the `kiln inspect`
//! process is read from `wait4`'s rusage for that process alone.
//!
//! Then `kiln inspect --json` time and peak RSS against file size, for each size in
//! `KILN_BENCH_SIZES` MiB (default `1,16,256,1024`; empty skips it): kiln maps the file and
//! releases its pages per 8 MiB chunk, so peak RSS must stay under 64 MiB whatever the size
//! (the benchmark fails otherwise).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{best, env_num, random_file};

fn run_quiet(cmd: &mut Command) {
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("tool runs");
    assert!(st.success(), "{cmd:?} failed");
}

fn make_elf(dir: &Path, mib: u64) -> std::path::PathBuf {
    let blob = dir.join("blob");
    // Written in chunks (random_file): this process must stay small, because a child spawned
    // with vfork inherits the parent's peak RSS in its rusage until it execs.
    random_file(&blob, mib, 0x9e37_79b9_7f4a_7c15);
    let out = dir.join("big.elf");
    let me = std::env::current_exe().unwrap();
    run_quiet(
        Command::new("objcopy")
            .arg(format!("--add-section=.kiln_bench={}", blob.display()))
            .arg("--set-section-flags=.kiln_bench=noload,readonly")
            .arg(&me)
            .arg(&out),
    );
    std::fs::remove_file(blob).unwrap();
    out
}

/// Runs `kiln inspect --json FILE` once and returns its own peak RSS in KiB (wait4's rusage
/// covers just that child, not the objcopy run earlier).
#[allow(unsafe_code, clippy::zombie_processes)]
fn inspect_peak_rss_kib(kiln: &str, file: &Path) -> i64 {
    let child = Command::new(kiln)
        .args(["inspect", "--json"])
        .arg(file)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: wait4 on our own child, writing into a zeroed rusage and status we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let mut status = 0;
        assert_eq!(libc::wait4(pid, &raw mut status, 0, &raw mut ru), pid);
        assert_eq!(status, 0, "kiln inspect failed");
        ru.ru_maxrss
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mib = env_num("KILN_BENCH_MIB", 256);
    let runs = env_num("KILN_BENCH_RUNS", 5);
    let dir = tempfile::tempdir().unwrap();
    let file = make_elf(dir.path(), mib);
    let size = std::fs::metadata(&file).unwrap().len();
    let kiln = env!("CARGO_BIN_EXE_kiln");
    run_quiet(Command::new("cat").arg(&file)); // warm the page cache
    let rss = inspect_peak_rss_kib(kiln, &file); // before this process maps the file itself

    let t_sha = best(runs, || {
        kiln::checksum::sha256_file(&file).unwrap();
    });
    let t_inspect = best(runs, || {
        let r = kiln::elf::inspect(&file);
        assert!(r.error.is_none(), "{:?}", r.error);
    });
    let t_cli = best(runs, || {
        run_quiet(Command::new(kiln).args(["inspect", "--json"]).arg(&file));
    });
    let t_sha256sum = best(runs, || run_quiet(Command::new("sha256sum").arg(&file)));
    let t_readelf = best(runs, || run_quiet(Command::new("readelf").arg("-a").arg(&file)));

    #[allow(clippy::cast_precision_loss)]
    let mibs = |d: Duration| (size as f64 / f64::from(1 << 20)) / d.as_secs_f64();
    let ratio = |base: Duration, ours: Duration| base.as_secs_f64() / ours.as_secs_f64();
    println!(
        "file: {} MiB ELF, best of {runs} runs, page cache warm",
        size >> 20
    );
    println!("{:<28} {:>10} {:>10}", "measurement", "seconds", "MiB/s");
    for (name, d) in [
        ("kiln sha256 (library)", t_sha),
        ("kiln inspect (library)", t_inspect),
        ("kiln inspect --json (CLI)", t_cli),
        ("sha256sum", t_sha256sum),
        ("readelf -a", t_readelf),
    ] {
        println!("{name:<28} {:>10.3} {:>10.0}", d.as_secs_f64(), mibs(d));
    }
    println!(
        "ratio sha256sum / kiln sha256:        {:.2}x",
        ratio(t_sha256sum, t_sha)
    );
    println!(
        "ratio sha256sum / kiln inspect CLI:   {:.2}x",
        ratio(t_sha256sum, t_cli)
    );
    println!(
        "ratio readelf -a / kiln inspect CLI:  {:.2}x",
        ratio(t_readelf, t_cli)
    );
    println!(
        "peak RSS of the kiln inspect process: {} MiB (file is {} MiB)",
        rss / 1024,
        size >> 20
    );
    drop(dir);
    size_sweep(kiln, runs);
}

/// `kiln inspect --json` time and peak RSS for each size of `KILN_BENCH_SIZES`.
fn size_sweep(kiln: &str, runs: u64) {
    let sizes: Vec<u64> = std::env::var("KILN_BENCH_SIZES")
        .unwrap_or_else(|_| "1,16,256,1024".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if sizes.is_empty() {
        return;
    }
    println!();
    println!("kiln inspect --json against file size (best of {runs} runs, page cache warm)");
    println!(
        "{:>10} {:>10} {:>10} {:>14}",
        "file MiB", "seconds", "MiB/s", "peak RSS MiB"
    );
    for mib in sizes {
        let dir = tempfile::tempdir().unwrap();
        let file = make_elf(dir.path(), mib);
        let size = std::fs::metadata(&file).unwrap().len();
        run_quiet(Command::new("cat").arg(&file));
        let rss = inspect_peak_rss_kib(kiln, &file);
        let t = best(runs, || {
            run_quiet(Command::new(kiln).args(["inspect", "--json"]).arg(&file));
        });
        #[allow(clippy::cast_precision_loss)]
        let rate = (size as f64 / f64::from(1 << 20)) / t.as_secs_f64();
        println!(
            "{:>10} {:>10.3} {:>10.0} {:>14}",
            size >> 20,
            t.as_secs_f64(),
            rate,
            rss / 1024
        );
        assert!(
            rss < 64 * 1024,
            "kiln inspect of a {} MiB file peaked at {} MiB RSS (limit 64 MiB)",
            size >> 20,
            rss / 1024
        );
    }
}
