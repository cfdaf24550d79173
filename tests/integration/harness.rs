//! Running things in the integration tests: the [`Test`] builder for the real `kiln` binary and
//! the one [`Output`] every run returns (kiln's or another program's), plus the tools the tests
//! drive beside kiln.
//!
//! A `Test` starts in a fresh temp dir (or in a dir it is given, such as a fixture flake's) with
//! the same environment for every run: no colour, no `RUST_LOG`, no `SOURCE_DATE_EPOCH`, and the
//! test Nix of [`crate::nixenv`] (`NIX_CONFIG` and `PATH`). Arguments, variables and files are
//! added by chaining; `.status(n)`, `.success()` and `.failure()` run kiln and fail the test,
//! showing the command line, stdout and stderr, unless the exit code is the expected one.
//!
//! A tool the tests need (nix, zig, readelf, qemu, sha256sum, ...) that is missing fails the test
//! with a pointer to `scripts/setup`; nothing is skipped.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The kiln binary under test.
pub(crate) const KILN: &str = env!("CARGO_BIN_EXE_kiln");

/// The repository root.
pub(crate) const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The repository root as a path.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(ROOT)
}

/// The exit code of a run that kiln ends with "verification failed".
pub(crate) const EXIT_FAILURE: i32 = 1;

// --- the builder --------------------------------------------------------------

/// One run of the kiln binary, being set up.
#[must_use]
pub(crate) struct Test {
    tempdir: Option<tempfile::TempDir>,
    dir: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    timeout: Option<Duration>,
}

impl Test {
    /// kiln in a fresh temp dir of its own (removed when the [`Output`] is dropped).
    pub(crate) fn new() -> Test {
        let tempdir = tempfile::Builder::new()
            .prefix("kiln-it-")
            .tempdir()
            .expect("a temp dir for the test");
        let dir = tempdir.path().to_path_buf();
        Test {
            tempdir: Some(tempdir),
            ..Test::in_dir(dir)
        }
    }

    /// kiln with `dir` as its working directory (which the caller keeps).
    pub(crate) fn in_dir(dir: impl AsRef<Path>) -> Test {
        Test {
            tempdir: None,
            dir: dir.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            stdout: None,
            stderr: None,
            timeout: None,
        }
    }

