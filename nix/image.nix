# nix/image.nix: an OCI/Docker image of one static (musl) cross package,
# with nixpkgs' dockerTools, for users who stay in Nix.
#
# Owns: the image `packages.<system>.image-<attr>` is: no base image and no
# store paths (`includeStorePaths = false`), one layer holding
#   /usr/local/bin/<binaries>      (copied out of the package, 0755)
#   /etc/passwd, /etc/group        (root and nonroot, 65532:65532)
#   /etc/ssl/certs/ca-certificates.crt   (when caCerts is given)
#   /usr/share/zoneinfo/           (when tzdata is given)
# run as User 65532:65532 with Entrypoint /usr/local/bin/<mainProgram>, the
# org.opencontainers.image.* labels, and `created` = sourceDateEpoch in
# RFC 3339: the same layout `kiln image` writes (docs/image.md), built by
# streamLayeredImage (`nix build .#image-x86_64-musl && ./result | docker load`).
# A gnu (dynamic) package is refused: it cannot run without its loader.
{
  lib,
  dockerTools,
  targets,
}:
{
  # A package made by mkCrossPackage for a musl target (passthru.kilnTarget).
  package,
  # Image name and tag.
  name ? lib.removeSuffix "-${package.kilnTarget.attr}" (package.pname or package.name),
  tag ? package.version or "latest",
  # The binary the image runs.
  mainProgram ? package.meta.mainProgram,
  # A CA bundle file (e.g. "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"), or null.
  caCerts ? null,
  # A zoneinfo directory (e.g. "${pkgs.tzdata}/share/zoneinfo"), or null.
  tzdata ? null,
  # Timestamp of the image (config `created`, history, layer mtimes).
  sourceDateEpoch ? 315532800,
  # org.opencontainers.image.source and .revision, when known.
  source ? null,
  revision ? null,
  # Extra labels.
  labels ? { },
}:
let
  t = targets.lookup package.kilnTarget;
  created = rfc3339 sourceDateEpoch;

  # RFC 3339 (UTC) of a Unix time: days to a civil date, proleptic Gregorian.
  rfc3339 =
    epoch:
    let
      days = epoch / 86400;
      secs = epoch - days * 86400;
      z = days + 719468;
      era = z / 146097;
      doe = z - era * 146097;
      yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
      doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
      mp = (5 * doy + 2) / 153;
      day = doy - (153 * mp + 2) / 5 + 1;
      month = if mp < 10 then mp + 3 else mp - 9;
      year = yoe + era * 400 + (if month <= 2 then 1 else 0);
      pad = n: if n < 10 then "0${toString n}" else toString n;
      minutes = secs - secs / 3600 * 3600;
    in
    "${toString year}-${pad month}-${pad day}T${pad (secs / 3600)}:${pad (minutes / 60)}:${pad (minutes - minutes / 60 * 60)}Z";
  uid = "65532";
  passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${uid}:${uid}:nonroot:/home/nonroot:/sbin/nologin\n";
  group = "root:x:0:\nnonroot:x:${uid}:\n";
  allLabels = {
    "org.opencontainers.image.created" = created;
    "org.opencontainers.image.title" = name;
    "org.opencontainers.image.version" = tag;
  }
  // lib.optionalAttrs (source != null) { "org.opencontainers.image.source" = source; }
  // lib.optionalAttrs (revision != null) { "org.opencontainers.image.revision" = revision; }
  // labels;
in
if t.libc != "musl" then
  throw "kiln: image of ${t.triple}: a dynamically linked (gnu) binary cannot run in a scratch image; use the musl target"
else
  dockerTools.streamLayeredImage {
    inherit name tag created;
    mtime = created;
    architecture = t.oci_arch;
    includeStorePaths = false;
    extraCommands = ''
      mkdir -p etc usr/local/bin
      printf '%s' ${lib.escapeShellArg passwd} > etc/passwd
      printf '%s' ${lib.escapeShellArg group} > etc/group
      for f in ${package}/bin/*; do cp "$f" usr/local/bin/; done
      chmod 0755 usr/local/bin/*
    ''
    + lib.optionalString (caCerts != null) ''
      mkdir -p etc/ssl/certs
      cp ${caCerts} etc/ssl/certs/ca-certificates.crt
    ''
    + lib.optionalString (tzdata != null) ''
      mkdir -p usr/share
      cp -rL ${tzdata} usr/share/zoneinfo
    '';
    config = {
      Entrypoint = [ "/usr/local/bin/${mainProgram}" ];
      User = "${uid}:${uid}";
      WorkingDir = "/";
      Env = [
        "PATH=/usr/local/bin"
      ]
      ++ lib.optional (caCerts != null) "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
      ++ lib.optional (tzdata != null) "ZONEINFO=/usr/share/zoneinfo";
      Labels = allLabels;
    };
  }
