#!/usr/bin/env bash
# The fan-out benchmark (pkg/fanout/bench_test.go) at full sizes and the
# lab cluster's delays, as a table.
#
# Usage: scripts/bench.sh
# Env:   NETCHECK_BENCH_SCALE  delay multiplier (default 1: pod start 800 ms, exec 20 ms, API 5-10 ms)
#        NETCHECK_BENCH_NODES  node counts (default 3,30,300,1000)
#        NETCHECK_BENCH_DELETECOLLECTION=refused  Cleanup's one-by-one fallback
#        COUNT                 runs per size; the table shows the median (default 1)
#        OUT                   raw `go test` output file (default: a temp file, path printed)
set -euo pipefail
cd "$(dirname "$0")/.."

export NETCHECK_BENCH_SCALE=${NETCHECK_BENCH_SCALE:-1}
COUNT=${COUNT:-1}
OUT=${OUT:-$(mktemp -t netcheck-bench.XXXXXX)}
cmd=(go test -bench . -run '^$' -benchtime 1x -count "$COUNT" -timeout 60m ./pkg/fanout/)

echo "# NETCHECK_BENCH_SCALE=$NETCHECK_BENCH_SCALE ${NETCHECK_BENCH_NODES:+NETCHECK_BENCH_NODES=$NETCHECK_BENCH_NODES }${NETCHECK_BENCH_DELETECOLLECTION:+NETCHECK_BENCH_DELETECOLLECTION=$NETCHECK_BENCH_DELETECOLLECTION }${cmd[*]}"
echo "# $(nproc) CPUs, $(go version | cut -d' ' -f3-), raw output: $OUT"
"${cmd[@]}" >"$OUT" 2>&1 || { cat "$OUT" >&2; exit 1; }

awk -v count="$COUNT" '
function median(key, m,    n, i, j, v, a) {
	n = N[key]
	for (i = 1; i <= n; i++) a[i] = V[key, m, i]
	for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j+1] = a[j]; a[j+1] = v }
	return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
/^BenchmarkFanout\// {
	split($1, p, "/"); grp = p[2]; nodes = p[3]; sub(/^nodes=/, "", nodes); sub(/-[0-9]+$/, "", nodes)
	key = grp SUBSEP nodes
	if (!(key in N)) { order[++K] = key; G[key] = grp; S[key] = nodes }
	n = ++N[key]
	for (i = 3; i < NF; i += 2) V[key, $(i+1), n] = $i
}
/^BenchmarkPeers\// {
	split($1, p, "/"); nodes = p[3]; sub(/^nodes=/, "", nodes); sub(/-[0-9]+$/, "", nodes)
	key = "peers" SUBSEP nodes
	if (!(key in N)) { porder[++P] = key; S[key] = nodes }
	n = ++N[key]
	for (i = 3; i < NF; i += 2) V[key, $(i+1), n] = $i
}
/^BenchmarkFakeAPIServer\// {
	split($1, p, "/"); nodes = p[2]; sub(/^nodes=/, "", nodes); sub(/-[0-9]+$/, "", nodes)
	key = "floor" SUBSEP nodes
	if (!(key in N)) { forder[++F] = key; S[key] = nodes }
	n = ++N[key]
	for (i = 3; i < NF; i += 2) V[key, $(i+1), n] = $i
}
END {
	if (K == 0) { print "no benchmark lines" > "/dev/stderr"; exit 1 }
	hdr = "%-8s %6s %8s %8s %8s %8s %8s %9s %9s %7s %9s %9s %6s\n"
	printf hdr, "client", "nodes", "wall-s", "vs-min", "1st-rdy", "all-rdy", "cleanup", "api/node", "exec/node", "cpu-s", "heap-MB", "rss-MB", "left"
	for (k = 1; k <= K; k++) {
		key = order[k]; grp = G[key]
		w = median(key, "wall-s")
		if (!(grp in base)) base[grp] = w
		printf "%-8s %6d %8.2f %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f %7.2f %9.1f %9.1f %6d\n", grp, S[key], w, w / base[grp],
			median(key, "first-ready-s"), median(key, "all-ready-s"), median(key, "cleanup-s"),
			median(key, "api-req/node"), median(key, "exec/node"), median(key, "cpu-s"),
			median(key, "peak-heap-MB"), median(key, "peak-rss-MB"), median(key, "pods-left")
	}
	if (F > 0) {
		printf "\nharness floor (the fake API server alone, 2 creates per node, no plugin code):\n"
		printf "%6s %14s\n", "nodes", "all-created-s"
		for (k = 1; k <= F; k++) printf "%6d %14.3f\n", S[forder[k]], median(forder[k], "all-created-s")
	}
	if (P > 0) {
		printf "\npods shape (every pod waits for all, then checks 10 peers; qps sized):\n"
		printf "%6s %8s %8s %9s\n", "nodes", "wall-s", "vs-min", "exec/node"
		for (k = 1; k <= P; k++) {
			w = median(porder[k], "wall-s"); if (k == 1) pbase = w
			printf "%6d %8.2f %8.2f %9.2f\n", S[porder[k]], w, w / pbase, median(porder[k], "exec/node")
		}
	}
	if (count > 1) printf "(median of %d runs per row)\n", count
}' "$OUT"
