# nix/hermetic/cargo-env.nix: the shell prelude every hermetic cargo build runs under.
#
# Owns: PATH (busybox applets + the toolchain wrappers), an offline CARGO_HOME whose only source
# is a vendored directory, the nightly switches -Zbuild-std and target-applies-to-host need on a
# stable toolchain, the target's zig linker and C compiler, per-target rustflags (path remapping,
# musl's link-self-contained=no, an optional --sysroot) and the host C compiler for build scripts
# and proc-macros. Builtins only, no nixpkgs.
#
# Type: { tools, toolchain, targets } -> { target, vendor, sysroot ? null, extraRustflags ? [ ] }
#   -> { script; linker; zigTarget; rustflags; }
{
  tools,
  toolchain,
  targets ? import ../targets.nix { },
}:
{
  # Triple, attribute name or targets.json record.
  target,
  # A cargo directory source (crates.nix vendorDir).
  vendor,
  # A std sysroot for the target (sysroot.nix); null means -Zbuild-std by the caller.
  sysroot ? null,
  # glibc floor for gnu targets; null takes the target's.
  glibcFloor ? null,
  extraRustflags ? [ ],
}:
let
  bb = "${tools.busybox}/busybox";
  t = targets.lookup target;
  zigTarget = targets.zigTargetWithFloor (if glibcFloor != null then glibcFloor else t.glibc_floor) t;
  upper = targets.cargoEnvVar t;
  lower = targets.ccEnvVar t;
  musl = t.libc == "musl";

  # Flags for every zig call of the target. -g0 and -s: rustc strips; debug info would name
  # the build directory.
  cflags = [
    "-target"
    zigTarget
  ]
  ++ targets.cflags t;
  # cc-rs (taking zig for clang) adds its own `--target=<rust triple>`, which zig does not
  # parse; zig gets the target from -target above. Everything else passes through.
  wrapper = tool: ''
    $B cat > "$KILN_BIN/${tool}-${t.attr}" <<'EOF'
    #!${bb} sh
    for a in "$@"; do
      shift
      case $a in --target=*) ;; *) set -- "$@" "$a" ;; esac
    done
    exec ${tools.zig}/zig ${tool} ${builtins.concatStringsSep " " cflags} "$@"
    EOF
    $B chmod 555 "$KILN_BIN/${tool}-${t.attr}"
  '';

  rustflags = [
    "--remap-path-prefix=${toolchain.rustSrc}=/rustc/src"
    "--remap-path-prefix=${vendor}=/cargo/registry"
  ]
  ++ (if musl then [ "-Clink-self-contained=no" ] else [ ])
  ++ targets.rustflags t
  ++ (if sysroot != null then [ "--sysroot=${sysroot}" ] else [ ])
  ++ extraRustflags;
in
{
  inherit zigTarget rustflags;
  script = ''
    set -eu
    B=${bb}
    KILN_BIN="$TMPDIR/.kiln-bin"
    $B mkdir -p "$KILN_BIN"
    for applet in $($B --list); do $B ln -sf "$B" "$KILN_BIN/$applet"; done
    export PATH="$KILN_BIN:${toolchain.bin}/bin"
    export HOME="$TMPDIR/home" CARGO_HOME="$TMPDIR/cargo-home"
    export ZIG_GLOBAL_CACHE_DIR="$TMPDIR/.zig-global" ZIG_LOCAL_CACHE_DIR="$TMPDIR/.zig-local"
    $B mkdir -p "$HOME" "$CARGO_HOME"
    $B cat > "$CARGO_HOME/config.toml" <<EOF
    [source.crates-io]
    replace-with = "kiln-vendored"
    [source.kiln-vendored]
    directory = "${vendor}"
    [net]
    offline = true
    EOF
    ${wrapper "cc"}
    ${wrapper "c++"}
    export RUSTC="${toolchain.bin}/bin/rustc" RUSTDOC="${toolchain.bin}/bin/rustdoc"
    export RUSTC_BOOTSTRAP=1 __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS=nightly
    # Target flags must not reach build scripts and proc-macros (they run here, not on the target).
    export CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST=true CARGO_TARGET_APPLIES_TO_HOST=false
    export CARGO_BUILD_TARGET=${t.triple}
    export CARGO_TARGET_${upper}_LINKER="$KILN_BIN/cc-${t.attr}"
    export CARGO_TARGET_${upper}_RUSTFLAGS="${builtins.concatStringsSep " " rustflags} --remap-path-prefix=$NIX_BUILD_TOP=/build"
    export CC_${lower}="$KILN_BIN/cc-${t.attr}" CXX_${lower}="$KILN_BIN/c++-${t.attr}" AR_${lower}="${toolchain.bin}/bin/ar"
    export HOST_CC="${toolchain.bin}/bin/cc" HOST_CXX="${toolchain.bin}/bin/c++" HOST_AR="${toolchain.bin}/bin/ar"
    export CARGO_INCREMENTAL=0 SOURCE_DATE_EPOCH="''${SOURCE_DATE_EPOCH:-315532800}"
  '';
}
