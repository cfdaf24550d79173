# nix/hermetic/source.nix: kiln's own source tree, without nixpkgs.
#
# Owns: the `builtins.path` form of the file list in ../source-files.nix, the same files that
# ../source.nix selects with nixpkgs' lib.fileset (tests/integration/hermetic.rs compares them).
let
  files = import ../source-files.nix;
  root = toString ../..;
  rel = path: builtins.substring (builtins.stringLength root + 1) (-1) (toString path);
  prefixOf = r: p: p == r || builtins.substring 0 (builtins.stringLength r + 1) p == "${r}/";
  # A path is kept when it lies inside a listed path, or is a directory on the way to one.
  inside = p: builtins.any (r: prefixOf r p) (files.required ++ files.optional);
  leadsTo = p: builtins.any (r: prefixOf p r) (files.required ++ files.optional);
  excluded = p: builtins.any (r: prefixOf r p) files.excluded;
in
builtins.path {
  name = "kiln-source";
  path = ../..;
  filter =
    path: type:
    let
      p = rel path;
    in
    !(excluded p) && (inside p || (type == "directory" && leadsTo p));
}
