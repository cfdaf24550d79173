# nix/hermetic/sysroot.nix: the standard library of one target, built once and kept.
#
# Owns: `-Zbuild-std=std,panic_abort` of Debian's rust-src for a target, with std's own
# dependencies from library/vendor, its panic locations remapped to /rustc/src; the rlibs laid out
# as a sysroot (`lib/rustlib/<triple>/lib`) that every crate of that target reuses through
# `--sysroot`, the way a prebuilt rust-std component is used; with bitcode embedded, so crates
# that use LTO link against it too. Builtins only, no nixpkgs.
#
# Type: { system, tools, toolchain, cargoEnv } -> target -> drv (cargoEnv: ./cargo-env.nix)
{
  system ? "x86_64-linux",
  tools,
  toolchain,
  cargoEnv,
  targets ? import ../targets.nix { },
}:
target:
let
  t = targets.lookup target;
  env = cargoEnv.std {
    inherit target;
    vendor = "${toolchain.rustSrc}/library/vendor";
    # Bitcode beside the object code, as in the official rust-std: a crate whose release
    # profile asks for LTO (kiln's own does) needs it, and one without LTO ignores it.
    extraRustflags = [ "-Cembed-bitcode=yes" ];
  };
in
tools.shDerivation {
  name = "kiln-rust-std-${toolchain.version}-${t.triple}";
  script = ''
    ${env.script}
    cd "$TMPDIR"
    $B mkdir -p stub/src
    printf '[package]\nname = "kiln-std-stub"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n' > stub/Cargo.toml
    printf '#![no_std]\n' > stub/src/lib.rs
    cd stub
    cargo build --release --offline -Zbuild-std=std,panic_abort --target ${t.triple}
    lib="$out/lib/rustlib/${t.triple}/lib"
    $B mkdir -p "$lib"
    for f in target/${t.triple}/release/deps/*.rlib; do
      case $f in */libkiln_std_stub-*) continue ;; esac
      $B cp "$f" "$lib/"
    done
  '';

}
