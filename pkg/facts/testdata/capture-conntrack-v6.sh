#!/usr/bin/env bash
# Re-captures an IPv6 flow's conntrack entry as the kernel prints it
# (/proc/net/nf_conntrack: addresses in full) and as conntrack -L does
# (short form): a pod address pinging an external one whose replies are
# dropped. Runs only in two network namespaces it creates; needs root,
# ip6tables, conntrack and busybox.
set -euo pipefail
cd "$(dirname "$0")"
bb=${BUSYBOX:-/var/cache/netcheck-e2e/bin/busybox}
a=ncc6a-$$ b=ncc6b-$$
ip netns add "$a"; ip netns add "$b"
trap 'ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true' EXIT
ip link add v6a netns "$a" type veth peer name v6b netns "$b"
ip -n "$a" link set v6a up; ip -n "$b" link set v6b up
ip -n "$a" addr add fd00:10:244:1::5/64 dev v6a nodad
ip -n "$b" addr add fd00:198:19::1/64 dev v6b nodad
ip -n "$a" -6 route add fd00:198:19::/64 dev v6a
ip -n "$b" -6 route add fd00:10:244:1::/64 dev v6b
ip netns exec "$a" ip6tables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT   # conntrack on in this netns
ip netns exec "$b" ip6tables -A INPUT -p icmpv6 --icmpv6-type echo-request -j DROP
ip netns exec "$a" "$bb" ping -c 1 -W 1 fd00:198:19::1 >/dev/null || true
ip netns exec "$a" cat /proc/net/nf_conntrack >conntrack-v6.proc.txt
ip netns exec "$a" conntrack -L -f ipv6 >conntrack-v6.conntrack.txt 2>/dev/null
