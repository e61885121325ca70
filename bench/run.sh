#!/usr/bin/env bash
# bench/run.sh: measures the gateway against bare handlers in one run.
#
#   bench/run.sh table     REST and gRPC GetJob, gateway vs bare, with ratios (default)
#   bench/run.sh durable   operation starts over gRPC Invoke: bbolt vs --store memory
#   bench/run.sh profile   CPU profiles of the gateway under the REST and gRPC loads
#   bench/run.sh gotest    the go test benchmarks (REST, gRPC, fan-out, STOMP, store)
#   bench/run.sh store     bbolt and etcd with a million ended jobs: reads, start-up, sweep
#   bench/run.sh etcd      GetJob on --store etcd against bbolt (p50), with a real etcd
#   bench/run.sh all       table, durable, gotest, store and etcd
#
# Environment: RUNS (whole runs; medians are printed when more than 1,
# default 1), ROUNDS (alternations of bare and gateway within a run,
# default 2), DURATION (per measurement, default 10s), CONNS (REST
# connections and gRPC callers, default 64), OUT (where binaries, data
# and profiles go; default a temporary directory, removed unless given),
# GW_FLAGS (more flags for the gateway, e.g. "--log-level warn"),
# GATEWAY_BIN (a gateway binary to measure instead of this tree's, e.g.
# one built from an earlier commit).
# Needs wrk and curl (and, for etcd, Debian's etcd-server); the rest is
# built from this repository.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-1}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
KEEP=${OUT:+1}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
BIN=$OUT/bin
PIDS=()

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'stop_all; [[ -n $KEEP ]] || rm -rf "$OUT"' EXIT
trap 'exit 130' INT TERM

mode=${1:-table}
case $mode in
table) build; table ;;
durable) build; durable ;;
profile) build; profile ;;
gotest) gotest ;;
store) store ;;
etcd) build; etcd ;;
all) build; table; durable; gotest; store; etcd ;;
*) echo "usage: $0 [table|durable|profile|gotest|store|etcd|all]" >&2; exit 2 ;;
esac
