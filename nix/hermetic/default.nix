# nix/hermetic/default.nix: the hermetic Rust provider (no nixpkgs).
#
# Owns: the wiring of the toolchain (Debian's Rust, ./debian.nix + ./toolchain.nix), the std
# sysroots (./sysroot.nix), crate vendoring (./crates.nix), cargo-zigbuild (./cargo-zigbuild.nix)
# and the per-target cargo environment (./cargo-env.nix, on the shared ../recipe.nix). See
# docs/hermetic.md.
#
#   import ./nix/hermetic { }
#   => { mkCrossPackages; mkCrossPackage; crateSource; kilnPackages; kilnSource; sysroots; toolchain;
#        cargoZigbuild; recipe; ... }
{
  system ? "x86_64-linux",
}:
let
  targets = import ../targets.nix { };
  tools = import ../hermetic-tools.nix { inherit system; };
  debian = import ./debian.nix { inherit system tools; };
  toolchain = import ./toolchain.nix { inherit system tools debian; };
  recipe = import ../recipe.nix { inherit targets; };
  crates = import ./crates.nix { inherit system tools toolchain; };
  cargoEnv = import ./cargo-env.nix {
    inherit
      system
      tools
      toolchain
      targets
      recipe
      ;
  };
  cargoZigbuild = import ./cargo-zigbuild.nix { inherit tools cargoEnv crates; };
  mkSysroot = import ./sysroot.nix {
    inherit
      system
      tools
      toolchain
      cargoEnv
      targets
      ;
  };
  sysroots = builtins.listToAttrs (
    map (t: {
      name = t.attr;
      value = mkSysroot t;
    }) targets.all
  );
  mkCrossPackage = import ./cross-package.nix {
    inherit
      system
      tools
      toolchain
      crates
      cargoEnv
      cargoZigbuild
      sysroots
      targets
      recipe
      ;
  };

  # { x86_64-gnu; x86_64-musl; aarch64-gnu; aarch64-musl; } (or the chosen targets) for a crate.
  mkCrossPackages =
    args:
    let
      chosen = if args ? targets then targets.select args.targets else targets.all;
    in
    builtins.listToAttrs (
      map (t: {
        name = t.attr;
        value = mkCrossPackage (removeAttrs args [ "targets" ] // { target = t; });
      }) chosen
    );

  # A crate's directory as its source: everything cargo may read, without the flake itself,
  # its lock and build results (so editing flake.nix rebuilds nothing); `exclude` adds names.
  crateSource =
    {
      path,
      name ? "source",
      exclude ? [ ],
    }:
    builtins.path {
      inherit name path;
      filter =
        p: _type:
        !(builtins.elem (baseNameOf p) (
          [
            "flake.nix"
            "flake.lock"
            "target"
            "result"
          ]
          ++ exclude
        ));
    };

  # kiln itself, from the files nix/source.nix selects (./source.nix, builtins only).
  kilnSource = import ./source.nix;
  kilnPackages = mkCrossPackages {
    src = kilnSource;
    mainProgram = "kiln";
    description = "kiln, deterministic and verified release builds of Rust for Linux";
  };
in
{
  inherit
    crateSource
    kilnSource
    kilnPackages
    mkCrossPackage
    mkCrossPackages
    targets
    tools
    debian
    toolchain
    crates
    cargoEnv
    cargoZigbuild
    recipe
    sysroots
    ;
}
