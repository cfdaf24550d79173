# tests/nix/stub/pkgs.nix: a strict stand-in for an instantiated nixpkgs.
#
# Owns: the parts of nixpkgs that cannot be had here (the full nixpkgs is out
# of reach; its `lib` is not: the REAL lib comes in as `lib`). Everything
# here is as strict as the real thing where kiln or crane could get it wrong:
#   - stdenv.mkDerivation: needs `name` or `pname` + `version`; every
#     attribute that reaches the derivation must be one the builder can take
#     (string, path, number, bool, null, derivation, or a list of those; no
#     attribute sets or functions, `env` only strings/numbers/bools/
#     derivations and no name also given at the top level); the check phase
#     runs by default as crane asks (doCheck) and `doCheck` on the result is
#     nixpkgs' `doCheck && buildPlatform.canExecute hostPlatform`; `meta.platforms`
#     must contain the host platform; `drvPath` instantiates every input and,
#     like Nix's, changes exactly when what the builder gets changes (inputs
#     by their drvPath, paths and sources by their store path).
#   - pkgsCross: exactly the names of nixpkgs' lib/systems/examples.nix, each a
#     package set for that platform (glibc only where the libc is glibc).
#   - the cc wrapper, makeSetupHook, runCommand, writeShellScriptBin, mkShell,
#     dockerTools.streamLayeredImage, fetchurl: only the arguments and
#     attributes the real ones have (a function pattern without `...` rejects
#     any other argument; an attribute the real one lacks is missing here).
#   - Splicing: a native package set, so (as in nixpkgs) splicePackages gives
#     pkgsHostTarget and every pkgsXY is this set; lib.makeScopeWithSplicing'
#     is the real one.
# A "derivation" is an attribute set with type = "derivation", an outPath
# "/fake/<name>" and the attributes it was given (like nixpkgs' result).
{
  lib,
  system ? "x86_64-linux",
  # Set only for the pkgsCross sets: the platform their packages run on.
  crossSystem ? null,
  overlays ? [ ],
}:
let
  inherit (builtins)
    all
    attrNames
    concatMap
    deepSeq
    filter
    isAttrs
    isBool
    isFloat
    isFunction
    isInt
    isList
    isPath
    isString
    seq
    ;

  buildPlatform = lib.systems.elaborate system;
  hostPlatform = if crossSystem == null then buildPlatform else lib.systems.elaborate crossSystem;

  isDrv = v: isAttrs v && (v.type or null) == "derivation";

  # A value the derivation builder can turn into an environment variable.
  envable = v: isString v || isPath v || isInt v || isFloat v || isBool v || v == null || isDrv v || (isAttrs v && v ? outPath);
  drvValueOk = v: envable v || (isList v && all envable v);

  # A builder attribute as the derivation would record it.
  normalise =
    v:
    if isDrv v then
      v.drvPath
    else if isAttrs v && v ? outPath then
      "${v}"
    else if isPath v then
      "${v}"
    else if isList v then
      map normalise v
    else
      v;

  # Attributes of mkDerivation that do not reach the builder.
  notPassed = [
    "passthru"
    "meta"
    "env"
    "pos"
  ];

  mkDerivationWith =
    stdenvHost: args:
    let
      name =
        if args ? name then
          args.name
        else if args ? pname && args ? version then
          "${args.pname}-${args.version}"
        else
          throw "stub mkDerivation: neither `name` nor `pname` and `version` given (pname = ${args.pname or "none"})";
      meta = args.meta or { };
      passthru = args.passthru or { };
      env = args.env or { };
      passed = removeAttrs args notPassed;
      badAttrs = filter (n: !(drvValueOk passed.${n})) (attrNames passed);
      badEnv = filter (n: !(envable env.${n}) || isList env.${n}) (attrNames env);
      overlap = filter (n: passed ? ${n}) (attrNames env);
      # nixpkgs: `doCheck ? config.doCheckByDefault or false` (false), then
      # doCheck' = doCheck && stdenv.buildPlatform.canExecute stdenv.hostPlatform.
      doCheckAsked = args.doCheck or false;
      doCheck = doCheckAsked && buildPlatform.canExecute stdenvHost;
      platforms = meta.platforms or lib.platforms.all;
      available = lib.meta.availableOn stdenvHost { meta.platforms = platforms; };
      problems =
        map (n: "attribute ${n} cannot be passed to a derivation (a set or function)") badAttrs
        ++ map (n: "env.${n} must be a string, number, bool or derivation") badEnv
        ++ map (n: "env.${n} is also a top-level attribute") overlap
        ++ lib.optional (!available) "not available on ${stdenvHost.system} (meta.platforms)"
        ++ lib.optional (meta ? mainProgram && !isString meta.mainProgram) "meta.mainProgram must be a string";
      checked =
        if problems == [ ] then
          true
        else
          throw "stub mkDerivation ${name}: ${lib.concatStringsSep "; " problems}";
      result =
        passed
        // passthru
        // {
          type = "derivation";
          inherit name meta passthru env doCheck;
          # What a test can read to see what the builder gets.
          drvAttrs =
            passed
            // env
            // {
              inherit name doCheck;
            };
          outPath = seq checked "/fake/${name}";
          # Input-addressed like Nix: a hash of what the builder gets, inputs
          # by their drvPath, paths and sources by their store path.
          drvPath = seq checked "/fake/${builtins.hashString "sha256" (builtins.toJSON (builtins.mapAttrs (_: normalise) (passed // env)))}-${name}.drv";
          outputs = args.outputs or [ "out" ];
          # The only output, as `drv.out` (nixpkgs: one attribute per output).
          out = result;
          outputName = "out";
          overrideAttrs = f: mkDerivationWith stdenvHost (args // (if isFunction (f args) then f args args else f args));
        };
    in
    result;

  drv = name: extra: mkDerivationWith hostPlatform ({ inherit name; } // extra);

  # nixpkgs' cc-wrapper, with the attributes kiln or crane read.
  ccFor =
    platform:
    let
      prefix = if platform == buildPlatform then "" else "${platform.config}-";
      bintools = drv "${prefix}binutils-wrapper" {
        targetPrefix = prefix;
        # The wrapper's attributes rust-overlay reads (mk-component-set.nix).
        expandResponseParams = "/fake/expand-response-params/bin/expand-response-params";
        shell = "/fake/bash-5.3/bin/bash";
        wrapperName = "BINTOOLS_WRAPPER";
        coreutils_bin = "/fake/coreutils-9.7";
        passthru = {
          targetPrefix = prefix;
          suffixSalt = lib.replaceStrings [ "-" "." ] [ "_" "_" ] platform.config;
        };
      };
    in
    drv "${prefix}${if platform.isDarwin then "clang" else "gcc"}-wrapper" {
      passthru = {
        targetPrefix = prefix;
        inherit bintools;
        isClang = platform.isDarwin;
        isGNU = !platform.isDarwin;
        suffixSalt = lib.replaceStrings [ "-" "." ] [ "_" "_" ] platform.config;
      };
    };

  stdenvFor = platform: {
    inherit buildPlatform;
    hostPlatform = platform;
    targetPlatform = platform;
    cc = ccFor platform;
    inherit (platform) system isLinux isDarwin;
    mkDerivation = mkDerivationWith platform;
  };

  base = self: {
    inherit lib;
    pkgs = self;
    stdenv = stdenvFor hostPlatform;
    stdenvNoCC = stdenvFor hostPlatform;
    inherit buildPlatform hostPlatform;
    targetPlatform = hostPlatform;
    system = hostPlatform.system;

    # A native set: every stage is this set (nixpkgs: the same stage when
    # build = host = target), and splicing picks pkgsHostTarget.
    pkgsBuildBuild = self;
    pkgsBuildHost = self;
    pkgsBuildTarget = self;
    pkgsHostHost = self;
    pkgsHostTarget = self;
    pkgsTargetTarget = self;
    buildPackages = self;
    splicePackages =
      {
        pkgsBuildBuild,
        pkgsBuildHost,
        pkgsBuildTarget,
        pkgsHostHost,
        pkgsHostTarget,
        pkgsTargetTarget,
      }:
      pkgsHostTarget;
    makeScopeWithSplicing' = lib.makeScopeWithSplicing' {
      inherit (self) splicePackages newScope;
    };
    newScope = extra: lib.callPackageWith (self // extra);
    callPackage = lib.callPackageWith self;

    makeSetupHook =
      {
        name ? "hook",
        deps ? [ ],
        propagatedBuildInputs ? [ ],
        depsTargetTargetPropagated ? [ ],
        meta ? { },
        passthru ? { },
        substitutions ? { },
      }@args:
      script:
      drv name {
        inherit
          deps
          propagatedBuildInputs
          depsTargetTargetPropagated
          meta
          passthru
          script
          ;
      };
    writeText = name: text: drv name { inherit text; };
    writeShellScriptBin =
      name: text:
      drv name {
        inherit text;
        meta.mainProgram = name;
      };
    runCommand =
      name: env: buildCommand:
      if !isAttrs env then
        throw "stub runCommand ${name}: the second argument is the environment (an attribute set)"
      else
        mkDerivationWith hostPlatform (env // { inherit name buildCommand; });
    runCommandLocal = self.runCommand;
    fetchurl =
      {
        url ? "",
        urls ? [ ],
        name ? baseNameOf url,
        hash ? "",
        sha256 ? "",
        curlOpts ? "",
        downloadToTemp ? false,
        postFetch ? "",
        passthru ? { },
        meta ? { },
        recursiveHash ? false,
        executable ? false,
        nativeBuildInputs ? [ ],
        sha512 ? "",
        outputHash ? "",
        outputHashAlgo ? "",
        pname ? "",
        version ? "",
        curlOptsList ? [ ],
        netrcPhase ? null,
        netrcImpureEnvVars ? [ ],
        showURLs ? false,
        preferLocalBuild ? true,
        impureEnvVars ? [ ],
      }:
      if hash == "" && sha256 == "" then
        throw "stub fetchurl ${name}: no hash"
      else
        drv name {
          inherit url passthru;
          outputHash = if hash != "" then hash else sha256;
        };
    symlinkJoin =
      {
        name,
        paths,
        ...
      }@args:
      drv name (removeAttrs args [ "name" ]);

    mkShell =
      {
        name ? "nix-shell",
        packages ? [ ],
        inputsFrom ? [ ],
        buildInputs ? [ ],
        nativeBuildInputs ? [ ],
        propagatedBuildInputs ? [ ],
        propagatedNativeBuildInputs ? [ ],
        ...
      }@attrs:
      mkDerivationWith hostPlatform (
        removeAttrs attrs [
          "packages"
          "inputsFrom"
        ]
        // {
          inherit name;
          nativeBuildInputs = packages ++ nativeBuildInputs;
          phases = [ "buildPhase" ];
        }
      )
      // {
        # Tests read what the shell was given.
        shellArgs = attrs;
      };

    dockerTools.streamLayeredImage =
      {
        name,
        tag ? null,
        fromImage ? null,
        contents ? [ ],
        config ? { },
        architecture ? hostPlatform.go.GOARCH or "amd64",
        created ? "1970-01-01T00:00:01Z",
        mtime ? "1970-01-01T00:00:01Z",
        uid ? 0,
        gid ? 0,
        uname ? "root",
        gname ? "root",
        maxLayers ? 100,
        extraCommands ? "",
        fakeRootCommands ? "",
        enableFakechroot ? false,
        includeStorePaths ? true,
        includeNixDB ? false,
        passthru ? { },
        meta ? { },
        layeringPipeline ? null,
        debug ? false,
      }@args:
      drv "stream-${name}" {
        passthru = passthru // {
          imageArgs = args;
          imageTag = tag;
        };
      };

    # crane's own tool (pkgs/crane-utils) is built with rustPlatform.
    rustPlatform.buildRustPackage = args: mkDerivationWith hostPlatform (removeAttrs args [ "cargoLock" ]);
    writableTmpDirAsHomeHook = drv "writable-tmp-dir-as-home-hook" { };

    # What rust-overlay's component sets use.
    path = ./nixpkgs;
    autoPatchelfHook = drv "auto-patchelf-hook" { };
    bintools = self.stdenv.cc.bintools;
    lndir = drv "lndir-1.0.5" { };
    gccForLibs = drv "gcc-14.3.0" {
      passthru = {
        lib = drv "gcc-14.3.0-lib" { };
        libgcc = drv "gcc-14.3.0-libgcc" { };
      };
    };
    bash = drv "bash-5.3" { };
    curl = drv "curl-8.15.0" { };
    makeWrapper = drv "make-wrapper-hook" { };
    # nixpkgs' own Rust (crane's scope replaces it with the toolchain).
    rustc = drv "rustc-1.88.0" { };
    cargo = drv "cargo-1.88.0" { };
    clippy = drv "clippy-1.88.0" { };
    rustfmt = drv "rustfmt-1.88.0" { };

    # Leaf packages kiln and crane name.
    cargo-zigbuild = drv "cargo-zigbuild-0.20.1" { };
    qemu = drv "qemu-10.0.2" { };
    python3 = drv "python3-3.13.5" { };
    unzip = drv "unzip-6.0" { };
    zstd = drv "zstd-1.5.7" { };
    rsync = drv "rsync-3.4.1" { };
    jq = drv "jq-1.8.0" { };
    gnutar = drv "gnutar-1.35" { };
    nixfmt = drv "nixfmt-1.0.1" { };
    cacert = drv "nss-cacert-3.114" { };
    tzdata = drv "tzdata-2025b" { };
    openssl = drv "openssl-3.5.1-${hostPlatform.config}" { };
    zlib = drv "zlib-1.3.1-${hostPlatform.config}" { };
    libiconv = drv "libiconv-109-${hostPlatform.config}" { };
    libsecret = drv "libsecret-0.21.7" { };
    # Only a glibc platform has a glibc.
    glibc =
      if hostPlatform.isGnu or (hostPlatform.libc == "glibc") then
        drv "glibc-2.40-${hostPlatform.config}" { }
      else
        throw "stub: glibc is not available on ${hostPlatform.config} (libc ${hostPlatform.libc})";

    # The cross package sets nixpkgs has: lib/systems/examples.nix, nothing else.
    pkgsCross = lib.mapAttrs (
      _: example:
      import ./pkgs.nix {
        inherit lib system;
        crossSystem = example;
      }
    ) lib.systems.examples;

    extend =
      overlay:
      import ./pkgs.nix {
        inherit lib system crossSystem;
        overlays = overlays ++ [ overlay ];
      };
  };
in
lib.fix (lib.foldl' (f: overlay: lib.extends overlay f) base overlays)
