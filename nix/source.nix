# nix/source.nix: the source tree of kiln's own crate.
#
# Owns: which files of the repository the Rust build sees. Only these enter
# the store, so editing docs, the flake or the Nix tests (tests/nix) does not
# rebuild kiln. Everything `src/` reads at compile time must be in it:
# nix/targets.json (src/target.rs embeds it), templates/ (src/init.rs embeds
# templates/default/flake.nix), rust-toolchain.toml (src/init.rs embeds the
# Rust version it pins), tests/fixtures/ (unit tests embed fixtures).
# tests/nix/source-compiles.sh checks it: kiln must `cargo check` from exactly
# these files.
#
#   import ./nix/source.nix { inherit lib; }   # lib: nixpkgs' lib
#
# The result is the `lib.fileset.toSource` tree, with the file set itself as
# `fileset` (for `lib.fileset.toList`).
{ lib }:
let
  fs = lib.fileset;

  cargoFiles = fs.unions (
    [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ../nix/targets.json
      ../templates
      ../rust-toolchain.toml
    ]
    ++ map fs.maybeMissing [
      ../build.rs
      ../tests
      ../benches
      ../examples
      ../README.md
      ../LICENSE
      ../rustfmt.toml
      ../clippy.toml
      ../.cargo
    ]
  );
  fileset = fs.difference cargoFiles (fs.maybeMissing ../tests/nix);
in
fs.toSource {
  root = ../.;
  inherit fileset;
}
// {
  inherit fileset;
}
