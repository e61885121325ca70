# Functions of bench/run.sh; sourced, not run.

build() {
	mkdir -p "$BIN"
	(cd "$ROOT" && go build -o "$BIN/" ./cmd/bcpii-gateway ./bench/bare ./bench/load)
	if [[ -n ${GATEWAY_BIN:-} ]]; then
		cp "$GATEWAY_BIN" "$BIN/bcpii-gateway"
	fi
}

stop_all() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}

# inventory writes the bench inventory: a DPM CPC with two partitions
# whose start ends in 100ms (the jobs the queries read), and 12 classic CPCs of
# 100 LPARs each whose activate ends in 20ms (the operation starts).
inventory() {
	local f=$1 c l
	{
		echo "cpcs:"
		echo "  - {name: BENCH, object-id: bench-cpc, target-name: IBM390PS.BENCH, dpm-enabled: true, status: operating,"
		echo "     partitions: [{name: P0, object-id: bench-p0, status: stopped, operations: {start: {duration: 100ms}}},"
		echo "                  {name: P1, object-id: bench-p1, status: stopped, operations: {start: {duration: 100ms}}}]}"
		for c in $(seq -w 0 11); do
			echo "  - name: C$c"
			echo "    object-id: bench-c$c"
			echo "    target-name: IBM390PS.C$c"
			echo "    status: operating"
			echo "    logical-partitions:"
			for l in $(seq -w 0 99); do
				echo "      - {name: L$l, object-id: bench-c$c-l$l, status: not-activated, operations: {activate: {duration: 20ms}}}"
			done
		done
	} >"$f"
}

# invoke_list writes the "METHOD URI TARGET" lines of bench/load -op invoke.
invoke_list() {
	local f=$1 c l
	for l in $(seq -w 0 99); do
		for c in $(seq -w 0 11); do
			echo "POST /api/logical-partitions/bench-c$c-l$l/operations/activate IBM390PS.C$c.L$l"
		done
	done >"$f"
}

# cpu_ticks PID: the user and system clock ticks the process has used.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# per_call PID TICKS_BEFORE CALLS_PER_SECOND: nanoseconds of CPU the
# process spent per call over the last DURATION.
per_call() {
	local ticks
	ticks=$(($(cpu_ticks "$1") - $2))
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v r="$3" -v d="${DURATION%s}" \
		'BEGIN {printf "%.0f\n", (r > 0 ? t / hz * 1e9 / (r * d) : 0)}'
}

# us NANOSECONDS prints them in microseconds, to a tenth.
us() {
	awk -v n="$1" 'BEGIN {printf "%.1f\n", n / 1000}'
}

# start_bare starts bench/bare; sets BARE_REST, BARE_GRPC and BARE_PID.
start_bare() {
	"$BIN/bare" >"$OUT/bare.addr" &
	BARE_PID=$!
	PIDS+=($!)
	local i
	for i in $(seq 100); do
		grep -q '^grpc ' "$OUT/bare.addr" 2>/dev/null && break
		sleep 0.1
	done
	BARE_REST=$(awk '$1 == "rest" {print $2}' "$OUT/bare.addr")
	BARE_GRPC=$(awk '$1 == "grpc" {print $2}' "$OUT/bare.addr")
	[[ -n $BARE_REST && -n $BARE_GRPC ]] || { echo "bench/bare did not start" >&2; exit 1; }
}

