#!/usr/bin/env bash
# Captures pathmtu.sh (the path-MTU probe, run by the probe image's busybox)
# in three network namespaces this script creates and deletes: a client
# (198.18.7.1, MTU 1500), a router and a server (198.18.8.2) behind it.
# Cases: pmtu-ok (every MTU 1500), pmtu-router (the router's far side at
# 1400: it answers "fragmentation needed"), pmtu-silent (the server's own
# link at 1400, the router's at 1500: full-size frames are dropped without
# a word), pmtu-unanswered (an address nobody holds: cannot measure).
# Output files: <case>.stdout/.stderr/.rc
# Usage: capture-pmtu.sh /path/to/busybox   (root needed)
set -euo pipefail
B="${1:?busybox path}"
cd "$(dirname "$0")"
c=ncpc-$$ r=ncpr-$$ s=ncps-$$
cleanup() { for n in "$c" "$r" "$s"; do ip netns del "$n" 2>/dev/null || true; done; }
trap cleanup EXIT
for n in "$c" "$r" "$s"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add eth0 netns "$c" type veth peer name up0 netns "$r"
ip link add eth0 netns "$s" type veth peer name up1 netns "$r"
ip -n "$c" addr add 198.18.7.1/24 dev eth0; ip -n "$r" addr add 198.18.7.254/24 dev up0
ip -n "$s" addr add 198.18.8.2/24 dev eth0; ip -n "$r" addr add 198.18.8.254/24 dev up1
for x in "$c eth0" "$r up0" "$r up1" "$s eth0"; do set -- $x; ip -n "$1" link set "$2" up; done
ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
ip -n "$c" route add default via 198.18.7.254; ip -n "$s" route add default via 198.18.8.254
# A fresh client namespace per case: the kernel caches a path MTU it was told.
run() {
  local name=$1 host=${2:-198.18.8.2}
  ip -n "$c" route flush cache
  set +e; ip netns exec "$c" "$B" sh -c "$(cat ../pathmtu.sh)" netcheck-pmtu 1 "$host" "" > "$name.stdout" 2> "$name.stderr"; echo $? > "$name.rc"; set -e
}
run pmtu-ok
ip -n "$r" link set up1 mtu 1400; ip -n "$s" link set eth0 mtu 1400
run pmtu-router
ip -n "$r" link set up1 mtu 1500
run pmtu-silent
ip -n "$s" link set eth0 mtu 1500
run pmtu-unanswered 198.18.8.9
