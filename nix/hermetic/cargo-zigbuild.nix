# nix/hermetic/cargo-zigbuild.nix: cargo-zigbuild, built by the hermetic provider for the build
# machine.
#
# Owns: the pinned cargo-zigbuild release (the registry's .crate, hash = its checksum), its
# Cargo.lock (./cargo-zigbuild.Cargo.lock, the copy inside that .crate, kept here so that vendoring
# its dependencies needs no import from a derivation; the build checks the two are the same file),
# and the host build of its binary. The recipe's `zig cc` wrappers (../recipe.nix wrapperScripts)
# run `cargo-zigbuild zig cc -- ...`, so both providers pass C and link arguments through the same
# filter; nixpkgs supplies its own build, this file the hermetic one. Builtins only.
#
# It is a build-machine tool, not a release artifact: linked like build scripts (against the
# unpacked Debian glibc, ./toolchain.nix, with the prelude of ./cargo-env.nix), so it refers to
# that glibc in the store and runs in the sandbox. Default features off: `universal2` (fat-macho) is for macOS targets.
#
# Re-pin: the version and checksum below from the registry's index (or `cargo fetch` of it and
# the SHA-256 of the .crate), and the Cargo.lock from inside that .crate.
#
# Type: { tools, cargoEnv, crates } -> drv with bin/cargo-zigbuild
{
  tools,
  cargoEnv,
  crates,
}:
let
  pin = {
    name = "cargo-zigbuild";
    version = "0.24.1";
    checksum = "3b86eef6428a2c4554e1ecdb8b193a698732f242bb15a245bf12c7935914802a";
  };
  lockFile = ./cargo-zigbuild.Cargo.lock;
  crate = crates.fetchCrate pin;
  vendor = crates.vendorDir {
    inherit lockFile;
    name = "cargo-zigbuild-${pin.version}-vendor";
  };
in
tools.shDerivation {
  name = "cargo-zigbuild-${pin.version}";
  pname = "cargo-zigbuild";
  inherit (pin) version;
  script = cargoEnv.prelude vendor + ''
    export CARGO_INCREMENTAL=0 SOURCE_DATE_EPOCH=315532800
    $B mkdir -p "$TMPDIR/src"
    cd "$TMPDIR/src"
    $B tar -xzf ${crate} --strip-components=1
    if ! $B cmp -s Cargo.lock ${lockFile}; then
      echo "kiln: nix/hermetic/cargo-zigbuild.Cargo.lock is not the Cargo.lock of cargo-zigbuild ${pin.version}: copy it from the .crate again" >&2
      exit 1
    fi
    cargo build --release --locked --frozen --no-default-features --bin cargo-zigbuild
    $B mkdir -p "$out/bin"
    $B cp target/release/cargo-zigbuild "$out/bin/"
  '';
}