# start_gateway NAME [FLAGS...] starts the built gateway on its defaults
# (TLS, bbolt, loopback identity) with a fresh data directory and the
# bench inventory; sets GW_REST, GW_GRPC, GW_ADMIN and GW_PID.
start_gateway() {
	local name=$1
	shift
	local dir=$OUT/$name
	rm -rf "$dir"
	mkdir -p "$dir"
	[[ -f $OUT/inventory.yaml ]] || inventory "$OUT/inventory.yaml"
	local ports
	mapfile -t ports < <("$BIN/load" -free-ports 3)
	GW_REST=127.0.0.1:${ports[0]} GW_GRPC=127.0.0.1:${ports[1]} GW_ADMIN=127.0.0.1:${ports[2]}
	local inv=(--inventory "$OUT/inventory.yaml")
	[[ " $* " != *" --backend hmc "* ]] || inv=() # the upstream has it
	# shellcheck disable=SC2086 # GW_FLAGS is split on purpose
	"$BIN/bcpii-gateway" --data-dir "$dir" "${inv[@]}" \
		--rest-addr "$GW_REST" --grpc-addr "$GW_GRPC" --admin-addr "$GW_ADMIN" \
		--stomp-addr - --socket - "$@" ${GW_FLAGS:-} 2>"$dir/log" &
	GW_PID=$!
	PIDS+=("$GW_PID")
	local i
	for i in $(seq 300); do
		curl -sf -o /dev/null "http://$GW_ADMIN/healthz" && return
		kill -0 "$GW_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/log" >&2
	echo "the gateway did not start" >&2
	exit 1
}

stop_gateway() {
	kill -TERM "$GW_PID" 2>/dev/null || true
	wait "$GW_PID" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$GW_PID" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# bench_job [P] starts partition P (P0) over REST and waits until its job
# ended; sets JOB (the job id) and JOB_TARGET.
bench_job() {
	local p=${1:-P0}
	JOB_TARGET=IBM390PS.BENCH.$p
	local uri i body
	uri=$(curl -sk -X POST -H "X-API-Target-Name: $JOB_TARGET" \
		"https://$GW_REST/api/partitions/bench-${p,,}/operations/start" |
		sed -n 's/.*"job-uri":"\([^"]*\)".*/\1/p')
	[[ -n $uri ]] || { echo "could not start the bench job" >&2; exit 1; }
	JOB=${uri##*/}
	for i in $(seq 100); do
		body=$(curl -sk -H "X-API-Target-Name: $JOB_TARGET" "https://$GW_REST$uri")
		[[ $body == *complete* ]] && break
		sleep 0.1
	done
	[[ ${#body} -eq 43 ]] || { echo "the bench job answers $body, not 43 bytes" >&2; exit 1; }
}

# wrk_rate URL: requests per second of wrk -t2 -cCONNS -dDURATION.
wrk_rate() {
	local out
	out=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H "X-API-Target-Name: $JOB_TARGET" "$1")
	if grep -q 'Non-2xx' <<<"$out"; then
		echo "wrk: answers other than 2xx from $1:" >&2
		echo "$out" >&2
		exit 1
	fi
	awk '/^Requests\/sec:/ {printf "%.0f\n", $2}' <<<"$out"
}

# grpc_rate ADDR CALLERS: calls per second of GetJob.
grpc_rate() {
	local out
	out=$("$BIN/load" -addr "$1" -callers "$2" -d "$DURATION" -op getjob -job "$JOB" -target "$JOB_TARGET")
	if ! grep -q ' failed=0 ' <<<"$out"; then
		echo "load: failures against $1: $out" >&2
		exit 1
	fi
	sed -n 's/^rate=\([0-9]*\) .*/\1/p' <<<"$out"
}

# median of the numbers on standard input.
median() {
	sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f\n", (b > 0 ? a / b : 0)}'
}

# table prints REST and gRPC GetJob rates, gateway against bare, ROUNDS
# alternations per run, RUNS runs; the ratio of a run is the gateway's mean
# over the bare handler's mean, and with several runs the medians follow.
table() {
	local figs=$OUT/table.txt r
	: >"$figs"
	for r in $(seq "$RUNS"); do
		table_run "$r" "$figs"
	done
	echo
	echo "median of $RUNS run(s), $ROUNDS alternation(s) each, ${DURATION} per figure, on $(nproc) core(s):"
	printf '%-34s %12s %12s %7s   %s\n' path bare gateway ratio "ratios of the runs"
	local p label
	for p in rest rest-quiet grpc-$CONNS grpc-1; do
		case $p in
		rest) label="REST Query Job Status, $CONNS conns" ;;
		rest-quiet) label="  the same, --log-level warn" ;;
		grpc-1) label="gRPC GetJob, 1 caller" ;;
		*) label="gRPC GetJob, $CONNS callers" ;;
		esac
		printf '%-34s %12s %12s %7s   %s\n' "$label" \
			"$(awk -v p="$p" '$2 == p {print $3}' "$figs" | median)" \
			"$(awk -v p="$p" '$2 == p {print $4}' "$figs" | median)" \
			"$(awk -v p="$p" '$2 == p {print $5}' "$figs" | median)" \
			"$(awk -v p="$p" '$2 == p {printf "%s ", $5}' "$figs")"
	done
	# The access log's share of the REST path's CPU: per request, the
	# gateway logging at info against the same gateway at warn.
	printf '%-34s %12s %12s %7s   %s\n' "REST CPU per request, log on/warn" \
		"$(us "$(awk '$2 == "rest-cpu" {print $3}' "$figs" | median)")us" \
		"$(us "$(awk '$2 == "rest-cpu" {print $4}' "$figs" | median)")us" \
		"$(awk '$2 == "rest-cpu" {print $5}' "$figs" | median)" \
		"log cost $(awk '$2 == "rest-cpu" {printf "%.1f\n", ($3 - $4) / $3 * 100}' "$figs" | median)% (runs: $(awk '$2 == "rest-cpu" {printf "%.1f%% ", ($3 - $4) / $3 * 100}' "$figs"))"
}

