#!/usr/bin/env bash
# Re-captures the iptables-save and ip route outputs the facts tests read.
# Runs only inside network namespaces it creates; needs root, iptables, ipset, busybox.
set -euo pipefail
cd "$(dirname "$0")"
ns=ncl-$$; ip netns add "$ns"; trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
X=(ip netns exec "$ns")
"${X[@]}" iptables -t nat -N KUBE-POSTROUTING
"${X[@]}" iptables -t nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
"${X[@]}" iptables -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
"${X[@]}" iptables -t nat -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
"${X[@]}" iptables -t nat -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
"${X[@]}" iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
"${X[@]}" iptables -N KUBE-FORWARD
"${X[@]}" iptables -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
"${X[@]}" iptables -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
"${X[@]}" iptables -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
"${X[@]}" iptables -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
"${X[@]}" iptables-nft-save > kubeproxy-masq.nft.txt
"${X[@]}" iptables-legacy-save > empty.legacy.txt
"${X[@]}" iptables -t nat -D POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
"${X[@]}" iptables-nft-save > kubeproxy-nomasq.nft.txt
"${X[@]}" iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -d 172.16.0.0/12 -j MASQUERADE
"${X[@]}" iptables-nft-save > kubeproxy-othermasq.nft.txt
"${X[@]}" iptables -t nat -D POSTROUTING -s 10.244.0.0/16 -d 172.16.0.0/12 -j MASQUERADE
"${X[@]}" iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
"${X[@]}" iptables -P FORWARD DROP
"${X[@]}" iptables -A FORWARD -i docker0 -j ACCEPT
"${X[@]}" iptables-nft-save > docker-forward-drop.nft.txt
"${X[@]}" iptables -P FORWARD ACCEPT
"${X[@]}" iptables -D FORWARD -i docker0 -j ACCEPT
"${X[@]}" iptables -A FORWARD -s 10.244.0.0/16 -d 198.19.0.0/24 -j REJECT --reject-with icmp-port-unreachable
"${X[@]}" iptables-nft-save > forward-reject-rule.nft.txt
"${X[@]}" iptables -D FORWARD -s 10.244.0.0/16 -d 198.19.0.0/24 -j REJECT --reject-with icmp-port-unreachable
"${X[@]}" iptables -t nat -D POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
"${X[@]}" ipset create cali40masq-ipam-pools hash:net
"${X[@]}" ipset add cali40masq-ipam-pools 10.244.0.0/16
"${X[@]}" iptables -t nat -N cali-nat-outgoing
"${X[@]}" iptables -t nat -A POSTROUTING -j cali-nat-outgoing
"${X[@]}" iptables -t nat -A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src -j MASQUERADE --random-fully
"${X[@]}" iptables-nft-save > calico-ipset.nft.txt

ip netns del "$ns"; ip netns add "$ns"
ip link add ncr0-$$ type veth peer name ncr1-$$
ip link set ncr0-$$ netns "$ns" name vr0; ip link set ncr1-$$ netns "$ns" name vr1
"${X[@]}" ip link set vr0 up; "${X[@]}" ip link set vr1 up
"${X[@]}" ip addr add 198.18.0.11/24 dev vr0
"${X[@]}" ip route add default via 198.18.0.254
"${X[@]}" ip route add 198.19.0.0/24 via 198.18.0.100
"${X[@]}" ip route add 10.244.1.0/24 via 198.18.0.12
"${X[@]}" busybox ip route show > route-table.busybox.txt
"${X[@]}" ip route show > route-table.iproute2.txt
"${X[@]}" busybox ip route get 198.19.0.1 > routeget-specific.busybox.txt
"${X[@]}" busybox ip route get 192.0.2.1 > routeget-default.busybox.txt
"${X[@]}" ip route del default
"${X[@]}" busybox ip route get 192.0.2.1 > routeget-unreach.busybox.stdout 2> routeget-unreach.busybox.stderr || true
"${X[@]}" ip route get 192.0.2.1 > routeget-unreach.iproute2.stdout 2> routeget-unreach.iproute2.stderr || true

