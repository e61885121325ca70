#!/usr/bin/env bash
# Runs every fuzz target of the module for a few seconds each (FUZZTIME,
# default 3s), so that the parsers of caller input are fuzzed on every CI
# run and not only by hand. A longer run: FUZZTIME=5m scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
n=0
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name ($fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/dev/null
  n=$((n + 1))
done < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' | sed -E 's/^([^:]+):[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*/\1:\2/')
echo "$n fuzz targets run"
[ "$n" -gt 0 ]
