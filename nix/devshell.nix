# nix/devshell.nix: `nix develop`.
#
# Owns: the interactive shell: the toolchain with all four targets (clippy,
# rustfmt, rust-analyzer, rust-src), the cross linkers of every target,
# zig and cargo-zigbuild, qemu to run foreign binaries, kiln itself, and
# the banner (banner.nix) printed on entry.
{
  lib,
  mkShell,
  stdenv,
  qemu,
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
in
mkShell (
  lib.foldl' (acc: e: acc // targetEnv e) { } envs
  // {
    packages = [
      toolchain
      qemu
    ]
    ++ lib.concatMap (e: e.packages) envs
    ++ lib.optional (kiln != null) kiln
    ++ extraPackages;

    shellHook = ''
      cat <<'KILN_BANNER'
      ${bannerText}KILN_BANNER
    '';
  }
)
