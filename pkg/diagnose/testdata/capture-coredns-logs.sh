#!/usr/bin/env bash
# Captures what CoreDNS (the lab's build, with the loop plugin) logs when it
# forwards to a loopback resolver that is itself — as in a pod whose
# resolv.conf names systemd-resolved's 127.0.0.53 — and when it runs healthy,
# in a network namespace this script creates (loopback only) and deletes.
# Output files: coredns-loop.log, coredns-healthy.log
# Usage: capture-coredns-logs.sh /path/to/coredns   (root needed)
set -euo pipefail
D="${1:?coredns path}"
cd "$(dirname "$0")"
n=nclp-$$ dir=$(mktemp -d)
cleanup() { kill "${pid:-}" 2>/dev/null || true; ip netns del "$n" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ip netns add "$n"
ip -n "$n" link set lo up
cat >"$dir/loop" <<'DNS'
.:53 {
    errors
    forward . 127.0.0.53
    cache 30
    loop
}
DNS
cat >"$dir/healthy" <<'DNS'
.:53 {
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
    loop
}
DNS
# The loop plugin asks itself a random HINFO name at start and stops the
# server when the query comes back: the process exits on its own.
rc=0; timeout 20 ip netns exec "$n" "$D" -conf "$dir/loop" >coredns-loop.log 2>&1 || rc=$?
echo "coredns with forward . 127.0.0.53 exited $rc"
ip netns exec "$n" "$D" -conf "$dir/healthy" >coredns-healthy.log 2>&1 &
pid=$!
sleep 3
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
