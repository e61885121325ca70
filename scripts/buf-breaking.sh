#!/usr/bin/env bash
# Checks that proto/ in the work tree makes no breaking change (buf.yaml:
# WIRE_JSON, so field numbers, types and JSON names are kept) against a
# git revision, by default the previous commit: scripts/buf-breaking.sh [REV]
#
# The revision's buf.yaml and proto/ are taken with git archive into a temp
# directory, the google/api protos that scripts/buf.sh lays into the
# gitignored third_party/ are copied beside them, and the pinned buf builds
# them into an image to compare against. When the revision does not exist
# (a repository of one commit) or has no proto/, there is nothing to compare.
#
# Verified once in a scratch clone (git clone of this repository), by
# committing on top of HEAD a change of WatchJobRequest.job_id from field
# number 1 to 9, and separately one of its json_name from "job-id" to
# "jobId" (a change WIRE alone would allow): each run exited 100 with
#   proto/bcpii/v1/job.proto:196:1:Previously present field "1" with name
#   "job_id" on message "WatchJobRequest" was deleted without reserving the
#   number "1".
# and
#   proto/bcpii/v1/job.proto:198:22:Field "1" with name "job_id" on message
#   "WatchJobRequest" changed option "json_name" from "job-id" to "jobId".
# while a commit adding a field passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rev=${1:-HEAD~1}

if ! git rev-parse -q --verify "$rev^{commit}" >/dev/null; then
  echo "buf breaking: skipped, there is no $rev to compare against"; exit 0
fi
if ! git cat-file -e "$rev:proto" 2>/dev/null || ! git cat-file -e "$rev:buf.yaml" 2>/dev/null; then
  echo "buf breaking: skipped, $rev has no proto/ and buf.yaml"; exit 0
fi

# Lays third_party/ and builds the pinned buf into build/bin.
scripts/buf.sh --version >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git archive "$rev" buf.yaml proto | tar -x -C "$tmp/base"
cp -R third_party "$tmp/base/"
(cd "$tmp/base" && "$root/build/bin/buf" build proto -o "$tmp/base.binpb")
build/bin/buf breaking proto --against "$tmp/base.binpb"
echo "buf breaking: proto/ keeps the wire and JSON format of $(git rev-parse --short "$rev")"
