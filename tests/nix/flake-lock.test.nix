# tests/nix/flake-lock.test.nix: flake.lock agrees with the inputs of flake.nix.
#
# Owns: the checks Nix itself would make before trusting the lock (nodes,
# `original` equal to the URL, well-formed `locked`, `follows` in list form,
# no dangling node), the pins chosen for kiln, and the byte layout Nix
# writes. Pure: reads both files, fetches nothing.
let
  inherit (builtins)
    all
    attrNames
    concatLists
    concatStringsSep
    filter
    fromJSON
    genericClosure
    isList
    isString
    match
    readFile
    sort
    toJSON
    typeOf
    ;

  flakeInputs = (import ../../flake.nix).inputs;
  lockText = readFile ../../flake.lock;
  lock = fromJSON lockText;
  inherit (lock) nodes;
  rootNode = nodes.${lock.root};

  # "github:owner/repo[/ref]" -> the `original` attrset Nix records for it.
  parseUrl =
    url:
    let
      m = match "github:([^/]+)/([^/]+)(/(.+))?" url;
    in
    if m == null then
      throw "flake-lock test: only github: URLs are expected, got ${url}"
    else
      {
        type = "github";
        owner = builtins.elemAt m 0;
        repo = builtins.elemAt m 1;
      }
      // (if builtins.elemAt m 3 == null then { } else { ref = builtins.elemAt m 3; });

  inputNames = sort builtins.lessThan (attrNames flakeInputs);
  nodeOf = name: nodes.${rootNode.inputs.${name}};

  # Declared follows: [ { input; sub; path = [ ... ]; } ]
  declaredFollows = concatLists (
    map (
      name:
      let
        sub = flakeInputs.${name}.inputs or { };
      in
      map (s: {
        input = name;
        inherit s;
        path = builtins.filter isString (builtins.split "/" sub.${s}.follows);
      }) (filter (s: sub.${s} ? follows) (attrNames sub))
    ) inputNames
  );

  # Resolve an input path (a follows list) from the root to a node name.
  resolve = path: builtins.foldl' (nodeName: seg: refTarget nodes.${nodeName}.inputs.${seg}) lock.root path;
  refTarget = ref: if isList ref then resolve ref else ref;

  refsOf = node: map (r: refTarget r) (builtins.attrValues (node.inputs or { }));
  reachable = map (x: x.key) (genericClosure {
    startSet = [ { key = lock.root; } ];
    operator = item: map (k: { key = k; }) (refsOf nodes.${item.key});
  });

  lockedOk =
    name:
    let
      n = nodeOf name;
      l = n.locked;
    in
    attrNames l == [
      "lastModified"
      "narHash"
      "owner"
      "repo"
      "rev"
      "type"
    ]
    && match "[0-9a-f]{40}" l.rev != null
    && match "sha256-[A-Za-z0-9+/]{43}=" l.narHash != null
    && typeOf l.lastModified == "int"
    && l.lastModified > 0
    && l.owner == n.original.owner
    && l.repo == n.original.repo
    && l.type == n.original.type;

  # The layout Nix writes: keys sorted, two-space indent, one item per line.
  pretty =
    indent: v:
    let
      t = typeOf v;
      next = indent + "  ";
    in
    if t == "set" && v != { } then
      "{\n"
      + concatStringsSep ",\n" (map (k: next + toJSON k + ": " + pretty next v.${k}) (attrNames v))
      + "\n"
      + indent
      + "}"
    else if t == "list" && v != [ ] then
      "[\n" + concatStringsSep ",\n" (map (x: next + pretty next x) v) + "\n" + indent + "]"
    else
      toJSON v;
