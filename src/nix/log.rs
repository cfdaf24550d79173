//! Reading what a running `nix build -L` prints on stderr besides its errors: the build log
//! lines of each derivation (`<drv-name>> text`, the same in Nix 2.8 and current Nix), which the
//! progress display shows, and the build directories `--keep-failed` keeps.

use std::path::PathBuf;

/// A build log line as nix prints it with `-L` (Nix 2.8 and current Nix alike):
/// `<drv-name>> <text>`, split into the name and the text.
pub fn log_line(line: &str) -> Option<(&str, &str)> {
    let (name, text) = line.split_once("> ")?;
    // A derivation name: no spaces, quotes or slashes (nix's own messages have them).
    if name.is_empty() || name.contains([' ', '\'', '/', '"']) {
        return None;
    }
    Some((name, text.trim_end()))
}

/// The derivation name of a store path `/nix/store/<hash>-<name>.drv`.
pub fn drv_name(drv_path: &str) -> Option<&str> {
    let base = drv_path.rsplit('/').next()?.strip_suffix(".drv")?;
    Some(base.split_once('-')?.1).filter(|n| !n.is_empty())
}

/// The prefix nix puts on a derivation's build log lines with `-L`: its name without the version
/// (as `builtins.parseDrvName` splits it: the version starts at the first `-` before a digit).
pub fn log_prefix(name: &str) -> &str {
    name.char_indices()
        .find(|&(i, c)| c == '-' && name[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map_or(name, |(i, _)| &name[..i])
}

/// The build log lines (`name> text`, without the prefix) that a `-L` run printed for the
/// derivation at `drv_path`: that run's own log, whatever another process has since written
/// under the same derivation in the store's log directory.
pub fn lines_of<'a>(stderr: &'a str, drv_path: &str) -> Vec<&'a str> {
    let Some(prefix) = drv_name(drv_path).map(log_prefix) else {
        return Vec::new();
    };
    stderr
        .lines()
        .filter_map(log_line)
        .filter(|&(name, _)| name == prefix)
        .map(|(_, text)| text)
        .collect()
}

/// The sandbox build directories (`…/nix-build-*`) that `--keep-failed` kept, as nix names them
/// in its `keeping build directory '…'` lines.
pub fn kept_build_dirs(stderr: &str) -> Vec<PathBuf> {
    stderr
        .lines()
        .filter_map(|line| {
            line.split("keeping build directory '")
                .nth(1)
                .and_then(|s| s.split('\'').next())
        })
        .map(PathBuf::from)
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("nix-build-"))
        })
        .collect()
}

/// Recorded stderr of a real Nix 2.8 or 2.26 run (`tests/fixtures/nix-stderr/record`), for the
/// unit tests of everything that reads nix's output.
#[cfg(test)]
pub(crate) fn recorded(version: &str, case: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/nix-stderr/{version}/{case}.stderr",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_and_drv_names() {
        assert_eq!(
            drv_name(
                "/nix/store/3lvpqci15sazfwkckzjfjcpjv4wrh7fs-fixture-aarch64-unknown-linux-gnu-1.2.3.drv"
            ),
            Some("fixture-aarch64-unknown-linux-gnu-1.2.3")
        );
        assert_eq!(
            log_prefix("fixture-aarch64-unknown-linux-gnu-1.2.3"),
            "fixture-aarch64-unknown-linux-gnu"
        );
        assert_eq!(log_prefix("kiln-zig-libc"), "kiln-zig-libc");
        assert_eq!(log_line("hello> make: ok"), Some(("hello", "make: ok")));
        assert_eq!(log_line("error: builder for '/nix/store/x> y' failed"), None);
        assert_eq!(log_line("no marker"), None);
    }

    #[test]
    fn lines_of_one_derivation() {
        let stderr = "fixture-x86_64-unknown-linux-gnu> compiling\n\
                      fixture-aarch64-unknown-linux-gnu> KILN_FIXTURE_BROKEN  \n\
                      error: builder for '/nix/store/x-fixture.drv' failed\n\
                      fixture-aarch64-unknown-linux-gnu> exit 1\n";
        let drv = "/nix/store/3lvpqci15sazfwkckzjfjcpjv4wrh7fs-fixture-aarch64-unknown-linux-gnu-1.2.3.drv";
        assert_eq!(lines_of(stderr, drv), ["KILN_FIXTURE_BROKEN", "exit 1"]);
        assert!(lines_of(stderr, "not-a-drv-path").is_empty());
    }

    #[test]
    fn kept_build_dirs_are_nix_build_dirs_only() {
        let stderr = "note: keeping build directory '/tmp/nix-build-a.drv-0'\n\
                      keeping build directory '/home/u/important'\nerror: x\n";
        assert_eq!(kept_build_dirs(stderr), [PathBuf::from("/tmp/nix-build-a.drv-0")]);
    }
}