# table_run R FILE measures one run and appends "R PATH BARE GATEWAY RATIO"
# lines to FILE.
table_run() {
	local r=$1 figs=$2 i b g
	start_bare
	# The same gateway logging at warn only, beside it, for the log's cost.
	start_gateway quiet --pprof=false --log-level warn
	bench_job
	local quiet_url="https://$GW_REST/api/jobs/$JOB" quiet_pid=$GW_PID
	start_gateway gateway --pprof=false
	bench_job
	local gw_url="https://$GW_REST/api/jobs/$JOB" bare_url="https://$BARE_REST/api/jobs/$JOB"
	DURATION=2s wrk_rate "$bare_url" >/dev/null
	DURATION=2s wrk_rate "$gw_url" >/dev/null
	DURATION=2s wrk_rate "$quiet_url" >/dev/null
	declare -A sum
	local t0 t1 bc gc q qc
	for i in $(seq "$ROUNDS"); do
		t0=$(cpu_ticks "$BARE_PID"); b=$(wrk_rate "$bare_url"); bc=$(per_call "$BARE_PID" "$t0" "$b")
		t1=$(cpu_ticks "$GW_PID"); g=$(wrk_rate "$gw_url"); gc=$(per_call "$GW_PID" "$t1" "$g")
		t1=$(cpu_ticks "$quiet_pid"); q=$(wrk_rate "$quiet_url"); qc=$(per_call "$quiet_pid" "$t1" "$q")
		echo "run $r round $i: REST bare $b gateway $g (--log-level warn $q) req/s; CPU per request bare $(us "$bc")us gateway $(us "$gc")us (warn $(us "$qc")us)"
		sum[rest_b]=$((${sum[rest_b]:-0} + b)); sum[rest_g]=$((${sum[rest_g]:-0} + g)); sum[rest_q]=$((${sum[rest_q]:-0} + q))
		sum[cpu_g]=$((${sum[cpu_g]:-0} + gc)); sum[cpu_q]=$((${sum[cpu_q]:-0} + qc))
		for c in "$CONNS" 1; do
			t0=$(cpu_ticks "$BARE_PID"); b=$(grpc_rate "$BARE_GRPC" "$c"); bc=$(per_call "$BARE_PID" "$t0" "$b")
			t1=$(cpu_ticks "$GW_PID"); g=$(grpc_rate "$GW_GRPC" "$c"); gc=$(per_call "$GW_PID" "$t1" "$g")
			echo "run $r round $i: gRPC $c caller(s) bare $b gateway $g calls/s; CPU per call bare $(us "$bc")us gateway $(us "$gc")us"
			sum[g${c}_b]=$((${sum[g${c}_b]:-0} + b)); sum[g${c}_g]=$((${sum[g${c}_g]:-0} + g))
		done
	done
	local p k
	for p in rest grpc-$CONNS grpc-1; do
		case $p in rest) k=rest ;; grpc-1) k=g1 ;; *) k=g$CONNS ;; esac
		b=$((sum[${k}_b] / ROUNDS)); g=$((sum[${k}_g] / ROUNDS))
		echo "$r $p $b $g $(ratio "$g" "$b")" >>"$figs"
	done
	b=$((sum[rest_b] / ROUNDS)); q=$((sum[rest_q] / ROUNDS))
	echo "$r rest-quiet $b $q $(ratio "$q" "$b")" >>"$figs"
	gc=$((sum[cpu_g] / ROUNDS)); qc=$((sum[cpu_q] / ROUNDS))
	echo "$r rest-cpu $gc $qc $(ratio "$gc" "$qc")" >>"$figs"
	stop_gateway
	stop_all
}

