//! Smoke runs (`kiln build --smoke ARGS`): each verified binary run once, natively or under its
//! target's qemu-user emulator, with a time limit; the manifest records how it went.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::outcome::{Status, TargetReport};
use crate::manifest::Smoke;
use crate::target::{Libc, Target};

/// Runs every binary of a verified target once.
pub(super) fn smoke_target(r: &mut TargetReport, t: &Target, args: &[String]) {
    for (name, path, _) in &r.bins.clone() {
        match smoke_run(path, t, args) {
            Ok(run) => {
                let s = run.smoke;
                if s.exit_code != Some(0) {
                    r.status = Status::SmokeFailed;
                    let how = match s.exit_code {
                        Some(c) => format!("exited {c}"),
                        None => "was killed (a signal, or no end within 60 s)".into(),
                    };
                    let mut error = format!("smoke run of bin/{name} ({}) {how}: {}", s.runner, s.first_line);
                    if let Some(last) = run.last_stderr_line.filter(|l| *l != s.first_line) {
                        let _ = write!(error, " … {last}");
                    }
                    r.error = Some(error);
                }
                r.smokes.insert(name.clone(), s);
            }
            Err(e) => {
                r.status = Status::SmokeFailed;
                r.error = Some(format!("smoke run of bin/{name}: {e:#}"));
            }
        }
    }
}

/// Runs `path ARGS` natively when the target's architecture is the host's, else under the
/// target's qemu-user emulator (with `/usr/<arch>-linux-gnu` as the loader prefix for gnu
/// targets when it exists). Gives up after 60 seconds.
pub fn smoke_run(path: &Path, t: &Target, args: &[String]) -> Result<SmokeRun> {
    let native = t.arch == std::env::consts::ARCH;
    let mut cmd;
    let runner;
    if native {
        cmd = Command::new(path);
        runner = "native".to_owned();
    } else {
        let qemu = which::which(&t.qemu)
            .with_context(|| format!("{} not found on PATH (apt-get install qemu-user-static)", t.qemu))?;
        cmd = Command::new(&qemu);
        let sysroot = PathBuf::from(format!("/usr/{}-linux-gnu", t.arch));
        if t.libc == Libc::Gnu && sysroot.is_dir() {
            cmd.arg("-L").arg(&sysroot);
        }
        cmd.arg(path);
        runner = t.qemu.clone();
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", path.display()))?;
    // Both pipes are read while the binary runs, so one printing more than a pipe holds never
    // blocks on a full pipe; only the first and last bytes of each are kept.
    let readers = [
        child.stdout.take().map(|r| Captured::spawn(Box::new(r))),
        child.stderr.take().map(|r| Captured::spawn(Box::new(r))),
    ];
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // A child the binary left behind may hold a pipe open: wait for the readers a little only.
    let [out, err] = readers.map(|r| r.map(Captured::finish).unwrap_or_default());
    let output_bytes = (out.total, err.total);
    let tail: Vec<u8> = err.tail.iter().copied().collect();
    let last_stderr_line = String::from_utf8_lossy(&tail)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned());
    let text = if out.head.iter().any(|b| !b.is_ascii_whitespace()) {
        out.head
    } else {
        err.head
    };
    let first_line = String::from_utf8_lossy(&text)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned();
    Ok(SmokeRun {
        smoke: Smoke {
            args: args.to_vec(),
            runner,
            exit_code: status.and_then(|s| s.code()),
            first_line,
        },
        last_stderr_line,
        output_bytes,
    })
}

/// How much of a smoke run's output is kept: the first and the last bytes of each stream.
const SMOKE_KEEP: usize = 64 * 1024;

/// One output stream of a smoke run, read to its end on a thread of its own.
#[derive(Default)]
struct Captured {
    /// The first [`SMOKE_KEEP`] bytes (where the first line is).
    head: Vec<u8>,
    /// The last [`SMOKE_KEEP`] bytes.
    tail: std::collections::VecDeque<u8>,
    /// Every byte read.
    total: u64,
}

/// A smoke run, with the end of its error output for a failure's report.
pub struct SmokeRun {
    /// What the manifest records.
    pub smoke: Smoke,
    /// The last non-empty line of stderr (of its last 64 KiB), if any.
    pub last_stderr_line: Option<String>,
    /// Bytes written to stdout and stderr.
    pub output_bytes: (u64, u64),
}

impl Captured {
    fn spawn(mut r: Box<dyn std::io::Read + Send>) -> std::sync::mpsc::Receiver<Captured> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut c = Captured::default();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => c.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(c);
        });
        rx
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = SMOKE_KEEP.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        let keep = &bytes[bytes.len().saturating_sub(SMOKE_KEEP)..];
        self.tail.extend(keep);
        let excess = self.tail.len().saturating_sub(SMOKE_KEEP);
        self.tail.drain(..excess);
    }

    /// What the reader got, waiting at most 2 s for the pipe to close.
    #[allow(clippy::needless_pass_by_value)] // the receiver is done with once read
    fn finish(rx: std::sync::mpsc::Receiver<Captured>) -> Captured {
        rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default()
    }
}
