#!/usr/bin/env bash
# fault.sh NODE FAULT inject|restore
# Injects one real fault into one node's network namespace, or restores exactly
# what was there before. Faults:
#   route-del-podcidr:<otherNode>  delete the route to another node's podCIDR
#   route-del-podcidr6:<otherNode> the same for its IPv6 pod range (the dual-stack lab)
#   masquerade-del                 delete the pod-egress MASQUERADE rule
#   forward-drop                   iptables -P FORWARD DROP
#   ip-forward-off                 net.ipv4.ip_forward=0
#   ext-route-del                  delete the route to 198.19.0.0/24 (traffic then dies at the dead-end gateway)
#   ext-route-del6, masquerade-del6, forward-drop6, ip-forward-off6
#                                  the IPv6 twins of the four above (the dual-stack lab): the route to
#                                  fd00:198:19::/64, the ip6tables masquerade of fd00:10:244::/56, ip6tables'
#                                  FORWARD policy, net.ipv6.conf.all.forwarding
#   kube-proxy-stop                stop kube-proxy and remove its rules (restore restarts it and waits for its rules)
#   kube-proxy-kill                kill kube-proxy, leaving its rules behind (stale: a crash)
#   proxy-map-del:<address>        nftables mode: delete one address's elements from kube-proxy's service-ips
#                                  map (restore puts them back)
#   host-tools-hidden[:alone]      iptables*-save and nft gone from the node's own mount namespace (a Talos-like
#                                  host); without :alone a CNI agent's container (calico-node) still has them
#   vxlan-drop, nft-vxlan-drop     a host firewall rule (iptables INPUT; or a native nft table's input hook)
#                                  dropping UDP 8472: flannel's VXLAN from the other nodes
#   flanneld-stop[:lease]          flanneld killed (with :lease, /run/flannel/subnet.env removed as well)
#   flannel-public-ip:<address>    flanneld restarted with --public-ip=<address>: it advertises an address it
#                                  does not send from
#   flannel-mtu-high               flannel.1 at MTU 1500 (raised while the uplink was at 1550, which then went
#                                  back to 1500): more than the uplink carries once VXLAN's 50 bytes are added
#   flannel-cni-mtu                the flannel CNI config's delegate says "mtu": 1500: new pods get 1500, above
#                                  flannel.1's 1450
#   flannel-masq-off               flanneld restarted with --ip-masq=false, its masquerade rules flushed, the CNI
#                                  delegate told not to masquerade: pods leave with their own addresses
#   proxy-rule-del:<address>      delete kube-proxy's KUBE-SERVICES rules for one Service address (e.g. an
#                                  external IP); kube-proxy does not rewrite them until a later resync
#   conntrack-fill                 fill the node's conntrack table to 97% of nf_conntrack_max with idle
#                                  entries (203.0.113.1 → 203.0.113.x, TEST-NET-3: inserted, never sent);
#                                  the kernel refuses a lower nf_conntrack_max outside the init netns
#   hairpin-off                    hairpin mode off on every bridge port of the node (its running pods
#                                  cannot reach themselves through a Service; new pods get it back from the CNI)
#   nft-forward-drop               a native nftables table laid out as firewalld's (inet, a base chain on
#                                  the forward hook at filter+10 jumping to a policies chain) dropping
#                                  forwarded pod traffic from cni0 to 198.19.0.0/24; iptables still accepts
#   nft-masquerade                 the pod-egress masquerade moved from iptables to a native nft table
#                                  (healthy: pods still reach outside)
#   iptables-legacy-rule           a FORWARD rule written with iptables-legacy beside iptables-nft's rules
#                                  (the node's rules split between the two backends)
#   uplink-mtu                     the node's underlay interface (eth0) at MTU 1400, the others' at 1500:
#                                  full-size frames from the other nodes die on it, small ones pass
#   dns-loop                       the node's resolv.conf (the kubelet's resolvConf) names 127.0.0.53, a
#                                  loopback stub as systemd-resolved's: a CoreDNS that forwards to
#                                  /etc/resolv.conf from a pod started there asks itself
#   dns-upstream-down              (NODE nc-ext) the lab's upstream resolver at 198.19.0.1:53 drops every
#                                  query (a firewall in front of it): CoreDNS's forward gets no answer
# inject twice is a no-op; restore without inject re-applies the healthy state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