# profile takes CPU profiles of the gateway from its admin listener's
# pprof while wrk, then bench/load, drive it, and prints their top entries.
# The profiles stay in OUT/profiles (give OUT to keep them).
profile() {
	local dir=$OUT/profiles secs=${DURATION%s}
	mkdir -p "$dir"
	start_gateway gateway --pprof
	bench_job
	local name
	for name in rest grpc-$CONNS grpc-1; do
		curl -s -o "$dir/$name.pprof" "http://$GW_ADMIN/debug/pprof/profile?seconds=$((secs - 2))" &
		local curl_pid=$!
		case $name in
		rest) wrk_rate "https://$GW_REST/api/jobs/$JOB" >"$dir/$name.rate" ;;
		grpc-1) grpc_rate "$GW_GRPC" 1 >"$dir/$name.rate" ;;
		*) grpc_rate "$GW_GRPC" "$CONNS" >"$dir/$name.rate" ;;
		esac
		wait "$curl_pid"
		echo "== $name: $(cat "$dir/$name.rate")/s; top entries (flat, then cumulative) =="
		go tool pprof -top -nodecount="${TOP:-25}" "$BIN/bcpii-gateway" "$dir/$name.pprof" 2>/dev/null | sed -n '1,/^ *flat/d;p' | head -"${TOP:-25}"
		go tool pprof -top -cum -nodecount="${TOP:-25}" "$BIN/bcpii-gateway" "$dir/$name.pprof" 2>/dev/null | sed -n '1,/^ *flat/d;p' | head -"${TOP:-25}"
	done
	stop_gateway
	echo "profiles in $dir (go tool pprof $BIN/bcpii-gateway $dir/rest.pprof)"
}

# gotest runs the go test benchmarks kept beside the code: REST Query Job
# Status (bare, in-process, Unix socket), gRPC GetJob, the not-found timing,
# the watch fan-out (in-process and over a Unix socket), STOMP fan-out and
# the bbolt timing. BENCHTIME sets -benchtime (default 1x for the fan-outs,
# 2s for the others).
gotest() {
	cd "$ROOT"
	local bt=${BENCHTIME:-2s}
	go test -run '^$' -bench 'BenchmarkQueryJobStatusREST|BenchmarkNotFoundTiming' -benchtime "$bt" -benchmem ./gateway/
	go test -run '^$' -bench 'BenchmarkWatchFanout' -benchtime "${BENCHTIME:-1x}" -benchmem ./gateway/
	BCPII_FANOUT_OVER=unix go test -run '^$' -bench 'BenchmarkWatchFanout' -benchtime "${BENCHTIME:-1x}" -benchmem ./gateway/
	go test -run '^$' -bench . -benchtime "$bt" -benchmem ./internal/server/ ./internal/store/boltstore/
	go test -run '^$' -bench . -benchtime "${BENCHTIME:-1x}" -benchmem ./internal/notify/
}

