# nix/cross-package.nix: the release build of one crate for one target.
#
# Owns: the derivation that turns a cargo source tree into a release binary
# for a target: crane's buildPackage on the native package set, the target's
# cross environment (cross-env.nix), and the rules that make the output
# shippable and reproducible:
#   - release profile, `--locked`, symbols stripped by rustc;
#   - no /nix/store reference in the output (`allowedReferences = [ ]`): a
#     leak (a Nix loader, a run path, a toolchain path) fails the build;
#   - SOURCE_DATE_EPOCH fixed, the build directory remapped, no incremental
#     state, so a rebuild anywhere gives the same bytes.
{
  lib,
  craneLib,
  crossEnv,
  targets,
}:
{
  # Cargo source tree (a path or a cleaned source) with Cargo.toml and Cargo.lock.
  src,
  # Triple, attribute name or record of the target.
  target,
  # Name of the package; the target's attribute name is appended.
  pname ? (craneLib.crateNameFromCargoToml { inherit src; }).pname,
  version ? (craneLib.crateNameFromCargoToml { inherit src; }).version,
  # The binary that `nix run` starts.
  mainProgram ? (craneLib.crateNameFromCargoToml { inherit src; }).pname,
  # One line about the program; the target is appended in parentheses.
  description ? null,
  # Extra cargo arguments; keep `--locked` so Cargo.lock is the only resolution.
  cargoExtraArgs ? "--locked",
  # glibc floor for gnu targets; null means the floor in targets.json.
  glibcFloor ? null,
  # Timestamp for anything that records one.
  sourceDateEpoch ? 315532800,
  ...
}@args:
let
  cross = crossEnv { inherit target glibcFloor; };
  t = cross.target;

  # Arguments of this function that must not reach the derivation.
  own = [
    "target"
    "mainProgram"
    "description"
    "glibcFloor"
    "sourceDateEpoch"
  ];
  passed = removeAttrs args own;
in
craneLib.buildPackage (
  passed
  // cross.env
  // {
    inherit src version cargoExtraArgs;
    pname = "${pname}-${t.attr}";
    strictDeps = true;

    # One derivation per target, no shared dependency cache: the cache would
    # be built with a different linker and rebuilt anyway.
    cargoArtifacts = null;
    # Release builds do not run target code; the test suite is a check.
    doCheck = false;

    CARGO_PROFILE = "release";
    CARGO_PROFILE_RELEASE_STRIP = "symbols";
    CARGO_INCREMENTAL = "0";
    SOURCE_DATE_EPOCH = toString sourceDateEpoch;
    # rustc strips; the native strip of stdenv does not know foreign ELF.
    dontStrip = true;
    # Remapping is done below, for the whole build directory.
    doRemapPathPrefix = false;

    CARGO_BUILD_RUSTFLAGS = lib.concatStringsSep " " (cross.rustflags ++ lib.toList (args.CARGO_BUILD_RUSTFLAGS or [ ]));

    nativeBuildInputs = cross.packages ++ (args.nativeBuildInputs or [ ]);

    preBuild = ''
      ${cross.preBuild}
      # The sandbox directory differs between NixOS (/build) and other hosts.
      export CARGO_BUILD_RUSTFLAGS="$CARGO_BUILD_RUSTFLAGS --remap-path-prefix=$NIX_BUILD_TOP=/build"
      ${args.preBuild or ""}
    '';

    # The output must not need the Nix store at run time.
    allowedReferences = [ ];

    passthru = (args.passthru or { }) // {
      kilnTarget = t;
      kilnGlibcFloor = cross.glibcFloor;
    };

    meta = {
      description = "${if description != null then description else pname} (${t.attr}: ${t.description})";
      inherit mainProgram;
      # Where the derivation builds; the binary itself runs on t.system.
      platforms = targets.buildSystems;
    }
    // (args.meta or { });
  }
)