usage() { sed -n '2,/^# inject twice/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
(($# == 3)) || usage
node=$1 fault=$2 action=$3
# The external host takes the faults of what runs there (its resolver).
if [[ $node == "$EXT" ]]; then
  [[ $fault == dns-upstream-down || $fault == dns-upstream-refuse ]] || die "$EXT takes only dns-upstream-down and dns-upstream-refuse, got '$fault'"
else
  is_node "$node" || die "unknown node '$node' (nodes: ${NODES[*]}, or $EXT for dns-upstream-down)"
fi
[[ $action == inject || $action == restore ]] || usage
init_pid "$node" >/dev/null || die "node $node is not running (is the cluster up?)"

mkdir -p "$STATE/faults"
rec="$STATE/faults/$node@${fault//:/%}"
inn() { in_netns "$node" "$@"; }
masq_rule=(POSTROUTING -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -j MASQUERADE)
# The IPv6 twins: the same fault in the other family's tools and ranges.
ipf=(ip) ipt=iptables ext_cidr=$EXT_CIDR ext_via=${IP[$EXT]} fwd_sysctl=net.ipv4.ip_forward
case $fault in
  ext-route-del6 | masquerade-del6 | forward-drop6 | ip-forward-off6)
    [[ $STACK == dual ]] || die "$fault needs the dual-stack lab (NETCHECK_E2E_STACK=dual)"
    ipf=(ip -6) ipt=ip6tables ext_cidr=$EXT_CIDR6 ext_via=${IP6[$EXT]} fwd_sysctl=net.ipv6.conf.all.forwarding
    masq_rule=(POSTROUTING -s "$CLUSTER_CIDR6" ! -d "$CLUSTER_CIDR6" -j MASQUERADE)
    ;;
esac

if [[ $action == inject && -e $rec ]]; then
  log "$fault already injected on $node"
  exit 0
fi

case $fault in
  route-del-podcidr:* | route-del-podcidr6:*)
    other=${fault#route-del-podcidr*:}
    if ! is_node "$other" || [[ $other == "$node" ]]; then die "$fault needs another node's name, got '$other'"; fi
    if [[ $fault == route-del-podcidr6:* ]]; then
      [[ $STACK == dual ]] || die "$fault needs the dual-stack lab (NETCHECK_E2E_STACK=dual)"
      ipf=(ip -6) cidr=${PODCIDR6[$other]} via=${IP6[$other]}
    else
      cidr=$(<"$STATE/machines/$other/podcidr") via=${IP[$other]}
    fi
    if [[ $action == inject ]]; then
      inn "${ipf[@]}" route show "$cidr" >"$rec"
      [[ -s $rec ]] || { rm -f "$rec"; die "$node has no route to $cidr"; }
      inn "${ipf[@]}" route del "$cidr"
    else
      saved="$(cat "$rec" 2>/dev/null || true)"
      [[ -n $saved ]] || saved="$cidr via $via dev eth0"
      # shellcheck disable=SC2086
      inn "${ipf[@]}" route replace $saved
    fi
    ;;
  ext-route-del | ext-route-del6)
    if [[ $action == inject ]]; then
      inn "${ipf[@]}" route show "$ext_cidr" >"$rec"
      [[ -s $rec ]] || { rm -f "$rec"; die "$node has no route to $ext_cidr"; }
      inn "${ipf[@]}" route del "$ext_cidr"
    else
      saved="$(cat "$rec" 2>/dev/null || true)"
      [[ -n $saved ]] || saved="$ext_cidr via $ext_via dev eth0"
      # shellcheck disable=SC2086
      inn "${ipf[@]}" route replace $saved
    fi
    ;;
  masquerade-del | masquerade-del6)
    if [[ $action == inject ]]; then
      inn "$ipt" -t nat -C "${masq_rule[@]}" 2>/dev/null || die "$node has no MASQUERADE rule for ${masq_rule[2]}"
      : >"$rec"
      while inn "$ipt" -t nat -C "${masq_rule[@]}" 2>/dev/null; do inn "$ipt" -t nat -D "${masq_rule[@]}"; done
    else
      inn "$ipt" -t nat -C "${masq_rule[@]}" 2>/dev/null || inn "$ipt" -t nat -A "${masq_rule[@]}"
    fi
    ;;
  forward-drop | forward-drop6)
    if [[ $action == inject ]]; then
      awk '$1 == "-P" {print $3; exit}' <<<"$(inn "$ipt" -S FORWARD)" >"$rec"
      inn "$ipt" -P FORWARD DROP
    else
      policy=$(cat "$rec" 2>/dev/null || true)
      inn "$ipt" -P FORWARD "${policy:-ACCEPT}"
    fi
    ;;
  ip-forward-off | ip-forward-off6)
    # The CNI bridge plugin turns ip_forward back on at every pod ADD, so a
    # one-shot sysctl is undone by the probe pods themselves. Real nodes where
    # forwarding stays off have something re-applying it (a hardening agent,
    # a sysctl.d file re-read); a small enforcer loop plays that part.
    if [[ $action == inject ]]; then
      inn sysctl -n "$fwd_sysctl" >"$rec"
      inn sysctl -qw "$fwd_sysctl=0"
      nohup setsid bash -c 's=$1; shift; while :; do "$@" sysctl -qw "$s=0" 2>/dev/null; sleep 0.2; done' enforcer \
        "$fwd_sysctl" ip netns exec "$(netns_of "$node")" >/dev/null 2>&1 &
      echo $! >"$rec.enforcer"
    else
      if [[ -s $rec.enforcer ]]; then kill "$(cat "$rec.enforcer")" 2>/dev/null || true; rm -f "$rec.enforcer"; fi
      v=$(head -n1 "$rec" 2>/dev/null || true)
      inn sysctl -qw "$fwd_sysctl=${v:-1}"
    fi
    ;;
  kube-proxy-stop|kube-proxy-kill)
    # stop: kube-proxy stopped and its rules removed, as `kube-proxy --cleanup`
    # does on a real node. kill: it dies (a crash, an OOM kill), its rules stay.
    if [[ $action == inject ]]; then
      : >"$rec"
      if [[ $fault == kube-proxy-kill ]]; then
        stop_in "$node" kube-proxy KILL
      else
        stop_in "$node" kube-proxy
        in_machine "$node" "$K8S_BIN/kube-proxy" --cleanup >>"$STATE/logs/$node.kube-proxy-cleanup.log" 2>&1 || true
        if grep -qE '^:KUBE-(SERVICES|SVC-|SEP-|POSTROUTING|NODEPORTS)' <<<"$(inn iptables-save 2>/dev/null)" ||
          inn nft list table ip kube-proxy >/dev/null 2>&1; then
          die "kube-proxy rules still present on $node after cleanup"
        fi
      fi
    else
      running_in "$node" kube-proxy || start_kube_proxy "$node"
      wait_for "kube-proxy rules on $node" 30 kube_proxy_synced "$node" || die "kube-proxy on $node did not program the Services"
    fi
    ;;
  proxy-map-del:*)
    # nftables mode: delete one address's elements from kube-proxy's service-ips map.
    addr=${fault#proxy-map-del:}
    [[ $addr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "proxy-map-del needs an IPv4 address, got '$addr'"
    if [[ $action == inject ]]; then
      inn nft list map ip kube-proxy service-ips | tr ',{}' '\n\n\n' | sed 's/^[[:space:]]*elements = //; s/^[[:space:]]*//' |
        grep -F -- "$addr . " >"$rec" || { rm -f "$rec"; die "$node has no service-ips element for $addr"; }
      while read -r el; do
        key=${el%% :*}
        read -ra words <<<"$key"
        inn nft delete element ip kube-proxy service-ips "{" "${words[@]}" "}"
      done <"$rec"
    else
      while read -r el; do
        read -ra words <<<"$el"
        inn nft add element ip kube-proxy service-ips "{" "${words[@]}" "}" 2>/dev/null || true
      done <"$rec"
    fi
    ;;
  proxy-rule-del:*)
    addr=${fault#proxy-rule-del:}
    [[ $addr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "proxy-rule-del needs an IPv4 address, got '$addr'"
    if [[ $action == inject ]]; then
      inn iptables -t nat -S KUBE-SERVICES | grep -F -- "-d $addr/32 " >"$rec" || { rm -f "$rec"; die "$node has no KUBE-SERVICES rule for $addr"; }
      while read -r line; do
        eval "inn iptables -t nat -D ${line#-A }"
      done <"$rec"
    else
      while read -r line; do
        rule=${line#-A KUBE-SERVICES }
        eval "inn iptables -t nat -C KUBE-SERVICES $rule" 2>/dev/null || eval "inn iptables -t nat -I KUBE-SERVICES 1 $rule"
      done <"$rec"
    fi
    ;;
  conntrack-fill)
    if [[ $action == inject ]]; then
      max=$(inn cat /proc/sys/net/netfilter/nf_conntrack_max)
      count=$(inn cat /proc/sys/net/netfilter/nf_conntrack_count)
      want=$(( max * 97 / 100 - count ))
      : >"$rec"
      if ((want > 0)); then
        batch="$STATE/faults/conntrack-fill.$node"
        awk -v n="$want" 'BEGIN { for (i = 0; i < n; i++) printf "-I -s 203.0.113.1 -d 203.0.113.%d -p tcp --sport %d --dport 9 --state ESTABLISHED -t 1800 -u ASSURED\n", 2 + int(i / 60000), 1024 + i % 60000 }' >"$batch"
        inn conntrack -R "$batch" >/dev/null 2>&1 || true
        rm -f "$batch"
      fi
      log "$node conntrack: $(inn cat /proc/sys/net/netfilter/nf_conntrack_count) of $max entries"
    else
      inn conntrack -D -s 203.0.113.1 >/dev/null 2>&1 || true
    fi
    ;;
  hairpin-off)
    # ip netns exec mounts the node's own /sys: its bridge ports are there.
    if [[ $action == inject ]]; then
      inn sh -c 'grep -H . /sys/class/net/*/brport/hairpin_mode' >"$rec" || { rm -f "$rec"; die "$node has no bridge ports"; }
      inn sh -c 'for f in /sys/class/net/*/brport/hairpin_mode; do echo 0 >"$f"; done'
    elif [[ -s $rec ]]; then
      while IFS=: read -r f v; do
        [[ -n $f ]] && inn sh -c 'test -e "$1" && echo "$2" >"$1" || true' restore "$f" "$v"
      done <"$rec"
    else
      # the lab's CNI config says hairpinMode: true
      inn sh -c 'for f in /sys/class/net/*/brport/hairpin_mode; do echo 1 >"$f"; done'
    fi
    ;;
  nft-forward-drop)
    if [[ $action == inject ]]; then
      : >"$rec"
      # Each rule ends its line: a rule followed by "}" on the same line does not load.
      inn nft -f - <<EOF
table inet netcheck_fw {
	set ext_nets {
		type ipv4_addr
		flags interval
		elements = { $EXT_CIDR }
	}
	chain filter_FORWARD {
		type filter hook forward priority filter + 10; policy accept;
		ct state { established, related } accept
		ct status dnat accept
		iifname "lo" accept
		ct state invalid drop
		jump filter_FORWARD_POLICIES
	}
	chain filter_FORWARD_POLICIES {
		iifname "cni0" ip daddr @ext_nets counter drop comment "netcheck-e2e fault"
	}
}
EOF
      inn nft list table inet netcheck_fw >/dev/null || die "the nft table did not load on $node"
    else
      inn nft delete table inet netcheck_fw 2>/dev/null || true
    fi
    ;;
  nft-masquerade)
    if [[ $action == inject ]]; then
      : >"$rec"
      inn nft -f - <<EOF
table ip netcheck_nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr $CLUSTER_CIDR ip daddr != $CLUSTER_CIDR masquerade
	}
}
EOF
      while inn iptables -t nat -C "${masq_rule[@]}" 2>/dev/null; do inn iptables -t nat -D "${masq_rule[@]}"; done
    else
      inn iptables -t nat -C "${masq_rule[@]}" 2>/dev/null || inn iptables -t nat -A "${masq_rule[@]}"
      inn nft delete table ip netcheck_nat 2>/dev/null || true
    fi
    ;;
  iptables-legacy-rule)
    legacy_rule=(FORWARD -s "$CLUSTER_CIDR" -m comment --comment "netcheck-e2e legacy" -j ACCEPT)
    if [[ $action == inject ]]; then
      : >"$rec"
      inn iptables-legacy -A "${legacy_rule[@]}"
    else
      while inn iptables-legacy -C "${legacy_rule[@]}" 2>/dev/null; do inn iptables-legacy -D "${legacy_rule[@]}"; done
    fi
    ;;
  host-tools-hidden|host-tools-hidden:alone)
    # A host without iptables or nft (Talos, Bottlerocket): the rule tools
    # vanish from the node's own mount namespace. Without ":alone", a CNI
    # agent's "container" (a process named calico-node in a mount namespace
    # of its own, started before) still ships them.
    hide=(nft iptables-save ip6tables-save iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save)
    dir="$STATE/faults.d/$node.tools"
    if [[ $action == inject ]]; then
      : >"$rec"
      mkdir -p "$dir/view" "$dir/orig"
      if [[ $fault != *:alone ]]; then
        cp "$(command -v sleep)" "$dir/calico-node"
        in_machine "$node" unshare -m --propagation private "$dir/calico-node" infinity </dev/null >/dev/null 2>&1 &
        for _ in $(seq 50); do pidof calico-node >/dev/null && break; sleep 0.1; done
        pidof calico-node >"$dir/decoy.pid" || die "the decoy agent did not start"
      fi
      # /usr/sbin seen again through links to the original, less the hidden tools.
      in_machine "$node" mount --bind /usr/sbin "$dir/orig"
      for f in /usr/sbin/*; do
        b=$(basename "$f")
        [[ " ${hide[*]} " == *" $b "* ]] || ln -s "$dir/orig/$b" "$dir/view/$b"
      done
      in_machine "$node" mount --bind "$dir/view" /usr/sbin
    else
      in_machine "$node" umount /usr/sbin 2>/dev/null || true
      in_machine "$node" umount "$dir/orig" 2>/dev/null || true
      if [[ -s $dir/decoy.pid ]]; then kill $(cat "$dir/decoy.pid") 2>/dev/null || true; fi
      rm -rf "$dir"
    fi
    ;;
  dns-upstream-down)
    rules=("INPUT -d $EXT_IP -p udp --dport 53 -m comment --comment netcheck-e2e-fault -j DROP" "INPUT -d $EXT_IP -p tcp --dport 53 -m comment --comment netcheck-e2e-fault -j DROP")
    for r in "${rules[@]}"; do
      # shellcheck disable=SC2086
      if [[ $action == inject ]]; then
        : >"$rec"; inn iptables -C $r 2>/dev/null || inn iptables -I $r
      else
        while inn iptables -C $r 2>/dev/null; do inn iptables -D $r; done
      fi
    done
    ;;
  dns-upstream-refuse)
    # The upstream resolver restarted with a config that answers every query
    # REFUSED (an access list that leaves the cluster out); restore restarts it
    # with the lab's own.
    dir="$STATE/machines/$EXT/dns"
    conf=$dir/Corefile
    if [[ $action == inject ]]; then
      : >"$rec"
      upstream_corefile REFUSED >"$dir/Corefile.refuse"
      conf=$dir/Corefile.refuse
    fi
    stop_in "$EXT" dns
    start_in "$EXT" dns "$BIN/coredns" -conf "$conf"
    # Listening again once it answers anything (REFUSED included).
    wait_for "the upstream resolver on $EXT" 10 bash -c "ip netns exec $(netns_of "$EXT") $BIN/busybox nslookup www.example.net. $EXT_IP 2>&1 | grep -E 'Address|REFUSED' >/dev/null" ||
      die "the upstream resolver on $EXT did not come back"
    ;;
  dns-loop)
    # The node's resolv.conf names a loopback stub (systemd-resolved's
    # 127.0.0.53), and the kubelet hands that file to dnsPolicy: Default pods.
    # Written in place: /etc/resolv.conf is a bind mount of this file.
    if [[ $action == inject ]]; then
      : >"$rec"; printf 'nameserver 127.0.0.53\n' >"$STATE/machines/$node/resolv.conf"
    else
      printf 'nameserver %s\n' "$CORP_DNS_IP" >"$STATE/machines/$node/resolv.conf"
    fi
    ;;
  vxlan-drop)
    # A host firewall rule dropping flannel's VXLAN (UDP 8472) at the node's input.
    rule=(INPUT -p udp --dport 8472 -m comment --comment "netcheck-e2e fault" -j DROP)
    if [[ $action == inject ]]; then
      : >"$rec"; inn iptables -C "${rule[@]}" 2>/dev/null || inn iptables -I "${rule[@]}"
    else
      while inn iptables -C "${rule[@]}" 2>/dev/null; do inn iptables -D "${rule[@]}"; done
    fi
    ;;
  nft-vxlan-drop)
    # The same, in a native nftables table (a base chain on the input hook).
    if [[ $action == inject ]]; then
      : >"$rec"
      inn nft -f - <<'NFT'
table inet netcheck_in {
	chain input {
		type filter hook input priority filter; policy accept;
		udp dport 8472 counter drop comment "netcheck-e2e fault"
	}
}
NFT
    else
      inn nft delete table inet netcheck_in 2>/dev/null || true
    fi
    ;;
  flanneld-stop|flanneld-stop:lease)
    # flanneld dies; with ":lease" its /run/flannel/subnet.env goes too (new
    # pods on the node then get no network from the flannel CNI plugin).
    [[ $PROFILE == flannel ]] || die "$fault needs the flannel profile"
    lease="$STATE/machines/$node/run-flannel/subnet.env"
    if [[ $action == inject ]]; then
      cp "$lease" "$rec" 2>/dev/null || : >"$rec"
      stop_in "$node" flanneld
      [[ $fault == *:lease ]] && rm -f "$lease"
    else
      [[ -s $rec && ! -e $lease ]] && cp "$rec" "$lease"
      running_in "$node" flanneld || start_flanneld "$node"
      wait_for "flannel's lease on $node" 20 test -s "$lease" || die "flanneld on $node wrote no lease"
    fi
    ;;
  flannel-public-ip:*)
    # flanneld advertises an address the node does not send from (the wrong
    # interface picked, k3s#1131): the other nodes' FDBs point at it.
    [[ $PROFILE == flannel ]] || die "$fault needs the flannel profile"
    addr=${fault#flannel-public-ip:}
    [[ $addr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "flannel-public-ip needs an IPv4 address, got '$addr'"
    stop_in "$node" flanneld
    want=${IP[$node]}
    if [[ $action == inject ]]; then
      : >"$rec"; want=$addr
      FLANNEL_ARGS=--public-ip=$addr start_flanneld "$node"
    else
      start_flanneld "$node"
    fi
    public_ip_is() { [[ $(kctl get node "$1" -o jsonpath='{.metadata.annotations.flannel\.alpha\.coreos\.com/public-ip}') == "$2" ]]; }
    wait_for "flannel's public-ip annotation of $node to read $want" 20 public_ip_is "$node" "$want"
    ;;
  flannel-mtu-high)
    # flannel.1 above what the uplink carries with VXLAN's 50 bytes: the kernel
    # caps a VXLAN device at its uplink's MTU less 50, so it is raised while the
    # uplink is larger and stays when the uplink goes back down (a node's MTU
    # lowered after the overlay came up). flanneld keeps running.
    [[ $PROFILE == flannel ]] || die "$fault needs the flannel profile"
    if [[ $action == inject ]]; then
      : >"$rec"
      up=$(inn cat /sys/class/net/eth0/mtu)
      inn ip link set dev eth0 mtu 1550
      inn ip link set dev flannel.1 mtu 1500
      inn ip link set dev eth0 mtu "$up"
    else
      inn ip link set dev flannel.1 mtu 1450
    fi
    ;;
  flannel-cni-mtu)
    # The flannel CNI config's delegate given "mtu": 1500, above flannel.1's
    # 1450: pods started from now on get 1500, more than the overlay carries.
    [[ $PROFILE == flannel ]] || die "$fault needs the flannel profile"
    conf="$STATE/machines/$node/etc-cni-net.d/10-flannel.conflist"
    if [[ $action == inject ]]; then
      [[ -s $rec ]] || cp "$conf" "$rec"
      grep -q '"mtu"' "$conf" || sed -i 's/"delegate": {/"delegate": {"mtu": 1500, /' "$conf"
    else
      sed -i 's/"mtu": 1500, //' "$conf"
    fi
    ;;
  flannel-masq-off)
    # flanneld restarted with --ip-masq=false and its masquerade rules gone, the
    # CNI delegate told not to masquerade either: pods' traffic leaves with
    # their own addresses (nodes still reach outside: the first seed's symptom).
    [[ $PROFILE == flannel ]] || die "$fault needs the flannel profile"
    conf="$STATE/machines/$node/etc-cni-net.d/10-flannel.conflist"
    flannel_masquerades() { grep -q MASQUERADE <<<"$(in_netns "$1" iptables -t nat -S FLANNEL-POSTRTG 2>/dev/null)"; }
    if [[ $action == inject ]]; then
      cp "$conf" "$rec"
      stop_in "$node" flanneld
      inn iptables -t nat -F FLANNEL-POSTRTG 2>/dev/null || true
      sed -i 's/"delegate": {/"delegate": {"ipMasq": false, /' "$conf"
      FLANNEL_ARGS=--ip-masq=false start_flanneld "$node"
      wait_for "flannel's lease on $node without masquerade" 20 \
        grep -qx FLANNEL_IPMASQ=false "$STATE/machines/$node/run-flannel/subnet.env"
    else
      [[ -s $rec ]] && cp "$rec" "$conf"
      stop_in "$node" flanneld
      start_flanneld "$node"
      wait_for "flannel's masquerade on $node" 20 flannel_masquerades "$node"
    fi
    ;;
  uplink-mtu)
    if [[ $action == inject ]]; then
      inn cat /sys/class/net/eth0/mtu >"$rec"
      inn ip link set dev eth0 mtu 1400
    else
      saved="$(cat "$rec" 2>/dev/null || true)"
      inn ip link set dev eth0 mtu "${saved:-1500}"
    fi
    ;;
  *)
    die "unknown fault '$fault' (route-del-podcidr:<node>, route-del-podcidr6:<node>, masquerade-del, forward-drop, ip-forward-off, ext-route-del, ext-route-del6, masquerade-del6, forward-drop6, ip-forward-off6, kube-proxy-stop, kube-proxy-kill, proxy-rule-del:<address>, proxy-map-del:<address>, conntrack-fill, hairpin-off, nft-forward-drop, nft-masquerade, iptables-legacy-rule, uplink-mtu, host-tools-hidden[:alone], vxlan-drop, nft-vxlan-drop, flanneld-stop[:lease], flannel-masq-off, flannel-public-ip:<address>)"
    ;;
esac

if [[ $action == restore ]]; then
  rm -f "$rec"
  log "restored $fault on $node"
else
  log "injected $fault on $node"
fi
