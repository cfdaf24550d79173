//! A real Nix for integration tests: the settings of `scripts/nix.conf` (sandbox on, no
//! substituters) with a private flake registry, and either Debian's Nix 2.8 (default) or the
//! current Nix that `scripts/setup` installs beside it (`KILN_TEST_NIX=modern`). Fixture flakes
//! are copied with the repo's `nix/` into a temp dir, so each test builds from a tree of its own.
//! Nothing here is a stand-in: a missing tool fails the test with a pointer to `scripts/setup`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::harness::{Test, copy_dir, git_commit_all, repo, require_tool, sh};

/// The settings file `scripts/nix-env` exports too (the one copy of them). Read when the tests
/// run, not embedded: `tests/nix/source-compiles.sh` compiles the tests from a tree without
/// `scripts/`.
const NIX_CONF: &str = "scripts/nix.conf";

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
    if variant() == "modern" {
        modern_path()
    } else {
        std::env::var("PATH").unwrap_or_default()
    }
}

/// The directory of the Nix 2.26 wrappers scripts/setup installs (they use a store of their own).
pub(crate) fn modern_bin() -> PathBuf {
    let bin = cache_dir().join("nix-2.26/bin");
    assert!(
        bin.join("nix").exists(),
        "Nix 2.26 is wanted but {} is missing: run scripts/setup",
        bin.display()
    );
    bin
}

/// `PATH` with the Nix 2.26 wrappers first.
pub(crate) fn modern_path() -> String {
    format!(
        "{}:{}",
        modern_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// NIX_CONFIG for every nix kiln starts in tests: `scripts/nix.conf` without its comments, and
/// an empty flake registry of the tests' own.
pub(crate) fn nix_config() -> String {
    static CONFIG: OnceLock<String> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // One registry file in the build's own temp dir (CARGO_TARGET_TMPDIR), shared by every
            // run and written by rename, so no run leaves a directory of its own behind.
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            std::fs::create_dir_all(&dir).unwrap();
            let registry = dir.join("kiln-test-registry.json");
            let part = dir.join(format!(".kiln-test-registry.json.{}", std::process::id()));
            std::fs::write(&part, "{\"flakes\":[],\"version\":2}\n").unwrap();
            std::fs::rename(&part, &registry).unwrap();

            let path = repo().join(NIX_CONF);
            let settings =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut config = String::new();
            for line in settings.lines() {
                if !line.trim_start().starts_with('#') && !line.trim().is_empty() {
                    config.push_str(line);
                    config.push('\n');
                }
            }
            config + &format!("flake-registry = {}\n", registry.display())
        })
        .clone()
}

/// Held by every test that builds the example crate, one at a time: two `nix build --rebuild`
/// (`--check-reproducible`) of the same derivations in two processes can each take the other's
/// output locks and wait forever (seen with Nix 2.8), and the example's builds are the suite's
/// heaviest, so running them side by side on two cores gains nothing.
pub(crate) fn example_guard() -> MutexGuard<'static, ()> {
    static EXAMPLE: Mutex<()> = Mutex::new(());
    EXAMPLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fixture flake copied into a fresh temp dir as `<tmp>/f` (with `<tmp>/f/nix/`).
pub(crate) struct Fixture {
    /// Holds the directory.
    pub(crate) tmp: tempfile::TempDir,
    /// For a copy of an example: its turn to build (see [`example_guard`]).
    _turn: Option<MutexGuard<'static, ()>>,
}

impl Fixture {
    /// Copies `tests/fixtures/flakes/<name>`.
    pub(crate) fn new(name: &str) -> Fixture {
        require_tool("nix");
        let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().unwrap();
        let f = tmp.path().join("f");
        copy_dir(&repo().join("tests/fixtures/flakes").join(name), &f);
        copy_dir(&repo().join("nix"), &f.join("nix"));
        Fixture { tmp, _turn: None }
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
        Fixture { tmp, _turn: None }
    }

    /// Gives every file and directory of the copied flake the same mtime, as `cp -a` of one
    /// checkout would keep them (a `path:` flake's `lastModified` is the newest mtime).
    pub(crate) fn set_mtimes(&self, epoch: i64) {
        sh(
            &self.tmp.path().join("f"),
            &format!("find . -exec touch -h -d @{epoch} {{}} +"),
        )
        .success();
    }

    /// Makes the copied flake a git checkout with one commit of everything in it, at a fixed
    /// author, committer and date, so two such checkouts have the same revision.
    pub(crate) fn git_commit(&self) {
        git_commit_all(&self.tmp.path().join("f"));
    }

    /// A copy of `examples/<name>` with the repo's `nix/` beside its flake.nix, which then
    /// imports `./nix/` instead of `../../nix/`.
    pub(crate) fn example(name: &str) -> Fixture {
        require_tool("nix");
        let turn = example_guard();
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
        Fixture {
            tmp,
            _turn: Some(turn),
        }
    }

    /// The temp dir (kiln runs here).
    pub(crate) fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `path:` reference to the copied flake.
    pub(crate) fn flake_ref(&self) -> String {
        format!("path:{}", self.tmp.path().join("f").display())
    }

    /// kiln run in the temp dir.
    pub(crate) fn kiln(&self) -> Test {
        Test::in_dir(self.dir())
    }

    /// `kiln build --flake <this>` plus `args`, run in the temp dir.
    pub(crate) fn build(&self, args: &[&str]) -> Test {
        self.kiln()
            .args(["build", "--flake", &self.flake_ref()])
            .args(args)
    }
}
