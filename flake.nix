# flake.nix: kiln's flake.
#
# Owns: the inputs (locked in flake.lock) and the mapping from the nix/
# library to flake outputs. Everything else lives in nix/ (see
# nix/default.nix); the user guide and the API are in docs/flake.md.
#
# Build systems and targets come from nix/targets.json:
#   packages.<system>.{x86_64-gnu,x86_64-musl,aarch64-gnu,aarch64-musl,default}
#   packages.<system>.image-{x86_64-musl,aarch64-musl}   (OCI images, nix/image.nix)
{
  description = "kiln: deterministic, verified release builds of Rust for Linux";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # crane has no inputs of its own, so nothing to follow.
    crane.url = "github:ipetkov/crane";
  };

  outputs =
    {
      self,
      nixpkgs,
      rust-overlay,
      crane,
    }:
    let
      inherit (nixpkgs) lib;
      targets = import ./nix/targets.nix { };
      forEachSystem = lib.genAttrs targets.buildSystems;

      # The kiln library for a package set (ours, or a user's).
      kilnFor =
        pkgs: args:
        import ./nix (
          {
            inherit pkgs crane rust-overlay;
          }
          // args
        );

      perSystem = forEachSystem (
        system:
        kilnFor (import nixpkgs {
          inherit system;
          overlays = [ rust-overlay.overlays.default ];
        }) { }
      );
    in
    {
      packages = forEachSystem (system: perSystem.${system}.kilnPackages);

      checks = forEachSystem (system: perSystem.${system}.kilnChecks);

      devShells = forEachSystem (system: {
        default = perSystem.${system}.devShell;
      });

      apps = forEachSystem (system: {
        default = {
          type = "app";
          program = lib.getExe perSystem.${system}.kiln;
          meta.description = "kiln: build, verify and export release binaries of a Rust crate";
        };
      });

      formatter = forEachSystem (system: nixpkgs.legacyPackages.${system}.nixfmt);

      overlays.default = final: prev: {
        kiln = (kilnFor final { }).kiln;
      };

      lib = {
        # The pure target table and naming rules (no nixpkgs needed).
        inherit targets;

        # kiln.lib.mkCrossPackages { pkgs, src, targets ? all, toolchainFile ? kiln's, ... }
        #   -> { x86_64-gnu, x86_64-musl, aarch64-gnu, aarch64-musl, default, image-* }
        # The toolchain is the crate's rust-toolchain.toml (toolchainFile) with
        # the std of every selected target added.
        mkCrossPackages =
          {
            pkgs,
            toolchainFile ? ./rust-toolchain.toml,
            ...
          }@args:
          (kilnFor pkgs {
            inherit toolchainFile;
            toolchainTargets = map (t: (targets.lookup t).triple) (args.targets or targets.attrNames);
          }).mkCrossPackages
            (
              removeAttrs args [
                "pkgs"
                "toolchainFile"
              ]
            );

        # kiln.lib.mkVerifyChecks { pkgs, packages, verifyArgs ? [ ] }
        #   -> { verify-<attr> = <check>; ... }, verified by kiln itself.
        mkVerifyChecks =
          { pkgs, ... }@args:
          let
            k = kilnFor pkgs { };
          in
          k.mkVerifyChecks ({ verifier = k.kiln; } // removeAttrs args [ "pkgs" ]);

        # kiln.lib.mkImage { pkgs, package, caCerts ? null, tzdata ? null, ... }
        #   -> a dockerTools.streamLayeredImage of a musl package (nix/image.nix).
        mkImage =
          { pkgs, ... }@args:
          (kilnFor pkgs { }).mkImage (
            removeAttrs args [
              "pkgs"
            ]
          );

        # The whole library scope for a package set (see docs/flake.md).
        mkKilnLib = pkgs: kilnFor pkgs { };
      };

      templates.default = {
        path = ./templates/default;
        description = "A Rust crate built for four Linux targets with kiln";
      };
      templates.hermetic = {
        path = ./templates/hermetic;
        description = "A Rust crate built for four Linux targets by kiln's hermetic provider (no nixpkgs)";
      };
    };
}
