# tests/nix/targets-table.test.nix: the Nix view of nix/targets.json.
#
# Owns: the expectations on the shared table as Nix reads it: four targets,
# their attribute names, systems, libc, loaders and glibc floors. A change
# to targets.json that the flake does not expect fails here first.
let
  targets = import ../../nix/targets.nix { };

  # The fields the flake builds on, per target, as they must read.
  view = t: {
    inherit (t)
      attr
      system
      arch
      libc
      linkage
      interpreter
      glibc_floor
      e_machine
      zig_target
      nixpkgs_cross
      ;
  };
in
[
  {
    name = "schema, default floor and build systems";
    expr = {
      inherit (targets) buildSystems defaultGlibcFloor;
      schema = targets.table.schema;
    };
    expected = {
      schema = 1;
      defaultGlibcFloor = "2.17";
      buildSystems = [
        "x86_64-linux"
        "aarch64-linux"
        "aarch64-darwin"
        "x86_64-darwin"
      ];
    };
  }
  {
    name = "the table is consistent";
    expr = targets.problems;
    expected = [ ];
  }
  {
    name = "four targets, in table order";
    expr = targets.triples;
    expected = [
      "x86_64-unknown-linux-gnu"
      "x86_64-unknown-linux-musl"
      "aarch64-unknown-linux-gnu"
      "aarch64-unknown-linux-musl"
    ];
  }
  {
    name = "attribute names";
    expr = targets.attrNames;
    expected = [
      "x86_64-gnu"
      "x86_64-musl"
      "aarch64-gnu"
      "aarch64-musl"
    ];
  }
  {
    name = "x86_64-unknown-linux-gnu as the flake needs it";
    expr = view targets.byTriple.x86_64-unknown-linux-gnu;
    expected = {
      attr = "x86_64-gnu";
      system = "x86_64-linux";
      arch = "x86_64";
      libc = "gnu";
      linkage = "dynamic";
      interpreter = "/lib64/ld-linux-x86-64.so.2";
      glibc_floor = "2.17";
      e_machine = 62;
      zig_target = "x86_64-linux-gnu";
      nixpkgs_cross = "gnu64";
    };
  }
  {
    name = "x86_64-unknown-linux-musl as the flake needs it";
    expr = view targets.byTriple.x86_64-unknown-linux-musl;
    expected = {
      attr = "x86_64-musl";
      system = "x86_64-linux";
      arch = "x86_64";
      libc = "musl";
      linkage = "static";
      interpreter = null;
      glibc_floor = null;
      e_machine = 62;
      zig_target = "x86_64-linux-musl";
      nixpkgs_cross = "musl64";
    };
  }
  {
    name = "aarch64-unknown-linux-gnu as the flake needs it";
    expr = view targets.byTriple.aarch64-unknown-linux-gnu;
    expected = {
      attr = "aarch64-gnu";
      system = "aarch64-linux";
      arch = "aarch64";
      libc = "gnu";
      linkage = "dynamic";
      interpreter = "/lib/ld-linux-aarch64.so.1";
      glibc_floor = "2.17";
      e_machine = 183;
      zig_target = "aarch64-linux-gnu";
      nixpkgs_cross = "aarch64-multiplatform";
    };
  }
  {
    name = "aarch64-unknown-linux-musl as the flake needs it";
    expr = view targets.byTriple.aarch64-unknown-linux-musl;
    expected = {
      attr = "aarch64-musl";
      system = "aarch64-linux";
      arch = "aarch64";
      libc = "musl";
      linkage = "static";
      interpreter = null;
      glibc_floor = null;
      e_machine = 183;
      zig_target = "aarch64-linux-musl";
      nixpkgs_cross = "aarch64-multiplatform-musl";
    };
  }
  {
    name = "every gnu floor is the default floor";
    expr = map (t: t.glibc_floor) (builtins.filter (t: t.libc == "gnu") targets.all);
    expected = [
      targets.defaultGlibcFloor
      targets.defaultGlibcFloor
    ];
  }
  {
    name = "byAttr and byTriple index the same records";
    expr = map (a: targets.byAttr.${a}.triple) targets.attrNames;
    expected = targets.triples;
  }
]
