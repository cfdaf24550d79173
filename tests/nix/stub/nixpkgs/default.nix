# tests/nix/stub/nixpkgs/default.nix: what `import nixpkgs { ... }` gives in tests.
# KILN_TEST_UPSTREAM is set by tests/nix/run.sh (the real lib lives there).
{
  system,
  overlays ? [ ],
  ...
}:
import ../pkgs.nix {
  lib = import (builtins.getEnv "KILN_TEST_UPSTREAM" + "/nixpkgs-lib/lib");
  inherit system overlays;
}
