# nix/hermetic/crates.nix: a crate's dependencies, vendored from its Cargo.lock.
#
# Owns: one fixed-output derivation per registry package of a Cargo.lock (hash = the lock's
# `checksum`, the SHA-256 of the .crate file), and `vendorDir`, a cargo directory source holding
# every one of them unpacked. Git dependencies, and registries other than the default one, fail
# with one line naming the dependency. Builtins only, no nixpkgs.
#
# The registry's download address is the machine's business: the fetchers read cargo's `dl`
# template (the `dl` field of the registry's config.json; `{crate}`, `{version}`, `{prefix}`,
# `{lowerprefix}`, `{sha256-checksum}` markers as cargo documents them, or none, meaning
# `<dl>/<crate>/<version>/download`) from KILN_CRATES_DL, an impure variable of fixed-output
# derivations. A crate already in the store is never fetched; `nix-store --add-fixed sha256
# NAME-VERSION.crate` of a file from cargo's own cache gives the same store path.
#
# Type: { system, tools, toolchain } -> {
#   fetchCrate = { name, version, checksum } -> drv;
#   lockedCrates = lockFile -> [ { name, version, checksum, drv } ];
#   vendorDir = { lockFile, extraVendor ? [ ] } -> drv;
# }
{
  system ? "x86_64-linux",
  tools ? import ../hermetic-tools.nix { inherit system; },
  toolchain ? import ./toolchain.nix { inherit system tools; },
}:
let
  bb = "${tools.busybox}/busybox";
  defaultRegistry = "registry+https://github.com/rust-lang/crates.io-index";

  fetchCrate =
    {
      name,
      version,
      checksum,
    }:
    tools.shDerivation {
      name = "${name}-${version}.crate";
      script = ''
        set -eu
        B=${bb}
        dl=''${KILN_CRATES_DL:-}
        if [ -z "$dl" ]; then
          echo "kiln: crate ${name} ${version} is not in the store and KILN_CRATES_DL is unset: set it to the registry's download template (the dl field of its config.json), e.g. via '. scripts/nix-env'" >&2
          exit 1
        fi
        n=${name}
        lower=$(echo "$n" | $B tr 'A-Z' 'a-z')
        case ''${#n} in
          1) prefix=1 ;;
          2) prefix=2 ;;
          3) prefix=3/$(echo "$n" | $B cut -c1) ;;
          *) prefix=$(echo "$n" | $B cut -c1-2)/$(echo "$n" | $B cut -c3-4) ;;
        esac
        lowerprefix=$(echo "$prefix" | $B tr 'A-Z' 'a-z')
        case $dl in
          *'{crate}'* | *'{version}'* | *'{prefix}'* | *'{lowerprefix}'* | *'{sha256-checksum}'*)
            url=$(echo "$dl" | $B sed -e "s|{crate}|$n|g" -e "s|{version}|${version}|g" \
              -e "s|{prefix}|$prefix|g" -e "s|{lowerprefix}|$lowerprefix|g" -e "s|{sha256-checksum}|${checksum}|g") ;;
          *) url="''${dl%/}/$n/${version}/download" ;;
        esac
        # TLS is not what makes this safe: Nix checks the pinned SHA-256 before the output is
        # valid, so the sandbox needs no CA bundle.
        ${toolchain.bin}/bin/curl --fail --silent --show-error --location --insecure \
          --retry 3 --connect-timeout 30 -o "$out" "$url"
      '';
      impureEnvVars = [ "KILN_CRATES_DL" ];
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = checksum;
      preferLocalBuild = true;
    };

  # Every package of a Cargo.lock that comes from a registry, as fetchable crates.
  lockedCrates =
    lockFile:
    let
      lock = builtins.fromTOML (builtins.readFile lockFile);
      packages = lock.package or [ ];
      fromRegistry = builtins.filter (p: p ? source) packages;
      check =
        p:
        if builtins.substring 0 4 p.source == "git+" then
          throw "kiln: ${toString lockFile}: ${p.name} ${p.version} is a git dependency (${p.source}); the hermetic provider vendors registry crates only: publish it, or vendor it as a path dependency"
        else if p.source != defaultRegistry then
          throw "kiln: ${toString lockFile}: ${p.name} ${p.version} comes from registry ${p.source}; the hermetic provider knows only the default registry"
        else if !(p ? checksum) then
          throw "kiln: ${toString lockFile}: ${p.name} ${p.version} has no checksum in the lock file"
        else
          p // { drv = fetchCrate { inherit (p) name version checksum; }; };
    in
    map check fromRegistry;

  # A cargo directory source: every locked crate unpacked as <name>-<version>/ with the
  # .cargo-checksum.json cargo requires (the package checksum; files are not listed, the .crate
  # hash already covers them). `extraVendor` are directory sources to merge in first (std's
  # library/vendor for -Zbuild-std); a crate both have is taken from the lock file.
  vendorDir =
    {
      lockFile,
      extraVendor ? [ ],
      name ? "vendor",
    }:
    let
      crates = lockedCrates lockFile;
      unpackOne = c: ''
        d="$out/${c.name}-${c.version}"
        $B rm -rf "$d"
        $B mkdir -p "$d"
        $B tar -xzf ${c.drv} -C "$d" --strip-components=1
        printf '{"files":{},"package":"%s"}' ${c.checksum} > "$d/.cargo-checksum.json"
      '';
    in
    tools.shDerivation {
      name = "kiln-${name}";
      script = ''
        set -eu
        B=${bb}
        $B mkdir -p "$out"
        ${builtins.concatStringsSep "\n" (map (v: ''$B cp -R ${v}/. "$out/"'') extraVendor)}
        $B chmod -R u+w "$out"
        ${builtins.concatStringsSep "" (map unpackOne crates)}
      '';
    };
in
{
  inherit
    fetchCrate
    lockedCrates
    vendorDir
    defaultRegistry
    ;
}
