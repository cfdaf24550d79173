# tests/nix/flake-outputs.test.nix: the shape of the flake's outputs and of the template.
#
# Owns: that flake.nix exposes what the issue promises (packages per build
# system with the four targets and default, checks, devShells, apps with a
# description, overlays, formatter, lib, templates) and that the template's
# flake uses kiln.lib, the crate's rust-toolchain.toml and its targets. The
# outputs function is called with the inputs of tests/nix/stub/inputs.nix
# (the real lib, crane and rust-overlay; a strict stand-in for nixpkgs'
# package set), so nothing is fetched or built.
{ upstream }:
let
  stub = import ./stub/inputs.nix { inherit upstream; };
  inherit (stub) lib;

  outputs = (import ../../flake.nix).outputs {
    inherit (stub) nixpkgs crane rust-overlay;
    self = outputs;
  };
  systems = [
    "x86_64-linux"
    "aarch64-linux"
    "aarch64-darwin"
    "x86_64-darwin"
  ];
  stubPkgs = stub.pkgsFor { system = "x86_64-linux"; };
  perSystem = f: map f systems;

  templateDir = outputs.templates.default.path;
  templateOutputs = (import (templateDir + "/flake.nix")).outputs {
    self = templateOutputs;
    inherit (stub) nixpkgs;
    kiln = outputs;
  };

  # A crate that chose two targets and has its own toolchain file (what
  # `kiln init` leaves in a crate), with the template's flake.nix (a copy,
  # checked below to be the template's byte for byte).
  chosenDir = ./fixtures/chosen-crate;
  chosenOutputs = (import (chosenDir + "/flake.nix")).outputs {
    self = chosenOutputs;
    inherit (stub) nixpkgs;
    kiln = outputs;
  };
  templateInputs = (import (templateDir + "/flake.nix")).inputs;