    /// The working directory kiln will run in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds one argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Test {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub(crate) fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (after, so over, the harness's own).
    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Test {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// kiln's standard output (default: captured into the [`Output`]).
    pub(crate) fn stdout(mut self, stdout: impl Into<Stdio>) -> Test {
        self.stdout = Some(stdout.into());
        self
    }

    /// kiln's standard error (default: captured into the [`Output`]).
    pub(crate) fn stderr(mut self, stderr: impl Into<Stdio>) -> Test {
        self.stderr = Some(stderr.into());
        self
    }

    /// Kills kiln and fails the test if it runs longer than `limit`.
    pub(crate) fn timeout(mut self, limit: Duration) -> Test {
        self.timeout = Some(limit);
        self
    }

    /// Writes `contents` to `path` (relative to the working directory), creating its parents.
    #[track_caller]
    pub(crate) fn write(self, path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Test {
        let path = self.dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self
    }

    /// The set-up command, for what the builder does not cover (spawning kiln in the background,
    /// piping its streams, a shell line). A [`Test::new`] keeps its temp dir only as long as the
    /// `Test` lives, so bind it to a name first.
    pub(crate) fn command(&mut self) -> Command {
        let mut command = Command::new(KILN);
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("NIX_CONFIG", crate::nixenv::nix_config())
            .env("PATH", crate::nixenv::path_env())
            .env_remove("RUST_LOG")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("KILN_EXPORT_PAUSE_MS");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        if let Some(stdout) = self.stdout.take() {
            command.stdout(stdout);
        }
        if let Some(stderr) = self.stderr.take() {
            command.stderr(stderr);
        }
        command
    }

    /// Starts kiln in the background (see [`Test::command`] on a `Test::new`'s dir).
    pub(crate) fn spawn(&mut self) -> std::io::Result<Child> {
        self.command().spawn()
    }

    /// Runs kiln to its end without judging the exit code; fails the test if kiln cannot be
    /// started, was killed by a signal or panicked.
    #[track_caller]
    pub(crate) fn run(mut self) -> Output {
        let tempdir = self.tempdir.take();
        let args = self.args.clone();
        let timeout = self.timeout;
        let command = self.command();
        let output = if let Some(limit) = timeout {
            run_with_timeout(command, limit)
        } else {
            let mut command = command;
            command
                .output()
                .unwrap_or_else(|e| panic!("cannot run {KILN}: {e}"))
        };
        let signalled = output.status.code().is_none();
        let mut output = Output::new("kiln", &args, &output);
        output.tempdir = tempdir;
        assert!(!signalled, "kiln was killed by a signal\n{output}");
        assert!(!output.stderr.contains("panicked"), "kiln panicked\n{output}");
        output
    }

    /// Runs kiln and asserts its exit code.
    #[track_caller]
    pub(crate) fn status(self, code: i32) -> Output {
        self.run().status(code)
    }

    /// Runs kiln and asserts exit 0.
    #[track_caller]
    pub(crate) fn success(self) -> Output {
        self.status(0)
    }

    /// Runs kiln and asserts exit 1 (a check failed).
    #[track_caller]
    pub(crate) fn failure(self) -> Output {
        self.status(EXIT_FAILURE)
    }
}

// --- the result ---------------------------------------------------------------

/// One finished run: kiln's, or another program's.
pub(crate) struct Output {
    /// The program and its arguments, for messages.
    pub(crate) command: String,
    /// Exit code (-1 for a signal).
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
    /// The test's own temp dir, kept while the output is.
    tempdir: Option<tempfile::TempDir>,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "exit: {}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

impl Output {
    fn new(program: &str, args: &[OsString], output: &std::process::Output) -> Output {
        let mut command = program.to_owned();
        for arg in args {
            command.push(' ');
            command.push_str(&arg.to_string_lossy());
        }
        Output {
            command,
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            tempdir: None,
        }
    }

    /// Runs another program (already set up) to its end.
    #[track_caller]
    pub(crate) fn of(mut command: impl std::borrow::BorrowMut<Command>) -> Output {
        let command = command.borrow_mut();
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        let program = command.get_program().to_string_lossy().into_owned();
        let args: Vec<OsString> = command.get_args().map(OsStr::to_owned).collect();
        Output::new(&program, &args, &output)
    }

    /// What `command` (a line for messages) printed and how it ended, collected by the caller.
    pub(crate) fn of_output(command: &str, output: &std::process::Output) -> Output {
        Output::new(command, &[], output)
    }

    /// Asserts the exit code and that nothing panicked, showing both streams otherwise.
    #[track_caller]
    pub(crate) fn status(self, code: i32) -> Output {
        assert!(
            self.code == code,
            "expected exit {code}, got {}\n{self}",
            self.code
        );
        assert!(!self.stderr.contains("panicked"), "panicked\n{self}");
        self
    }

    /// Asserts exit 0.
    #[track_caller]
    pub(crate) fn success(self) -> Output {
        self.status(0)
    }

    /// Asserts exit 1 (a check failed).
    #[track_caller]
    pub(crate) fn failure(self) -> Output {
        self.status(EXIT_FAILURE)
    }

    /// stdout parsed as JSON.
    #[track_caller]
    #[must_use]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }

    /// stdout parsed as a JSON array with `len` elements.
    #[track_caller]
    #[must_use]
    pub(crate) fn json_array(&self, len: usize) -> Vec<Value> {
        let Value::Array(items) = self.json() else {
            panic!("stdout is not a JSON array\n{self}")
        };
        assert_eq!(items.len(), len, "expected {len} elements\n{self}");
        items
    }
}

/// Runs `command` (already set up) to its end, killing it and failing the test if it takes
/// longer than `limit`. stdin is closed; stdout and stderr are collected.
#[track_caller]
pub(crate) fn run_with_timeout(mut command: Command, limit: Duration) -> std::process::Output {
    use std::io::Read as _;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_end(&mut stderr);
    }
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

// --- other programs -------------------------------------------------------------

/// Fails the test unless `tool` is an executable on the tests' `PATH`.
#[track_caller]
pub(crate) fn require_tool(tool: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = crate::nixenv::path_env();
    let found = std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join(tool);
        candidate.is_file()
            && candidate
                .metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    });
    assert!(
        found,
        "required tool '{tool}' not found on PATH; run scripts/setup"
    );
}

/// Runs an external tool and returns its stdout; any failure fails the test.
#[track_caller]
#[must_use]
pub(crate) fn tool_stdout<S: AsRef<OsStr>>(tool: &str, args: &[S]) -> String {
    require_tool(tool);
    let output = Output::of(Command::new(tool).args(args));
    assert!(output.code == 0, "{tool} failed\n{output}");
    output.stdout
}

/// Makes `dir` a git checkout with one commit of everything in it, at a fixed author, committer
/// and date, so two such checkouts of the same files have the same revision.
pub(crate) fn git_commit_all(dir: &Path) {
    require_tool("git");
    let git = "git init -q . && git add -A && git -c commit.gpgsign=false commit -q -m fixture";
    Output::of(
        Command::new("sh")
            .args(["-c", git])
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "kiln")
            .env("GIT_AUTHOR_EMAIL", "kiln@example.invalid")
            .env("GIT_COMMITTER_NAME", "kiln")
            .env("GIT_COMMITTER_EMAIL", "kiln@example.invalid")
            .env("GIT_AUTHOR_DATE", "1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "1700000000 +0000"),
    )
    .success();
}

/// `sh -c SCRIPT` in `dir`.
pub(crate) fn sh(dir: &Path, script: &str) -> Output {
    Output::of(Command::new("sh").args(["-c", script]).current_dir(dir))
}

// --- files ------------------------------------------------------------------------

/// The names in `dir`, sorted.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// kiln's staging, old-dist and lock leftovers in `dir` (none may survive a run).
pub(crate) fn staging_dirs(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.contains(".kiln-"))
        .collect()
}

/// Recursive copy of regular files and directories (fixtures have no symlinks).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Lower-case hex of `bytes` (how kiln's JSON carries `*_bytes`).
#[must_use]
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
