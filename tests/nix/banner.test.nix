# tests/nix/banner.test.nix: the dev shell banner (nix/banner.nix).
#
# Owns: that the banner names the Rust version and every target with the
# commands that build it, on both build systems.
let
  banner = import ../../nix/banner.nix { };
  lines = system: builtins.filter builtins.isString (builtins.split "\n" (banner { buildSystem = system; }));
  has = s: text: builtins.match ".*${s}.*" text != null;
  x86 = banner { buildSystem = "x86_64-linux"; };
  arm = banner { buildSystem = "aarch64-linux"; };
in
[
  {
    name = "the first line names the build system and Rust version";
    expr = builtins.head (lines "x86_64-linux");
    expected = "kiln dev shell (x86_64-linux, Rust 1.95.0); release targets:";
  }
  {
    name = "one line per target with its nix build command";
    expr = map (a: has "nix build \\.#${a} " x86) [
      "x86_64-gnu"
      "x86_64-musl"
      "aarch64-gnu"
      "aarch64-musl"
    ];
    expected = [
      true
      true
      true
      true
    ];
  }
  {
    name = "the host's gnu triple goes through cargo zigbuild with the floor";
    expr = [
      (has "cargo zigbuild --release --target x86_64-unknown-linux-gnu\\.2\\.17" x86)
      (has "cargo zigbuild --release --target aarch64-unknown-linux-gnu\\.2\\.17" arm)
    ];
    expected = [
      true
      true
    ];
  }
  {
    name = "foreign targets name their qemu runner";
    expr = [
      (has "aarch64-unknown-linux-musl  \\(run: qemu-aarch64\\)" x86)
      (has "x86_64-unknown-linux-gnu  \\(run: qemu-x86_64\\)" arm)
      (has "x86_64-unknown-linux-musl  \\(run" x86)
    ];
    expected = [
      true
      true
      false
    ];
  }
  {
    name = "the banner is eight lines, ending in a newline";
    expr = {
      endsInNewline = builtins.substring (builtins.stringLength x86 - 1) 1 x86 == "\n";
      count = builtins.length (lines "x86_64-linux");
    };
    expected = {
      endsInNewline = true;
      # eight text lines, then "" after the final newline
      count = 9;
    };
  }
]
