# Build a small C program for kiln's Linux targets without nixpkgs.
#
# The only tools are the pinned zig (as a C cross compiler that brings its own
# glibc stubs and musl) and a static busybox (the build shell and coreutils),
# both referenced through ./hermetic-tools.nix. Targets, zig target names and
# glibc floors come from ./targets.json, the one target table.
#
# Type:
#   { name, version, src, ... } -> { <target attr> = derivation; ... }
#
# Required arguments:
#   name      program name: the package's pname and the file $out/bin/<name>
#   version   version string (also passed to the C code as KILN_VERSION)
#   src       a path: one C file, or a directory of sources
#
# Optional arguments (default):
#   sources          C files to compile, relative to a directory src
#                    (every top-level *.c of src; ignored when src is a file)
#   targets          target attrs to build, e.g. [ "x86_64-musl" ] (all of targets.json)
#   cflags           extra compiler and linker flags for every target ([ ])
#   preBuild         shell run in the source copy before compiling ("")
#   extraScript      shell run after compiling, $out/bin/<name> exists ("")
#   overrides        per-target changes: an attrset keyed by target attr, or a
#                    function from the targets.json record to an attrset ({ }).
#                    Keys: cflags (appended), preBuild and extraScript (run after
#                    the global ones), linkage ("static" | "dynamic").
#   checkReferences  fail the build if the output refers to any store path (true)
#   system           build system, must be pinned in hermetic-tools.json ("x86_64-linux")
#
# The C code gets -DKILN_NAME="<name>" -DKILN_VERSION="<version>"
# -DKILN_TARGET="<triple>". Scripts run under busybox sh with set -eu, in a
# writable copy of the sources, with busybox applets on PATH and these
# variables: out, pname, version, ZIG (the zig executable), ZIG_TARGET,
# KILN_TARGET (triple), KILN_ATTR, SOURCE_DATE_EPOCH.
#
# Each result is a derivation named "<name>-<triple>-<version>" with the
# attributes pname, version, kilnTarget (triple), kilnAttr, target (the
# targets.json record) and meta.mainProgram.
{
  name,
  version,
  src,
  sources ? null,
  targets ? null,
  cflags ? [ ],
  preBuild ? "",
  extraScript ? "",
  overrides ? { },
  checkReferences ? true,
  system ? "x86_64-linux",
}:
let
  table = builtins.fromJSON (builtins.readFile ./targets.json);
  tools = import ./hermetic-tools.nix { inherit system; };

  fail = msg: throw "kiln hermetic.nix (${name}): ${msg}";
  join = builtins.concatStringsSep;

  knownAttrs = map (t: t.attr) table.targets;
  byAttr = builtins.listToAttrs (
    map (t: {
      name = t.attr;
      value = t;
    }) table.targets
  );
  checkAttr =
    what: a:
    if byAttr ? ${a} then a else fail "unknown target '${a}' in ${what} (known: ${join ", " knownAttrs})";

  selected = if targets == null then knownAttrs else map (checkAttr "targets") targets;

  overrideKeys = [
    "cflags"
    "preBuild"
    "extraScript"
    "linkage"
  ];
  checkOverride =
    attr: ov:
    let
      bad = builtins.filter (k: !(builtins.elem k overrideKeys)) (builtins.attrNames ov);
    in
    if bad == [ ] then
      ov
    else
      fail "unknown key(s) ${join ", " bad} in overrides for ${attr} (allowed: ${join ", " overrideKeys})";
  overrideFor =
    t:
    checkOverride t.attr (
      if builtins.isFunction overrides then
        overrides t
      else
        let
          unknown = builtins.filter (a: !(byAttr ? ${a})) (builtins.attrNames overrides);
        in
        if unknown == [ ] then
          overrides.${t.attr} or { }
        else
          checkAttr "overrides" (builtins.head unknown)
    );

  # Sources: one file, or a directory whose files are compiled.
  srcName = if builtins.isPath src then baseNameOf src else fail "src must be a path, e.g. ./hello.c";
  srcIsDir = (builtins.readDir (dirOf src)).${srcName} == "directory";
  sourceFiles =
    if !srcIsDir then
      [ srcName ]
    else if sources != null then
      sources
    else
      let
        entries = builtins.readDir src;
        cFiles = builtins.filter (
          n: entries.${n} == "regular" && builtins.match ".*\\.c" n != null
        ) (builtins.attrNames entries);
      in
      if cFiles == [ ] then fail "no *.c files in ${srcName}; pass sources = [ ... ]" else cFiles;

  # POSIX shell quoting of one word.
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  words = ws: join " " (map quote ws);

  zigTargetOf =
    t:
    if t.libc == "gnu" then
      "${t.zig_target}.${if t.glibc_floor != null then t.glibc_floor else table.default_glibc_floor}"
    else
      t.zig_target;

  # Position independence follows what the official Rust release builds of well-known tools
  # ship: static-pie on x86_64 musl, static non-PIE on aarch64 musl, PIE for dynamic binaries.
  pieFlags = [
    "-fPIE"
    "-pie"
  ];
  linkFlags =
    t: linkage:
    if linkage == "static" then
      (
        if t.libc == "gnu" then
          fail "${t.attr}: zig cannot link glibc statically"
        else
          [ "-static" ] ++ (if t.arch == "x86_64" then pieFlags else [ ])
      )
    else if linkage == "dynamic" then
      (if t.libc == "musl" then [ "-dynamic" ] else [ ]) ++ pieFlags
    else
      fail "${t.attr}: linkage must be \"static\" or \"dynamic\", not \"${linkage}\"";

  # Flags that decide how zig builds the target's libc and compiler-rt.
  baseFlags = [
    "-O2"
    "-g0"
    "-s"
  ];

  # zig builds libc (all of musl for a static binary: about 50 s) and
  # compiler-rt into its global cache on first use. This derivation does that
  # once per target and linkage, for every program and fixture, and its output
  # is the warm cache that each program build copies. A program whose cflags
  # change the optimisation mode still builds: zig then makes its own libc.
  libcCache =
    zigTarget: linkFlagList:
    tools.shDerivation {
      name = "kiln-zig-libc-${zigTarget}${join "" linkFlagList}";
      script = ''
        set -eu
        B=${tools.busybox}/busybox
        export ZIG_GLOBAL_CACHE_DIR="$out" ZIG_LOCAL_CACHE_DIR="$TMPDIR/.zig-local"
        cd "$TMPDIR"
        echo 'int main(void) { return 0; }' > warm.c
        "$ZIG" cc -target ${quote zigTarget} ${words (baseFlags ++ linkFlagList)} -o warm warm.c
        $B rm -rf "$out/tmp"
      '';
      ZIG = "${tools.zig}/zig";
    };

  mkTarget =
    attr:
    let
      t = byAttr.${attr};
      ov = overrideFor t;
      zigTarget = zigTargetOf t;
      targetLinkFlags = linkFlags t (ov.linkage or t.linkage);
      flags = [
        "-target"
        zigTarget
      ]
      ++ baseFlags
      ++ [
        "-DKILN_NAME=\"${name}\""
        "-DKILN_VERSION=\"${version}\""
        "-DKILN_TARGET=\"${t.triple}\""
      ]
      ++ targetLinkFlags
      ++ cflags
      ++ (ov.cflags or [ ]);

      script = ''
        set -eu
        B=${tools.busybox}/busybox
        $B mkdir -p "$TMPDIR/.kiln-bin" "$TMPDIR/work" "$out/bin"
        for applet in $($B --list); do $B ln -s "$B" "$TMPDIR/.kiln-bin/$applet"; done
        export PATH="$TMPDIR/.kiln-bin"
        export ZIG_GLOBAL_CACHE_DIR="$TMPDIR/.zig-global" ZIG_LOCAL_CACHE_DIR="$TMPDIR/.zig-local"
        cp -R "$libcCache" "$ZIG_GLOBAL_CACHE_DIR"
        chmod -R u+w "$ZIG_GLOBAL_CACHE_DIR"
        cd "$TMPDIR/work"
        ${if srcIsDir then ''cp -R "$src/." .'' else ''cp "$src" ${quote srcName}''}
        chmod -R u+w .
        ${preBuild}
        ${ov.preBuild or ""}
        echo kiln: zig cc ${words flags} -o "$out/bin/"${quote name} ${words sourceFiles}
        "$ZIG" cc ${words flags} -ffile-prefix-map="$PWD"=. -o "$out/bin/"${quote name} ${words sourceFiles}
        ${extraScript}
        ${ov.extraScript or ""}
      '';

      drv = tools.shDerivation (
        {
          name = "${name}-${t.triple}-${version}";
          inherit version src;
          pname = name;
          inherit script;
          ZIG = "${tools.zig}/zig";
          ZIG_TARGET = zigTarget;
          libcCache = libcCache zigTarget targetLinkFlags;
          KILN_TARGET = t.triple;
          KILN_ATTR = t.attr;
          kilnTarget = t.triple;
          SOURCE_DATE_EPOCH = "315532800";
          TZ = "UTC";
          LC_ALL = "C";
        }
        // (if checkReferences then { allowedReferences = [ ]; } else { })
      );
    in
    drv
    // {
      kilnAttr = t.attr;
      target = t;
      meta = {
        mainProgram = name;
        description = "${name} ${version} for ${t.description}";
      };
    };
in
builtins.listToAttrs (
  map (attr: {
    name = attr;
    value = mkTarget attr;
  }) selected
)
