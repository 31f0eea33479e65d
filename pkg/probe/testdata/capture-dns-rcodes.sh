#!/usr/bin/env bash
# Captures what the probe image's busybox nslookup prints when the server
# answers REFUSED or SERVFAIL (an upstream resolver's ACL, or its own upstream
# failing), and when it is asked on a port other than 53, from a CoreDNS in a network namespace this script creates (client
# 198.18.9.1, server 198.18.9.2) and deletes. Output files: <case>.stdout/.stderr/.rc
# Usage: capture-dns-rcodes.sh /path/to/busybox /path/to/coredns   (root needed)
set -euo pipefail
B="${1:?busybox path}"
D="${2:?coredns path}"
cd "$(dirname "$0")"
c=ncrc-$$; s=ncrs-$$ conf=/tmp/nccorefile-rc-$$
cleanup() { kill "${dnspid:-}" 2>/dev/null || true; ip netns del "$c" 2>/dev/null || true; ip netns del "$s" 2>/dev/null || true; rm -f "$conf"; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$s"
ip link add ncrv0-$$ type veth peer name ncrv1-$$
ip link set ncrv0-$$ netns "$c" name eth0; ip link set ncrv1-$$ netns "$s" name eth0
ip -n "$c" addr add 198.18.9.1/24 dev eth0; ip -n "$s" addr add 198.18.9.2/24 dev eth0
for n in "$c" "$s"; do ip -n "$n" link set eth0 up; ip -n "$n" link set lo up; done
cat >"$conf" <<'DNS'
refused.example:53 {
  template ANY ANY {
    rcode REFUSED
  }
}
servfail.example:53 {
  template ANY ANY {
    rcode SERVFAIL
  }
}
port.example:5353 {
  template IN A {
    answer "{{ .Name }} 60 IN A 198.19.0.7"
  }
  template IN AAAA {
    rcode NOERROR
  }
}
DNS
ip netns exec "$s" "$D" -conf "$conf" >/dev/null 2>&1 & dnspid=$!
sleep 2
run() { local name=$1; shift; set +e; ip netns exec "$c" "$@" > "$name.stdout" 2> "$name.stderr"; echo $? > "$name.rc"; set -e; }
run dns-refused   "$B" nslookup www.refused.example. 198.18.9.2
run dns-servfail  "$B" nslookup www.servfail.example. 198.18.9.2
# a forward target with a port (forward . 198.18.9.2:5353): busybox takes server:port
run dns-port      "$B" nslookup www.port.example. 198.18.9.2:5353
