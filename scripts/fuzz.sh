#!/usr/bin/env bash
# Runs every fuzz target of the module for a few seconds each (FUZZTIME,
# default 3s), so that the parsers of caller input are fuzzed on every CI
# run and not only by hand. A longer run: FUZZTIME=5m scripts/fuzz.sh
#
# A failing target prints its output. A finding always writes its input to
# testdata/fuzz/ and fails the run. Go's fuzzing engine can also fail with
# no input written, when -fuzztime ends while a starved worker is mid-call
# ("context deadline exceeded", golang/go#75804, #56238); such a target is
# run once more, and fails the run if it fails again.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fuzz() { go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" "$1" >"$out" 2>&1; }

n=0
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name ($fuzztime)"
  if ! fuzz "$pkg" "$name"; then
    if grep -q 'Failing input written to' "$out"; then
      tail -n 40 "$out"; exit 1
    fi
    echo "  failed with no input written; once more:"
    tail -n 5 "$out" | sed 's/^/  | /'
    if ! fuzz "$pkg" "$name"; then
      tail -n 40 "$out"; exit 1
    fi
  fi
  n=$((n + 1))
done < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' | sed -E 's/^([^:]+):[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*/\1:\2/')
echo "$n fuzz targets run"
[ "$n" -gt 0 ]
