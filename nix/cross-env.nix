# nix/cross-env.nix: the cross environment for one target (nixpkgs provider).
#
# Owns: binding the provider-independent recipe (recipe.nix) to nixpkgs:
# the zig wrappers are written with writeShellScriptBin around nixpkgs'
# cargo-zigbuild, for all four targets alike (gnu with the glibc floor,
# musl static; zig ships both C libraries, no cross GCC is needed), and the
# target's package set (pkgsCross.<nixpkgs_cross>, for the C libraries a
# crate links and the glibc sysroot qemu runs gnu binaries with).
#
# The result is plain data, merged into a derivation by cross-package.nix
# and into the dev shell by devshell.nix.
{
  lib,
  pkgs,
  stdenv,
  writeShellScriptBin,
  cargo-zigbuild,
  qemu,
  targets,
  recipe,
}:
{
  # Triple, attribute name or record of the target.
  target,
  # Build system the derivation runs on.
  buildSystem ? stdenv.buildPlatform.system,
  # glibc floor for gnu targets; null takes the target's floor from targets.json.
  glibcFloor ? null,
}:
let
  t = targets.lookup target;
  hostCc = "${stdenv.cc}/bin/${stdenv.cc.targetPrefix}cc";

  scripts = recipe.wrapperScripts {
    inherit target glibcFloor;
    zigCommand = "${cargo-zigbuild}/bin/cargo-zigbuild zig";
  };
  wrap = s: writeShellScriptBin s.name s.text;
  ccPkg = wrap scripts.cc;
  cxxPkg = wrap scripts.cxx;
  arPkg = wrap scripts.ar;
  cc = "${ccPkg}/bin/${scripts.cc.name}";
  cxx = "${cxxPkg}/bin/${scripts.cxx.name}";
  ar = "${arPkg}/bin/${scripts.ar.name}";

  # The target's own package set: C libraries for this target come from here.
  targetPkgs = pkgs.pkgsCross.${t.nixpkgs_cross};

  foreign = targets.needsCross buildSystem t;
  # A glibc binary under qemu needs the target's loader and libc: -L <sysroot>.
  sysroot = if t.libc == "gnu" && foreign then "${targetPkgs.glibc}" else null;
  runner =
    if foreign && targets.canEmulate buildSystem then
      "${qemu}/bin/${targets.qemuBinary t}" + lib.optionalString (sysroot != null) " -L ${sysroot}"
    else
      null;
in
{
  target = t;
  inherit
    cc
    cxx
    ar
    runner
    sysroot
    targetPkgs
    ;
  linker = cc;
  packages = [
    ccPkg
    cxxPkg
    arPkg
    cargo-zigbuild
  ];
  preBuild = recipe.zigCachePreBuild;
  glibcFloor = recipe.floorOf t glibcFloor;
  rustflags = targets.rustflags t;

  # Variables for a release build of this target (no runner: release builds
  # do not run target code).
  env = recipe.crossEnvVars {
    inherit
      target
      buildSystem
      cc
      cxx
      ar
      hostCc
      ;
  };
}
