# nix/hermetic/cross-package.nix: the release build of one crate for one target, without nixpkgs.
#
# Owns: the derivation that turns a cargo source tree with a Cargo.lock into a release binary for
# a target: vendored crates (./crates.nix), the target's std sysroot (./sysroot.nix), and the
# recipe the nixpkgs provider builds with (../recipe.nix, bound here by ./cargo-env.nix `crate`):
# `cargo-zigbuild zig cc` wrappers, the cargo and cc-rs variables, release profile, stripped,
# SOURCE_DATE_EPOCH fixed, paths remapped, no store reference in the output
# (`referenceRules`: `allowedReferences = [ ]`); plus `--locked --frozen`.
#
# Type: deps -> { src, target, pname ?, version ?, mainProgram ?, glibcFloor ?, ... } -> drv
{
  system,
  tools,
  toolchain,
  crates,
  cargoEnv,
  cargoZigbuild,
  sysroots,
  targets,
  recipe,
}:
{
  # Cargo source tree (a path) with Cargo.toml and Cargo.lock.
  src,
  # Triple, attribute name or targets.json record.
  target,
  pname ? (builtins.fromTOML (builtins.readFile (src + "/Cargo.toml"))).package.name,
  version ? (builtins.fromTOML (builtins.readFile (src + "/Cargo.toml"))).package.version,
  mainProgram ? pname,
  description ? null,
  # Extra cargo arguments (`--bin NAME`, `--features X`, ...); --locked and --frozen always apply.
  cargoExtraArgs ? "",
  glibcFloor ? null,
  sourceDateEpoch ? 315532800,
  # The cargo profile. Releases use "release"; anything else is for tests that must see kiln
  # refuse it (a "dev" build is a debug build: issue 16).
  profile ? "release",
}:
let
  t = targets.lookup target;
  # cargo's output directory for the profile.
  profileDir = if profile == "dev" then "debug" else profile;
  # Stripped whatever the profile: a debug build's debug info would name the store paths of
  # zig's C sources and libc (and it is still told by its std markers: issue 16). cargo's
  # variable for the profile: "release-lto" -> CARGO_PROFILE_RELEASE_LTO_STRIP (cargoEnvVar
  # spells any name that way).
  stripOtherProfile =
    if profile == "release" then
      { }
    else
      { "CARGO_PROFILE_${targets.cargoEnvVar { triple = profile; }}_STRIP" = "symbols"; };
  vendor = crates.vendorDir {
    lockFile = src + "/Cargo.lock";
    name = "${pname}-${version}-vendor";
  };
  env = cargoEnv.crate {
    inherit
      target
      vendor
      glibcFloor
      sourceDateEpoch
      cargoZigbuild
      ;
    sysroot = sysroots.${t.attr};
  };
  # The environment, then a writable copy of $src as the working directory.
  prelude = ''
    ${env.script}
    $B cp -R "$src" "$NIX_BUILD_TOP/source"
    $B chmod -R u+w "$NIX_BUILD_TOP/source"
    cd "$NIX_BUILD_TOP/source"
  '';
  # The zig and cargo-zigbuild cache directories under $TMPDIR (../recipe.nix zigCachePreBuild)
  # that the dependency build keeps and the crate's build continues.
  zigCaches = "kiln-zig-cache kiln-cargo-zigbuild";
  cargoBuild = "cargo build --profile ${profile} --locked --frozen --target ${t.triple} ${cargoExtraArgs}";

  # Every .rs file of the source, as paths relative to it.
  rustFiles =
    let
      go =
        dir: rel:
        builtins.concatLists (
          builtins.attrValues (
            builtins.mapAttrs (
              name: type:
              let
                path = if builtins.isPath dir then dir + "/${name}" else "${dir}/${name}";
                r = if rel == "" then name else "${rel}/${name}";
              in
              if type == "directory" then
                go path r
              else if type == "regular" && builtins.match ".*[.]rs" name != null then
                [ r ]
              else
                [ ]
            ) (builtins.readDir dir)
          )
        );
    in
    go src "";

  # The dependencies, built once per target and kept, as crane's buildDepsOnly does for the
  # nixpkgs provider: the crate's manifests and lock, with every .rs file of the source replaced
  # by an empty program, so only a change to Cargo.toml or Cargo.lock (or a .rs file added or
  # removed) builds them again. Keeps cargo's target directory and zig's caches (the target's C
  # library, crt and unwinder, compiled by zig on first use), which the crate's build continues.
  deps = tools.shDerivation (
    env.env
    // stripOtherProfile
    // {
      name = "${pname}-${t.attr}-${version}-deps";
      src = builtins.path {
        name = "${pname}-${version}-manifests";
        path = src;
        filter =
          p: type:
          type == "directory"
          || builtins.elem (baseNameOf p) [
            "Cargo.toml"
            "Cargo.lock"
          ]
          || builtins.match ".*/[.]cargo/.*" p != null;
      };
      rustFiles = builtins.concatStringsSep "\n" rustFiles;
      CARGO_PROFILE = profile;
      script = ''
        ${prelude}
        printf '%s\n' "$rustFiles" | while IFS= read -r f; do
          [ -n "$f" ] || continue
          $B mkdir -p "$($B dirname "$f")"
          printf '#![allow(warnings)]\nfn main() {}\n' > "$f"
        done
        echo "kiln: ${cargoBuild} (dependencies)"
        ${cargoBuild}
        $B mkdir -p "$out"
        $B cp -R target "$out/target"
        for d in ${zigCaches}; do
          if [ -d "$TMPDIR/$d" ]; then $B cp -R "$TMPDIR/$d" "$out/$d"; fi
        done
      '';
    }
  );

  drv = tools.shDerivation (
    env.env
    // stripOtherProfile
    // recipe.referenceRules
    // {
      name = "${pname}-${t.attr}-${version}";
      inherit src version deps;
      pname = "${pname}-${t.attr}";
      CARGO_PROFILE = profile;
      script = ''
        ${prelude}
        $B cp -R "$deps/target" target
        for d in ${zigCaches}; do
          if [ -d "$deps/$d" ]; then $B cp -R "$deps/$d" "$TMPDIR/$d"; fi
        done
        $B chmod -R u+w target "$TMPDIR"
        # cargo compares times: the dependency build's files (fingerprints, build script
        # outputs) all get one old time, so none looks newer than another and the dependencies
        # stay fresh; the crate's real sources get the current one, so cargo builds the crate.
        $B find target -exec $B touch -h -d @1 {} +
        $B find . -path ./target -prune -o -type f -exec $B touch {} +
        echo "kiln: ${cargoBuild}"
        ${cargoBuild}
        $B mkdir -p "$out/bin"
        for f in target/${t.triple}/${profileDir}/*; do
          if [ -f "$f" ] && [ -x "$f" ]; then $B cp "$f" "$out/bin/"; fi
        done
      '';
      # The cargo profile this derivation builds with (kiln records it in the manifest).
      kilnCargoProfile = profile;
      kilnTarget = t.triple;
    }
  );
in
drv
// {
  # The inputs a crate's own edit must not rebuild (tests/integration/hermetic.rs).
  kilnVendor = vendor;
  kilnDeps = deps;
  kilnSysroot = sysroots.${t.attr};
  kilnAttr = t.attr;
  target = t;
  meta = {
    inherit mainProgram;
    description = "${if description != null then description else pname} (${t.attr}: ${t.description})";
  };
}
