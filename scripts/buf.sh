#!/usr/bin/env bash
# Runs the pinned buf (tools/go.mod) with the pinned protoc plugins first on
# PATH, after laying the google/api protos from tools/node_modules into
# third_party/googleapis. Usage: scripts/buf.sh generate | lint | breaking ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -f tools/node_modules/google-proto-files/google/api/annotations.proto ]; then
  (cd tools && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
src=tools/node_modules/google-proto-files/google/api
dst=third_party/googleapis/google/api
mkdir -p "$dst"
for f in annotations.proto http.proto; do
  cmp -s "$src/$f" "$dst/$f" || cp "$src/$f" "$dst/$f"
done

bin="$root/build/bin"
(cd tools && go build -o "$bin/" tool)
PATH="$bin:$PATH" exec buf "$@"
