# nix/cross-packages.nix: the flake's package set for one crate.
#
# Owns: the attribute set a build system exposes, one release package per
# selected target (x86_64-gnu, x86_64-musl, aarch64-gnu, aarch64-musl)
# plus `default`, the crate built natively for use on the build system
# itself, plus `image-<attr>` (nix/image.nix) for every musl target. This is
# what `kiln.lib.mkCrossPackages` returns for any crate.
{
  lib,
  pkgs,
  craneLib,
  mkCrossPackage,
  mkImage,
  targets,
}@deps:
{
  # Cargo source tree with Cargo.toml and Cargo.lock.
  src,
  # Targets to build, by triple or attribute name; all four by default.
  targets ? deps.targets.attrNames,
  # Also build `default`, the native package of the build system.
  native ? true,
  # Also make `image-<attr>`, an OCI image, for every selected musl target.
  images ? true,
  # Arguments for every image (caCerts, tzdata, source, revision, labels; see image.nix).
  imageArgs ? { },
  # C libraries the crate links, as a function of a package set:
  # `p: [ p.openssl ]`. Each target calls it with its own package set
  # (pkgsCross.<nixpkgs_cross>), `default` with the build system's.
  buildInputs ? (_: [ ]),
  # Everything else (pname, version, mainProgram, description, glibcFloor,
  # sourceDateEpoch, cargoExtraArgs, ...) goes to every package.
  ...
}@args:
let
  common = removeAttrs args [
    "targets"
    "native"
    "images"
    "imageArgs"
  ];
  crate = craneLib.crateNameFromCargoToml { inherit src; };

  cross = lib.listToAttrs (
    map (t: {
      name = t.attr;
      value = mkCrossPackage (common // { target = t; });
    }) (deps.targets.select targets)
  );

  # The native build keeps the store references a Nix-native binary needs,
  # and caches its dependencies for the checks (clippy, tests). It does not
  # run the test suite (crane's buildPackage would): that is checks.tests.
  nativeArgs =
    removeAttrs common [
      "mainProgram"
      "description"
      "glibcFloor"
      "sourceDateEpoch"
      "buildInputs"
    ]
    // {
      strictDeps = true;
      doCheck = false;
      cargoExtraArgs = common.cargoExtraArgs or "--locked";
      buildInputs =
        if builtins.isFunction buildInputs then
          buildInputs pkgs
        else if buildInputs == [ ] then
          [ ]
        else
          throw "kiln: buildInputs must be a function of a package set, e.g. p: [ p.openssl ]";
    };
  cargoArtifacts = craneLib.buildDepsOnly nativeArgs;
  nativePackage = craneLib.buildPackage (
    nativeArgs
    // {
      inherit cargoArtifacts;
      passthru = (common.passthru or { }) // {
        inherit cargoArtifacts;
      };
      meta = {
        description = common.description or "${common.pname or crate.pname}, built for the build system";
        mainProgram = common.mainProgram or crate.pname;
      }
      // (common.meta or { });
    }
  );

  # An OCI image per musl target (a gnu binary needs a base with its loader).
  imageSet = lib.listToAttrs (
    map (t: {
      name = "image-${t.attr}";
      value = mkImage (
        {
          package = cross.${t.attr};
        }
        // lib.optionalAttrs (common ? sourceDateEpoch) { inherit (common) sourceDateEpoch; }
        // imageArgs
      );
    }) (builtins.filter (t: t.libc == "musl") (deps.targets.select targets))
  );
in
cross // lib.optionalAttrs native { default = nativePackage; } // lib.optionalAttrs images imageSet
