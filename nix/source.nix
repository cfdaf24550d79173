# nix/source.nix: the source tree of kiln's own crate.
#
# Owns: the nixpkgs-lib form of the file list in ./source-files.nix (which
# the hermetic provider reads too). Only these files enter the store, so
# editing docs, the flake or the Nix tests (tests/nix) does not rebuild kiln.
# tests/nix/source-compiles.sh checks that kiln must `cargo check` from
# exactly these files.
#
#   import ./nix/source.nix { inherit lib; }   # lib: nixpkgs' lib
#
# The result is the `lib.fileset.toSource` tree, with the file set itself as
# `fileset` (for `lib.fileset.toList`).
{ lib }:
let
  fs = lib.fileset;
  files = import ./source-files.nix;
  at = rel: ../. + "/${rel}";

  cargoFiles = fs.unions (map at files.required ++ map (rel: fs.maybeMissing (at rel)) files.optional);
  fileset = fs.difference cargoFiles (fs.unions (map (rel: fs.maybeMissing (at rel)) files.excluded));
in
fs.toSource {
  root = ../.;
  inherit fileset;
}
// {
  inherit fileset;
}
