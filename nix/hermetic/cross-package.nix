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
  drv = tools.shDerivation (
    env.env
    // stripOtherProfile
    // recipe.referenceRules
    // {
      name = "${pname}-${t.attr}-${version}";
      inherit src version;
      pname = "${pname}-${t.attr}";
      CARGO_PROFILE = profile;
      script = ''
        ${env.script}
        $B cp -R "$src" "$NIX_BUILD_TOP/source"
        $B chmod -R u+w "$NIX_BUILD_TOP/source"
        cd "$NIX_BUILD_TOP/source"
        echo "kiln: cargo build --profile ${profile} --locked --frozen --target ${t.triple} ${cargoExtraArgs}"
        cargo build --profile ${profile} --locked --frozen --target ${t.triple} ${cargoExtraArgs}
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
  # The two inputs a crate's own edit must not rebuild (tests/integration/hermetic.rs).
  kilnVendor = vendor;
  kilnSysroot = sysroots.${t.attr};
  kilnAttr = t.attr;
  target = t;
  meta = {
    inherit mainProgram;
    description = "${if description != null then description else pname} (${t.attr}: ${t.description})";
  };
}
