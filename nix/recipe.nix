# nix/recipe.nix: the release recipe, independent of who supplies the tools.
#
# Owns: everything a provider of Rust and zig must do the same way for a
# release build of one target, as plain data and builtins-only functions:
#   - the zig wrapper scripts (cc, c++, ar) for every target, gnu and musl,
#     with the glibc floor on gnu (`-target <arch>-linux-gnu.<floor>`) and
#     static PIE on musl (`-static-pie` passed to zig as `-static -pie`);
#   - the cargo / cc-rs environment variables that select them;
#   - rustflags (`+crt-static` on musl), path remapping, the zig caches;
#   - the release settings (profile, strip, SOURCE_DATE_EPOCH, no incremental,
#     no stdenv self-rpath) and the reference rule (`allowedReferences = [ ]`).
# The nixpkgs provider (cross-env.nix, cross-package.nix) calls it with
# cargo-zigbuild from nixpkgs and writeShellScriptBin; the hermetic provider
# (hermetic/cargo-env.nix) with its own cargo-zigbuild build and script writer. The seam is
# described in docs/flake.md ("One recipe, two providers").
{
  targets ? import ./targets.nix { },
}:
let
  inherit (builtins) concatStringsSep;

  # POSIX sh: replace each `-static-pie` argument by `-static -pie`, keeping the others in order.
  staticPieLoop = ''
    for a in "$@"; do
      shift
      if [ "$a" = -static-pie ]; then set -- "$@" -static -pie; else set -- "$@" "$a"; fi
    done
  '';

  # Shell quoting for the few fixed flags (none has a quote in it).
  quote = s: if builtins.match "[[:alnum:],._+:@%/=-]+" s != null then s else "'${s}'";
in
rec {
  # The floor a gnu target links against; null on musl.
  floorOf =
    target: glibcFloor:
    let
      t = targets.lookup target;
    in
    if t.libc != "gnu" then
      null
    else if glibcFloor != null then
      glibcFloor
    else
      t.glibc_floor;

  # Flags every zig cc / c++ call of the target gets.
  zigFlags =
    { target, glibcFloor ? null }:
    let
      t = targets.lookup target;
      floor = floorOf t glibcFloor;
    in
    [
      # Leave stripping to rustc (CARGO_PROFILE_RELEASE_STRIP).
      "-g"
      "-fno-sanitize=all"
      "-target"
      (if t.libc == "gnu" then targets.zigTargetWithFloor floor t else t.zig_target)
    ];

  # The three wrapper scripts of a target: { cc, cxx, ar } each { name; text; }.
  # `zigCommand` is the command that runs cargo-zigbuild's zig wrapper,
  # e.g. "/nix/store/...-cargo-zigbuild/bin/cargo-zigbuild zig". One wrapper
  # per target and floor, so cargo sees a different linker path per target
  # and floor (and rebuilds when either changes).
  wrapperScripts =
    {
      target,
      glibcFloor ? null,
      zigCommand,
    }:
    let
      t = targets.lookup target;
      flags = concatStringsSep " " (map quote (zigFlags { inherit target glibcFloor; }));
      script = tool: extra: "exec ${zigCommand} ${tool} -- ${extra}\"$@\"\n";
      # rustc links a static musl binary with `-static-pie` (the musl targets' default); zig cc
      # drops that flag with a warning and links a static executable that is not PIE, so the
      # binary would have no ASLR. zig reads the same request spelled `-static -pie`.
      staticPie = if t.libc == "musl" then staticPieLoop else "";
      compiler = tool: staticPie + script tool "${flags} ";
    in
    {
      cc = {
        name = targets.linkerName t;
        text = compiler "cc";
      };
      cxx = {
        name = targets.cxxName t;
        text = compiler "c++";
      };
      ar = {
        name = targets.arName t;
        text = script "ar" "";
      };
    };

  # The environment of a release build of `target` on `buildSystem`, given
  # the paths of the three wrappers and the build system's own C compiler.
  crossEnvVars =
    {
      target,
      buildSystem,
      cc,
      cxx,
      ar,
      hostCc,
    }:
    let
      t = targets.lookup target;
      names = targets.envNames t;
      cflags = targets.cflags t;
    in
    {
      CARGO_BUILD_TARGET = t.triple;
      ${names.linker} = cc;
      ${names.cc} = cc;
      ${names.cxx} = cxx;
      ${names.ar} = ar;
      HOST_CC = hostCc;
    }
    // (
      if targets.sharesHostTriple buildSystem t then
        {
          # The target triple is the host's: without this, cargo would link
          # build scripts and proc-macros with zig too, against the FHS loader
          # that the sandbox does not have. Cargo keeps this switch unstable,
          # hence the channel override (the way cargo-zigbuild does it).
          __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS = "nightly";
          CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST = "true";
          CARGO_TARGET_APPLIES_TO_HOST = "false";
        }
      else
        {
          # cc-rs reads TARGET_* only when target and host triples differ.
          TARGET_CC = cc;
          TARGET_CXX = cxx;
          TARGET_AR = ar;
        }
    )
    // (if cflags != [ ] then { ${names.cflags} = concatStringsSep " " cflags; } else { });

  # zig keeps caches; the sandbox HOME is not writable.
  zigCachePreBuild = ''
    export ZIG_GLOBAL_CACHE_DIR="$TMPDIR/kiln-zig-cache"
    export ZIG_LOCAL_CACHE_DIR="$TMPDIR/kiln-zig-cache"
    export CARGO_ZIGBUILD_CACHE_DIR="$TMPDIR/kiln-cargo-zigbuild"
    export XDG_CACHE_HOME="$TMPDIR/kiln-xdg-cache"
  '';

  # The sandbox directory differs between NixOS (/build) and other hosts:
  # remap it to one name, so a rebuild anywhere gives the same bytes.
  remapPreBuild = ''
    export CARGO_BUILD_RUSTFLAGS="$CARGO_BUILD_RUSTFLAGS --remap-path-prefix=$NIX_BUILD_TOP=/build"
  '';

  # rustflags of the target plus the caller's.
  rustflags = target: extra: concatStringsSep " " (targets.rustflags target ++ extra);

  # Settings of every release derivation (and of its dependency cache, so
  # that cargo's fingerprints match and the cache is reused).
  releaseEnv =
    { sourceDateEpoch ? 315532800 }:
    {
      CARGO_PROFILE = "release";
      CARGO_PROFILE_RELEASE_STRIP = "symbols";
      CARGO_INCREMENTAL = "0";
      SOURCE_DATE_EPOCH = toString sourceDateEpoch;
      # stdenv would add `-rpath $out/lib` to every link through its cc
      # wrapper (build scripts, and any target link that goes through it).
      NIX_NO_SELF_RPATH = "1";
    };

  # What the release output may refer to in the store: nothing. A leak (a Nix
  # loader, a run path, a toolchain path) fails the build.
  referenceRules = {
    allowedReferences = [ ];
  };
}
