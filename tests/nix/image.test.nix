# tests/nix/image.test.nix: nix/image.nix, the dockerTools image of a musl package.
#
# Owns: cases for the arguments image.nix gives streamLayeredImage (the
# strict stand-in in tests/nix/stub/pkgs.nix takes exactly the real
# streamLayeredImage's arguments and records them): platform, user,
# entrypoint, labels, `created` from sourceDateEpoch, the layer script, the
# optional CA bundle and zoneinfo, and the refusal of gnu packages. Nothing
# is built.
{ upstream }:
let
  stub = import ./stub/inputs.nix { inherit upstream; };
  inherit (stub) lib;
  k = import ../../nix {
    pkgs = stub.pkgsFor { system = "x86_64-linux"; };
    inherit (stub) crane rust-overlay;
  };
  set = k.mkCrossPackages {
    src = ../../templates/default;
    sourceDateEpoch = 1700000000;
    imageArgs = {
      revision = "0123abc";
      source = "https://example.invalid/hello-kiln";
    };
  };
  argsOf = img: img.imageArgs;
  x86 = argsOf set.image-x86_64-musl;
  arm = argsOf set.image-aarch64-musl;
  at = epoch: (argsOf (k.mkImage {
    package = set.x86_64-musl;
    sourceDateEpoch = epoch;
  })).created;
  withFiles = argsOf (k.mkImage {
    package = set.aarch64-musl;
    caCerts = "/fake/cacert/etc/ssl/certs/ca-bundle.crt";
    tzdata = "/fake/tzdata/share/zoneinfo";
  });
in
[
  {
    name = "image: one per musl target, none for gnu";
    expr = builtins.filter (lib.hasPrefix "image-") (builtins.attrNames set);
    expected = [
      "image-aarch64-musl"
      "image-x86_64-musl"
    ];
  }
  {
    name = "image: name, tag, OCI architecture, no store paths";
    expr = map (a: {
      inherit (a) name tag architecture includeStorePaths;
    }) [ x86 arm ];
    expected = [
      {
        name = "hello-kiln";
        tag = "0.1.0";
        architecture = "amd64";
        includeStorePaths = false;
      }
      {
        name = "hello-kiln";
        tag = "0.1.0";
        architecture = "arm64";
        includeStorePaths = false;
      }
    ];
  }
  {
    name = "image: non-root user, entrypoint in /usr/local/bin, PATH";
    expr = {
      inherit (x86.config) User Entrypoint Env WorkingDir;
    };
    expected = {
      User = "65532:65532";
      Entrypoint = [ "/usr/local/bin/hello-kiln" ];
      Env = [ "PATH=/usr/local/bin" ];
      WorkingDir = "/";
    };
  }
  {
    name = "image: created and the OCI labels come from sourceDateEpoch and imageArgs";
    expr = {
      inherit (x86) created mtime;
      labels = x86.config.Labels;
    };
    expected = {
      created = "2023-11-14T22:13:20Z";
      mtime = "2023-11-14T22:13:20Z";
      labels = {
        "org.opencontainers.image.created" = "2023-11-14T22:13:20Z";
        "org.opencontainers.image.revision" = "0123abc";
        "org.opencontainers.image.source" = "https://example.invalid/hello-kiln";
        "org.opencontainers.image.title" = "hello-kiln";
        "org.opencontainers.image.version" = "0.1.0";
      };
    };
  }
  {
    name = "image: RFC 3339 of known timestamps (default, leap day, epoch)";
    expr = map at [
      315532800
      951782400
      0
      1795642819
    ];
    expected = [
      "1980-01-01T00:00:00Z"
      "2000-02-29T00:00:00Z"
      "1970-01-01T00:00:00Z"
      "2026-11-25T21:40:19Z"
    ];
  }
  {
    name = "image: the layer has passwd, group and the package's binaries";
    expr = map (s: lib.hasInfix s x86.extraCommands) [
      "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"
      "nonroot:x:65532:"
      "for f in /fake/hello-kiln-x86_64-musl-0.1.0/bin/*; do cp \"$f\" usr/local/bin/; done"
      "etc/ssl/certs"
      "zoneinfo"
    ];
    expected = [
      true
      true
      true
      false
      false
    ];
  }
  {
    name = "image: caCerts and tzdata are copied in and named in Env";
    expr = {
      ca = lib.hasInfix "cp /fake/cacert/etc/ssl/certs/ca-bundle.crt etc/ssl/certs/ca-certificates.crt" withFiles.extraCommands;
      tz = lib.hasInfix "cp -rL /fake/tzdata/share/zoneinfo usr/share/zoneinfo" withFiles.extraCommands;
      env = withFiles.config.Env;
    };
    expected = {
      ca = true;
      tz = true;
      env = [
        "PATH=/usr/local/bin"
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
        "ZONEINFO=/usr/share/zoneinfo"
      ];
    };
  }
  {
    name = "image: a gnu package is refused";
    expr = (k.mkImage { package = set.aarch64-gnu or (k.mkCrossPackages { src = ../../templates/default; }).aarch64-gnu; }).imageArgs;
    expectThrow = true;
  }
  {
    name = "image: images = false leaves them out";
    expr = builtins.any (lib.hasPrefix "image-") (builtins.attrNames (k.mkCrossPackages {
      src = ../../templates/default;
      images = false;
    }));
    expected = false;
  }
]
