#!/usr/bin/env bash
# Captures what the probe image's busybox nslookup prints on a dual-stack
# cluster: `nslookup -type=AAAA NAME SERVER` answered with an IPv6 address,
# with no AAAA record (NOERROR, empty: what a Corefile's `template IN AAAA`
# filter answers), and NXDOMAIN; and a plain lookup sent to the server's
# IPv6 address, answered and unanswered (an on-link address nobody holds).
# The server is the lab's CoreDNS binary in a network namespace this script
# creates (client 198.18.10.1 and fd00:198:18:10::1, server 198.18.10.2 and
# fd00:198:18:10::2) and deletes. Output files: <case>.stdout/.stderr/.rc
# Usage: capture-dns-aaaa.sh /path/to/busybox /path/to/coredns   (root needed)
set -euo pipefail
B="${1:?busybox path}"
D="${2:?coredns path}"
cd "$(dirname "$0")"
c=ncac-$$; s=ncas-$$ conf=/tmp/nccorefile-aaaa-$$
cleanup() { kill "${dnspid:-}" 2>/dev/null || true; ip netns del "$c" 2>/dev/null || true; ip netns del "$s" 2>/dev/null || true; rm -f "$conf"; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$s"
ip link add ncav0-$$ type veth peer name ncav1-$$
ip link set ncav0-$$ netns "$c" name eth0; ip link set ncav1-$$ netns "$s" name eth0
ip -n "$c" addr add 198.18.10.1/24 dev eth0; ip -n "$s" addr add 198.18.10.2/24 dev eth0
ip -n "$c" addr add fd00:198:18:10::1/64 dev eth0 nodad; ip -n "$s" addr add fd00:198:18:10::2/64 dev eth0 nodad
for n in "$c" "$s"; do ip -n "$n" link set eth0 up; ip -n "$n" link set lo up; done
# As the lab's kubernetes plugin answers (pods insecure): a dual-stack name
# with both records; a name with an A record only, whose AAAA is NOERROR and
# empty (also what `template IN AAAA cluster.local { rcode NOERROR }`
# answers); every other name NXDOMAIN.
cat >"$conf" <<'DNS'
cluster.local:53 {
  template IN AAAA cluster.local {
    match "^fd00-10-244-3--5[.]kube-system[.]pod[.]cluster[.]local[.]$"
    answer "{{ .Name }} 30 IN AAAA fd00:10:244:3::5"
    fallthrough
  }
  template IN A cluster.local {
    match "^kubernetes[.]default[.]svc[.]cluster[.]local[.]$"
    answer "{{ .Name }} 30 IN A 10.96.0.1"
    fallthrough
  }
  template IN AAAA cluster.local {
    match "^kubernetes[.]default[.]svc[.]cluster[.]local[.]$"
    rcode NOERROR
    fallthrough
  }
  template ANY ANY cluster.local {
    rcode NXDOMAIN
  }
}
DNS
ip netns exec "$s" "$D" -conf "$conf" >/dev/null 2>&1 & dnspid=$!
sleep 2
run() { local name=$1; shift; set +e; ip netns exec "$c" "$@" > "$name.stdout" 2> "$name.stderr"; echo $? > "$name.rc"; set -e; }
run dns-aaaa-ok        "$B" nslookup -type=AAAA fd00-10-244-3--5.kube-system.pod.cluster.local. 198.18.10.2
run dns-aaaa-nodata    "$B" nslookup -type=AAAA kubernetes.default.svc.cluster.local. 198.18.10.2
run dns-aaaa-nxdomain  "$B" nslookup -type=AAAA nope.kube-system.pod.cluster.local. 198.18.10.2
run dns-v6server-ok    "$B" nslookup kubernetes.default.svc.cluster.local. fd00:198:18:10::2
run dns-v6server-noanswer "$B" nslookup kubernetes.default.svc.cluster.local. fd00:198:18:10::9
