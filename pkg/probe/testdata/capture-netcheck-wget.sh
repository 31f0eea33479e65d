#!/usr/bin/env bash
# Captures what netcheck-wget prints (and, for the record, busybox wget's own
# TLS against the same server), for the classifier tests. The TLS server is
# the lab's real kube-apiserver (make e2e-cluster first); the other cases use
# two network namespaces this script creates (client 198.18.8.1, server
# 198.18.8.2) and deletes: busybox httpd on :80 (a plain port asked for TLS),
# nothing on :8443 (refused), and :8444 dropped by iptables (timeout).
# Output files: <case>.stdout/.stderr/.rc
# Usage: capture-netcheck-wget.sh /path/to/netcheck-wget /path/to/busybox   (root needed)
set -euo pipefail
W="${1:?netcheck-wget path}"
B="${2:?busybox path}"
cd "$(dirname "$0")"
node=nce2e-nc-node1 api=https://198.18.0.10:6443
grep -qw "$node" <<<"$(ip netns list)" || { echo "the lab is not up (make e2e-cluster)" >&2; exit 1; }
c=ncwc-$$ s=ncws-$$
cleanup() { kill "${httpd:-}" 2>/dev/null || true; ip netns del "$c" 2>/dev/null || true; ip netns del "$s" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$s"
ip link add ncwv0-$$ type veth peer name ncwv1-$$
ip link set ncwv0-$$ netns "$c" name eth0; ip link set ncwv1-$$ netns "$s" name eth0
ip -n "$c" addr add 198.18.8.1/24 dev eth0; ip -n "$s" addr add 198.18.8.2/24 dev eth0
for n in "$c" "$s"; do ip -n "$n" link set eth0 up; ip -n "$n" link set lo up; done
ip netns exec "$s" iptables -A INPUT -p tcp --dport 8444 -j DROP
mkdir -p /tmp/ncw-www-$$ && echo ok > /tmp/ncw-www-$$/index.html
ip netns exec "$s" "$B" httpd -f -p 80 -h /tmp/ncw-www-$$ & httpd=$!
sleep 1
run() { local name=$1 ns=$2; shift 2; set +e; ip netns exec "$ns" "$@" > "$name.stdout" 2> "$name.stderr"; echo $? > "$name.rc"; set -e; }
# PATH without openssl: busybox wget then uses its own TLS, as in the probe image.
run wget-busybox-tls-go125  "$node" env PATH=/nonexistent "$B" wget -T 5 -S -O /dev/null "$api/version"
run netcheck-wget-ok        "$node" "$W" -T 5 -S -O /dev/null "$api/version"
run netcheck-wget-403       "$node" "$W" -T 5 -S -O /dev/null "$api/api/v1/namespaces/kube-system/secrets"
run netcheck-wget-plain     "$c" "$W" -T 5 -S -O /dev/null https://198.18.8.2:80/
run netcheck-wget-refused   "$c" "$W" -T 5 -S -O /dev/null https://198.18.8.2:8443/
run netcheck-wget-timeout   "$c" "$W" -T 2 -S -O /dev/null https://198.18.8.2:8444/
rm -rf /tmp/ncw-www-$$
# Dates and request IDs change with every run: keep the files stable.
sed -i -E 's/^(  (Date|Audit-Id|X-Kubernetes-Pf-[A-Za-z-]+): ).*/\1…/' ./*wget*.stderr
