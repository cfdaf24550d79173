# tests/nix/fake/inputs.nix: fake flake inputs (nixpkgs, crane, rust-overlay).
#
# Owns: inputs shaped like the real flakes' outputs as far as kiln uses them:
# nixpkgs' `lib`, `legacyPackages` and importability; crane's `mkLib` with
# `overrideToolchain` and the builders (each records its arguments);
# rust-overlay's `overlays.default` providing `rust-bin`.
let
  lib = import ./lib.nix;

  drv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/fake/${name}";
    }
    // extra;

  crateName =
    src:
    let
      toml = builtins.fromTOML (builtins.readFile (src + "/Cargo.toml"));
    in
    {
      pname = toml.package.name;
      version = toml.package.version;
    };

  # crane's builders: a derivation that keeps its arguments as craneArgs,
  # with passthru attributes on top as stdenv.mkDerivation does.
  # Like crane, the name defaults to the crate's name in Cargo.toml.
  craneDrv =
    kind: args:
    let
      pname = args.pname or (if args ? src then (crateName args.src).pname else "crate");
    in
    drv "${pname}-${kind}" (
      {
        craneArgs = args;
        inherit pname;
        meta = args.meta or { };
      }
      // (if args ? version then { inherit (args) version; } else { })
      // (args.passthru or { })
    );

  craneLib = {
    crateNameFromCargoToml = { src, ... }: crateName src;
    buildPackage = craneDrv "package";
    buildDepsOnly = craneDrv "deps";
    cargoFmt = craneDrv "fmt";
    cargoClippy = craneDrv "clippy";
    cargoTest = craneDrv "test";
  };
in
{
  nixpkgs = {
    outPath = toString ./nixpkgs;
    inherit lib;
    legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (
      system: import ./pkgs.nix { inherit system; }
    );
  };

  crane = {
    mkLib = pkgs: {
      overrideToolchain = f: craneLib // { toolchain = f pkgs; };
    };
  };

  rust-overlay = {
    overlays.default = final: prev: {
      rust-bin = {
        fromRustupToolchainFile = file: drv "rust-toolchain" { inherit file; };
      };
    };
  };
}
