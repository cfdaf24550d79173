# tests/nix/wiring.test.nix: how nix/ binds targets to linkers and derivations.
#
# Owns: cases for recipe.nix, cross-env.nix, cross-package.nix,
# cross-packages.nix, verify-checks.nix, checks.nix, devshell.nix and the
# scope in default.nix, evaluated with nixpkgs' REAL lib, the REAL crane
# (its buildPackage, buildDepsOnly, cargoTest ... turn kiln's arguments into
# the derivation) and the REAL rust-overlay, over the strict package-set
# stand-in of tests/nix/stub/pkgs.nix. They pin what each derivation is
# given (`drvAttrs`: what the builder gets, after crane), and `drvPath`
# instantiates a derivation with all its inputs; nothing is built.
{ upstream }:
let
  s = import ./stub/inputs.nix { inherit upstream; };
  inherit (s) lib;
  pkgsFor = system: s.pkgsFor { inherit system; };

  kilnFor =
    system:
    import ../../nix {
      pkgs = pkgsFor system;
      inherit (s) crane rust-overlay;
    };
  x86 = kilnFor "x86_64-linux";
  arm = kilnFor "aarch64-linux";
  mac = kilnFor "aarch64-darwin";

  envOf = k: target: (k.crossEnv { inherit target; }).env;
  argsOf = pkg: pkg.drvAttrs;

  template = ../../templates/default;
  userSet = x86.mkCrossPackages {
    src = template;
    targets = [
      "aarch64-gnu"
      "x86_64-unknown-linux-musl"
    ];
    glibcFloor = "2.28";
    buildInputs = p: [ p.openssl ];
  };
  shell = x86.devShell.shellArgs;
  zig = "/fake/kiln-zigcc-";