# durable measures accepted operation starts per second over gRPC Invoke
# at 1, 16 and 256 callers, on bbolt (each accept synced to disk before its
# 202) and with --store memory, alternating, RUNS runs; the ratio is the
# median of the runs' bbolt over memory.
durable() {
	local figs=$OUT/durable.txt r c store out rate
	: >"$figs"
	[[ -f $OUT/invoke.txt ]] || invoke_list "$OUT/invoke.txt"
	for r in $(seq "$RUNS"); do
		for c in ${DURABLE_CALLERS:-1 16 256}; do
			for store in bbolt memory; do
				start_gateway "durable-$store" --store "$store" --retention 4h
				out=$("$BIN/load" -addr "$GW_GRPC" -callers "$c" -d "$DURATION" -op invoke -uris "$OUT/invoke.txt")
				stop_gateway
				rate=$(sed -n 's/^rate=\([0-9]*\) .*/\1/p' <<<"$out")
				echo "run $r: $c caller(s) $store: $out"
				echo "$r $c $store $rate $(sed -n 's/.* p99=\([^ ]*\).*/\1/p' <<<"$out")" >>"$figs"
			done
		done
	done
	echo
	echo "median of $RUNS run(s), ${DURATION} per figure, on $(nproc) core(s):"
	printf '%-10s %14s %14s %7s   %-18s %s\n' callers "bbolt jobs/s" "memory jobs/s" ratio "ratios of the runs" "p99 bbolt"
	for c in ${DURABLE_CALLERS:-1 16 256}; do
		local b m rs
		b=$(awk -v c="$c" '$2 == c && $3 == "bbolt" {print $4}' "$figs" | median)
		m=$(awk -v c="$c" '$2 == c && $3 == "memory" {print $4}' "$figs" | median)
		rs=$(awk -v c="$c" '$2 == c && $3 == "bbolt" {b[$1] = $4} $2 == c && $3 == "memory" {m[$1] = $4}
			END {for (r in b) printf "%.2f\n", (m[r] > 0 ? b[r] / m[r] : 0)}' "$figs")
		printf '%-10s %14s %14s %7s   %-18s %s\n' "$c" "$b" "$m" "$(median <<<"$rs")" "$(tr '\n' ' ' <<<"$rs")" \
			"$(awk -v c="$c" '$2 == c && $3 == "bbolt" {printf "%s ", $5}' "$figs")"
	done
}

# store runs BenchmarkScale of internal/store/boltstore and etcdstore:
# stores of 1,000 and BCPII_SCALE_JOBS (1,000,000) ended jobs (bbolt's
# files kept in $TMPDIR/bcpii-scale once built); read latencies at both
# sizes, start-up, and the sweep of the large one (for at most
# BCPII_SCALE_SWEEP: 10m on bbolt, 3m on etcd) with query latencies. Each
# run measures both stores quiet, then with a CPU hog (a busy shell loop)
# beside them, and the summary gives per store and load the ratio of
# GetJob's p50 at the large size over the small one, and the longest and
# the p99.9 query during the sweep; medians of RUNS runs.
store() {
	cd "$ROOT"
	local figs=$OUT/store.txt r load st hog
	: >"$figs"
	mkdir -p "$BIN"
	go test -c -o "$BIN/boltstore.test" ./internal/store/boltstore/
	go test -c -o "$BIN/etcdstore.test" ./internal/store/etcdstore/
	for r in $(seq "$RUNS"); do
		for load in quiet hog; do
			hog=
			if [[ $load == hog ]]; then
				(while :; do :; done) &
				hog=$!
				PIDS+=("$hog")
			fi
			for st in boltstore etcdstore; do
				echo "run $r, $st, $load:"
				(cd "internal/store/$st" && "$BIN/$st.test" -test.run '^$' -test.bench BenchmarkScale -test.benchtime 1x -test.timeout 60m) |
					tee "$OUT/store-$r-$st-$load.log" | grep '^BenchmarkScale' | store_figs "$r" "$st" "$load" >>"$figs"
			done
			if [[ -n $hog ]]; then
				kill "$hog"
				wait "$hog" 2>/dev/null || true
			fi
		done
	done
	echo
	echo "median of $RUNS run(s), $(scale_jobs) jobs against 1000, on $(nproc) core(s):"
	printf '%-10s %-6s %14s %16s %17s   %s\n' store load "GetJob ratio" "sweep max (ms)" "sweep p99.9 (ms)" "ratios of the runs"
	for st in boltstore etcdstore; do
		for load in quiet hog; do
			printf '%-10s %-6s %14s %16s %17s   %s\n' "${st%store}" "$load" \
				"$(awk -v s="$st" -v l="$load" '$2 == s && $3 == l {print $4}' "$figs" | median)" \
				"$(awk -v s="$st" -v l="$load" '$2 == s && $3 == l {print $5}' "$figs" | median)" \
				"$(awk -v s="$st" -v l="$load" '$2 == s && $3 == l {print $6}' "$figs" | median)" \
				"$(awk -v s="$st" -v l="$load" '$2 == s && $3 == l {printf "%s ", $4}' "$figs")"
		done
	done
}

scale_jobs() { echo "${BCPII_SCALE_JOBS:-1000000}"; }

# store_figs R STORE LOAD reads a BenchmarkScale line and prints "R STORE
# LOAD GETJOB-RATIO SWEEP-MAX SWEEP-P99.9".
store_figs() {
	awk -v r="$1" -v s="$2" -v l="$3" -v n="$(scale_jobs)" '{
		for (i = 2; i < NF; i++) v[$(i + 1)] = $i
		small = v["GetJob-p50-ns/1000"]; large = v["GetJob-p50-ns/" n]
		printf "%s %s %s %.2f %s %s\n", r, s, l, (small > 0 ? large / small : 0),
			v["max-query-during-sweep-ms"], v["p99.9-query-during-sweep-ms"]
	}'
}

