# tests/nix/harness.nix: runs one file of pure Nix test cases.
#
# Owns: the case format and the report, in the style of nixpkgs' lib tests.
# A test file evaluates to a list of cases:
#
#   { name = "..."; expr = <value>; expected = <value>; }
#   { name = "..."; expr = <value>; expectThrow = true; }   # must throw or assert
#
# The result is the string "<passed> <failed>". Every failing case is
# reported on stderr (builtins.trace) with its expected and actual value.
#
# A test file may instead be a function `{ upstream }: [ cases ]`; it gets the
# directory of the real upstream trees (tests/nix/stub/inputs.nix).
#
#   nix-instantiate --eval --strict tests/nix/harness.nix --argstr file "$PWD/tests/nix/targets.test.nix" \
#     --argstr upstream "$KILN_CACHE_DIR/upstream"
{
  file,
  upstream ? "",
}:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    deepSeq
    filter
    foldl'
    length
    toJSON
    tryEval
    typeOf
    ;

  imported = import (/. + file);
  cases =
    if builtins.isFunction imported then
      imported { upstream = /. + upstream; }
    else
      imported;

  # A readable rendering of any value, functions included.
  show =
    v:
    let
      t = typeOf v;
    in
    if t == "lambda" then
      "<function>"
    else if t == "set" then
      "{ " + concatStringsSep " " (map (n: "${n} = ${show v.${n}};") (attrNames v)) + " }"
    else if t == "list" then
      "[ " + concatStringsSep " " (map show v) + " ]"
    else if t == "string" then
      toJSON v
    else if t == "path" then
      toString v
    else if t == "null" then
      "null"
    else if t == "bool" then
      (if v then "true" else "false")
    else
      toString v;

  run =
    case:
    let
      got = tryEval (deepSeq case.expr case.expr);
      wantThrow = case.expectThrow or false;
    in
    if wantThrow then
      {
        inherit (case) name;
        ok = !got.success;
        expected = "<throw or assert>";
        actual = if got.success then show got.value else "<throw or assert>";
      }
    else
      {
        inherit (case) name;
        ok = got.success && got.value == case.expected;
        expected = show case.expected;
        actual = if got.success then show got.value else "<throw or assert>";
      };

  results = map run cases;
  failures = filter (r: !r.ok) results;
  passed = length results - length failures;

  report = foldl' (
    acc: r:
    builtins.trace "FAIL ${r.name}\n      expected: ${r.expected}\n      actual:   ${r.actual}" acc
  ) null failures;
in
if !(builtins.isList cases) then
  throw "${file}: a test file must evaluate to a list of cases"
else
  deepSeq report "${toString passed} ${toString (length failures)}"
