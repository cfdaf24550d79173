#!/usr/bin/env bash
# tests/nix/source-compiles.sh: kiln compiles from exactly the files nix/source.nix selects.
#
# Owns: issue 14 item 1's check. It evaluates `lib.fileset.toList` of
# nix/source.nix with nixpkgs' REAL lib (the tree scripts/setup unpacks into
# $KILN_CACHE_DIR/upstream/nixpkgs-lib), under Nix 2.26 (the current lib needs
# builtins.readFileType, which Nix 2.8 lacks), copies those files and nothing
# else into a fresh directory, and runs `cargo check --locked --offline
# --all-targets` there. A file that src/, tests/ or benches/ read at compile
# time (include_str!, include_bytes!) but the source set leaves out fails it.
# It also checks that nix/hermetic/source.nix (builtins only) selects the same
# files.
#
#   bash tests/nix/source-compiles.sh
#
# Environment: KILN_CACHE_DIR (default $HOME/.cache/kiln); KILN_UPSTREAM_DIR
# (default $KILN_CACHE_DIR/upstream); CARGO_TARGET_DIR (default target/ of the
# repository; the copy's own kiln artifacts are removed afterwards).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KILN_CACHE_DIR:-$HOME/.cache/kiln}
upstream=${KILN_UPSTREAM_DIR:-$cache/upstream}
instantiate=$cache/nix-2.26/bin/nix-instantiate
export RUSTUP_AUTO_INSTALL=0

die() { printf 'source-compiles: %s\n' "$*" >&2; exit 2; }
[[ -f $upstream/nixpkgs-lib/lib/default.nix ]] || die "$upstream/nixpkgs-lib is missing: run scripts/setup"
[[ -x $instantiate ]] || die "$instantiate is missing: run scripts/setup (Nix 2.26)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '{"flakes":[],"version":2}\n' >"$work/registry.json"
# Pure evaluation: nothing is added to any store (toList needs none). The settings are
# scripts/nix.conf's, with an empty flake registry.
NIX_CONFIG="$(grep -Ev '^[[:space:]]*(#|$)' "$root/scripts/nix.conf")
flake-registry = $work/registry.json"
export NIX_CONFIG
export KILN_MODERN_NIX_STORE=dummy://

"$instantiate" --eval --strict --json \
  --arg lib "import $upstream/nixpkgs-lib/lib" \
  --arg root "$root" \
  -E '{ lib, root }:
    let
      src = import (root + "/nix/source.nix") { inherit lib; };
      prefix = toString root + "/";
    in
    map (p: lib.removePrefix prefix (toString p)) (lib.fileset.toList src.fileset)' \
  >"$work/files.json" || die "evaluating nix/source.nix with the real lib failed"

# The hermetic provider selects the same files with builtins.path (nix/hermetic/source.nix):
# materialise its tree with the system Nix and compare the two lists.
hermetic=$(NIX_CONFIG="build-users-group =" nix-instantiate --eval --read-write-mode \
  -E "toString (import $root/nix/hermetic/source.nix)" | tr -d '"') ||
  die "evaluating nix/hermetic/source.nix failed"
(cd "$hermetic" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$work/hermetic.txt"
python3 -c 'import json, sys; print("\n".join(sorted(json.load(open(sys.argv[1])))))' "$work/files.json" |
  LC_ALL=C sort >"$work/fileset.txt"
if ! diff -u "$work/fileset.txt" "$work/hermetic.txt" >"$work/source.diff"; then
  sed 's/^/  /' "$work/source.diff" | head -40 >&2
  echo "source-compiles: FAIL: nix/hermetic/source.nix and nix/source.nix select different files" >&2
  exit 1
fi
echo "source-compiles: nix/hermetic/source.nix selects the same $(wc -l <"$work/hermetic.txt") files"

tree=$work/tree
mkdir -p "$tree"
count=$(python3 - "$work/files.json" "$root" "$tree" <<'PY'
import json, os, shutil, sys
files, root, tree = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
for rel in files:
    if rel.startswith("/") or ".." in rel.split("/"):
        sys.exit("source-compiles: file outside the repository: " + rel)
    dst = os.path.join(tree, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy2(os.path.join(root, rel), dst)
print(len(files))
PY
)
echo "source-compiles: nix/source.nix selects $count files; cargo check --all-targets of exactly those"

target_dir=${CARGO_TARGET_DIR:-$root/target}
status=0
(cd "$tree" && CARGO_TARGET_DIR=$target_dir cargo check --locked --offline --all-targets --quiet) || status=$?
# The copy is a different package path: drop its kiln artifacts, keep the dependencies.
find "$target_dir/debug" -maxdepth 2 \( -name 'kiln-*' -o -name 'libkiln-*' \) -newer "$work/files.json" \
  -exec rm -rf {} + 2>/dev/null || true
if ((status != 0)); then
  echo "source-compiles: FAIL: kiln does not compile from the files nix/source.nix selects" >&2
  exit 1
fi
echo "source-compiles: ok"
