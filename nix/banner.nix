# nix/banner.nix: the text the dev shell prints on entry.
#
# Owns: the short banner listing the targets and the commands that build
# them. Pure (builtins only), so tests evaluate it without nixpkgs.
{
  targets ? import ./targets.nix { },
  toolchainFile ? ../rust-toolchain.toml,
}:
{
  # Build system of the shell, e.g. "x86_64-linux".
  buildSystem,
}:
let
  inherit (builtins)
    concatStringsSep
    genList
    stringLength
    ;
  channel = (builtins.fromTOML (builtins.readFile toolchainFile)).toolchain.channel;

  pad = width: s: s + concatStringsSep "" (genList (_: " ") (width - stringLength s));

  # The cargo command for a target inside the shell. The host's own gnu
  # triple goes through cargo-zigbuild to get the glibc floor; the others
  # have their linker set in the shell environment.
  cargoCommand =
    t:
    if targets.sharesHostTriple buildSystem t then
      "cargo zigbuild --release --target ${t.triple}.${t.glibc_floor}"
    else
      "cargo build --release --target ${t.triple}";

  row =
    t:
    "  ${pad 14 t.attr}nix build .#${pad 14 t.attr}${cargoCommand t}"
    + (if targets.needsCross buildSystem t && targets.canEmulate buildSystem then "  (run: ${targets.qemuBinary t})" else "");
in
concatStringsSep "\n" (
  [
    "kiln dev shell (${buildSystem}, Rust ${channel}); release targets:"
    "  ${pad 14 "target"}${pad 26 "in Nix"}in this shell"
  ]
  ++ map row targets.all
  ++ [
    "  check a binary: kiln verify <file> --target <target>"
    "  all checks:     nix flake check"
  ]
)
+ "\n"
