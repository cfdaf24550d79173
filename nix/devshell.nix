# nix/devshell.nix: `nix develop`.
#
# Owns: the interactive shell: the toolchain with all four targets (clippy,
# rustfmt, rust-analyzer, rust-src), the zig linker wrappers of every
# target, cargo-zigbuild, qemu to run foreign binaries (Linux hosts), kiln
# itself, and the banner (banner.nix) printed on entry.
#
# qemu: cargo's runner for a foreign gnu target is `qemu-<arch> -L <glibc
# of that target>`, and the shell has `qemu-<arch>-static` (the name kiln's
# --smoke and doctor look up) as a wrapper that sets the same sysroot through
# QEMU_LD_PREFIX unless the caller set one (or passes -L, as kiln does when
# /usr/<arch>-linux-gnu exists).
{
  lib,
  mkShell,
  stdenv,
  qemu,
  writeShellScriptBin,
  crossEnv,
  targets,
  banner,
}:
{
  # The Rust toolchain (toolchain.nix).
  toolchain,
  # kiln, so that `kiln verify` works in the shell; null leaves it out.
  kiln ? null,
  buildSystem ? stdenv.buildPlatform.system,
  # More packages for the shell.
  extraPackages ? [ ],
}:
let
  envs = map (t: crossEnv { target = t; inherit buildSystem; }) targets.all;

  # Per-target variables, except for the host's own triple: plain
  # `cargo build` keeps the native linker, `cargo zigbuild` adds the floor.
  targetEnv =
    e:
    let
      names = targets.envNames e.target;
    in
    lib.optionalAttrs (!targets.sharesHostTriple buildSystem e.target) (
      {
        ${names.linker} = e.linker;
        ${names.cc} = e.cc;
        ${names.cxx} = e.cxx;
        ${names.ar} = e.ar;
      }
      // lib.optionalAttrs (e.runner != null) { ${names.runner} = e.runner; }
      // lib.optionalAttrs (e.rustflags != [ ]) {
        "CARGO_TARGET_${targets.cargoEnvVar e.target}_RUSTFLAGS" = lib.concatStringsSep " " e.rustflags;
      }
      // lib.optionalAttrs (targets.cflags e.target != [ ]) {
        ${names.cflags} = lib.concatStringsSep " " (targets.cflags e.target);
      }
    );

  bannerText = banner { inherit buildSystem; };

  # One qemu-<arch>-static per foreign architecture, with that architecture's
  # gnu sysroot as the default loader prefix.
  foreignGnu = builtins.filter (e: e.sysroot != null) envs;
  qemuStatic = lib.optionals (targets.canEmulate buildSystem) (
    map (
      e:
      writeShellScriptBin (targets.qemuStaticName e.target) ''
        export QEMU_LD_PREFIX="''${QEMU_LD_PREFIX:-${e.sysroot}}"
        exec ${qemu}/bin/${targets.qemuBinary e.target} "$@"
      ''
    ) foreignGnu
  );
in
mkShell (
  lib.foldl' (acc: e: acc // targetEnv e) { } envs
  // {
    packages = [
      toolchain
    ]
    ++ lib.optional (targets.canEmulate buildSystem) qemu
    ++ qemuStatic
    ++ lib.concatMap (e: e.packages) envs
    ++ lib.optional (kiln != null) kiln
    ++ extraPackages;

    shellHook = ''
      cat <<'KILN_BANNER'
      ${bannerText}KILN_BANNER
    '';
  }
)
