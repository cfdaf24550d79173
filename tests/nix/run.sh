#!/usr/bin/env bash
# tests/nix/run.sh: the pure Nix tests of kiln's flake and nix/ library.
#
# Owns: running them the same way everywhere, from any directory:
#   1. the harness self-check (tests/nix/fixtures/harness-self-check.nix
#      must count 1 passed, 3 failed: a harness that cannot fail is caught);
#   2. every tests/nix/*.test.nix, one line each with its counts;
#   3. `nix-instantiate --parse` on every *.nix file of the repository
#      (outside target/ and .git/).
# It prints "N passed, M failed" last (N and M count cases) and exits
# non-zero if any case failed.
#
# The tests evaluate nixpkgs' REAL lib, the REAL crane and rust-overlay
# (tests/nix/stub/inputs.nix), from the trees scripts/setup unpacks into
# $KILN_UPSTREAM_DIR (default $KILN_CACHE_DIR/upstream). The current lib needs
# builtins.readFileType, which Nix 2.8 lacks: they run with the Nix 2.26 that
# scripts/setup installs ($KILN_CACHE_DIR/nix-2.26; KILN_TEST_NIX_INSTANTIATE
# overrides it). Evaluation fetches nothing; where it needs a store (a
# lib.fileset source), it uses that Nix's own chroot store.
#
#   bash tests/nix/run.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

cache=${KILN_CACHE_DIR:-$HOME/.cache/kiln}
upstream=${KILN_UPSTREAM_DIR:-$cache/upstream}
instantiate=${KILN_TEST_NIX_INSTANTIATE:-$cache/nix-2.26/bin/nix-instantiate}
if [[ ! -x $instantiate ]]; then
  echo "tests/nix/run.sh: $instantiate is missing: run scripts/setup (it installs Nix 2.26)" >&2
  exit 2
fi
for tree in nixpkgs-lib crane rust-overlay; do
  if [[ ! -d $upstream/$tree ]]; then
    echo "tests/nix/run.sh: $upstream/$tree is missing: run scripts/setup" >&2
    exit 2
  fi
done
export KILN_TEST_UPSTREAM=$upstream

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '{"flakes":[],"version":2}\n' >"$work/registry.json"

# A self-contained configuration: the settings of scripts/nix.conf (no daemon,
# no substituter) and an empty flake registry, so nothing downloads a global one.
# The store is the 2.26 wrapper's own.
NIX_CONFIG="$(grep -Ev '^[[:space:]]*(#|$)' "$root/scripts/nix.conf")
flake-registry = $work/registry.json"
export NIX_CONFIG

total_passed=0
total_failed=0

# Evaluate one case file with the harness; sets $passed and $failed.
# The harness traces each failing case on stderr, kept in $work/stderr.
# A file that does not evaluate at all counts as one failed case.
run_file() {
  local file=$1 out
  passed=0
  failed=0
  if ! out=$("$instantiate" --eval --strict "$here/harness.nix" --argstr file "$file" --argstr upstream "$upstream" 2>"$work/stderr"); then
    echo "  could not evaluate ${file#"$root"/}:" >&2
    failed=1
    return
  fi
  out=${out//\"/}
  passed=${out% *}
  failed=${out#* }
}

report() {
  local label=$1
  printf '%-28s %3d passed, %d failed\n' "$label" "$passed" "$failed"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
}

# 1. The harness itself must report failures.
run_file "$here/fixtures/harness-self-check.nix"
if [[ "$passed $failed" == "1 3" ]] && [[ $(grep -c '^trace: FAIL ' "$work/stderr") == 3 ]]; then
  passed=1 failed=0
else
  echo "  the harness counted '$passed passed, $failed failed' on its fixture, expected '1 passed, 3 failed'" >&2
  sed 's/^/    /' "$work/stderr" >&2
  passed=0 failed=1
fi
report "harness-self-check"

# 2. The test files.
shopt -s nullglob
test_files=("$here"/*.test.nix)
if ((${#test_files[@]} == 0)); then
  echo "tests/nix/run.sh: no tests/nix/*.test.nix found" >&2
  exit 1
fi
for file in "${test_files[@]}"; do
  run_file "$file"
  if ((failed > 0)); then
    sed -e 's/^trace: //' -e 's/^/    /' "$work/stderr" >&2
  fi
  report "$(basename "$file")"
done

# 3. Every .nix file of the repository parses.
passed=0
failed=0
while IFS= read -r -d '' file; do
  if "$instantiate" --parse "$file" >/dev/null 2>"$work/stderr"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "  does not parse: ${file#./}" >&2
    sed 's/^/    /' "$work/stderr" >&2
  fi
done < <(find . \( -name target -o -name .git \) -prune -o -type f -name '*.nix' -print0 | sort -z)
report "parse (every *.nix)"

echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