# wrk_p50 URL: the median latency of wrk -t2 -cCONNS -dDURATION, in
# microseconds.
wrk_p50() {
	wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "X-API-Target-Name: $JOB_TARGET" "$1" |
		awk '$1 == "50%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
			printf "%.0f\n", v * (u == "us" ? 1 : u == "ms" ? 1000 : 1000000)}'
}

# grpc_p50 ADDR CALLERS: the median latency of GetJob, in microseconds.
grpc_p50() {
	"$BIN/load" -addr "$1" -callers "$2" -d "$DURATION" -op getjob -job "$JOB" -target "$JOB_TARGET" |
		sed -n 's/.* p50=\([^ ]*\) .*/\1/p' |
		awk '{v = $1; u = v; sub(/[0-9.]+/, "", u); sub(/[a-zµ]+$/, "", v)
			printf "%.0f\n", v * (u == "ms" ? 1000 : u == "s" ? 1000000 : 1)}'
}

# etcd compares GetJob on --store etcd with the same on bbolt: both
# gateways on the hmc backend, with one upstream gateway on the simulated
# SE, and a real etcd (Debian's etcd-server) for the one; p50 latencies at
# CONNS connections (REST) and callers (gRPC), ROUNDS alternations, RUNS
# runs; the ratio is etcd over bbolt.
etcd() {
	local figs=$OUT/etcd.txt r
	: >"$figs"
	for r in $(seq "$RUNS"); do
		etcd_run "$r" "$figs"
	done
	echo
	echo "median of $RUNS run(s), p50 latency in microseconds, $CONNS connections/callers, on $(nproc) core(s):"
	printf '%-28s %10s %10s %7s   %s\n' path bbolt etcd ratio "ratios of the runs"
	local p
	for p in rest grpc; do
		printf '%-28s %10s %10s %7s   %s\n' "$p GetJob" \
			"$(awk -v p="$p" '$2 == p {print $3}' "$figs" | median)" \
			"$(awk -v p="$p" '$2 == p {print $4}' "$figs" | median)" \
			"$(awk -v p="$p" '$2 == p {print $5}' "$figs" | median)" \
			"$(awk -v p="$p" '$2 == p {printf "%s ", $5}' "$figs")"
	done
}

