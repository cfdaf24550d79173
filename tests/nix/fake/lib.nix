# tests/nix/fake/lib.nix: the few nixpkgs `lib` functions kiln's nix/ uses.
#
# Owns: stand-ins with the same names and argument shapes as nixpkgs' lib,
# so the wiring in nix/ and flake.nix evaluates in tests where nixpkgs
# cannot be fetched. Behaviour is kept to what the wiring relies on.
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    foldl'
    functionArgs
    intersectAttrs
    isFunction
    isList
    listToAttrs
    match
    replaceStrings
    ;
in
rec {
  fix =
    f:
    let
      x = f x;
    in
    x;
  inherit concatStringsSep foldl' listToAttrs;
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
  nameValuePair = name: value: { inherit name value; };
  optionalAttrs = cond: set: if cond then set else { };
  optional = cond: x: if cond then [ x ] else [ ];
  optionalString = cond: s: if cond then s else "";
  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  removeSuffix =
    suffix: s:
    let
      n = builtins.stringLength s;
      k = builtins.stringLength suffix;
    in
    if k <= n && builtins.substring (n - k) k s == suffix then builtins.substring 0 (n - k) s else s;
  optionals = cond: xs: if cond then xs else [ ];
  concatMap = f: xs: builtins.concatMap f xs;
  toList = x: if isList x then x else [ x ];
  filterAttrs =
    pred: set:
    listToAttrs (map (n: nameValuePair n set.${n}) (filter (n: pred n set.${n}) (attrNames set)));
  mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
  escapeShellArg =
    arg: if match "[[:alnum:],._+:@%/-]+" arg != null then arg else "'${replaceStrings [ "'" ] [ "'\\''" ] arg}'";
  escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
  hasInfix = infix: s: match ".*${escapeRegex infix}.*" s != null;
  escapeRegex = replaceStrings [ "." "+" "*" "[" "]" "(" ")" "?" "|" "{" "}" "^" "$" "\\" ] [
    "\\."
    "\\+"
    "\\*"
    "\\["
    "\\]"
    "\\("
    "\\)"
    "\\?"
    "\\|"
    "\\{"
    "\\}"
    "\\^"
    "\\$"
    "\\\\"
  ];
  getExe = drv: "${drv.outPath}/bin/${drv.meta.mainProgram or drv.pname or drv.name}";

  callPackageWith =
    autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
    in
    f (intersectAttrs (functionArgs f) autoArgs // args);

  makeScope =
    newScope: f:
    let
      self = f self // {
        newScope = scope: newScope (self // scope);
        callPackage = self.newScope { };
      };
    in
    self;

  # A source set is recorded, not copied: the tests never touch the store.
  fileset = {
    unions = xs: { unions = xs; };
    difference = keep: drop: { inherit keep drop; };
    maybeMissing = p: p;
    toSource = { root, fileset }: root;
  };
}
