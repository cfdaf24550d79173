//! A real Nix for integration tests: sandbox on, no substituters, a private flake registry, and
//! either Debian's Nix 2.8 (default) or the current Nix that `scripts/setup` installs beside it
//! (`KILN_TEST_NIX=modern`). Fixture flakes are copied with the repo's `nix/` into a temp dir,
//! so each test builds from a tree of its own. Nothing here is a stand-in: a missing tool fails
//! the test with a pointer to `scripts/setup`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$KILN_CACHE_DIR`, default `$HOME/.cache/kiln` (where `scripts/setup` puts its tools).
pub(crate) fn cache_dir() -> PathBuf {
    std::env::var_os("KILN_CACHE_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/kiln"),
        PathBuf::from,
    )
}

/// Which Nix the suite runs against.
pub(crate) fn variant() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| std::env::var("KILN_TEST_NIX").unwrap_or_else(|_| "2.8".into()))
}

/// `PATH` for kiln under test: the modern Nix wrappers first when asked for.
pub(crate) fn path_env() -> String {
    let base = std::env::var("PATH").unwrap_or_default();
    if variant() == "modern" {
        let bin = cache_dir().join("nix-2.26/bin");
        assert!(
            bin.join("nix").exists(),
            "KILN_TEST_NIX=modern but {} is missing: run scripts/setup",
            bin.display()
        );
        format!("{}:{base}", bin.display())
    } else {
        base
    }
}

/// NIX_CONFIG for every nix kiln starts in tests.
pub(crate) fn nix_config() -> String {
    static REG: OnceLock<PathBuf> = OnceLock::new();
    let reg = REG.get_or_init(|| {
        // One file in the build's own temp dir (CARGO_TARGET_TMPDIR), shared by every run and
        // written by rename, so no run leaves a directory of its own behind.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("kiln-test-registry.json");
        let part = dir.join(format!(".kiln-test-registry.json.{}", std::process::id()));
        std::fs::write(&part, "{\"flakes\":[],\"version\":2}\n").unwrap();
        std::fs::rename(&part, &f).unwrap();
        f
    });
    format!(
        "experimental-features = nix-command flakes\nbuild-users-group =\nsubstituters =\n\
         sandbox = true\nsandbox-fallback = false\nflake-registry = {}\n",
        reg.display()
    )
}

/// Fails loudly unless `tool` is on PATH.
#[track_caller]
pub(crate) fn require_tool(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .env("PATH", path_env())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is required for this test and is not on PATH: run scripts/setup"
    );
}

/// A fixture flake copied into a fresh temp dir as `<tmp>/f` (with `<tmp>/f/nix/`).
pub(crate) struct Fixture {
    /// Holds the directory.
    pub(crate) tmp: tempfile::TempDir,
}

impl Fixture {
    /// Copies `tests/fixtures/flakes/<name>`.
    pub(crate) fn new(name: &str) -> Fixture {
        require_tool("nix");
        let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
        let f = tmp.path().join("f");
        copy_dir(&repo().join("tests/fixtures/flakes").join(name), &f);
        copy_dir(&repo().join("nix"), &f.join("nix"));
        Fixture { tmp }
    }

    /// A fixture whose flake.nix is given inline (the hermetic builder is still copied).
    pub(crate) fn inline(flake_nix: &str, files: &[(&str, &str)]) -> Fixture {
        require_tool("nix");
        let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::create_dir_all(&f).unwrap();
        std::fs::write(f.join("flake.nix"), flake_nix).unwrap();
        for (name, body) in files {
            std::fs::write(f.join(name), body).unwrap();
        }
        copy_dir(&repo().join("nix"), &f.join("nix"));
        Fixture { tmp }
    }

    /// Gives every file and directory of the copied flake the same mtime, as `cp -a` of one
    /// checkout would keep them (a `path:` flake's `lastModified` is the newest mtime).
    pub(crate) fn set_mtimes(&self, epoch: i64) {
        sh(
            &self.tmp.path().join("f"),
            &format!("find . -exec touch -h -d @{epoch} {{}} +"),
        )
        .expect_code(0);
    }

    /// Makes the copied flake a git checkout with one commit of everything in it, at a fixed
    /// author, committer and date, so two such checkouts have the same revision.
    pub(crate) fn git_commit(&self) {
        require_tool("git");
        let r = Run::of(
            Command::new("sh")
                .args([
                    "-c",
                    "git init -q . && git add -A && git -c commit.gpgsign=false commit -q -m fixture",
                ])
                .current_dir(self.tmp.path().join("f"))
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "kiln")
                .env("GIT_AUTHOR_EMAIL", "kiln@example.invalid")
                .env("GIT_COMMITTER_NAME", "kiln")
                .env("GIT_COMMITTER_EMAIL", "kiln@example.invalid")
                .env("GIT_AUTHOR_DATE", "1700000000 +0000")
                .env("GIT_COMMITTER_DATE", "1700000000 +0000"),
        );
        r.expect_code(0);
    }

    /// A copy of `examples/<name>` with the repo's `nix/` beside its flake.nix, which then
    /// imports `./nix/` instead of `../../nix/`.
    pub(crate) fn example(name: &str) -> Fixture {
        require_tool("nix");
        let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
        let f = tmp.path().join("f");
        copy_dir(&repo().join("examples").join(name), &f);
        let flake = f.join("flake.nix");
        let text = std::fs::read_to_string(&flake).unwrap();
        assert!(
            text.contains("../../nix/"),
            "{}: no ../../nix/ import",
            flake.display()
        );
        std::fs::write(&flake, text.replace("../../nix/", "./nix/")).unwrap();
        copy_dir(&repo().join("nix"), &f.join("nix"));
        Fixture { tmp }
    }

    /// The temp dir (kiln runs here).
    pub(crate) fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `path:` reference to the copied flake.
    pub(crate) fn flake_ref(&self) -> String {
        format!("path:{}", self.tmp.path().join("f").display())
    }

    /// `kiln build --flake <this>` plus `args`, run in the temp dir.
    pub(crate) fn build(&self, args: &[&str]) -> Command {
        let mut cmd = kiln(self.dir());
        cmd.args(["build", "--flake", &self.flake_ref()]).args(args);
        cmd
    }
}

/// The kiln binary with the test Nix environment, in `dir`.
pub(crate) fn kiln(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(dir)
        .env("NIX_CONFIG", nix_config())
        .env("PATH", path_env())
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("KILN_EXPORT_PAUSE_MS");
    cmd
}

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

/// `sh -c SCRIPT` in `dir`.
pub(crate) fn sh(dir: &Path, script: &str) -> Run {
    Run::of(Command::new("sh").args(["-c", script]).current_dir(dir))
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

/// Exit code, stdout and stderr of a finished command.
pub(crate) struct Run {
    /// Exit code (-1 for a signal).
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Run {
    /// Runs `cmd` to completion.
    pub(crate) fn of(mut cmd: impl std::borrow::BorrowMut<Command>) -> Run {
        let out = cmd.borrow_mut().output().expect("kiln runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams otherwise.
    #[track_caller]
    pub(crate) fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "kiln panicked:\n{}",
            self.stderr
        );
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}
