# nix/cross-env.nix: the cross environment for one target.
#
# Owns: which linker, C compiler and archiver cargo and cc-rs use for a
# target, and the environment variables that select them. The naming rules
# come from targets.nix; this file only binds them to nixpkgs packages.
#
#   gnu  targets link through `zig cc -target <arch>-linux-gnu.<floor>` (the
#        glibc floor, FHS loader, no /nix/store path), via small wrappers
#        around cargo-zigbuild's `zig cc`, which also filters the linker
#        arguments zig does not take.
#   musl targets link with the musl cross compiler of nixpkgs
#        (pkgsCross.<nixpkgs_cross>.stdenv.cc) and `+crt-static`.
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
  names = targets.envNames t;
  floor = if glibcFloor != null then glibcFloor else t.glibc_floor;
  hostCc = "${stdenv.cc}/bin/${stdenv.cc.targetPrefix}cc";

  # One wrapper per tool so that cargo sees a different linker path per
  # target and floor (and rebuilds when either changes).
  zigWrapper =
    name: tool: extraArgs:
    writeShellScriptBin name ''
      exec ${cargo-zigbuild}/bin/cargo-zigbuild zig ${tool} -- ${extraArgs}"$@"
    '';
  zigFlags = lib.escapeShellArgs [
    # Leave stripping to rustc (CARGO_PROFILE_RELEASE_STRIP).
    "-g"
    "-fno-sanitize=all"
    "-target"
    (targets.zigTargetWithFloor floor t)
  ];

  gnu =
    let
      cc = zigWrapper (targets.linkerName t) "cc" "${zigFlags} ";
      cxx = zigWrapper (targets.cxxName t) "c++" "${zigFlags} ";
      ar = zigWrapper (targets.arName t) "ar" "";
    in
    {
      linker = "${cc}/bin/${targets.linkerName t}";
      cc = "${cc}/bin/${targets.linkerName t}";
      cxx = "${cxx}/bin/${targets.cxxName t}";
      ar = "${ar}/bin/${targets.arName t}";
      packages = [
        cc
        cxx
        ar
        cargo-zigbuild
      ];
      extraEnv = lib.optionalAttrs (targets.sharesHostTriple buildSystem t) {
        # The target triple is the host's: without this, cargo would link
        # build scripts and proc-macros with zig too, against the FHS loader
        # that the sandbox does not have. Cargo keeps this switch unstable,
        # hence the channel override (the way cargo-zigbuild does it).
        __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS = "nightly";
        CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST = "true";
        CARGO_TARGET_APPLIES_TO_HOST = "false";
      };
      # zig keeps a cache; the sandbox HOME is not writable.
      preBuild = ''
        export ZIG_GLOBAL_CACHE_DIR="$TMPDIR/kiln-zig-cache"
        export ZIG_LOCAL_CACHE_DIR="$TMPDIR/kiln-zig-cache"
        export CARGO_ZIGBUILD_CACHE_DIR="$TMPDIR/kiln-cargo-zigbuild"
        export XDG_CACHE_HOME="$TMPDIR/kiln-xdg-cache"
      '';
    };

  musl =
    let
      crossCc = pkgs.pkgsCross.${t.nixpkgs_cross}.stdenv.cc;
      prefix = crossCc.targetPrefix;
      salt = crossCc.suffixSalt or (targets.ccEnvVar t);
    in
    {
      linker = "${crossCc}/bin/${prefix}cc";
      cc = "${crossCc}/bin/${prefix}cc";
      cxx = "${crossCc}/bin/${prefix}c++";
      ar = "${crossCc.bintools}/bin/${prefix}ar";
      packages = [ crossCc ];
      # A static binary needs no run path; keep the wrapper from adding one.
      extraEnv."NIX_DONT_SET_RPATH_${salt}" = "1";
      preBuild = "";
    };

  chosen = if t.libc == "gnu" then gnu else musl;

  runner = if targets.needsCross buildSystem t then "${qemu}/bin/${targets.qemuBinary t}" else null;

  cflags = targets.cflags t;
in
{
  target = t;
  inherit (chosen)
    linker
    cc
    cxx
    ar
    packages
    preBuild
    ;
  inherit runner;
  glibcFloor = if t.libc == "gnu" then floor else null;
  rustflags = targets.rustflags t;

  # Variables for a release build of this target (no runner: release builds
  # do not run target code).
  env = {
    CARGO_BUILD_TARGET = t.triple;
    ${names.linker} = chosen.linker;
    ${names.cc} = chosen.cc;
    ${names.cxx} = chosen.cxx;
    ${names.ar} = chosen.ar;
    HOST_CC = hostCc;
  }
  // lib.optionalAttrs (!targets.sharesHostTriple buildSystem t) {
    # cc-rs reads TARGET_* only when target and host triples differ.
    TARGET_CC = chosen.cc;
    TARGET_CXX = chosen.cxx;
    TARGET_AR = chosen.ar;
  }
  // lib.optionalAttrs (cflags != [ ]) { ${names.cflags} = lib.concatStringsSep " " cflags; }
  // chosen.extraEnv;
}
