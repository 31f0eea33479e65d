#!/usr/bin/env bash
# Captures what netcheck-ping (cmd/netcheck-ping) prints for each outcome, as
# nobody (65534) in two network namespaces this script creates (client
# 198.18.7.1, server 198.18.7.2) and deletes; the client's
# net.ipv4.ping_group_range admits group 65534, as the restricted pod probe's
# sysctl does, except for the "nogroup" case. Output files: <case>.stdout/.stderr/.rc
# Usage: capture-netcheck-ping.sh /path/to/netcheck-ping   (root needed)
set -euo pipefail
P="${1:?netcheck-ping path}"
cd "$(dirname "$0")"
c=ncpc-$$; s=ncps-$$ bin=/tmp/netcheck-ping-$$
cleanup() { ip netns del "$c" 2>/dev/null || true; ip netns del "$s" 2>/dev/null || true; rm -f "$bin"; }
trap cleanup EXIT
install -m 0755 "$P" "$bin"
ip netns add "$c"; ip netns add "$s"
ip link add ncpv0-$$ type veth peer name ncpv1-$$
ip link set ncpv0-$$ netns "$c" name eth0; ip link set ncpv1-$$ netns "$s" name eth0
ip -n "$c" addr add 198.18.7.1/24 dev eth0; ip -n "$s" addr add 198.18.7.2/24 dev eth0
for n in "$c" "$s"; do ip -n "$n" link set eth0 up; ip -n "$n" link set lo up; done
ip netns exec "$c" sysctl -qw net.ipv4.ping_group_range="65534 65534"
run() { local name=$1; shift; set +e; ip netns exec "$c" setpriv --reuid 65534 --regid 65534 --clear-groups "$bin" "$@" > "$name.stdout" 2> "$name.stderr"; echo $? > "$name.rc"; set -e; }
run netcheck-ping-ok       -c 3 -i 0.1 -W 2 -w 2 198.18.7.2
run netcheck-ping-timeout  -c 3 -i 0.1 -W 2 -w 2 198.18.7.9
run netcheck-ping-noroute  -c 3 -i 0.1 -W 2 -w 2 198.18.8.1
run netcheck-ping-badname  -c 3 -i 0.1 -W 2 -w 2 no-such-host.invalid
ip netns exec "$c" sysctl -qw net.ipv4.ping_group_range="1 0"
run netcheck-ping-nogroup  -c 3 -i 0.1 -W 2 -w 2 198.18.7.2
