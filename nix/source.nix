# nix/source.nix: the source tree of kiln's own crate.
#
# Owns: which files of the repository the Rust build sees. Only these enter
# the store, so editing docs, the flake or the Nix tests (tests/nix) does not
# rebuild kiln. nix/targets.json is in it because src/target.rs embeds it.
{ lib }:
let
  fs = lib.fileset;

  cargoFiles = fs.unions (
    [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ../nix/targets.json
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
in
fs.toSource {
  root = ../.;
  fileset = fs.difference cargoFiles (fs.maybeMissing ../tests/nix);
}
