# nix/verify-checks.nix: one `kiln verify` check per cross package.
#
# Owns: the checks that hold each release binary to its target's policy
# (machine, linkage, loader, glibc floor, no /nix/store reference), using
# kiln itself as the verifier. A check is a runCommand that fails or
# touches $out.
{
  lib,
  runCommand,
}:
{
  # An attribute set of packages; those built by mkCrossPackage (they carry
  # passthru.kilnTarget) get a check, the others are ignored.
  packages,
  # The kiln package that runs the checks (built for the build system).
  verifier,
  # Extra arguments for `kiln verify`, e.g. [ "--strict" ].
  verifyArgs ? [ ],
}:
let
  crossOnly = lib.filterAttrs (_: p: p ? kilnTarget) packages;

  check =
    attr: p:
    let
      t = p.kilnTarget;
      floor = p.kilnGlibcFloor or null;
      # Only name the floor when it is not the target's own.
      floorArgs = lib.optionals (floor != null && floor != t.glibc_floor) [
        "--glibc-max"
        floor
      ];
      args = lib.escapeShellArgs ([
        "--target"
        t.triple
      ]
      ++ floorArgs
      ++ verifyArgs);
    in
    runCommand "kiln-verify-${attr}" { } ''
      ${lib.getExe verifier} verify ${p}/bin/* ${args}
      touch "$out"
    '';
in
lib.mapAttrs' (attr: p: lib.nameValuePair "verify-${attr}" (check attr p)) crossOnly
