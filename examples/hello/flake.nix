{
  description = "kiln example: a Rust hello (a proc-macro, a C build script) for four Linux targets, built without nixpkgs";

  # No inputs: the toolchain is pinned in kiln's nix/ (Debian's Rust, zig, busybox); see
  # docs/hermetic.md for where the fixed-output fetches download from.
  inputs = { };

  outputs =
    { self }:
    let
      hermetic = import ../../nix/hermetic { };
      # The crate: everything but the flake itself, its lock and build results (and nix/, where
      # kiln's tests put a copy of the library next to a copy of this flake).
      src = hermetic.crateSource {
        path = ./.;
        name = "hello-source";
        exclude = [ "nix" ];
      };
      hello = hermetic.mkCrossPackages {
        inherit src;
        description = "kiln's example greeting";
      };
    in
    {
      # x86_64-gnu, x86_64-musl, aarch64-gnu, aarch64-musl (from nix/targets.json)
      packages.x86_64-linux = hello // {
        default = hello.x86_64-musl;
      };
    };
}
