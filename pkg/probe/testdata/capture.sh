#!/usr/bin/env bash
# Captures what the probe image's busybox prints for each outcome, in two
# network namespaces this script creates (client 198.18.5.1, server
# 198.18.5.2) and deletes. Output files: <case>.stdout/.stderr/.rc
# Usage: capture.sh /path/to/busybox /path/to/coredns   (root needed)
set -euo pipefail
B="${1:?busybox path}"
D="${2:?coredns path}"
cd "$(dirname "$0")"
c=ncc-$$; s=ncs-$$
cleanup() { kill "${dnspid:-}" 2>/dev/null || true; ip netns del "$c" 2>/dev/null || true; ip netns del "$s" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$s"
ip link add ncv0-$$ type veth peer name ncv1-$$
ip link set ncv0-$$ netns "$c" name eth0; ip link set ncv1-$$ netns "$s" name eth0
ip -n "$c" addr add 198.18.5.1/24 dev eth0; ip -n "$s" addr add 198.18.5.2/24 dev eth0
for n in "$c" "$s"; do ip -n "$n" link set eth0 up; ip -n "$n" link set lo up; done
mkdir -p /tmp/ncwww-$$; echo ok > /tmp/ncwww-$$/index.html
ip netns exec "$s" "$B" httpd -p 198.18.5.2:80 -h /tmp/ncwww-$$
# a DNS server that refuses: nothing listens on 53 → ICMP port unreachable
# 198.18.5.9 is on-link but absent: ARP fails → "No route to host"/timeouts.
# 198.18.6.1 has no route at all.
ip netns exec "$s" iptables -A INPUT -p tcp --dport 8080 -j DROP
ip netns exec "$s" iptables -A INPUT -p icmp -j DROP -s 198.18.5.3 || true
run() { local name=$1; shift; set +e; ip netns exec "$c" "$@" > "$name.stdout" 2> "$name.stderr"; echo $? > "$name.rc"; set -e; }
run ping-ok         "$B" ping -c 3 -W 2 -w 2 198.18.5.2
run ping-timeout    "$B" ping -c 3 -W 2 -w 2 198.18.5.9
run ping-noroute    "$B" ping -c 3 -W 2 -w 2 198.18.6.1
run ping-badname    "$B" ping -c 3 -W 2 -w 2 no-such-host.invalid
run tcp-ok          "$B" nc -v -z -w 2 198.18.5.2 80
run tcp-refused     "$B" nc -v -z -w 2 198.18.5.2 81
run tcp-timeout     "$B" nc -v -z -w 2 198.18.5.2 8080
run tcp-noroute     "$B" nc -v -z -w 2 198.18.6.1 80
run tcp-hostunreach "$B" nc -v -z -w 2 198.18.5.9 80
run http-ok         "$B" wget -T 2 -S -O /dev/null http://198.18.5.2:80/
run http-404        "$B" wget -T 2 -S -O /dev/null http://198.18.5.2:80/missing
run http-refused    "$B" wget -T 2 -S -O /dev/null http://198.18.5.2:81/
run http-timeout    "$B" wget -T 2 -S -O /dev/null http://198.18.5.2:8080/
run dns-noserver    "$B" nslookup example.invalid. 198.18.5.2
cat > /tmp/nccorefile-$$ <<'DNS'
.:53 {
  template IN A corp.example {
    match "^db[.]corp[.]example[.]$"
    answer "{{ .Name }} 60 IN A 198.19.0.1"
    fallthrough
  }
  template ANY ANY {
    rcode NXDOMAIN
  }
}
DNS
ip netns exec "$s" "$D" -conf /tmp/nccorefile-$$ >/dev/null 2>&1 & dnspid=$!
sleep 2
run dns-ok          "$B" nslookup db.corp.example. 198.18.5.2
run dns-nxdomain    "$B" nslookup nope.corp.example. 198.18.5.2
rm -f /tmp/nccorefile-$$
rm -rf /tmp/ncwww-$$
