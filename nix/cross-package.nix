# nix/cross-package.nix: the release build of one crate for one target.
#
# Owns: the derivations that turn a cargo source tree into a release binary
# for a target: crane's buildDepsOnly (the target's dependency cache) and
# buildPackage on the native package set, both with the target's cross
# environment (cross-env.nix) and the release rules of recipe.nix:
#   - release profile, `--locked`, symbols stripped by rustc;
#   - no /nix/store reference in the output (`allowedReferences = [ ]`): a
#     leak (a Nix loader, a run path, a toolchain path) fails the build;
#   - SOURCE_DATE_EPOCH fixed, the build directory remapped, no incremental
#     state, so a rebuild anywhere gives the same bytes;
#   - no test run: release builds do not run target code (tests are checks).
# The dependency cache has the same environment as the package, so cargo's
# fingerprints match: a change in the crate's own source rebuilds only the
# crate, not its dependencies.
{
  lib,
  craneLib,
  crossEnv,
  targets,
  recipe,
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
  # C libraries the crate links, from the TARGET's package set:
  # `p: [ p.openssl ]`, called with pkgsCross.<nixpkgs_cross> of the target.
  buildInputs ? (_: [ ]),
  ...
}@args:
let
  cross = crossEnv { inherit target glibcFloor; };
  t = cross.target;

  targetBuildInputs =
    if builtins.isFunction buildInputs then
      buildInputs cross.targetPkgs
    else if buildInputs == [ ] then
      [ ]
    else
      throw "kiln: buildInputs of ${pname} (${t.attr}) must be a function of the target's package set, e.g. p: [ p.openssl ]; a list would link the build system's libraries";

  # Arguments of this function that must not reach the derivation.
  own = [
    "target"
    "mainProgram"
    "description"
    "glibcFloor"
    "sourceDateEpoch"
    "buildInputs"
  ];
  passed = removeAttrs args own;

  # What the dependency cache and the package share (same env, same flags).
  common =
    passed
    // cross.env
    // recipe.releaseEnv { inherit sourceDateEpoch; }
    // {
      inherit src version cargoExtraArgs;
      pname = "${pname}-${t.attr}";
      strictDeps = true;
      # Release builds do not run target code; the test suite is a check.
      doCheck = false;
      # rustc strips; the native strip of stdenv does not know foreign ELF.
      dontStrip = true;
      # Remapping is done below, for the whole build directory.
      doRemapPathPrefix = false;

      CARGO_BUILD_RUSTFLAGS = recipe.rustflags t (lib.toList (args.CARGO_BUILD_RUSTFLAGS or [ ]));

      nativeBuildInputs = cross.packages ++ (args.nativeBuildInputs or [ ]);
      buildInputs = targetBuildInputs;

      preBuild = ''
        ${cross.preBuild}
        ${recipe.remapPreBuild}
        ${args.preBuild or ""}
      '';
    };

  cargoArtifacts = args.cargoArtifacts or (craneLib.buildDepsOnly (removeAttrs common [ "passthru" "meta" ]));
in
craneLib.buildPackage (
  common
  // recipe.referenceRules
  // {
    inherit cargoArtifacts;

    passthru = (args.passthru or { }) // {
      inherit cargoArtifacts;
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
