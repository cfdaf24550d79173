# nix/hermetic/toolchain.nix: rustc, cargo, curl and the host C compiler of the hermetic provider.
#
# Owns: running Debian's unpacked binaries (./debian.nix) from the store through their own loader,
# and the host `cc` that build scripts and proc-macros are linked with (zig, against the unpacked
# glibc, so they run inside the sandbox). Builtins only, no nixpkgs.
#
# Type: { system ? "x86_64-linux", tools, debian } -> {
#   prefix;          the unpacked packages (usr/bin/rustc, usr/lib/rustlib/src/rust/library, ...)
#   bin;             a directory with rustc, rustdoc, cargo, curl wrappers and host cc/c++/ar
#   rustSrc;         the standard library's sources (remapped to /rustc/src in every binary)
#   hostTriple;      "x86_64-unknown-linux-gnu"
#   version;         rustc's version ("1.96.0")
# }
{
  system ? "x86_64-linux",
  tools ? import ../hermetic-tools.nix { inherit system; },
  debian ? import ./debian.nix { inherit system tools; },
}:
let
  prefix = debian.unpacked;
  bb = "${tools.busybox}/busybox";
  libdir = "${prefix}/usr/lib/x86_64-linux-gnu";
  loader = "${prefix}/usr/lib64/ld-linux-x86-64.so.2";
  version = builtins.head (builtins.split "\\+" debian.pins.packages.rustc-web.version);

  # The host C compiler for build scripts and proc-macros: zig for the build machine, linked
  # against the unpacked glibc's loader and libraries, so the programs run in the sandbox.
  hostZigTarget = "x86_64-linux-gnu.2.41";

  bin = tools.shDerivation {
    name = "kiln-rust-${version}-bin";
    script = ''
      set -eu
      B=${bb}
      $B mkdir -p "$out/bin"
      for tool in rustc rustdoc cargo curl; do
        $B cat > "$out/bin/$tool" <<EOF
      #!${bb} sh
      exec ${loader} --library-path ${libdir}:${prefix}/usr/lib ${prefix}/usr/bin/$tool "\$@"
      EOF
        $B chmod 555 "$out/bin/$tool"
      done
      for tool in cc c++; do
        $B cat > "$out/bin/$tool" <<EOF
      #!${bb} sh
      export ZIG_GLOBAL_CACHE_DIR="\''${ZIG_GLOBAL_CACHE_DIR:-\$TMPDIR/.zig-global}" ZIG_LOCAL_CACHE_DIR="\''${ZIG_LOCAL_CACHE_DIR:-\$TMPDIR/.zig-local}"
      exec ${tools.zig}/zig $tool -target ${hostZigTarget} -Wl,--dynamic-linker=${loader} -Wl,-rpath,${libdir} "\$@"
      EOF
        $B chmod 555 "$out/bin/$tool"
      done
      $B cat > "$out/bin/ar" <<EOF
      #!${bb} sh
      exec ${tools.zig}/zig ar "\$@"
      EOF
      $B chmod 555 "$out/bin/ar"
    '';
  };
in
{
  inherit
    prefix
    bin
    version
    ;
  rustSrc = "${prefix}/usr/lib/rustlib/src/rust";
  hostTriple = "x86_64-unknown-linux-gnu";
}
