{
  description = "kiln example: a C hello for four Linux targets, built with the pinned zig and busybox (no nixpkgs)";

  # No inputs: the toolchain comes from the store paths that scripts/setup adds.
  inputs = { };

  outputs =
    { self }:
    let
      hello = import ../../nix/hermetic.nix {
        name = "hello";
        version = "0.1.0";
        src = ./hello.c;
      };
    in
    {
      # x86_64-gnu, x86_64-musl, aarch64-gnu, aarch64-musl (from nix/targets.json)
      packages.x86_64-linux = hello // {
        default = hello.x86_64-musl;
      };
    };
}
