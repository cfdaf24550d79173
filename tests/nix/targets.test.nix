# tests/nix/targets.test.nix: the pure naming rules of nix/targets.nix.
#
# Owns: cases for every function that maps a target to a name or a choice
# (env vars, zig strings, linkers, cross or native, lookups), evaluated
# without nixpkgs.
let
  targets = import ../../nix/targets.nix { };
  inherit (targets) lookup;

  # A copy of the real table with one record changed, for the validation cases.
  withFirst =
    change:
    import ../../nix/targets.nix {
      table =
        let
          real = targets.table;
        in
        real // { targets = [ (change (builtins.head real.targets)) ] ++ builtins.tail real.targets; };
    };

  crossMatrix = map (
    system: map (t: targets.needsCross system t) targets.attrNames
  ) targets.buildSystems;
in
[
  {
    name = "cargoEnvVar from a triple";
    expr = targets.cargoEnvVar "aarch64-unknown-linux-gnu";
    expected = "AARCH64_UNKNOWN_LINUX_GNU";
  }
  {
    name = "cargoEnvVar from an attribute name";
    expr = targets.cargoEnvVar "x86_64-musl";
    expected = "X86_64_UNKNOWN_LINUX_MUSL";
  }
  {
    name = "cargoEnvVar from a record";
    expr = targets.cargoEnvVar (lookup "aarch64-musl");
    expected = "AARCH64_UNKNOWN_LINUX_MUSL";
  }
  {
    name = "ccEnvVar is lower case with underscores";
    expr = targets.ccEnvVar "aarch64-unknown-linux-musl";
    expected = "aarch64_unknown_linux_musl";
  }
  {
    name = "envNames for x86_64-gnu";
    expr = targets.envNames "x86_64-gnu";
    expected = {
      linker = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER";
      runner = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER";
      cc = "CC_x86_64_unknown_linux_gnu";
      cxx = "CXX_x86_64_unknown_linux_gnu";
      ar = "AR_x86_64_unknown_linux_gnu";
      cflags = "CFLAGS_x86_64_unknown_linux_gnu";
    };
  }
  {
    name = "zigTarget carries the glibc floor for gnu";
    expr = map targets.zigTarget [
      "x86_64-gnu"
      "aarch64-unknown-linux-gnu"
    ];
    expected = [
      "x86_64-linux-gnu.2.17"
      "aarch64-linux-gnu.2.17"
    ];
  }
  {
    name = "zigTarget has no floor for musl";
    expr = map targets.zigTarget [
      "x86_64-unknown-linux-musl"
      "aarch64-musl"
    ];
    expected = [
      "x86_64-linux-musl"
      "aarch64-linux-musl"
    ];
  }
  {
    name = "zigTargetWithFloor overrides the floor of gnu only";
    expr = map (targets.zigTargetWithFloor "2.28") [
      "x86_64-gnu"
      "x86_64-musl"
    ];
    expected = [
      "x86_64-linux-gnu.2.28"
      "x86_64-linux-musl"
    ];
  }
  {
    name = "lookup by triple and by attribute name give the same record";
    expr = lookup "aarch64-unknown-linux-musl" == lookup "aarch64-musl";
    expected = true;
  }
  {
    name = "lookup returns the record itself when given one";
    expr = (lookup (lookup "x86_64-gnu")).triple;
    expected = "x86_64-unknown-linux-gnu";
  }
  {
    name = "lookup of an unknown target throws";
    expr = lookup "riscv64-unknown-linux-gnu";
    expectThrow = true;
  }
  {
    name = "lookup of a non-string throws";
    expr = lookup 42;
    expectThrow = true;
  }
  {
    name = "select keeps the order and mixes triples and names";
    expr = map (t: t.attr) (
      targets.select [
        "aarch64-unknown-linux-gnu"
        "x86_64-musl"
      ]
    );
    expected = [
      "aarch64-gnu"
      "x86_64-musl"
    ];
  }
  {
    name = "hostTriple of each build system";
    expr = map targets.hostTriple targets.buildSystems;
    expected = [
      "x86_64-unknown-linux-gnu"
      "aarch64-unknown-linux-gnu"
      "aarch64-apple-darwin"
      "x86_64-apple-darwin"
    ];
  }
  {
    name = "hostTriple of an unknown system throws";
    expr = targets.hostTriple "riscv64-linux";
    expectThrow = true;
  }
  {
    # rows: build systems (x86_64-linux, aarch64-linux, aarch64-darwin,
    # x86_64-darwin); columns: the four targets. macOS builds every Linux target cross.
    name = "issue14_darwin_build_systems: needsCross for every build system and target";
    expr = crossMatrix;
    expected = [
      [
        false
        false
        true
        true
      ]
      [
        true
        true
        false
        false
      ]
      [
        true
        true
        true
        true
      ]
      [
        true
        true
        true
        true
      ]
    ];
  }
  {
    name = "needsCross on an unsupported build system throws";
    expr = targets.needsCross "riscv64-linux" "x86_64-gnu";
    expectThrow = true;
  }
  {
    name = "issue14_darwin_build_systems: qemu-user emulation on Linux build systems only";
    expr = map targets.canEmulate targets.buildSystems;
    expected = [
      true
      true
      false
      false
    ];
  }
  {
    name = "sharesHostTriple only for the host's own gnu triple";
    expr = map (system: builtins.filter (t: targets.sharesHostTriple system t) targets.attrNames) targets.buildSystems;
    expected = [
      [ "x86_64-gnu" ]
      [ "aarch64-gnu" ]
      [ ]
      [ ]
    ];
  }
  {
    name = "issue14_musl_links_through_zig: linker names are the zig wrappers for gnu and musl";
    expr = map targets.linkerName targets.attrNames;
    expected = [
      "kiln-zigcc-x86_64-gnu"
      "kiln-zigcc-x86_64-musl"
      "kiln-zigcc-aarch64-gnu"
      "kiln-zigcc-aarch64-musl"
    ];
  }
  {
    name = "c++ and ar names follow the linker";
    expr = [
      (targets.cxxName "aarch64-gnu")
      (targets.arName "aarch64-gnu")
      (targets.cxxName "x86_64-musl")
      (targets.arName "x86_64-musl")
    ];
    expected = [
      "kiln-zigcxx-aarch64-gnu"
      "kiln-zigar-aarch64-gnu"
      "kiln-zigcxx-x86_64-musl"
      "kiln-zigar-x86_64-musl"
    ];
  }
  {
    name = "qemu user binary per architecture";
    expr = map targets.qemuBinary targets.attrNames;
    expected = [
      "qemu-x86_64"
      "qemu-x86_64"
      "qemu-aarch64"
      "qemu-aarch64"
    ];
  }
  {
    name = "rustflags: crt-static for musl, nothing for gnu";
    expr = map targets.rustflags targets.attrNames;
    expected = [
      [ ]
      [
        "-C"
        "target-feature=+crt-static"
      ]
      [ ]
      [
        "-C"
        "target-feature=+crt-static"
      ]
    ];
  }
  {
    name = "cflags: no outline atomics for aarch64 musl only";
    expr = map targets.cflags targets.attrNames;
    expected = [
      [ ]
      [ ]
      [ ]
      [ "-mno-outline-atomics" ]
    ];
  }
  {
    name = "isGnu and isMusl";
    expr = map (t: [
      (targets.isGnu t)
      (targets.isMusl t)
    ]) targets.attrNames;
    expected = [
      [
        true
        false
      ]
      [
        false
        true
      ]
      [
        true
        false
      ]
      [
        false
        true
      ]
    ];
  }
  {
    name = "packageAttrs are the four targets plus default";
    expr = targets.packageAttrs;
    expected = [
      "x86_64-gnu"
      "x86_64-musl"
      "aarch64-gnu"
      "aarch64-musl"
      "default"
    ];
  }
  {
    name = "validation: a gnu target without a floor is reported";
    expr = (withFirst (t: t // { glibc_floor = null; })).problems;
    expected = [ "target x86_64-unknown-linux-gnu: a gnu target needs an interpreter and a glibc_floor" ];
  }
  {
    name = "validation: a missing field is reported";
    expr = (withFirst (t: removeAttrs t [ "zig_target" ])).problems;
    expected = [ "target x86_64-unknown-linux-gnu: missing field(s) zig_target" ];
  }
  {
    name = "validation: a duplicate attribute name is reported";
    expr = (withFirst (t: t // { attr = "aarch64-musl"; })).problems;
    expected = [ "targets.json: duplicate attr" ];
  }
  {
    name = "validation: an inconsistent table makes lookups throw";
    expr = (withFirst (t: t // { libc = "uclibc"; })).lookup "x86_64-musl";
    expectThrow = true;
  }
]
