# tests/nix/wiring.test.nix: how nix/ binds targets to linkers and derivations.
#
# Owns: cases for cross-env.nix, cross-package.nix, cross-packages.nix,
# verify-checks.nix, checks.nix, devshell.nix and the scope in default.nix,
# evaluated against the stand-ins in tests/nix/fake/ (nixpkgs cannot be
# fetched here). They pin the variables, arguments and guards each
# derivation is given; they do not build anything.
let
  fake = import ./fake/inputs.nix;
  lib = import ./fake/lib.nix;
  pkgsFor = system: import ./fake/pkgs.nix { inherit system; };

  kilnFor =
    system:
    import ../../nix {
      pkgs = pkgsFor system;
      inherit (fake) crane rust-overlay;
    };
  x86 = kilnFor "x86_64-linux";
  arm = kilnFor "aarch64-linux";

  envOf = k: target: (k.crossEnv { inherit target; }).env;
  argsOf = pkg: pkg.craneArgs;

  template = ../../templates/default;
  userSet = x86.mkCrossPackages {
    src = template;
    targets = [
      "aarch64-gnu"
      "x86_64-unknown-linux-musl"
    ];
    glibcFloor = "2.28";
    buildInputs = [ "some-library" ];
  };
  shell = x86.devShell.shellArgs;
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
      HOST_CC = "/fake/cc/bin/cc";
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
      HOST_CC = "/fake/cc/bin/cc";
      TARGET_CC = "/fake/kiln-zigcc-aarch64-gnu/bin/kiln-zigcc-aarch64-gnu";
      TARGET_CXX = "/fake/kiln-zigcxx-aarch64-gnu/bin/kiln-zigcxx-aarch64-gnu";
      TARGET_AR = "/fake/kiln-zigar-aarch64-gnu/bin/kiln-zigar-aarch64-gnu";
    };
  }
  {
    name = "cross-env: aarch64-musl uses the nixpkgs musl cross cc, no outline atomics, no rpath";
    expr = envOf x86 "aarch64-musl";
    expected = {
      CARGO_BUILD_TARGET = "aarch64-unknown-linux-musl";
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER = "/fake/aarch64-multiplatform-musl-cc/bin/aarch64-unknown-linux-musl-cc";
      CC_aarch64_unknown_linux_musl = "/fake/aarch64-multiplatform-musl-cc/bin/aarch64-unknown-linux-musl-cc";
      CXX_aarch64_unknown_linux_musl = "/fake/aarch64-multiplatform-musl-cc/bin/aarch64-unknown-linux-musl-c++";
      AR_aarch64_unknown_linux_musl = "/fake/aarch64-multiplatform-musl-bintools/bin/aarch64-unknown-linux-musl-ar";
      HOST_CC = "/fake/cc/bin/cc";
      TARGET_CC = "/fake/aarch64-multiplatform-musl-cc/bin/aarch64-unknown-linux-musl-cc";
      TARGET_CXX = "/fake/aarch64-multiplatform-musl-cc/bin/aarch64-unknown-linux-musl-c++";
      TARGET_AR = "/fake/aarch64-multiplatform-musl-bintools/bin/aarch64-unknown-linux-musl-ar";
      CFLAGS_aarch64_unknown_linux_musl = "-mno-outline-atomics";
      NIX_DONT_SET_RPATH_aarch64_unknown_linux_musl = "1";
    };
  }
  {
    name = "cross-env: the same-triple switch follows the build system";
    expr = map (k: map (t: (envOf k t) ? CARGO_TARGET_APPLIES_TO_HOST) k.targets.attrNames) [
      x86
      arm
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
    ];
  }
  {
    name = "cross-env: a qemu runner only for foreign architectures";
    expr = map (k: map (t: (k.crossEnv { target = t; }).runner) k.targets.attrNames) [
      x86
      arm
    ];
    expected = [
      [
        null
        null
        "/fake/qemu/bin/qemu-aarch64"
        "/fake/qemu/bin/qemu-aarch64"
      ]
      [
        "/fake/qemu/bin/qemu-x86_64"
        "/fake/qemu/bin/qemu-x86_64"
        null
        null
      ]
    ];
  }
  {
    name = "cross-env: the zig wrapper passes the floor to zig cc";
    expr = map (p: p.text or "") (x86.crossEnv { target = "aarch64-gnu"; glibcFloor = "2.31"; }).packages;
    expected = [
      "exec /fake/cargo-zigbuild/bin/cargo-zigbuild zig cc -- -g '-fno-sanitize=all' -target aarch64-linux-gnu.2.31 \"$@\"\n"
      "exec /fake/cargo-zigbuild/bin/cargo-zigbuild zig c++ -- -g '-fno-sanitize=all' -target aarch64-linux-gnu.2.31 \"$@\"\n"
      "exec /fake/cargo-zigbuild/bin/cargo-zigbuild zig ar -- \"$@\"\n"
      ""
    ];
  }
  {
    name = "cross-env: the zig cache goes to TMPDIR";
    expr = lib.hasInfix "export ZIG_GLOBAL_CACHE_DIR=\"$TMPDIR/" (x86.crossEnv { target = "x86_64-gnu"; }).preBuild;
    expected = true;
  }
  {
    name = "cross-package: release, locked, stripped by rustc, reproducible, no store reference";
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
          cargoExtraArgs
          allowedReferences
          SOURCE_DATE_EPOCH
          CARGO_INCREMENTAL
          dontStrip
          doCheck
          cargoArtifacts
          CARGO_BUILD_RUSTFLAGS
          ;
        remaps = lib.hasInfix "--remap-path-prefix=$NIX_BUILD_TOP=/build" a.preBuild;
      };
    expected = {
      pname = "kiln-x86_64-musl";
      version = "0.1.0";
      CARGO_PROFILE = "release";
      CARGO_PROFILE_RELEASE_STRIP = "symbols";
      cargoExtraArgs = "--locked";
      allowedReferences = [ ];
      SOURCE_DATE_EPOCH = "315532800";
      CARGO_INCREMENTAL = "0";
      dontStrip = true;
      doCheck = false;
      cargoArtifacts = null;
      CARGO_BUILD_RUSTFLAGS = "-C target-feature=+crt-static";
      remaps = true;
    };
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
      buildInputs = (argsOf userSet.x86_64-musl).buildInputs;
      nativeMain = userSet.default.meta.mainProgram;
      nativeHasFloor = (argsOf userSet.default) ? glibcFloor;
    };
    expected = {
      pname = "hello-kiln-aarch64-gnu";
      main = "hello-kiln";
      floor = "2.28";
      buildInputs = [ "some-library" ];
      nativeMain = "hello-kiln";
      nativeHasFloor = false;
    };
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
    name = "verify-checks: kiln verify with the target, and the floor when it is not the table's";
    expr = builtins.mapAttrs (_: c: c.script) (
      x86.mkVerifyChecks {
        packages = userSet;
        verifier = x86.kiln;
      }
    );
    expected = {
      verify-aarch64-gnu = "/fake/kiln-package/bin/kiln verify /fake/hello-kiln-aarch64-gnu-package/bin/* --target aarch64-unknown-linux-gnu --glibc-max 2.28\ntouch \"$out\"\n";
      verify-x86_64-musl = "/fake/kiln-package/bin/kiln verify /fake/hello-kiln-x86_64-musl-package/bin/* --target x86_64-unknown-linux-musl\ntouch \"$out\"\n";
    };
  }
  {
    name = "checks: fmt, clippy with warnings denied, tests, and a verify check per target";
    expr = {
      names = builtins.attrNames x86.kilnChecks;
      clippy = (argsOf x86.kilnChecks.clippy).cargoClippyExtraArgs;
      testsLocked = (argsOf x86.kilnChecks.tests).cargoExtraArgs;
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
      clippy = "--all-targets -- --deny warnings";
      testsLocked = "--locked";
      reusesDeps = true;
    };
  }
  {
    name = "devshell: toolchain, qemu, linkers and kiln in the shell";
    expr = map (p: p.name) shell.packages;
    expected = [
      "rust-toolchain"
      "qemu"
      "kiln-zigcc-x86_64-gnu"
      "kiln-zigcxx-x86_64-gnu"
      "kiln-zigar-x86_64-gnu"
      "cargo-zigbuild"
      "musl64-cc"
      "kiln-zigcc-aarch64-gnu"
      "kiln-zigcxx-aarch64-gnu"
      "kiln-zigar-aarch64-gnu"
      "cargo-zigbuild"
      "aarch64-multiplatform-musl-cc"
      "kiln-package"
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
    name = "scope: the toolchain comes from rust-toolchain.toml";
    expr = x86.toolchain.file;
    expected = ../../rust-toolchain.toml;
  }
  {
    name = "source: kiln's crate sees Cargo files, src/ and the target table, not tests/nix";
    expr =
      let
        recorded = import ../../nix/source.nix {
          lib = lib // {
            fileset = lib.fileset // {
              toSource = args: args;
            };
          };
        };
        included = recorded.fileset.keep.unions;
      in
      {
        root = recorded.root;
        required = map (p: builtins.elem p included) [
          ../../Cargo.toml
          ../../Cargo.lock
          ../../src
          ../../nix/targets.json
        ];
        flakeExcluded = builtins.elem ../../flake.nix included;
        nixTestsDropped = recorded.fileset.drop == ../../tests/nix;
      };
    expected = {
      root = ../..;
      required = [
        true
        true
        true
        true
      ];
      flakeExcluded = false;
      nixTestsDropped = true;
    };
  }
  {
    name = "scope: without rust-bin or rust-overlay the library says what is missing";
    expr = (import ../../nix {
      pkgs = pkgsFor "x86_64-linux";
      inherit (fake) crane;
    }).toolchain;
    expectThrow = true;
  }
]
