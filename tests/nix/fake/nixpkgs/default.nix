# tests/nix/fake/nixpkgs/default.nix: what `import nixpkgs { ... }` gives in tests.
{
  system,
  overlays ? [ ],
  ...
}:
import ../pkgs.nix { inherit system overlays; }
