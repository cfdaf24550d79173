# tests/nix/toolchain-file.test.nix: rust-toolchain.toml is the one source of the toolchain.
#
# Owns: that the rustup file pins the version, carries the components the
# dev shell promises and lists exactly the targets of targets.json, and that
# nix/toolchain.nix reads that very file.
let
  targets = import ../../nix/targets.nix { };
  file = ../../rust-toolchain.toml;
  toolchain = (builtins.fromTOML (builtins.readFile file)).toolchain;
  sorted = builtins.sort builtins.lessThan;

  # toolchain.nix with a rust-bin that just reports what it was asked for.
  fakeRustBin = {
    fromRustupToolchainFile = f: { requested = f; };
  };
in
[
  {
    name = "the channel is a pinned release";
    expr = toolchain.channel;
    expected = "1.95.0";
  }
  {
    name = "the targets are exactly those of targets.json";
    expr = sorted toolchain.targets;
    expected = sorted targets.triples;
  }
  {
    name = "the components of the dev shell";
    expr = sorted toolchain.components;
    expected = sorted [
      "clippy"
      "rust-analyzer"
      "rust-src"
      "rustfmt"
    ];
  }
  {
    name = "the minimal profile (no docs)";
    expr = toolchain.profile;
    expected = "minimal";
  }
  {
    name = "nix/toolchain.nix reads rust-toolchain.toml by default";
    expr = (import ../../nix/toolchain.nix { rust-bin = fakeRustBin; } { }).requested;
    expected = file;
  }
  {
    name = "nix/toolchain.nix reads another file when given one";
    expr = (import ../../nix/toolchain.nix { rust-bin = fakeRustBin; } { toolchainFile = ./toolchain-file.test.nix; }).requested;
    expected = ./toolchain-file.test.nix;
  }
]
