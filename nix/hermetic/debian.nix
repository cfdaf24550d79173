# nix/hermetic/debian.nix: the Debian packages of the hermetic Rust toolchain, fetched and unpacked.
#
# Owns: one fixed-output derivation per .deb pinned in ./debian.json (hash = the SHA-256 the
# suite's signed index names), the pinned index itself, and `unpacked`: every .deb extracted into
# one prefix with busybox's dpkg-deb. Builtins only, no nixpkgs.
#
# Where the files come from is the machine's business, not this file's: the fetchers read the
# Debian archive's base URI (as in /etc/apt/sources.list) from KILN_DEBIAN_MIRROR, an impure
# variable of fixed-output derivations, so every machine evaluates the same derivations and gets
# the same store paths whatever mirror it uses. A path already in the store is never fetched.
#
# Type: { system ? "x86_64-linux", tools ? <hermetic-tools> } ->
#   { pins; debs = { <package> = drv; }; index = drv; unpacked = drv; }
{
  system ? "x86_64-linux",
  tools ? import ../hermetic-tools.nix { inherit system; },
}:
let
  pins = builtins.fromJSON (builtins.readFile ./debian.json);
  bb = "${tools.busybox}/busybox";

  # Store path names take [A-Za-z0-9+._?=-]; Debian versions also use '~' and ':'.
  storeName = builtins.replaceStrings [ "~" ":" ] [ "_" "_" ];

  # A file of the archive, fetched with busybox wget from $KILN_DEBIAN_MIRROR/<path>. Plain HTTP
  # is enough: Nix checks the pinned hash before the output is valid.
  fetchArchiveFile =
    {
      name,
      path,
      sha256,
    }:
    tools.shDerivation {
      inherit name;
      script = ''
        set -eu
        if [ -z "''${KILN_DEBIAN_MIRROR:-}" ]; then
          echo "kiln: ${name} is not in the store and KILN_DEBIAN_MIRROR is unset: set it to a Debian archive URI (the one in /etc/apt/sources.list), e.g. via '. scripts/nix-env'" >&2
          exit 1
        fi
        ${bb} wget -q -O "$out" "''${KILN_DEBIAN_MIRROR%/}/${path}"
      '';
      impureEnvVars = [ "KILN_DEBIAN_MIRROR" ];
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = sha256;
      preferLocalBuild = true;
    };

  debs = builtins.mapAttrs (
    pkg: p:
    fetchArchiveFile {
      name = storeName "${pkg}_${p.version}.deb";
      path = p.filename;
      inherit (p) sha256;
    }
  ) pins.packages;

  # The index that names every .deb hash above (by-hash path: it stays reachable after the suite
  # moves on for as long as the archive keeps it).
  index = fetchArchiveFile {
    name = "debian-${pins.suite}-Packages.xz";
    path = "dists/${pins.suite}/${dirOf pins.index.path}/by-hash/SHA256/${pins.index.sha256}";
    inherit (pins.index) sha256;
  };

  names = builtins.attrNames debs;

  # Every .deb unpacked into one prefix (usr/bin/rustc, usr/lib/x86_64-linux-gnu/..., ...).
  unpacked = tools.shDerivation {
    name = "kiln-rust-debian-${pins.suite}-${storeName pins.packages.rustc-web.version}";
    script = ''
      set -eu
      B=${bb}
      $B mkdir -p "$out"
      ${builtins.concatStringsSep "\n" (map (n: "$B dpkg-deb -x ${debs.${n}} \"$out\"") names)}
      # Documentation is not part of a toolchain.
      $B rm -rf "$out/usr/share/doc" "$out/usr/share/man" "$out/usr/share/lintian"
    '';
  };
in
{
  inherit
    pins
    debs
    index
    unpacked
    ;
}
