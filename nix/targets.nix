# nix/targets.nix: the Nix view of the shared target table (nix/targets.json).
#
# Owns: reading targets.json, looking targets up by triple or attribute name,
# and every pure naming rule derived from a target (cargo environment
# variable names, zig target strings with the glibc floor, linker names,
# qemu binary names, whether a build system needs a cross toolchain).
#
# Pure: it uses builtins only, so it imports WITHOUT nixpkgs:
#
#   targets = import ./nix/targets.nix { };
#   targets.cargoEnvVar "aarch64-unknown-linux-gnu"  # => "AARCH64_UNKNOWN_LINUX_GNU"
#
# Every function that takes a target accepts the triple, the attribute name
# ("aarch64-musl") or the target record itself.
{
  # The parsed table. Tests pass their own to check the validation.
  table ? builtins.fromJSON (builtins.readFile ./targets.json),
}:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    elem
    filter
    head
    isAttrs
    isString
    length
    listToAttrs
    replaceStrings
    ;

  lowerChars = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  upperChars = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  toUpper = replaceStrings lowerChars upperChars;

  # Fields every record must carry; a missing one is a broken table.
  requiredFields = [
    "triple"
    "attr"
    "arch"
    "system"
    "libc"
    "linkage"
    "elf_class"
    "elf_endian"
    "elf_machine"
    "e_machine"
    "interpreter"
    "glibc_floor"
    "qemu"
    "zig_target"
    "nixpkgs_cross"
    "oci_arch"
    "description"
  ];

  # Problems with one record, as human-readable strings (empty when fine).
  recordProblems =
    t:
    let
      missing = filter (f: !(t ? ${f})) requiredFields;
      name = t.triple or t.attr or "<record without triple>";
      say = msg: "target ${name}: ${msg}";
    in
    if missing != [ ] then
      [ (say "missing field(s) ${concatStringsSep ", " missing}") ]
    else
      (if elem t.libc [ "gnu" "musl" ] then [ ] else [ (say "libc must be gnu or musl, not ${t.libc}") ])
      ++ (
        if t.libc == "gnu" && (t.interpreter == null || t.glibc_floor == null) then
          [ (say "a gnu target needs an interpreter and a glibc_floor") ]
        else
          [ ]
      )
      ++ (
        if t.libc == "musl" && (t.interpreter != null || t.glibc_floor != null || t.linkage != "static") then
          [ (say "a musl target is static: linkage static, no interpreter, no glibc_floor") ]
        else
          [ ]
      )
      ++ (if elem t.system table.build_systems then [ ] else [ (say "system ${t.system} is not a build system") ]);

  problems =
    (if table.schema or null == 1 then [ ] else [ "targets.json: unsupported schema ${toString (table.schema or "none")}" ])
    ++ builtins.concatLists (map recordProblems table.targets)
    ++ (if length (attrNames byTriple) == length table.targets then [ ] else [ "targets.json: duplicate triple" ])
    ++ (if length (attrNames byAttr) == length table.targets then [ ] else [ "targets.json: duplicate attr" ]);

  # Fail loudly (once, on first use) if the table is inconsistent.
  checked =
    if problems == [ ] then
      table.targets
    else
      throw "kiln: nix/targets.json is inconsistent:\n  ${concatStringsSep "\n  " problems}";

  keyed = key: listToAttrs (map (t: { name = t.${key}; value = t; }) table.targets);
  byTriple = keyed "triple";
  byAttr = keyed "attr";

  all = checked;
  triples = map (t: t.triple) all;
  attrs = map (t: t.attr) all;

  # A target from its triple, its attribute name, or the record itself.
  lookup =
    key:
    builtins.seq checked (
      if isAttrs key then
        key
      else if !(isString key) then
        throw "kiln: a target is named by its triple or attribute name (a string)"
      else if byTriple ? ${key} then
        byTriple.${key}
      else if byAttr ? ${key} then
        byAttr.${key}
      else
        throw "kiln: unknown target '${key}'; known: ${concatStringsSep ", " (triples ++ attrs)}"
    );

  # "aarch64-unknown-linux-gnu" -> "AARCH64_UNKNOWN_LINUX_GNU" (cargo's CARGO_TARGET_<T>_*).
  cargoEnvVar = target: toUpper (replaceStrings [ "-" "." ] [ "_" "_" ] (lookup target).triple);
  # "aarch64-unknown-linux-gnu" -> "aarch64_unknown_linux_gnu" (cc-rs's CC_<t>, CFLAGS_<t>, AR_<t>).
  ccEnvVar = target: replaceStrings [ "-" "." ] [ "_" "_" ] (lookup target).triple;

  isGnu = target: (lookup target).libc == "gnu";
  isMusl = target: (lookup target).libc == "musl";

  # "x86_64-linux" -> "x86_64", "aarch64-darwin" -> "aarch64".
  systemArch = system: head (builtins.split "-" system);
  isDarwinSystem = system: builtins.match ".*-darwin" system != null;

  # The triple of a build system's own rustc host: "x86_64-linux" ->
  # "x86_64-unknown-linux-gnu" (from the table), "aarch64-darwin" ->
  # "aarch64-apple-darwin" (macOS hosts build Linux targets only).
  hostTriple =
    system:
    let
      hits = filter (t: t.system == system && t.libc == "gnu") all;
    in
    if !(elem system table.build_systems) then
      throw "kiln: unsupported build system '${system}'; supported: ${concatStringsSep ", " table.build_systems}"
    else if isDarwinSystem system then
      "${systemArch system}-apple-darwin"
    else if hits == [ ] then
      throw "kiln: no gnu target runs on build system '${system}'; build systems: ${concatStringsSep ", " table.build_systems}"
    else
      (head hits).triple;

  # True when qemu-user can run foreign Linux binaries on the build system
  # (Linux only: nixpkgs' qemu on macOS has no user-mode emulation).
  canEmulate = system: !(isDarwinSystem system);

  # True when a build on `buildSystem` cannot run the target's binaries natively.
  needsCross =
    buildSystem: target:
    if elem buildSystem table.build_systems then
      (lookup target).system != buildSystem
    else
      throw "kiln: unsupported build system '${buildSystem}'; supported: ${concatStringsSep ", " table.build_systems}";

  # True when the target triple IS the build host's triple (x86_64-gnu built on
  # x86_64-linux). Cargo then applies the target linker to build scripts and
  # proc-macros too, unless target-applies-to-host is switched off.
  sharesHostTriple = buildSystem: target: (lookup target).triple == hostTriple buildSystem;

  # zig's -target string, with the glibc floor appended for gnu targets:
  # "x86_64-linux-gnu.2.17"; musl targets have no floor: "x86_64-linux-musl".
  zigTargetWithFloor =
    floor: target:
    let
      t = lookup target;
    in
    if t.libc == "gnu" then "${t.zig_target}.${floor}" else t.zig_target;
  zigTarget =
    target:
    let
      t = lookup target;
    in
    zigTargetWithFloor (if t.glibc_floor != null then t.glibc_floor else table.default_glibc_floor) t;

  # Name of the executable that links for a target: the zig wrapper kiln
  # writes around cargo-zigbuild's `zig cc`, the same for gnu and musl.
  linkerName = target: "kiln-zigcc-${(lookup target).attr}";

  # Same idea for the C++ driver and the archiver (cc-rs's CXX_<t> and AR_<t>).
  cxxName = target: "kiln-zigcxx-${(lookup target).attr}";
  arName = target: "kiln-zigar-${(lookup target).attr}";

  # nixpkgs' qemu user-mode binary for the target's architecture.
  qemuBinary = target: "qemu-${(lookup target).arch}";
  # The name kiln's --smoke and doctor look up (targets.json "qemu", Debian's
  # qemu-user-static name); the dev shell provides it as a wrapper.
  qemuStaticName = target: (lookup target).qemu;

  # rustc flags for the target, as a list (joined into CARGO_BUILD_RUSTFLAGS).
  # musl: fully static; zig ships musl's crt and libc, and cargo-zigbuild's
  # `zig cc` drops the self-contained crt objects rustc passes, so nothing
  # else is needed. gnu: nothing extra; the floor comes from the linker.
  rustflags =
    target:
    let
      t = lookup target;
    in
    if t.libc == "musl" then [ "-C" "target-feature=+crt-static" ] else [ ];

  # C flags for cc-rs (CFLAGS_<t>). aarch64 static musl: outline atomics
  # need an lse-init whose getauxval call a static musl link may not resolve
  # (rust-lang/rust#89626); compile C without them (zig cc takes the flag).
  cflags =
    target:
    let
      t = lookup target;
    in
    if t.arch == "aarch64" && t.libc == "musl" then [ "-mno-outline-atomics" ] else [ ];

  # The env var names cargo reads for a target, in one place.
  envNames = target: {
    linker = "CARGO_TARGET_${cargoEnvVar target}_LINKER";
    runner = "CARGO_TARGET_${cargoEnvVar target}_RUNNER";
    cc = "CC_${ccEnvVar target}";
    cxx = "CXX_${ccEnvVar target}";
    ar = "AR_${ccEnvVar target}";
    cflags = "CFLAGS_${ccEnvVar target}";
  };

  # The flake's package attribute names: one per target plus "default".
  packageAttrs = attrs ++ [ "default" ];
in
{
  inherit
    table
    problems
    all
    triples
    byTriple
    byAttr
    lookup
    cargoEnvVar
    ccEnvVar
    isGnu
    isMusl
    hostTriple
    systemArch
    isDarwinSystem
    canEmulate
    needsCross
    sharesHostTriple
    zigTarget
    zigTargetWithFloor
    linkerName
    cxxName
    arName
    qemuBinary
    qemuStaticName
    rustflags
    cflags
    envNames
    packageAttrs
    ;
  attrNames = attrs;
  buildSystems = table.build_systems;
  defaultGlibcFloor = table.default_glibc_floor;

  # The records for a list of triples and/or attribute names, in that order.
  select = keys: map lookup keys;
}