# nftables (Debian's nft 1.0.6): a firewalld-like inet table dropping forwarded pod traffic
# to the external subnet, a native nat table masquerading the pods, beside iptables-nft's own
# rules (which nft -j also lists; the facts must judge them once). Then a forward chain with
# policy drop.
ns2=ncn-$$; ip netns add "$ns2"; trap 'ip netns del "$ns" 2>/dev/null || true; ip netns del "$ns2" 2>/dev/null || true' EXIT
Y=(ip netns exec "$ns2")
"${Y[@]}" iptables -A FORWARD -s 10.244.0.0/16 -j ACCEPT
"${Y[@]}" iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
"${Y[@]}" nft -f nft-firewalld-like.nft
"${Y[@]}" nft -j list ruleset > nft-firewalld-like.json
"${Y[@]}" iptables-nft-save > nft-firewalld-like.iptables.txt
"${Y[@]}" nft add table inet pol
"${Y[@]}" nft 'add chain inet pol pod_fwd { type filter hook forward priority 0; policy drop; }'
"${Y[@]}" nft add rule inet pol pod_fwd ct state established,related accept
"${Y[@]}" nft -j list table inet pol > nft-policy-drop.json

# A rule in iptables-legacy beside iptables-nft's (a node whose rules are split between backends).
ns3=ncg-$$; ip netns add "$ns3"
ip netns exec "$ns3" iptables-legacy -A FORWARD -s 10.244.0.0/16 -m comment --comment "netcheck-e2e legacy" -j ACCEPT
ip netns exec "$ns3" iptables-legacy-save > legacy-forward.legacy.txt
ip netns del "$ns3"

# A verdict map (kube-proxy's nftables mode decides by maps): judged by lookup.
ns4=ncv-$$; ip netns add "$ns4"
ip netns exec "$ns4" nft -f - <<'NFT'
table ip kp {
	map no-endpoints {
		type ipv4_addr : verdict
		elements = { 10.96.5.5 : drop }
	}
	chain pod_fwd {
		type filter hook forward priority -110; policy accept;
		ip daddr vmap @no-endpoints
	}
}
NFT
ip netns exec "$ns4" nft -j list ruleset > nft-vmap.json
ip netns del "$ns4"

# What the node script prints: one `nft -j list table` document per native table, one after the other.
ns5=ncc-$$; ip netns add "$ns5"
ip netns exec "$ns5" nft -f nft-firewalld-like.nft
ip netns exec "$ns5" sh -c 'nft -j list table inet netcheck_fw; nft -j list table ip nat2' > nft-tables-concat.json
ip netns del "$ns5"

# A drop rule behind a match the walker does not judge (a concatenation): reported as uncertain.
ns6=ncx-$$; ip netns add "$ns6"
ip netns exec "$ns6" nft -f - <<'NFT'
table inet cc {
	chain pod_fwd {
		type filter hook forward priority 0; policy accept;
		ip daddr . tcp dport { 198.19.0.1 . 80 } drop
	}
}
NFT
ip netns exec "$ns6" nft -j list ruleset > nft-concat-drop.json
ip netns del "$ns6"

# kubeproxy-nftables.json is not made here: it is kube-proxy's own table, read on the e2e lab in nftables mode:
#   NETCHECK_E2E_PROXY_MODE=nftables bash e2e/cluster/up.sh; go test -tags e2e -run TestServiceHealthy ./e2e/
#   bash e2e/cluster/exec-node.sh nc-node1 nft -j list table ip kube-proxy > kubeproxy-nftables.json

# ufw's layout (its before/after/user rules files, DEFAULT_FORWARD_POLICY="DROP"), written with iptables in a
# netns of our own: ufw itself would rewrite /etc/ufw on the host. Pod traffic dies at FORWARD's policy.
ns7=ncu-$$; ip netns add "$ns7"
U=(ip netns exec "$ns7")
"${U[@]}" iptables -P FORWARD DROP
for c in ufw-before-logging-forward ufw-before-forward ufw-after-forward ufw-after-logging-forward ufw-reject-forward ufw-track-forward ufw-user-forward; do
  "${U[@]}" iptables -N "$c"
done
for c in ufw-before-logging-forward ufw-before-forward ufw-after-forward ufw-after-logging-forward ufw-reject-forward ufw-track-forward; do
  "${U[@]}" iptables -A FORWARD -j "$c"
done
"${U[@]}" iptables -A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
"${U[@]}" iptables -A ufw-before-forward -p icmp -m icmp --icmp-type 3 -j ACCEPT
"${U[@]}" iptables -A ufw-before-forward -j ufw-user-forward
"${U[@]}" iptables-nft-save > ufw-forward-drop.nft.txt
"${U[@]}" iptables -A ufw-user-forward -s 10.244.1.0/24 -j ACCEPT   # what `ufw route allow from 10.244.1.0/24` adds
"${U[@]}" iptables-nft-save > ufw-route-allowed.nft.txt
ip netns del "$ns7"
