#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a set time each (default 10s).
# Usage: scripts/fuzz.sh [duration]   e.g. scripts/fuzz.sh 1m
# Seeds in testdata/fuzz run as ordinary tests under `go test ./...` too.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-10s}"
found=0
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    found=$((found+1))
    echo "fuzz: $pkg $target for $t"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg"
  done
done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | sort)
echo "fuzz: $found targets, no findings"