in
[
  {
    name = "lock format version 7 with a root node";
    expr = {
      inherit (lock) version root;
      hasRoot = nodes ? ${lock.root};
    };
    expected = {
      version = 7;
      root = "root";
      hasRoot = true;
    };
  }
  {
    name = "the root node lists exactly the inputs of flake.nix";
    expr = attrNames rootNode.inputs;
    expected = inputNames;
  }
  {
    name = "the inputs are nixpkgs, rust-overlay and crane";
    expr = inputNames;
    expected = [
      "crane"
      "nixpkgs"
      "rust-overlay"
    ];
  }
  {
    name = "every input has a lock node";
    expr = map (n: nodes ? ${rootNode.inputs.${n}}) inputNames;
    expected = map (_: true) inputNames;
  }
  {
    name = "original equals the flake.nix URL exactly";
    expr = map (n: (nodeOf n).original) inputNames;
    expected = map (n: parseUrl flakeInputs.${n}.url) inputNames;
  }
  {
    name = "locked has rev, narHash (SRI sha256), lastModified, owner, repo, type";
    expr = map lockedOk inputNames;
    expected = map (_: true) inputNames;
  }
  {
    name = "nixpkgs is a stable nixos-YY.MM branch";
    expr = match "nixos-[0-9]{2}\\.[0-9]{2}" (nodeOf "nixpkgs").original.ref != null;
    expected = true;
  }
  {
    name = "rust-overlay follows nixpkgs, in list form";
    expr = (nodeOf "rust-overlay").inputs;
    expected = {
      nixpkgs = [ "nixpkgs" ];
    };
  }
  {
    name = "every declared follows is in the lock as a list that resolves";
    expr = map (f: {
      inherit (f) input s;
      ok = (nodeOf f.input).inputs.${f.s} == f.path && nodes ? ${resolve f.path};
    }) declaredFollows;
    expected = [
      {
        input = "rust-overlay";
        s = "nixpkgs";
        ok = true;
      }
    ];
  }
  {
    name = "crane has no inputs, so its node has no inputs key";
    expr = nodeOf "crane" ? inputs;
    expected = false;
  }
  {
    name = "no dangling node: every node is reachable from the root";
    expr = sort builtins.lessThan reachable;
    expected = attrNames nodes;
  }
  {
    name = "every reference names an existing node";
    expr = all (name: all (r: nodes ? ${r}) (refsOf nodes.${name})) (attrNames nodes);
    expected = true;
  }
  {
    name = "pins: nixos-26.05, rust-overlay and crane as documented together";
    expr = map (n: {
      inherit n;
      inherit ((nodeOf n).locked) rev narHash lastModified;
    }) inputNames;
    expected = [
      {
        n = "crane";
        rev = "b8d87f76ea4e4b6f30f2e6eaf3fbb60ff7d87167";
        narHash = "sha256-H++/2dMt+5+tErKU+t5z6c4Xedvj9w+UPQYrpygwIPw=";
        lastModified = 1785631643;
      }
      {
        n = "nixpkgs";
        rev = "02e08985a27c65ffd33d434eeb2e660a2e4dc84d";
        narHash = "sha256-QvnceIGTBeDvDd9oCn+GvdsnkquliuwbVgpiRH68qaQ=";
        lastModified = 1786711500;
      }
      {
        n = "rust-overlay";
        rev = "292249772330735cb32b90dedf44feddec40e7d0";
        narHash = "sha256-DauSP0ACycrq3MEEmDz/Scsxhs9TPBTexwKbTuE8Bw8=";
        lastModified = 1785736145;
      }
    ];
  }
  {
    name = "the file is laid out as Nix writes it";
    expr = lockText == pretty "" lock + "\n";
    expected = true;
  }
  {
    name = "nix/upstream.json pins the trees the tests evaluate at flake.lock's revs and NAR hashes";
    expr =
      let
        trees = (fromJSON (readFile ../../nix/upstream.json)).trees;
        pin = n: {
          inherit (trees.${n}) owner repo rev narHash;
        };
        locked = n: {
          inherit (nodes.${n}.locked) owner repo rev narHash;
        };
      in
      map (n: pin n == locked n) [
        "crane"
        "rust-overlay"
      ];
    expected = [
      true
      true
    ];
  }
]
