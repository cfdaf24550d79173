# tests/nix/fake/pkgs.nix: a stand-in for an instantiated nixpkgs.
#
# Owns: fake packages and builders that record their arguments. A "derivation"
# here is an attribute set with `type = "derivation"`, a name and a fake
# outPath; builders keep what they were given (craneArgs, script, shellArgs)
# so tests can assert on the wiring.
{
  system ? "x86_64-linux",
  overlays ? [ ],
}:
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

  crossCc = name: config: {
    stdenv.cc = drv "${name}-cc" {
      targetPrefix = "${config}-";
      bintools = drv "${name}-bintools" { };
      suffixSalt = builtins.replaceStrings [ "-" "." ] [ "_" "_" ] config;
    };
  };

  base = self: {
    inherit lib system;
    pkgs = self;
    stdenv = {
      cc = drv "cc" { targetPrefix = ""; };
      buildPlatform = { inherit system; };
    };
    writeShellScriptBin = name: text: drv name { inherit text; };
    runCommand =
      name: env: script:
      drv name { inherit env script; };
    mkShell = args: drv "shell" { shellArgs = args; };
    dockerTools.streamLayeredImage = args: drv "${args.name}-image" { imageArgs = args; };
    cargo-zigbuild = drv "cargo-zigbuild" { };
    qemu = drv "qemu" { };
    nixfmt = drv "nixfmt" { };
    pkgsCross = {
      gnu64 = crossCc "gnu64" "x86_64-unknown-linux-gnu";
      musl64 = crossCc "musl64" "x86_64-unknown-linux-musl";
      aarch64-multiplatform = crossCc "aarch64-multiplatform" "aarch64-unknown-linux-gnu";
      aarch64-multiplatform-musl = crossCc "aarch64-multiplatform-musl" "aarch64-unknown-linux-musl";
    };
    newScope = extra: lib.callPackageWith (self // extra);
    callPackage = lib.callPackageWith self;
    extend =
      overlay:
      import ./pkgs.nix {
        inherit system;
        overlays = overlays ++ [ overlay ];
      };
  };
in
lib.fix (self: lib.foldl' (acc: overlay: acc // overlay self acc) (base self) overlays)
