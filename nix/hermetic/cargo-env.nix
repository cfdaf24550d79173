# nix/hermetic/cargo-env.nix: the shell environments hermetic cargo builds run under.
#
# Owns:
#   - `prelude vendor`: PATH (busybox applets + the toolchain wrappers) and an offline CARGO_HOME
#     whose only source is a vendored directory; every hermetic cargo run starts with it.
#   - `std { target, ... }`: the std build of a sysroot (./sysroot.nix): the nightly switches
#     -Zbuild-std needs on a stable toolchain, plain `zig cc` wrappers (std compiles no C and
#     links nothing), per-target rustflags (path remapping, musl's link-self-contained=no).
#   - `crate { target, vendor, sysroot, cargoZigbuild, ... }`: a crate's release build, from the
#     provider-independent recipe (../recipe.nix) the nixpkgs provider uses too: the same
#     `cargo-zigbuild zig cc` wrappers, cargo and cc-rs variables, rustflags, zig caches,
#     remapping and release settings, bound to this provider's tools (./cargo-zigbuild.nix).
# Builtins only, no nixpkgs.
#
# Type: { system, tools, toolchain, targets, recipe } -> { prelude; std; crate; }
{
  system ? "x86_64-linux",
  tools,
  toolchain,
  targets ? import ../targets.nix { },
  recipe ? import ../recipe.nix { inherit targets; },
}:
let
  bb = "${tools.busybox}/busybox";

  prelude = vendor: ''
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
  '';

  # Remapped in every binary: std's sources (panic locations) and the vendored crates.
  remaps = vendor: [
    "--remap-path-prefix=${toolchain.rustSrc}=/rustc/src"
    "--remap-path-prefix=${vendor}=/cargo/registry"
  ];
  # The sysroots are built from source and hold no self-contained crt objects or libc: zig's
  # musl is the one linked.
  selfContained = t: if t.libc == "musl" then [ "-Clink-self-contained=no" ] else [ ];

  std =
    {
      # Triple, attribute name or targets.json record.
      target,
      # A cargo directory source (crates.nix vendorDir).
      vendor,
      # glibc floor for gnu targets; null takes the target's.
      glibcFloor ? null,
      extraRustflags ? [ ],
    }:
    let
      t = targets.lookup target;
      zigTarget = targets.zigTargetWithFloor (if glibcFloor != null then glibcFloor else t.glibc_floor) t;
      upper = targets.cargoEnvVar t;
      lower = targets.ccEnvVar t;

      # Flags for every zig call of the target.
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

      rustflags = remaps vendor ++ selfContained t ++ targets.rustflags t ++ extraRustflags;
    in
    {
      inherit zigTarget rustflags;
      script = prelude vendor + ''
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
    };

  crate =
    {
      # Triple, attribute name or targets.json record.
      target,
      # A cargo directory source (crates.nix vendorDir).
      vendor,
      # The target's std sysroot (sysroot.nix).
      sysroot,
      # The build machine's cargo-zigbuild (./cargo-zigbuild.nix): the recipe's wrappers run it.
      cargoZigbuild,
      # glibc floor for gnu targets; null takes the target's.
      glibcFloor ? null,
      sourceDateEpoch ? 315532800,
      extraRustflags ? [ ],
    }:
    let
      t = targets.lookup target;
      scripts = recipe.wrapperScripts {
        inherit target glibcFloor;
        zigCommand = "${cargoZigbuild}/bin/cargo-zigbuild zig";
      };
      wrap = s: "${tools.writeShellScriptBin s.name s.text}/bin/${s.name}";
      rustflags = recipe.rustflags t (
        remaps vendor ++ selfContained t ++ [ "--sysroot=${sysroot}" ] ++ extraRustflags
      );
    in
    {
      inherit rustflags;
      # Derivation attributes (the nixpkgs provider passes the same ones to crane).
      env =
        recipe.crossEnvVars {
          inherit target;
          buildSystem = system;
          cc = wrap scripts.cc;
          cxx = wrap scripts.cxx;
          ar = wrap scripts.ar;
          hostCc = "${toolchain.bin}/bin/cc";
        }
        // recipe.releaseEnv { inherit sourceDateEpoch; }
        // {
          CARGO_BUILD_RUSTFLAGS = rustflags;
          # cargo-zigbuild looks for `python3 -m ziglang`, then `zig` on PATH; name it.
          CARGO_ZIGBUILD_ZIG_PATH = "${tools.zig}/zig";
          RUSTC = "${toolchain.bin}/bin/rustc";
          RUSTDOC = "${toolchain.bin}/bin/rustdoc";
          HOST_CXX = "${toolchain.bin}/bin/c++";
          HOST_AR = "${toolchain.bin}/bin/ar";
        };
      script = prelude vendor + recipe.zigCachePreBuild + recipe.remapPreBuild;
    };
in
{
  inherit prelude std crate;
}
