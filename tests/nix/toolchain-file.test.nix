# tests/nix/toolchain-file.test.nix: rust-toolchain.toml is the one source of the toolchain.
#
# Owns: that the rustup file pins the version, carries the components the
# dev shell promises and lists exactly the targets of targets.json, and that
# nix/toolchain.nix reads that very file (or a crate's own), adding the std
# of the targets built, through the REAL rust-overlay.
{ upstream }:
let
  stub = import ./stub/inputs.nix { inherit upstream; };
  rust-bin = (stub.pkgsFor { system = "x86_64-linux"; }).extend stub.rust-overlay.overlays.default;
  targets = import ../../nix/targets.nix { };
  file = ../../rust-toolchain.toml;
  toolchain = (builtins.fromTOML (builtins.readFile file)).toolchain;
  sorted = builtins.sort builtins.lessThan;

  # toolchain.nix with a rust-bin that reports what it was asked for.
  recordingRustBin = {
    fromRustupToolchain = args: { requested = args; };
  };
  crateFile = ./fixtures/chosen-crate/rust-toolchain.toml;
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
    expr = (import ../../nix/toolchain.nix { rust-bin = recordingRustBin; } { }).requested;
    expected = toolchain;
  }
  {
    name = "issue14_crate_toolchain_kept: a crate's own file is used as it is, plus the std of the targets built";
    expr = (import ../../nix/toolchain.nix { rust-bin = recordingRustBin; } {
      toolchainFile = crateFile;
      extraTargets = [ "x86_64-unknown-linux-musl" ];
    }).requested;
    expected = {
      channel = "1.88.0";
      components = [ "clippy" ];
      targets = [ "x86_64-unknown-linux-musl" ];
    };
  }
  {
    name = "nix/toolchain.nix: the legacy one-line rust-toolchain form";
    expr = (import ../../nix/toolchain.nix { rust-bin = recordingRustBin; } {
      toolchainFile = ./fixtures/toolchains/rust-toolchain;
    }).requested;
    expected = {
      channel = "1.90.0";
      targets = [ ];
    };
  }
  {
    name = "real rust-overlay: kiln's file and a crate's file both give a toolchain that instantiates";
    expr = map (f: (import ../../nix/toolchain.nix { inherit (rust-bin) rust-bin; } f).name) [
      { }
      {
        toolchainFile = crateFile;
        extraTargets = targets.triples;
      }
    ];
    expected = [
      "rust-minimal-1.95.0"
      "rust-default-1.88.0"
    ];
  }
  {
    name = "real rust-overlay: a channel it does not know is an evaluation error";
    expr = (import ../../nix/toolchain.nix { inherit (rust-bin) rust-bin; } {
      toolchainFile = ./fixtures/toolchains/unknown-channel.toml;
    }).drvPath;
    expectThrow = true;
  }
]
