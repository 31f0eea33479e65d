#!/usr/bin/env bash
# smoke.sh: checks a running e2e cluster end to end (pods on every node, pod->pod across
# nodes, Service, DNS, external host, a privileged hostNetwork+hostPID pod's view of its node,
# and the masquerade-del fault), then removes its pods. Run after up.sh. Exit 0 = all passed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
ns=nc-smoke
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "  ok   $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL $*"; }
# expect ok|fail DESCRIPTION POD CMD...: run CMD in POD, compare success with the expectation
expect() {
  local want=$1 what=$2 pod=$3 got=fail; shift 3
  timeout 20 kubectl --kubeconfig "$KUBECONFIG_OUT" -n "$ns" exec "$pod" -- "$@" >/dev/null 2>&1 && got=ok
  if [[ $got == "$want" ]]; then ok "$what ($got)"; else bad "$what: wanted $want, got $got"; fi
}
cleanup() { kctl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

kctl delete namespace "$ns" --ignore-not-found --wait=true --timeout=90s >/dev/null
kctl create namespace "$ns" >/dev/null
wait_for "default service account in $ns" 30 kctl -n "$ns" get serviceaccount default
{
  for i in 1 2 3; do
    cat <<EOF
---
apiVersion: v1
kind: Pod
metadata: {name: bb$i}
spec:
  nodeName: nc-node$i
  terminationGracePeriodSeconds: 0
  containers:
  - {name: bb, image: busybox:1.36, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
EOF
  done
  cat <<'EOF'
---
apiVersion: v1
kind: Pod
metadata: {name: echo2}
spec:
  nodeName: nc-node2
  terminationGracePeriodSeconds: 0
  containers:
  - {name: echo, image: netcheck.local/echo:1, imagePullPolicy: IfNotPresent}
---
apiVersion: v1
kind: Pod
metadata: {name: host1}
spec:
  nodeName: nc-node1
  hostNetwork: true
  hostPID: true
  terminationGracePeriodSeconds: 0
  containers:
  - name: bb
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    securityContext: {privileged: true}
EOF
} | kctl -n "$ns" apply -f - >/dev/null
kctl -n "$ns" wait --for=condition=Ready pod --all --timeout=60s >/dev/null || { kctl -n "$ns" get pods -o wide; exit 1; }
declare -A pip
for p in bb1 bb2 bb3 echo2; do pip[$p]=$(kctl -n "$ns" get pod "$p" -o jsonpath='{.status.podIP}'); done

echo "connectivity"
expect ok "bb1 -> bb2 ping across nodes" bb1 ping -c1 -W2 "${pip[bb2]}"
expect ok "bb2 -> bb3 ping across nodes" bb2 ping -c1 -W2 "${pip[bb3]}"
expect ok "bb3 -> bb1 ping across nodes" bb3 ping -c1 -W2 "${pip[bb1]}"
expect ok "bb1 -> echo2 HTTP :8080" bb1 wget -T 3 -qO- "http://${pip[echo2]}:8080/"
expect ok "bb1 -> kubernetes Service :443 (busybox's TLS cannot talk to a Go 1.25+ server: TCP only)" bb1 nc -z -w 3 10.96.0.1 443
expect ok "bb2 DNS kubernetes.default.svc.cluster.local" bb2 nslookup kubernetes.default.svc.cluster.local
expect fail "bb2 DNS example.com is NXDOMAIN" bb2 nslookup example.com
for i in 1 2 3; do
  expect ok "bb$i -> 198.19.0.1 ping" "bb$i" ping -c1 -W2 198.19.0.1
  expect ok "bb$i -> http://198.19.0.1/" "bb$i" wget -T 3 -qO- http://198.19.0.1/
done

if [[ $STACK == dual ]]; then
  echo "IPv6 (dual-stack lab)"
  declare -A pip6
  for p in bb1 bb2 bb3; do pip6[$p]=$(kctl -n "$ns" get pod "$p" -o jsonpath='{.status.podIPs[1].ip}'); done
  expect ok "bb1 -> bb2 ping over IPv6 (${pip6[bb2]:-no IPv6 address})" bb1 ping -c1 -W2 "${pip6[bb2]}"
  for i in 1 2 3; do
    expect ok "bb$i -> http://[$EXT_IP6]/ (masqueraded by ip6tables)" "bb$i" wget -T 3 -qO- "http://[$EXT_IP6]/"
  done
fi

echo "node view from a privileged hostNetwork+hostPID pod on nc-node1"
expect ok "PID 1 is the node's init; nsenter -t 1 -m iptables-save shows the MASQUERADE rule" host1 \
  sh -c 'nsenter -t 1 -m -- iptables-save -t nat | grep -- "-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE" >/dev/null'
expect ok "sees the node's kube-proxy rules" host1 sh -c 'nsenter -t 1 -m -- iptables-save -t nat | grep KUBE-SERVICES >/dev/null'
expect ok "reads /proc/net/nf_conntrack" host1 sh -c 'grep -q "^ipv4 " /proc/net/nf_conntrack'
# shellcheck disable=SC2016
expect ok "hostname is nc-node1" host1 sh -c 'test "$(hostname)" = nc-node1'

echo "fault masquerade-del on nc-node1"
bash "$CLUSTER_DIR/fault.sh" nc-node1 masquerade-del inject
expect fail "bb1 (node1) -> http://198.19.0.1/" bb1 wget -T 3 -qO- http://198.19.0.1/
expect ok "bb2 (node2) -> http://198.19.0.1/" bb2 wget -T 3 -qO- http://198.19.0.1/
expect ok "host1 (hostNetwork node1) -> http://198.19.0.1/" host1 wget -T 3 -qO- http://198.19.0.1/
expect ok "conntrack on node1 shows the unanswered, un-SNATed flow" host1 \
  sh -c "grep '^ipv4 .* tcp .*src=${pip[bb1]} dst=198.19.0.1 .*UNREPLIED.* src=198.19.0.1 dst=${pip[bb1]} ' /proc/net/nf_conntrack"
bash "$CLUSTER_DIR/fault.sh" nc-node1 masquerade-del restore
expect ok "bb1 -> http://198.19.0.1/ after restore" bb1 wget -T 3 -qO- http://198.19.0.1/

echo "$pass passed, $fail failed"
((fail == 0))
