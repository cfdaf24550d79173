# nix/source-files.nix: which files of the repository kiln's own crate is built from.
#
# Owns: the list, as data, builtins only, so both providers select the same tree:
# nix/source.nix turns it into a `lib.fileset` (nixpkgs' lib), nix/hermetic/ into a
# `builtins.path` filter. Everything `src/` reads at compile time must be in it:
# nix/targets.json (src/target.rs embeds it), templates/ (src/init.rs embeds
# templates/default/flake.nix and templates/hermetic/flake.nix), rust-toolchain.toml
# (src/init.rs embeds the Rust version it pins), nix/hermetic/debian.json and
# nix/hermetic/crates.nix (`kiln init --hermetic` reads the pinned Rust version and
# the one registry the hermetic provider vendors from), tests/fixtures/ (unit tests
# embed fixtures).
# tests/nix/source-compiles.sh checks that kiln compiles from exactly these files.
{
  # Paths relative to the repository root that must exist.
  required = [
    "Cargo.toml"
    "Cargo.lock"
    "src"
    "nix/targets.json"
    "nix/hermetic/debian.json"
    "nix/hermetic/crates.nix"
    "templates"
    "rust-toolchain.toml"
  ];
  # Paths taken when they exist.
  optional = [
    "build.rs"
    "tests"
    "benches"
    "examples"
    "README.md"
    "LICENSE"
    "rustfmt.toml"
    "clippy.toml"
    ".cargo"
  ];
  # Paths inside the above that are left out.
  excluded = [ "tests/nix" ];
}
