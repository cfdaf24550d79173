# flake.nix: release builds of this crate for four Linux targets, with kiln.
#
#   nix build .#x86_64-musl     (also x86_64-gnu, aarch64-gnu, aarch64-musl)
#   nix build                   (the native build, for this machine)
#   nix flake check             (builds all four and runs `kiln verify` on each)
{
  description = "A Rust crate released for four Linux targets with kiln";

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

      # Only the files cargo needs: editing this flake or the README does
      # not rebuild anything.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          ./Cargo.toml
          ./Cargo.lock
          ./src
        ];
      };
    in
    {
      packages = forEachSystem (
        system:
        kiln.lib.mkCrossPackages {
          pkgs = nixpkgs.legacyPackages.${system};
          inherit src;
          # Pick targets by triple or name, e.g. [ "x86_64-musl" "aarch64-musl" ].
          # targets = [ "x86_64-musl" ];
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
