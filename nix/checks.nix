# nix/checks.nix: the flake checks of a crate.
#
# Owns: what `nix flake check` runs: rustfmt, clippy with warnings denied,
# the test suite, and `kiln verify` on every cross package
# (verify-checks.nix).
{
  craneLib,
  mkVerifyChecks,
}:
{
  # Cargo source tree with Cargo.toml and Cargo.lock.
  src,
  # The package set from mkCrossPackages; its `default` carries the
  # dependency cache reused by clippy and the tests.
  packages,
  # The kiln package that verifies the cross packages.
  verifier,
  cargoClippyExtraArgs ? "--all-targets -- --deny warnings",
  cargoTestExtraArgs ? "",
  # Programs the test suite runs (they are not in the build sandbox).
  testInputs ? [ ],
  verifyArgs ? [ ],
}:
let
  cargoArtifacts = packages.default.cargoArtifacts or (craneLib.buildDepsOnly {
    inherit src;
    strictDeps = true;
  });
  common = {
    inherit src cargoArtifacts;
    strictDeps = true;
    cargoExtraArgs = "--locked";
  };
in
{
  fmt = craneLib.cargoFmt { inherit src; };
  clippy = craneLib.cargoClippy (common // { inherit cargoClippyExtraArgs; });
  tests = craneLib.cargoTest (
    common
    // {
      inherit cargoTestExtraArgs;
      nativeBuildInputs = testInputs;
    }
  );
}
// mkVerifyChecks { inherit packages verifier verifyArgs; }
