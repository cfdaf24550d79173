# nix/toolchain.nix: the Rust toolchain, read from rust-toolchain.toml.
#
# Owns: turning a rustup toolchain file (channel, components, targets,
# profile; TOML or the legacy one-line form) into one rust-overlay toolchain
# derivation, with the std of every target to be built added to the file's
# own targets. rustup users and the flake read the same file, so the
# version is written down once, and a crate's own file is used as it is.
{
  # rust-overlay's `rust-bin` set for the build platform.
  rust-bin,
}:
{
  # A rustup toolchain file; kiln's own lists all four targets.
  toolchainFile ? ../rust-toolchain.toml,
  # Target triples whose std must be in the toolchain (the targets built).
  extraTargets ? [ ],
}:
let
  content = builtins.readFile toolchainFile;
  legacy = builtins.match "([^\r\n]+)\r?\n?" content;
  file =
    if legacy != null then
      { channel = builtins.head legacy; }
    else
      (builtins.fromTOML content).toolchain
        or (throw "kiln: ${toString toolchainFile} has no [toolchain] table");
  fileTargets = file.targets or [ ];
  missing = builtins.filter (t: !(builtins.elem t fileTargets)) extraTargets;
in
rust-bin.fromRustupToolchain (file // { targets = fileTargets ++ missing; })
