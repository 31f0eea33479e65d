#!/usr/bin/env bash
# The fan-out benchmark against a real kube-apiserver and etcd, each in its
# own process, so that the benchmark process's peak heap and RSS are the
# plugin's own (pkg/fanout/apiserver_bench_test.go). The kubelet is simulated
# in a third process; execs are answered in-process with captured output.
#
# Usage: scripts/bench-apiserver.sh
# Env:   NETCHECK_BENCH_NODES  node counts (default 3,1000,5000)
#        NETCHECK_BENCH_SCALE  delay multiplier of the simulated kubelet and exec (default 1)
#        COUNT                 runs per size (default 1)
#        GOMEMLIMIT, GOGC      passed to the benchmark process as to any Go program
# The server listens on 127.0.0.1 only, on ports 23790-23791 (etcd) and 26443,
# with its data in a temp directory removed on exit. It uses the e2e lab's
# kube-apiserver and apt's etcd (e2e/cluster/build.sh installs and caches both).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../e2e/cluster/lib.sh
source e2e/cluster/lib.sh

export NETCHECK_BENCH_SCALE=${NETCHECK_BENCH_SCALE:-1}
export NETCHECK_BENCH_NODES=${NETCHECK_BENCH_NODES:-3,1000,5000}
COUNT=${COUNT:-1}

[[ -x $K8S_BIN/kube-apiserver ]] && command -v etcd >/dev/null && command -v openssl >/dev/null ||
  bash e2e/cluster/build.sh

dir=$(mktemp -d -t netcheck-apiserver.XXXXXX)
pids=()
cleanup() {
  local p
  # kube-apiserver's graceful shutdown can take minutes with watches open;
  # its data is thrown away anyway.
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# A server of an earlier run may still be shutting down.
for _ in $(seq 60); do
  ss -Htln '( sport = :26443 or sport = :23790 or sport = :23791 )' | grep -c . >/dev/null || break
  sleep 1
done
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$token,bench,bench,system:masters" >"$dir/tokens.csv"

etcd --name bench --data-dir "$dir/etcd" \
  --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
  --listen-peer-urls http://127.0.0.1:23791 --initial-advertise-peer-urls http://127.0.0.1:23791 \
  --initial-cluster bench=http://127.0.0.1:23791 --logger zap --log-level warn >"$dir/etcd.log" 2>&1 &
pids+=($!)
# No ServiceAccount admission (no token controller runs: the probe pods mount
# no token anyway); AlwaysAllow (the plugin's RBAC is proven in the e2e suite).
# Requests may take up to 5 min: on 2 cores beside etcd, 10,000 pod creates at
# once outlast the default 60 s, and what is measured here is the plugin.
# The advertised address must not be loopback; with no endpoint reconciler it
# is only written nowhere (192.0.2.1, TEST-NET-1, is never contacted).
"$K8S_BIN/kube-apiserver" --bind-address=127.0.0.1 --advertise-address=192.0.2.1 --endpoint-reconciler-type=none \
  --secure-port=26443 \
  --cert-dir="$dir/certs" --etcd-servers=http://127.0.0.1:23790 --token-auth-file="$dir/tokens.csv" \
  --authorization-mode=AlwaysAllow --disable-admission-plugins=ServiceAccount --allow-privileged=true \
  --service-cluster-ip-range=10.96.0.0/16 --service-account-issuer=https://bench.invalid \
  --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
  --request-timeout=5m --profiling=false --v=0 >"$dir/apiserver.log" 2>&1 &
pids+=($!)

cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "https://127.0.0.1:26443", insecure-skip-tls-verify: true}}]
users: [{name: bench, user: {token: "$token"}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
current-context: bench
EOF
export NETCHECK_BENCH_KUBECONFIG=$dir/kubeconfig
for _ in $(seq 120); do
  curl -fsk -H "Authorization: Bearer $token" https://127.0.0.1:26443/readyz >/dev/null 2>&1 && break
  sleep 1
done
curl -fsk -H "Authorization: Bearer $token" https://127.0.0.1:26443/readyz >/dev/null ||
  { tail -n 20 "$dir/apiserver.log" >&2; echo "kube-apiserver did not become ready" >&2; exit 1; }

cmd=(go test -bench BenchmarkFanoutAPIServer -run '^$' -benchtime 1x -count "$COUNT" -timeout 60m ./pkg/fanout/)
echo "# NETCHECK_BENCH_SCALE=$NETCHECK_BENCH_SCALE NETCHECK_BENCH_NODES=$NETCHECK_BENCH_NODES ${GOMEMLIMIT:+GOMEMLIMIT=$GOMEMLIMIT }${GOGC:+GOGC=$GOGC }${cmd[*]}"
echo "# $(nproc) CPUs, $(go version | cut -d' ' -f3-), kube-apiserver $K8S_VERSION and etcd $(etcd --version | awk 'NR==1{print $3}') in their own processes"
"${cmd[@]}"
