# flake.nix: release builds of this crate for four Linux targets, without nixpkgs.
#
#   nix build .#x86_64-musl     (x86_64-gnu, x86_64-musl, aarch64-gnu, aarch64-musl)
#   kiln build                  (all four, verified, exported to dist/)
#
# kiln's hermetic provider builds it: Debian's Rust toolchain and every crate of Cargo.lock
# as pinned fixed-output fetches, std built once per target, zig as linker and C compiler.
# Its fetchers read KILN_DEBIAN_MIRROR and KILN_CRATES_DL, and its zig and busybox are the
# ones kiln's scripts/setup adds to the store (see kiln's docs/hermetic.md). To give the build
# more or fewer files, change `exclude` below (names left out of the crate's directory).
{
  description = "A Rust crate released for four Linux targets with kiln, without nixpkgs";

  # Only kiln's Nix files are used, so it is a plain source input: no nixpkgs, nothing else.
  inputs.kiln = {
    # Set this to the flake reference you gave `nix flake init -t`.
    url = "github:OWNER/kiln";
    flake = false;
  };

  outputs =
    { self, kiln }:
    let
      hermetic = import "${kiln}/nix/hermetic" { };
      crate = hermetic.mkCrossPackages {
        src = hermetic.crateSource {
          path = ./.;
          exclude = [ ];
        };
      };
    in
    {
      packages.x86_64-linux = crate // {
        default = crate.x86_64-musl;
      };
    };
}
