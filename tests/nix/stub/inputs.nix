# tests/nix/stub/inputs.nix: the flake inputs of kiln's tests.
#
# Owns: what stands in for each input of flake.nix, and where the real code is
# used instead:
#   - nixpkgs' `lib`: the REAL lib (nix-community/nixpkgs.lib, pinned in
#     nix/upstream.json), so lib.fileset, lib.makeScope, lib.systems,
#     callPackage's argument checks are nixpkgs' own;
#   - crane: the REAL flake at flake.lock's rev; its `mkLib` runs against the
#     strict package set stand-in (stub/pkgs.nix);
#   - rust-overlay: the REAL overlay at flake.lock's rev (rust-bin reads
#     rust-toolchain.toml against its own manifests);
#   - nixpkgs' package set (stdenv, pkgsCross, trivial builders): stub/pkgs.nix,
#     because the full nixpkgs cannot be fetched here.
# `upstream` is the directory scripts/setup fills ($KILN_CACHE_DIR/upstream).
{ upstream }:
let
  lib = import (upstream + "/nixpkgs-lib/lib");
  systems = [
    "x86_64-linux"
    "aarch64-linux"
    "aarch64-darwin"
    "x86_64-darwin"
  ];
  pkgsFor =
    {
      system,
      overlays ? [ ],
      ...
    }:
    import ./pkgs.nix { inherit lib system overlays; };

  crane =
    let
      flake = import (upstream + "/crane/flake.nix");
      self = flake.outputs { inherit self; } // {
        outPath = upstream + "/crane";
      };
    in
    self;

  rust-overlay =
    let
      flake = import (upstream + "/rust-overlay/flake.nix");
      self =
        flake.outputs {
          inherit self;
          nixpkgs = nixpkgs;
        }
        // {
          outPath = upstream + "/rust-overlay";
        };
    in
    self;

  nixpkgs = {
    outPath = toString ./nixpkgs;
    inherit lib;
    legacyPackages = lib.genAttrs systems (system: pkgsFor { inherit system; });
  };
in
{
  inherit
    lib
    nixpkgs
    crane
    rust-overlay
    pkgsFor
    ;
}
