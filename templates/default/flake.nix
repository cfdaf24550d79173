# flake.nix: release builds of this crate for Linux targets, with kiln.
#
#   nix build .#x86_64-musl     (and each target in Cargo.toml's [package.metadata.kiln])
#   nix build                   (the native build, for this machine)
#   nix flake check             (builds every target and runs `kiln verify` on each)
#
# The Rust version is this crate's rust-toolchain.toml, used as it is (kiln
# adds the std of each target it builds); the targets are the `targets` list
# of [package.metadata.kiln] in Cargo.toml (all four when it has none), and
# the gnu targets link against its `glibc-max` (each target's own floor when
# it has none).
{
  description = "A Rust crate released for Linux targets with kiln";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    kiln = {
      # Set this to the flake reference you gave `nix flake init -t`.
      url = "github:OWNER/kiln";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      kiln,
    }:
    let
      inherit (nixpkgs) lib;
      forEachSystem = lib.genAttrs kiln.lib.targets.buildSystems;

      cargoToml = builtins.fromTOML (builtins.readFile ./Cargo.toml);
      kilnTable = cargoToml.package.metadata.kiln or { };
      targets = kilnTable.targets or kiln.lib.targets.attrNames;
      glibcFloor = kilnTable.glibc-max or null;
      # The binary `nix run` starts and an image's entrypoint.
      mainProgram = cargoToml.package.name;
      toolchainFile = ./rust-toolchain.toml;

      # Everything cargo may read: Cargo.toml, Cargo.lock, src/, build.rs,
      # C sources, benches/, .cargo/config.toml, include_str! data. Only this
      # flake and its lock file are left out, so editing them rebuilds nothing
      # (a flake already leaves out files git does not track).
      # To widen it, remove a path from the list below; to narrow it (fewer
      # rebuilds when docs change), use crane's cleaning and add what else
      # cargo reads, e.g.:
      #   fileset = lib.fileset.unions [
      #     (kiln.lib.mkKilnLib pkgs).craneLib.fileset.commonCargoSources ./.
      #     ./csrc ./data
      #   ];
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.difference ./. (
          lib.fileset.unions (
            map lib.fileset.maybeMissing [
              ./flake.nix
              ./flake.lock
              ./target
            ]
          )
        );
      };
    in
    {
      packages = forEachSystem (
        system:
        kiln.lib.mkCrossPackages {
          pkgs = nixpkgs.legacyPackages.${system};
          inherit src targets glibcFloor mainProgram toolchainFile;
          # C libraries from each target's own package set, e.g.:
          # buildInputs = p: [ p.openssl ];
        }
      );

      checks = forEachSystem (
        system:
        kiln.lib.mkVerifyChecks {
          pkgs = nixpkgs.legacyPackages.${system};
          packages = self.packages.${system};
        }
      );
    };
}