in
[
  {
    name = "top-level outputs";
    expr = builtins.attrNames outputs;
    expected = [
      "apps"
      "checks"
      "devShells"
      "formatter"
      "lib"
      "overlays"
      "packages"
      "templates"
    ];
  }
  {
    name = "packages: the four targets, default and the musl images on each build system";
    expr = perSystem (s: builtins.attrNames outputs.packages.${s});
    expected = map (_: [
      "aarch64-gnu"
      "aarch64-musl"
      "default"
      "image-aarch64-musl"
      "image-x86_64-musl"
      "x86_64-gnu"
      "x86_64-musl"
    ]) systems;
  }
  {
    name = "packages: every output is a derivation";
    expr = perSystem (s: builtins.all (p: p.type or null == "derivation") (builtins.attrValues outputs.packages.${s}));
    expected = map (_: true) systems;
  }
  {
    name = "packages: each cross package is built on the system that exposes it";
    expr = perSystem (
      s: (outputs.packages.${s}.aarch64-gnu.drvAttrs.HOST_CC == "/fake/${if lib.hasSuffix "darwin" s then "clang" else "gcc"}-wrapper/bin/cc") && (outputs.packages.${s}.aarch64-gnu.drvAttrs ? CARGO_TARGET_APPLIES_TO_HOST == (s == "aarch64-linux"))
    );
    expected = map (_: true) systems;
  }
  {
    name = "issue14_flake_check_instantiates: every package, check, shell and app of the flake instantiates on each build system";
    expr = perSystem (
      s:
      builtins.all builtins.isString (
        map (d: d.drvPath) (
          builtins.attrValues outputs.packages.${s}
          ++ builtins.attrValues outputs.checks.${s}
          ++ builtins.attrValues outputs.devShells.${s}
          ++ [ outputs.formatter.${s} ]
        )
        ++ [ outputs.apps.${s}.default.program ]
      )
    );
    expected = map (_: true) systems;
  }
  {
    name = "checks on each build system";
    expr = perSystem (s: builtins.attrNames outputs.checks.${s});
    expected = map (_: [
      "clippy"
      "fmt"
      "tests"
      "verify-aarch64-gnu"
      "verify-aarch64-musl"
      "verify-x86_64-gnu"
      "verify-x86_64-musl"
    ]) systems;
  }
  {
    name = "apps.default runs kiln and has a description";
    expr = outputs.apps.x86_64-linux.default;
    expected = {
      type = "app";
      program = "/fake/kiln-0.1.0/bin/kiln";
      meta.description = "kiln: build, verify and export release binaries of a Rust crate";
    };
  }
  {
    name = "devShells.default and formatter on each build system";
    expr = perSystem (s: [
      outputs.devShells.${s}.default.name
      outputs.formatter.${s}.name
    ]);
    expected = map (_: [
      "nix-shell"
      "nixfmt-1.0.1"
    ]) systems;
  }
  {
    name = "overlays.default is final: prev: and adds kiln";
    expr =
      let
        pkgs = stubPkgs.extend outputs.overlays.default;
      in
      {
        args = builtins.functionArgs outputs.overlays.default == { };
        adds = builtins.attrNames (outputs.overlays.default pkgs pkgs);
        kiln = (outputs.overlays.default pkgs pkgs).kiln.meta.mainProgram;
      };
    expected = {
      args = true;
      adds = [ "kiln" ];
      kiln = "kiln";
    };
  }
  {
    name = "lib exposes the builder, the image, the verify checks and the target table";
    expr = {
      names = builtins.attrNames outputs.lib;
      triples = outputs.lib.targets.triples;
    };
    expected = {
      names = [
        "mkCrossPackages"
        "mkImage"
        "mkKilnLib"
        "mkVerifyChecks"
        "targets"
      ];
      triples = [
        "x86_64-unknown-linux-gnu"
        "x86_64-unknown-linux-musl"
        "aarch64-unknown-linux-gnu"
        "aarch64-unknown-linux-musl"
      ];
    };
  }
  {
    name = "lib.mkImage makes the image of a user's musl package";
    expr =
      let
        pkgs = stubPkgs;
        set = outputs.lib.mkCrossPackages {
          inherit pkgs;
          src = templateDir;
        };
      in
      (outputs.lib.mkImage {
        inherit pkgs;
        package = set.aarch64-musl;
      }).imageArgs.architecture;
    expected = "arm64";
  }
  {
    name = "lib.mkCrossPackages gives a user crate the same attribute set";
    expr = builtins.attrNames (outputs.lib.mkCrossPackages {
      pkgs = stubPkgs;
      src = templateDir;
    });
    expected = [
      "aarch64-gnu"
      "aarch64-musl"
      "default"
      "image-aarch64-musl"
      "image-x86_64-musl"
      "x86_64-gnu"
      "x86_64-musl"
    ];
  }
  {
    name = "templates.hermetic: a crate whose flake's one input is kiln's source, not a flake";
    expr =
      let
        dir = outputs.templates.hermetic.path;
        flake = import (dir + "/flake.nix");
      in
      {
        described = outputs.templates.hermetic.description != "";
        inputs = flake.inputs;
        crate = map (f: builtins.pathExists (dir + "/${f}")) [
          "Cargo.toml"
          "Cargo.lock"
          "src/main.rs"
        ];
      };
    expected = {
      described = true;
      inputs.kiln = {
        url = "github:OWNER/kiln";
        flake = false;
      };
      crate = [
        true
        true
        true
      ];
    };
  }
  {
    name = "templates.default has a description and the files of a crate";
    expr = {
      described = outputs.templates.default.description != "";
      files = map (f: builtins.pathExists (templateDir + "/${f}")) [
        "README.md"
        "flake.nix"
        "Cargo.toml"
        "Cargo.lock"
        "src/main.rs"
        "rust-toolchain.toml"
      ];
    };
    expected = {
      described = true;
      files = [
        true
        true
        true
        true
        true
        true
      ];
    };
  }
  {
    name = "template: inputs are nixpkgs and kiln, kiln follows nixpkgs";
    expr = {
      names = builtins.attrNames templateInputs;
      follows = templateInputs.kiln.inputs.nixpkgs.follows;
    };
    expected = {
      names = [
        "kiln"
        "nixpkgs"
      ];
      follows = "nixpkgs";
    };
  }
  {
    name = "template: packages and verify checks come from kiln.lib";
    expr = perSystem (s: {
      packages = builtins.attrNames templateOutputs.packages.${s};
      checks = builtins.attrNames templateOutputs.checks.${s};
      musl = templateOutputs.packages.${s}.x86_64-musl.drvAttrs.pname;
    });
    expected = map (_: {
      packages = [
        "aarch64-gnu"
        "aarch64-musl"
        "default"
        "image-aarch64-musl"
        "image-x86_64-musl"
        "x86_64-gnu"
        "x86_64-musl"
      ];
      checks = [
        "verify-aarch64-gnu"
        "verify-aarch64-musl"
        "verify-x86_64-gnu"
        "verify-x86_64-musl"
      ];
      musl = "hello-kiln-x86_64-musl";
    }) systems;
  }
  {
    name = "template: the crate in Cargo.toml matches its Cargo.lock";
    expr =
      let
        toml = builtins.fromTOML (builtins.readFile (templateDir + "/Cargo.toml"));
        lock = builtins.fromTOML (builtins.readFile (templateDir + "/Cargo.lock"));
      in
      {
        locked = map (p: { inherit (p) name version; }) lock.package;
        declared = [ { inherit (toml.package) name version; } ];
      };
    expected = {
      locked = [
        {
          name = "hello-kiln";
          version = "0.1.0";
        }
      ];
      declared = [
        {
          name = "hello-kiln";
          version = "0.1.0";
        }
      ];
    };
  }
  {
    name = "issue14_generated_flake_targets: the generated flake builds the targets of [package.metadata.kiln]";
    expr = perSystem (s: builtins.attrNames chosenOutputs.packages.${s});
    expected = map (_: [
      "aarch64-musl"
      "default"
      "image-aarch64-musl"
      "image-x86_64-musl"
      "x86_64-musl"
    ]) systems;
  }
  {
    name = "issue14_generated_flake_toolchain: the generated flake uses the crate's rust-toolchain.toml, with the chosen targets' std";
    expr = map (s: {
      toolchain = chosenOutputs.packages.${s}.x86_64-musl.drvAttrs.nativeBuildInputs;
    }.toolchain != [ ]) systems;
    expected = map (_: true) systems;
  }
  {
    name = "issue14_generated_flake_toolchain: the toolchain is the crate's release (1.88.0), not kiln's (1.95.0)";
    expr = lib.unique (
      map (d: d.name) (
        builtins.filter (d: lib.hasPrefix "rust-" (d.name or "")) (
          chosenOutputs.packages.x86_64-linux.x86_64-musl.drvAttrs.nativeBuildInputs
          ++ chosenOutputs.packages.aarch64-darwin.aarch64-musl.drvAttrs.nativeBuildInputs
        )
      )
    );
    expected = [ "rust-default-1.88.0" ];
  }
  {
    name = "issue14_generated_flake_source: the generated flake's source keeps C sources and the toolchain file, not the flake";
    expr =
      let
        src = chosenOutputs.packages.x86_64-linux.x86_64-musl.drvAttrs.src;
        prefix = toString chosenDir + "/";
      in
      map (p: lib.removePrefix prefix (toString p)) (lib.fileset.toList (lib.fileset.fromSource src));
    expected = [
      "Cargo.lock"
      "Cargo.toml"
      "csrc/answer.c"
      "rust-toolchain.toml"
      "src/main.rs"
    ];
  }
  {
    name = "issue14_generated_flake_instantiates: every package and check of the generated flake instantiates";
    expr = perSystem (
      s:
      builtins.all builtins.isString (
        map (d: d.drvPath) (builtins.attrValues chosenOutputs.packages.${s} ++ builtins.attrValues chosenOutputs.checks.${s})
      )
    );
    expected = map (_: true) systems;
  }
  {
    name = "the fixture crate's flake.nix is the template's";
    expr = builtins.readFile (chosenDir + "/flake.nix") == builtins.readFile (templateDir + "/flake.nix");
    expected = true;
  }
  {
    name = "flake.nix description is set";
    expr = lib.hasInfix "kiln" (import ../../flake.nix).description;
    expected = true;
  }
]
