//! `cargo bench --bench archive`: kiln's deterministic tar.gz writer against GNU tar piped into
//! gzip with the same normalisations
//! (`tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c DIR | gzip -n -9`),
//! on the same files, measured in the same run.
//!
//! The tree holds `KILN_BENCH_MIB` MiB (default 64) in four files: half pseudo-random bytes
//! (incompressible), half text-like lines with varying numbers (compressible). Both writers
//! read from the page cache and write to a file in the same temp dir; each figure is the best
//! of `KILN_BENCH_RUNS` runs (default 3). A time ratio above 1 means kiln is faster; the size
//! ratio compares the two outputs.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{best, env_num, random_file};
use kiln::archive::{ArchiveFormat, Member, MemberSource};

/// Writes about `mib` MiB of log-like lines to `path`.
fn text_file(path: &Path, mib: u64) {
    let mut w = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let (mut n, limit) = (0u64, mib << 20);
    let mut written = 0u64;
    while written < limit {
        let line = format!(
            "2026-01-01T00:00:{:02}Z INFO request {n} served path=/api/v1/items/{} status=200 bytes={}\n",
            n % 60,
            n % 977,
            (n * 7919) % 65_536
        );
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        n += 1;
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mib = env_num("KILN_BENCH_MIB", 64);
    let runs = env_num("KILN_BENCH_RUNS", 3);
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("tree");
    let release = top.join("release");
    fs::create_dir_all(&release).unwrap();
    let quarter = (mib / 4).max(1);
    let files: Vec<(String, PathBuf)> = ["random-a", "random-b", "text-a", "text-b"]
        .iter()
        .map(|n| ((*n).to_owned(), release.join(n)))
        .collect();
    random_file(&files[0].1, quarter, 0x9e37_79b9_7f4a_7c15);
    random_file(&files[1].1, quarter, 0x2545_f491_4f6c_dd1d);
    text_file(&files[2].1, quarter);
    text_file(&files[3].1, quarter);
    let input: u64 = files.iter().map(|(_, p)| fs::metadata(p).unwrap().len()).sum();
    let entries: Vec<Member> = files
        .iter()
        .map(|(n, p)| Member {
            name: format!("release/{n}"),
            source: MemberSource::File(p.clone()),
            mode: 0o644,
        })
        .collect();
    let _ = Command::new("cat")
        .args(files.iter().map(|(_, p)| p))
        .stdout(Stdio::null())
        .status();

    let ours = tmp.path().join("kiln.tar.gz");
    let t_kiln = best(runs, || {
        let mut f = std::io::BufWriter::new(fs::File::create(&ours).unwrap());
        kiln::archive::write_archive(ArchiveFormat::TarGz, &entries, 0, &mut f).unwrap();
        f.flush().unwrap();
    });
    let theirs = tmp.path().join("gnu.tar.gz");
    let script = format!(
        "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C '{}' -c release | gzip -n -9 > '{}'",
        top.display(),
        theirs.display()
    );
    let t_gnu = best(runs, || {
        let st = Command::new("sh")
            .args(["-c", &script])
            .status()
            .expect("sh runs");
        assert!(
            st.success(),
            "tar | gzip failed (tar and gzip are needed: run scripts/setup)"
        );
    });
    let (size_kiln, size_gnu) = (
        fs::metadata(&ours).unwrap().len(),
        fs::metadata(&theirs).unwrap().len(),
    );
    #[allow(clippy::cast_precision_loss)]
    let mibs = |d: Duration| (input as f64 / f64::from(1 << 20)) / d.as_secs_f64();
    println!(
        "input: {} MiB in 4 files (half pseudo-random, half text), best of {runs} runs",
        input >> 20
    );
    println!(
        "{:<36} {:>9} {:>8} {:>12}",
        "writer", "seconds", "MiB/s", "bytes out"
    );
    for (name, d, size) in [
        ("kiln tar.gz (library)", t_kiln, size_kiln),
        ("tar --sort=name … | gzip -n -9", t_gnu, size_gnu),
    ] {
        println!("{name:<36} {:>9.3} {:>8.1} {size:>12}", d.as_secs_f64(), mibs(d));
    }
    println!(
        "ratio time tar|gzip / kiln:   {:.2}x",
        t_gnu.as_secs_f64() / t_kiln.as_secs_f64()
    );
    #[allow(clippy::cast_precision_loss)]
    let size_ratio = size_kiln as f64 / size_gnu as f64;
    println!("ratio size kiln / tar|gzip:   {size_ratio:.4}");
}