in
[
  {
    name = "cross-env: x86_64-gnu on x86_64-linux links with zig and keeps build scripts native";
    expr = envOf x86 "x86_64-gnu";
    expected = {
      CARGO_BUILD_TARGET = "x86_64-unknown-linux-gnu";
      CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER = "/fake/kiln-zigcc-x86_64-gnu/bin/kiln-zigcc-x86_64-gnu";
      CC_x86_64_unknown_linux_gnu = "/fake/kiln-zigcc-x86_64-gnu/bin/kiln-zigcc-x86_64-gnu";
      CXX_x86_64_unknown_linux_gnu = "/fake/kiln-zigcxx-x86_64-gnu/bin/kiln-zigcxx-x86_64-gnu";
      AR_x86_64_unknown_linux_gnu = "/fake/kiln-zigar-x86_64-gnu/bin/kiln-zigar-x86_64-gnu";
      HOST_CC = "/fake/gcc-wrapper/bin/cc";
      __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS = "nightly";
      CARGO_UNSTABLE_TARGET_APPLIES_TO_HOST = "true";
      CARGO_TARGET_APPLIES_TO_HOST = "false";
    };
  }
  {
    name = "cross-env: aarch64-gnu from x86_64-linux is a plain cross build";
    expr = envOf x86 "aarch64-gnu";
    expected = {
      CARGO_BUILD_TARGET = "aarch64-unknown-linux-gnu";
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER = "/fake/kiln-zigcc-aarch64-gnu/bin/kiln-zigcc-aarch64-gnu";
      CC_aarch64_unknown_linux_gnu = "/fake/kiln-zigcc-aarch64-gnu/bin/kiln-zigcc-aarch64-gnu";
      CXX_aarch64_unknown_linux_gnu = "/fake/kiln-zigcxx-aarch64-gnu/bin/kiln-zigcxx-aarch64-gnu";
      AR_aarch64_unknown_linux_gnu = "/fake/kiln-zigar-aarch64-gnu/bin/kiln-zigar-aarch64-gnu";
      HOST_CC = "/fake/gcc-wrapper/bin/cc";
      TARGET_CC = "/fake/kiln-zigcc-aarch64-gnu/bin/kiln-zigcc-aarch64-gnu";
      TARGET_CXX = "/fake/kiln-zigcxx-aarch64-gnu/bin/kiln-zigcxx-aarch64-gnu";
      TARGET_AR = "/fake/kiln-zigar-aarch64-gnu/bin/kiln-zigar-aarch64-gnu";
    };
  }
  {
    name = "issue14_musl_links_through_zig: aarch64-musl uses the zig wrappers, no cross GCC";
    expr = envOf x86 "aarch64-musl";
    expected = {
      CARGO_BUILD_TARGET = "aarch64-unknown-linux-musl";
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER = "/fake/kiln-zigcc-aarch64-musl/bin/kiln-zigcc-aarch64-musl";
      CC_aarch64_unknown_linux_musl = "/fake/kiln-zigcc-aarch64-musl/bin/kiln-zigcc-aarch64-musl";
      CXX_aarch64_unknown_linux_musl = "/fake/kiln-zigcxx-aarch64-musl/bin/kiln-zigcxx-aarch64-musl";
      AR_aarch64_unknown_linux_musl = "/fake/kiln-zigar-aarch64-musl/bin/kiln-zigar-aarch64-musl";
      HOST_CC = "/fake/gcc-wrapper/bin/cc";
      TARGET_CC = "/fake/kiln-zigcc-aarch64-musl/bin/kiln-zigcc-aarch64-musl";
      TARGET_CXX = "/fake/kiln-zigcxx-aarch64-musl/bin/kiln-zigcxx-aarch64-musl";
      TARGET_AR = "/fake/kiln-zigar-aarch64-musl/bin/kiln-zigar-aarch64-musl";
      CFLAGS_aarch64_unknown_linux_musl = "-mno-outline-atomics";
    };
  }
  {
    name = "issue14_musl_links_through_zig: every target's wrapper runs cargo-zigbuild's zig cc with its zig target";
    expr = map (t: (builtins.head (x86.crossEnv { target = t; }).packages).text) x86.targets.attrNames;
    expected = [
      "exec /fake/cargo-zigbuild-0.20.1/bin/cargo-zigbuild zig cc -- -g -fno-sanitize=all -target x86_64-linux-gnu.2.17 \"$@\"\n"
      "for a in \"$@\"; do\n  shift\n  if [ \"$a\" = -static-pie ]; then set -- \"$@\" -static -pie; else set -- \"$@\" \"$a\"; fi\ndone\nexec /fake/cargo-zigbuild-0.20.1/bin/cargo-zigbuild zig cc -- -g -fno-sanitize=all -target x86_64-linux-musl \"$@\"\n"
      "exec /fake/cargo-zigbuild-0.20.1/bin/cargo-zigbuild zig cc -- -g -fno-sanitize=all -target aarch64-linux-gnu.2.17 \"$@\"\n"
      "for a in \"$@\"; do\n  shift\n  if [ \"$a\" = -static-pie ]; then set -- \"$@\" -static -pie; else set -- \"$@\" \"$a\"; fi\ndone\nexec /fake/cargo-zigbuild-0.20.1/bin/cargo-zigbuild zig cc -- -g -fno-sanitize=all -target aarch64-linux-musl \"$@\"\n"
    ];
  }
  {
    name = "cross-env: the same-triple switch follows the build system (none on macOS)";
    expr = map (k: map (t: (envOf k t) ? CARGO_TARGET_APPLIES_TO_HOST) k.targets.attrNames) [
      x86
      arm
      mac
    ];
    expected = [
      [
        true
        false
        false
        false
      ]
      [
        false
        false
        true
        false
      ]
      [
        false
        false
        false
        false
      ]
    ];
  }
  {
    name = "issue14_qemu_runner_has_sysroot: a qemu runner only for foreign architectures, -L <glibc> for gnu";
    expr = map (k: map (t: (k.crossEnv { target = t; }).runner) k.targets.attrNames) [
      x86
      arm
      mac
    ];
    expected = [
      [
        null
        null
        "/fake/qemu-10.0.2/bin/qemu-aarch64 -L /fake/glibc-2.40-aarch64-unknown-linux-gnu"
        "/fake/qemu-10.0.2/bin/qemu-aarch64"
      ]
      [
        "/fake/qemu-10.0.2/bin/qemu-x86_64 -L /fake/glibc-2.40-x86_64-unknown-linux-gnu"
        "/fake/qemu-10.0.2/bin/qemu-x86_64"
        null
        null
      ]
      [
        null
        null
        null
        null
      ]
    ];
  }
  {
    name = "cross-env: the zig wrapper passes the floor to zig cc";
    expr = map (p: p.text or "") (x86.crossEnv { target = "aarch64-gnu"; glibcFloor = "2.31"; }).packages;
    expected = [
      "exec /fake/cargo-zigbuild-0.20.1/bin/cargo-zigbuild zig cc -- -g -fno-sanitize=all -target aarch64-linux-gnu.2.31 \"$@\"\n"
      "exec /fake/cargo-zigbuild-0.20.1/bin/cargo-zigbuild zig c++ -- -g -fno-sanitize=all -target aarch64-linux-gnu.2.31 \"$@\"\n"
      "exec /fake/cargo-zigbuild-0.20.1/bin/cargo-zigbuild zig ar -- \"$@\"\n"
      ""
    ];
  }
  {
    name = "cross-env: the zig cache goes to TMPDIR";
    expr = lib.hasInfix "export ZIG_GLOBAL_CACHE_DIR=\"$TMPDIR/" (x86.crossEnv { target = "x86_64-gnu"; }).preBuild;
    expected = true;
  }
  {
    name = "cross-package: release, locked, stripped by rustc, reproducible, no store reference (after crane)";
    expr =
      let
        a = argsOf x86.kilnPackages.x86_64-musl;
      in
      {
        inherit (a)
          pname
          version
          CARGO_PROFILE
          CARGO_PROFILE_RELEASE_STRIP
          allowedReferences
          SOURCE_DATE_EPOCH
          CARGO_INCREMENTAL
          dontStrip
          doCheck
          CARGO_BUILD_RUSTFLAGS
          NIX_NO_SELF_RPATH
          ;
        locked = lib.hasInfix "cargoWithProfile build --message-format json-render-diagnostics --locked" a.buildPhase;
        remaps = lib.hasInfix "--remap-path-prefix=$NIX_BUILD_TOP=/build" a.preBuild;
      };
    expected = {
      pname = "kiln-x86_64-musl";
      version = "0.1.0";
      CARGO_PROFILE = "release";
      CARGO_PROFILE_RELEASE_STRIP = "symbols";
      allowedReferences = [ ];
      SOURCE_DATE_EPOCH = "315532800";
      CARGO_INCREMENTAL = "0";
      dontStrip = true;
      doCheck = false;
      CARGO_BUILD_RUSTFLAGS = "-C target-feature=+crt-static";
      NIX_NO_SELF_RPATH = "1";
      locked = true;
      remaps = true;
    };
  }
  {
    name = "issue14_no_self_rpath: every cross package and its dependency cache set NIX_NO_SELF_RPATH";
    expr = map (t: [
      (argsOf x86.kilnPackages.${t}).NIX_NO_SELF_RPATH
      (argsOf x86.kilnPackages.${t}.cargoArtifacts).NIX_NO_SELF_RPATH
    ]) x86.targets.attrNames;
    expected = map (_: [
      "1"
      "1"
    ]) x86.targets.attrNames;
  }
  {
    name = "issue14_per_target_deps: each target has its own crane buildDepsOnly with the same cross environment";
    expr = map (
      t:
      let
        p = argsOf x86.kilnPackages.${t};
        d = argsOf x86.kilnPackages.${t}.cargoArtifacts;
      in
      {
        deps = d.name;
        sameLinker = d.CARGO_BUILD_TARGET == p.CARGO_BUILD_TARGET && d.HOST_CC == p.HOST_CC && d.CARGO_BUILD_RUSTFLAGS == p.CARGO_BUILD_RUSTFLAGS && d.preBuild == p.preBuild;
        depsOnly = d.CRANE_BUILD_DEPS_ONLY;
        noRefRule = d ? allowedReferences;
        depsCheck = d.doCheck;
      }
    ) [ "x86_64-gnu" "aarch64-musl" ];
    expected = [
      {
        deps = "kiln-x86_64-gnu-deps-0.1.0";
        sameLinker = true;
        depsOnly = 1;
        noRefRule = false;
        depsCheck = false;
      }
      {
        deps = "kiln-aarch64-musl-deps-0.1.0";
        sameLinker = true;
        depsOnly = 1;
        noRefRule = false;
        depsCheck = false;
      }
    ];
  }
  {
    name = "issue14_per_target_deps: editing only the crate's own source changes the crate's derivation, not its dependency cache";
    expr =
      let
        setOf =
          dir:
          x86.mkCrossPackages {
            src = lib.fileset.toSource {
              root = dir;
              fileset = dir;
            };
            targets = [
              "aarch64-musl"
              "x86_64-gnu"
            ];
            native = false;
            images = false;
          };
        before = setOf ./fixtures/chosen-crate;
        after = setOf ./fixtures/chosen-crate-edited;
      in
      map (t: {
        deps = before.${t}.cargoArtifacts.drvPath == after.${t}.cargoArtifacts.drvPath;
        crate = before.${t}.drvPath == after.${t}.drvPath;
      }) [ "aarch64-musl" "x86_64-gnu" ];
    expected = [
      {
        deps = true;
        crate = false;
      }
      {
        deps = true;
        crate = false;
      }
    ];
  }
  {
    name = "cross-package: meta and passthru of every kiln cross package";
    expr = map (
      a:
      let
        p = x86.kilnPackages.${a};
      in
      {
        inherit (p.meta) mainProgram;
        target = p.kilnTarget.triple;
        floor = p.kilnGlibcFloor;
      }
    ) x86.targets.attrNames;
    expected = [
      {
        mainProgram = "kiln";
        target = "x86_64-unknown-linux-gnu";
        floor = "2.17";
      }
      {
        mainProgram = "kiln";
        target = "x86_64-unknown-linux-musl";
        floor = null;
      }
      {
        mainProgram = "kiln";
        target = "aarch64-unknown-linux-gnu";
        floor = "2.17";
      }
      {
        mainProgram = "kiln";
        target = "aarch64-unknown-linux-musl";
        floor = null;
      }
    ];
  }
  {
    name = "cross-package: kiln's own arguments do not reach the derivation";
    expr = map (n: (argsOf userSet.aarch64-gnu) ? ${n}) [
      "target"
      "glibcFloor"
      "mainProgram"
      "sourceDateEpoch"
      "description"
    ];
    expected = [
      false
      false
      false
      false
      false
    ];
  }
  {
    name = "cross-packages: a user crate gets the selected targets plus default and the musl image";
    expr = builtins.attrNames userSet;
    expected = [
      "aarch64-gnu"
      "default"
      "image-x86_64-musl"
      "x86_64-musl"
    ];
  }
  {
    name = "cross-packages: names, floor and extra attributes of a user crate";
    expr = {
      pname = (argsOf userSet.aarch64-gnu).pname;
      main = userSet.aarch64-gnu.meta.mainProgram;
      floor = userSet.aarch64-gnu.kilnGlibcFloor;
      nativeMain = userSet.default.meta.mainProgram;
      nativeHasFloor = (argsOf userSet.default) ? glibcFloor;
    };
    expected = {
      pname = "hello-kiln-aarch64-gnu";
      main = "hello-kiln";
      floor = "2.28";
      nativeMain = "hello-kiln";
      nativeHasFloor = false;
    };
  }
  {
    name = "issue14_target_build_inputs: C libraries come from each target's own package set";
    expr = {
      aarch64-gnu = map (d: d.name) (argsOf userSet.aarch64-gnu).buildInputs;
      x86_64-musl = map (d: d.name) (argsOf userSet.x86_64-musl).buildInputs;
      deps = map (d: d.name) (argsOf userSet.aarch64-gnu.cargoArtifacts).buildInputs;
      native = map (d: d.name) (argsOf userSet.default).buildInputs;
    };
    expected = {
      aarch64-gnu = [ "openssl-3.5.1-aarch64-unknown-linux-gnu" ];
      x86_64-musl = [ "openssl-3.5.1-x86_64-unknown-linux-musl" ];
      deps = [ "openssl-3.5.1-aarch64-unknown-linux-gnu" ];
      native = [ "openssl-3.5.1-x86_64-unknown-linux-gnu" ];
    };
  }
  {
    name = "issue14_target_build_inputs: a list of (native) libraries is refused";
    expr = (x86.mkCrossPackages {
      src = template;
      buildInputs = [ (pkgsFor "x86_64-linux").openssl ];
    }).aarch64-gnu.drvPath;
    expectThrow = true;
  }
  {
    name = "cross-packages: native = false leaves default out";
    expr = builtins.attrNames (x86.mkCrossPackages {
      src = template;
      native = false;
    });
    expected = [
      "aarch64-gnu"
      "aarch64-musl"
      "image-aarch64-musl"
      "image-x86_64-musl"
      "x86_64-gnu"
      "x86_64-musl"
    ];
  }
  {
    name = "issue14_native_no_tests: the native package does not run the test suite (nixpkgs' doCheck)";
    expr = [
      (argsOf x86.kiln).doCheck
      (argsOf x86.kiln.cargoArtifacts).doCheck
      (argsOf userSet.default).doCheck
    ];
    expected = [
      false
      false
      false
    ];
  }
  {
    name = "verify-checks: kiln verify with the target, and the floor when it is not the table's";
    expr = builtins.mapAttrs (_: c: c.buildCommand) (
      x86.mkVerifyChecks {
        packages = userSet;
        verifier = x86.kiln;
      }
    );
    expected = {
      verify-aarch64-gnu = "/fake/kiln-0.1.0/bin/kiln verify /fake/hello-kiln-aarch64-gnu-0.1.0/bin/* --target aarch64-unknown-linux-gnu --glibc-max 2.28\ntouch \"$out\"\n";
      verify-x86_64-musl = "/fake/kiln-0.1.0/bin/kiln verify /fake/hello-kiln-x86_64-musl-0.1.0/bin/* --target x86_64-unknown-linux-musl\ntouch \"$out\"\n";
    };
  }
  {
    name = "checks: fmt, clippy with warnings denied, tests, and a verify check per target";
    expr = {
      names = builtins.attrNames x86.kilnChecks;
      clippy = lib.hasInfix "--all-targets -- --deny warnings" (argsOf x86.kilnChecks.clippy).buildPhase;
      testsLocked = lib.hasInfix "--locked --lib" (argsOf x86.kilnChecks.tests).checkPhase;
      reusesDeps = (argsOf x86.kilnChecks.clippy).cargoArtifacts == x86.kiln.cargoArtifacts;
    };
    expected = {
      names = [
        "clippy"
        "fmt"
        "tests"
        "verify-aarch64-gnu"
        "verify-aarch64-musl"
        "verify-x86_64-gnu"
        "verify-x86_64-musl"
      ];
      clippy = true;
      testsLocked = true;
      reusesDeps = true;
    };
  }
  {
    name = "issue14_tests_check_has_tools: checks.tests runs its tests and has python3, unzip and zstd";
    expr =
      let
        a = argsOf x86.kilnChecks.tests;
      in
      {
        runs = a.doCheck;
        tools = lib.unique (builtins.filter (n: builtins.elem n [ "python3-3.13.5" "unzip-6.0" "zstd-1.5.7" ]) (map (d: d.name) a.nativeBuildInputs));
      };
    expected = {
      runs = true;
      tools = [
        "python3-3.13.5"
        "unzip-6.0"
        "zstd-1.5.7"
      ];
    };
  }
  {
    name = "issue14_flake_check_instantiates: every package, check and shell instantiates on every build system";
    expr = map (
      k:
      map (d: builtins.isString d.drvPath) (
        builtins.attrValues k.kilnPackages ++ builtins.attrValues k.kilnChecks ++ [ k.devShell ]
      )
    ) [ x86 arm mac ];
    expected = map (_: map (_: true) (lib.range 1 15)) [ 1 2 3 ];
  }
  {
    name = "devshell: toolchain, qemu, qemu-<arch>-static, zig wrappers and kiln in the shell";
    expr = map (p: p.name) shell.packages;
    expected = [
      "rust-minimal-1.95.0"
      "qemu-10.0.2"
      "qemu-aarch64-static"
      "kiln-zigcc-x86_64-gnu"
      "kiln-zigcxx-x86_64-gnu"
      "kiln-zigar-x86_64-gnu"
      "cargo-zigbuild-0.20.1"
      "kiln-zigcc-x86_64-musl"
      "kiln-zigcxx-x86_64-musl"
      "kiln-zigar-x86_64-musl"
      "cargo-zigbuild-0.20.1"
      "kiln-zigcc-aarch64-gnu"
      "kiln-zigcxx-aarch64-gnu"
      "kiln-zigar-aarch64-gnu"
      "cargo-zigbuild-0.20.1"
      "kiln-zigcc-aarch64-musl"
      "kiln-zigcxx-aarch64-musl"
      "kiln-zigar-aarch64-musl"
      "cargo-zigbuild-0.20.1"
      "kiln-0.1.0"
    ];
  }
  {
    name = "issue14_qemu_static_names: qemu-aarch64-static runs qemu-aarch64 with the aarch64 glibc as loader prefix";
    expr = (builtins.elemAt shell.packages 2).text;
    expected = "export QEMU_LD_PREFIX=\"\${QEMU_LD_PREFIX:-/fake/glibc-2.40-aarch64-unknown-linux-gnu}\"\nexec /fake/qemu-10.0.2/bin/qemu-aarch64 \"$@\"\n";
  }
  {
    name = "devshell: on macOS no qemu (no user-mode emulation there), the zig wrappers for all four targets";
    expr = builtins.filter (n: lib.hasPrefix "qemu" n || lib.hasPrefix "kiln-zigcc" n) (map (p: p.name) mac.devShell.shellArgs.packages);
    expected = [
      "kiln-zigcc-x86_64-gnu"
      "kiln-zigcc-x86_64-musl"
      "kiln-zigcc-aarch64-gnu"
      "kiln-zigcc-aarch64-musl"
    ];
  }
  {
    name = "devshell: linkers and runners for the other targets, native cargo for the host triple";
    expr = map (v: shell ? ${v}) [
      "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER"
      "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER"
      "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"
      "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER"
      "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER"
      "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUNNER"
      "CARGO_BUILD_TARGET"
    ];
    expected = [
      false
      true
      true
      true
      true
      false
      false
    ];
  }
  {
    name = "devshell: the shell hook prints the banner";
    expr = shell.shellHook == "cat <<'KILN_BANNER'\n${x86.banner { buildSystem = "x86_64-linux"; }}KILN_BANNER\n";
    expected = true;
  }
  {
    name = "scope: the toolchain is rust-overlay's, from rust-toolchain.toml";
    expr = x86.toolchain.name;
    expected = "rust-minimal-1.95.0";
  }
  {
    name = "source: kiln's crate sees Cargo files, src/, the target table, the hermetic pins init reads and templates/, not tests/nix or the flake (real lib.fileset)";
    expr =
      let
        files = map toString (lib.fileset.toList (import ../../nix/source.nix { inherit lib; }).fileset);
        has = p: builtins.elem (toString p) files;
      in
      {
        required = map has [
          ../../Cargo.toml
          ../../Cargo.lock
          ../../src/main.rs
          ../../nix/targets.json
          ../../nix/hermetic/debian.json
          ../../nix/hermetic/crates.nix
          ../../templates/default/flake.nix
          ../../templates/hermetic/flake.nix
        ];
        flake = has ../../flake.nix;
        nixTests = builtins.any (lib.hasPrefix (toString ../../tests/nix)) files;
      };
    expected = {
      required = [
        true
        true
        true
        true
        true
        true
        true
        true
      ];
      flake = false;
      nixTests = false;
    };
  }
  {
    name = "scope: without rust-bin or rust-overlay the library says what is missing";
    expr = (import ../../nix {
      pkgs = pkgsFor "x86_64-linux";
      inherit (s) crane;
    }).toolchain;
    expectThrow = true;
  }
  {
    name = "targets.json: every nixpkgs_cross is a name of the real lib.systems.examples whose config is the target's triple";
    expr = map (t: (lib.systems.elaborate lib.systems.examples.${t.nixpkgs_cross}).config) x86.targets.all;
    expected = x86.targets.triples;
  }
  {
    name = "stub: pkgsCross has only nixpkgs' lib/systems/examples.nix names";
    expr = (pkgsFor "x86_64-linux").pkgsCross.aarch64-musl-nonexistent or "missing";
    expected = "missing";
  }
  {
    name = "stub: a musl package set has no glibc";
    expr = (pkgsFor "x86_64-linux").pkgsCross.musl64.glibc.drvPath;
    expectThrow = true;
  }
  {
    name = "stub: mkDerivation refuses an attribute set it cannot pass to the builder";
    expr = ((pkgsFor "x86_64-linux").stdenv.mkDerivation {
      name = "x";
      bad = { a = 1; };
    }).drvPath;
    expectThrow = true;
  }
  {
    name = "stub: mkDerivation runs the check phase only when asked and the build platform can run the host's code";
    expr = map (p: (p.stdenv.mkDerivation { name = "x"; doCheck = true; }).doCheck) [
      (pkgsFor "x86_64-linux")
      (pkgsFor "x86_64-linux").pkgsCross.aarch64-multiplatform
    ] ++ [ ((pkgsFor "x86_64-linux").stdenv.mkDerivation { name = "x"; }).doCheck ];
    expected = [
      true
      false
      false
    ];
  }
]