# etcd_run R FILE measures one run and appends "R PATH BBOLT ETCD RATIO".
etcd_run() {
	local r=$1 figs=$2 ports i
	mapfile -t ports < <("$BIN/load" -free-ports 2)
	local etcd_url=http://127.0.0.1:${ports[0]}
	rm -rf "$OUT/etcd"
	/usr/bin/etcd --name bench --data-dir "$OUT/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
		--listen-peer-urls "http://127.0.0.1:${ports[1]}" --initial-advertise-peer-urls "http://127.0.0.1:${ports[1]}" \
		--initial-cluster "bench=http://127.0.0.1:${ports[1]}" --log-level error 2>"$OUT/etcd.log" &
	PIDS+=($!)
	{ echo 'users:'; printf 'bench-pass-1\n' | "$BIN/bcpii-gateway" hash-password --cost 4 bench; } >"$OUT/users.yaml"
	printf 'userid: bench\npassword: bench-pass-1\n' >"$OUT/hmc-credentials"
	start_gateway upstream --users-file "$OUT/users.yaml"
	local up=$GW_REST hmc=(--backend hmc --hmc-url "https://$GW_REST" --hmc-ca "$OUT/upstream/tls/gateway.crt"
		--hmc-credentials "$OUT/hmc-credentials" --hmc-poll-interval 100ms --hmc-stomp-addr -)
	start_gateway onbolt "${hmc[@]}"
	bench_job P0
	local bolt_job=$JOB bolt_target=$JOB_TARGET bolt_rest=$GW_REST bolt_grpc=$GW_GRPC
	start_gateway onetcd "${hmc[@]}" --store etcd --etcd-endpoints "$etcd_url"
	bench_job P1
	local etcd_job=$JOB etcd_target=$JOB_TARGET etcd_rest=$GW_REST etcd_grpc=$GW_GRPC
	declare -A sum
	local b e
	for i in $(seq "$ROUNDS"); do
		JOB=$bolt_job JOB_TARGET=$bolt_target; b=$(wrk_p50 "https://$bolt_rest/api/jobs/$JOB")
		JOB=$etcd_job JOB_TARGET=$etcd_target; e=$(wrk_p50 "https://$etcd_rest/api/jobs/$JOB")
		echo "run $r round $i: REST GetJob p50 bbolt ${b}us etcd ${e}us (upstream $up)"
		sum[rest_b]=$((${sum[rest_b]:-0} + b)); sum[rest_e]=$((${sum[rest_e]:-0} + e))
		JOB=$bolt_job JOB_TARGET=$bolt_target; b=$(grpc_p50 "$bolt_grpc" "$CONNS")
		JOB=$etcd_job JOB_TARGET=$etcd_target; e=$(grpc_p50 "$etcd_grpc" "$CONNS")
		echo "run $r round $i: gRPC GetJob p50 bbolt ${b}us etcd ${e}us"
		sum[grpc_b]=$((${sum[grpc_b]:-0} + b)); sum[grpc_e]=$((${sum[grpc_e]:-0} + e))
	done
	local p
	for p in rest grpc; do
		b=$((sum[${p}_b] / ROUNDS)); e=$((sum[${p}_e] / ROUNDS))
		echo "$r $p $b $e $(ratio "$e" "$b")" >>"$figs"
	done
	stop_all
}
