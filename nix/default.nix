# nix/default.nix: wires the nix/ library into one scope (crane style).
#
# Owns: nothing but the wiring. Each concern lives in its own file and is
# called here with its dependencies; every function takes its dependencies
# first, then the user's arguments with `?` defaults.
#
#   targets.nix          target table and naming rules (pure)
#   recipe.nix           the release recipe any provider shares (pure)
#   banner.nix           dev shell banner (pure)
#   toolchain.nix        Rust toolchain from rust-toolchain.toml
#   cross-env.nix        linker / cc / env vars for one target
#   cross-package.nix    release package for one target
#   cross-packages.nix   the package set of a crate (all targets + default + images)
#   image.nix            OCI image of a musl package (dockerTools)
#   verify-checks.nix    `kiln verify` check per cross package
#   checks.nix           fmt, clippy, tests + verify checks
#   devshell.nix         `nix develop`
#   source.nix           kiln's own source tree
#
# Usage: import ./nix { pkgs = import nixpkgs { inherit system; }; inherit crane rust-overlay; }
{
  # nixpkgs instantiated for the build system (native, not a cross set).
  pkgs,
  # The crane flake (its `mkLib`).
  crane,
  # The rust-overlay flake; only needed when `pkgs` lacks `rust-bin`.
  rust-overlay ? null,
  # The rustup toolchain file that fixes the Rust version (and components).
  toolchainFile ? ../rust-toolchain.toml,
  # Target triples whose std the toolchain must have besides the file's own:
  # the targets built (all four by default).
  toolchainTargets ? (import ./targets.nix { }).triples,
}:
let
  inherit (pkgs) lib;

  rust-bin =
    if pkgs ? rust-bin then
      pkgs.rust-bin
    else if rust-overlay != null then
      (pkgs.extend rust-overlay.overlays.default).rust-bin
    else
      throw "kiln: pass rust-overlay, or a pkgs that has rust-overlay's overlay applied";
in
lib.makeScope pkgs.newScope (
  self:
  let
    inherit (self) callPackage;
  in
  {
    # Pure parts, importable without nixpkgs too.
    targets = import ./targets.nix { };
    recipe = import ./recipe.nix { inherit (self) targets; };
    banner = import ./banner.nix { inherit (self) targets toolchainFile; };
    inherit toolchainFile;

    toolchain = callPackage ./toolchain.nix { inherit rust-bin; } {
      inherit toolchainFile;
      extraTargets = toolchainTargets;
    };
    craneLib = (crane.mkLib pkgs).overrideToolchain (_: self.toolchain);

    crossEnv = callPackage ./cross-env.nix { inherit pkgs; };
    mkCrossPackage = callPackage ./cross-package.nix { };
    mkImage = callPackage ./image.nix { };
    mkCrossPackages = callPackage ./cross-packages.nix { };
    mkVerifyChecks = callPackage ./verify-checks.nix { };
    mkChecks = callPackage ./checks.nix { };
    mkDevShell = callPackage ./devshell.nix { };

    # kiln itself.
    kilnSource = callPackage ./source.nix { };
    kilnPackages = self.mkCrossPackages {
      src = self.kilnSource;
      mainProgram = "kiln";
      description = "kiln, deterministic and verified release builds of Rust for Linux";
    };
    kiln = self.kilnPackages.default;
    kilnChecks = self.mkChecks {
      src = self.kilnSource;
      packages = self.kilnPackages;
      verifier = self.kiln;
      # Unit tests only: the integration tests drive a real nix, zig and qemu, which the
      # build sandbox does not have; scripts/test runs them outside.
      cargoTestExtraArgs = "--lib";
      # What the unit tests run besides stdenv's tools (tar, gzip, xz, coreutils):
      # the archive tests cross-check kiln's archives with python3, unzip and zstd.
      testInputs = [
        pkgs.python3
        pkgs.unzip
        pkgs.zstd
      ];
    };
    devShell = self.mkDevShell { inherit (self) toolchain kiln; };
  }
)
