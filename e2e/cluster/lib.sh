# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for the e2e cluster scripts. Source it; don't run it.

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${NETCHECK_E2E_CACHE:-/var/cache/netcheck-e2e}"
STATE="${NETCHECK_E2E_STATE:-/run/netcheck-e2e}"
BIN="$CACHE/bin"
IMAGES="$CACHE/images"
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH:/usr/local/go/bin"
export HOME="${HOME:-/root}"

# The Kubernetes the lab runs; each version's server binaries have their own
# directory, so an older minor can be started beside (K8S_VERSION=v1.35.4).
K8S_VERSION="${K8S_VERSION:-v1.37.2}"
K8S_BIN="$CACHE/k8s/$K8S_VERSION"
COREDNS_VERSION=v1.12.4

# Simulated machines. Each gets a network namespace called "$NS_PREFIX<name>".
NS_PREFIX=nce2e-
UNDERLAY_NS=${NS_PREFIX}ul      # holds the underlay bridge
ROOT_VETH=nce2e0                # the root netns' leg on the underlay (198.18.0.1/24)
ROOT_IP=198.18.0.1
CP=nc-cp
EXT=nc-ext
GW=nc-gw
NODES=(nc-node1 nc-node2 nc-node3)
MACHINES=("$CP" "$EXT" "${NODES[@]}")   # the ones with a PID namespace and an init
declare -A IP=(
  [$CP]=198.18.0.10 [nc-node1]=198.18.0.11 [nc-node2]=198.18.0.12 [nc-node3]=198.18.0.13
  [$EXT]=198.18.0.100 [$GW]=198.18.0.254
)
UNDERLAY_CIDR=198.18.0.0/24
EXT_CIDR=198.19.0.0/24
EXT_IP=198.19.0.1
# The IPv6 twins of the dual-stack lab: ULA ranges, routed only between the
# lab's own namespaces.
declare -A IP6=(
  [$CP]=fd00:198:18::10 [nc-node1]=fd00:198:18::11 [nc-node2]=fd00:198:18::12 [nc-node3]=fd00:198:18::13
  [$EXT]=fd00:198:18::100 [$GW]=fd00:198:18::254
)
EXT_CIDR6=fd00:198:19::/64
EXT_IP6=fd00:198:19::1
CORP_DNS_IP=198.19.0.53   # the nodes' own resolver: corp.example, and the rest via $EXT_IP
declare -A PODCIDR PODCIDR6
# profile_vars: the pod and Service networks of $PROFILE and $STACK. bridge:
# one bridge per node and host-gw routes; flannel: flannel VXLAN with K3s's
# CIDRs. dual adds an IPv6 range to each (CLUSTER_CIDRS etc. list both,
# IPv4 first: the primary family).
profile_vars() {
  local p=10.244
  CLUSTER_CIDR=10.244.0.0/16 SERVICE_CIDR=10.96.0.0/12 KUBE_SVC_IP=10.96.0.1 DNS_SVC_IP=10.96.0.10
  CNI_BIN=/usr/lib/cni
  if [[ $PROFILE == flannel ]]; then
    p=10.42 CLUSTER_CIDR=10.42.0.0/16 SERVICE_CIDR=10.43.0.0/16 KUBE_SVC_IP=10.43.0.1 DNS_SVC_IP=10.43.0.10
    CNI_BIN=$CACHE/cni-bin   # Debian's plugins and flannel's meta plugin (build.sh)
  fi
  PODCIDR=([nc-node1]=$p.1.0/24 [nc-node2]=$p.2.0/24 [nc-node3]=$p.3.0/24)
  CLUSTER_CIDR6=fd00:10:244::/56 SERVICE_CIDR6=fd00:10:96::/112
  PODCIDR6=([nc-node1]=fd00:10:244:1::/64 [nc-node2]=fd00:10:244:2::/64 [nc-node3]=fd00:10:244:3::/64)
  CLUSTER_CIDRS=$CLUSTER_CIDR SERVICE_CIDRS=$SERVICE_CIDR
  if [[ $STACK == dual ]]; then
    CLUSTER_CIDRS+=",$CLUSTER_CIDR6" SERVICE_CIDRS+=",$SERVICE_CIDR6"
  fi
}
# default_stack: dual on the bridge profile without a policy enforcer (the v4
# suite runs on it unchanged); flannel and kube-router stay IPv4 here.
default_stack() { if [[ $PROFILE == bridge && $POLICY == none ]]; then echo dual; else echo ipv4; fi; }
APISERVER="https://${IP[$CP]}:6443"
CGROUP_ROOT=/sys/fs/cgroup
KUBECONFIG_OUT="$STATE/kubeconfig"

log() { printf '[netcheck-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() { [[ $(id -u) == 0 ]] || die "must run as root"; }

# The lab's network profile: bridge or flannel (see profile_vars). Like the proxy
# mode below: up.sh starts the one asked for, the other scripts follow the lab's.
PROFILE="${NETCHECK_E2E_PROFILE:-$(cat "$STATE/profile" 2>/dev/null || echo bridge)}"
[[ $PROFILE == bridge || $PROFILE == flannel ]] || die "NETCHECK_E2E_PROFILE=$PROFILE: give bridge or flannel"

# The lab's NetworkPolicy enforcer: none, or kube-router (its firewall alone).
POLICY="${NETCHECK_E2E_POLICY:-$(cat "$STATE/policy" 2>/dev/null || echo none)}"
[[ $POLICY == none || $POLICY == kube-router ]] || die "NETCHECK_E2E_POLICY=$POLICY: give none or kube-router"

# The lab's address families: dual (IPv4 and IPv6 everywhere) or ipv4.
STACK="${NETCHECK_E2E_STACK:-$(cat "$STATE/stack" 2>/dev/null || default_stack)}"
[[ $STACK == dual || $STACK == ipv4 ]] || die "NETCHECK_E2E_STACK=$STACK: give dual or ipv4"
profile_vars

# kube-proxy's mode in the lab: iptables or nftables. up.sh starts the one
# asked for (iptables by default); the other scripts follow the running lab's.
PROXY_MODE="${NETCHECK_E2E_PROXY_MODE:-$(cat "$STATE/proxy-mode" 2>/dev/null || echo iptables)}"
[[ $PROXY_MODE == iptables || $PROXY_MODE == nftables ]] ||
  die "NETCHECK_E2E_PROXY_MODE=$PROXY_MODE: give iptables or nftables"

netns_of() { echo "${NS_PREFIX}$1"; }

is_node() { local n; for n in "${NODES[@]}"; do [[ $n == "$1" ]] && return 0; done; return 1; }

# Root-netns PID of a machine's init (PID 1 of its PID namespace), if alive.
init_pid() {
  local f="$STATE/pids/$1.init" pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid && -d /proc/$pid ]] || return 1
  # guard against PID reuse: the init's PID namespace must differ from ours
  [[ $(readlink "/proc/$pid/ns/pid" 2>/dev/null) != "$(readlink /proc/self/ns/pid)" ]] || return 1
  echo "$pid"
}

# Run a command inside a machine's namespaces (mount, net, pid, uts).
in_machine() {
  local m=$1; shift
  local pid
  pid=$(init_pid "$m") || die "machine $m is not running (no live init recorded in $STATE/pids)"
  nsenter --target "$pid" --mount --net --pid --uts --wd=/ -- "$@"
}

# A clean environment for everything started inside the machines.
SAFE_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root)

# upstream_corefile [RCODE]: the Corefile of the lab's upstream resolver
# (example.net, NXDOMAIN for the rest), bound to $EXT_IP only (the nodes'
# resolver shares the host); with RCODE it answers every query so (REFUSED).
upstream_corefile() {
  if [[ -n ${1:-} ]]; then
    printf '.:53 {\n    bind %s\n    template ANY ANY {\n        rcode %s\n    }\n}\n' "$EXT_IP" "$1"
    return
  fi
  printf 'example.net:53 {\n    bind %s\n    file %s\n}\n.:53 {\n    bind %s\n    template ANY ANY {\n        rcode NXDOMAIN\n    }\n}\n' \
    "$EXT_IP" "$STATE/machines/$EXT/dns/example.net.db" "$EXT_IP"
}

# start_in MACHINE NAME CMD...: a daemon inside a machine; its PID goes to $STATE/pids/MACHINE.NAME.pid
start_in() {
  local m=$1 name=$2 ipid nspid child=""; shift 2
  ipid=$(init_pid "$m") || die "machine $m is not running"
  setsid "${SAFE_ENV[@]}" nsenter --target "$ipid" --mount --net --pid --uts --wd=/ -- "$@" \
    >>"$STATE/logs/$m.$name.log" 2>&1 </dev/null &
  nspid=$!
  for _ in $(seq 100); do
    child=$(children_of "$nspid"); child=${child%%$'\n'*}
    [[ -n $child ]] && break
    sleep 0.02
  done
  [[ -n $child ]] || die "$name on $m exited at once: $(tail -n 5 "$STATE/logs/$m.$name.log")"
  echo "$child" >"$STATE/pids/$m.$name.pid"
}

start_kubelet() {
  local ips=${IP[$1]}
  [[ $STACK == dual ]] && ips+=",${IP6[$1]}"
  start_in "$1" kubelet "$K8S_BIN/kubelet" --config=/var/lib/kubelet/config.yaml \
    --kubeconfig=/etc/kubernetes/kubelet.conf --hostname-override="$1" --node-ip="$ips" --v=1
}
# kube-router as a NetworkPolicy enforcer only (iptables + ipset)
start_kube_router() {
  start_in "$1" kube-router "$BIN/kube-router" --kubeconfig=/etc/kubernetes/kube-router.conf \
    --hostname-override="$1" --run-firewall=true --run-router=false --run-service-proxy=false \
    --run-loadbalancer=false --metrics-port=0 --v=1
}
# flanneld as K3s runs it: the kube subnet manager (podCIDRs from the Node
# objects), VXLAN, its own masquerade (--ip-masq); FLANNEL_ARGS adds more.
start_flanneld() {
  start_in "$1" flanneld env NODE_NAME="$1" "$BIN/flanneld" --kube-subnet-mgr \
    --kubeconfig-file=/etc/kubernetes/flannel.conf --iface=eth0 --ip-masq \
    --net-config-path=/etc/kubernetes/flannel-net-conf.json --subnet-file=/run/flannel/subnet.env ${FLANNEL_ARGS:-}
}
# stop_in NODE NAME [KILL]: stop a component start_in started (TERM, then KILL
# if it lingers; KILL at once for a crash) and forget its pid.
stop_in() {
  local pidf="$STATE/pids/$1.$2.pid" pid sig=${3:-TERM}
  if [[ -f $pidf ]] && pid=$(<"$pidf") && [[ -d /proc/$pid ]]; then
    kill -"$sig" "$pid" 2>/dev/null || true
    wait_for "$2 on $1 to exit" 10 bash -c "! test -d /proc/$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
}
# running_in NODE NAME: the component's recorded process is alive.
running_in() { [[ -f $STATE/pids/$1.$2.pid ]] && [[ -d /proc/$(<"$STATE/pids/$1.$2.pid") ]]; }
start_kube_proxy() {
  start_in "$1" kube-proxy "$K8S_BIN/kube-proxy" --config=/etc/kubernetes/kube-proxy.yaml --v=1
}
# kube-proxy has programmed the Services (the kube-dns one comes last) on a node
kube_proxy_synced() {
  if [[ $PROXY_MODE == nftables ]]; then
    grep -q 'kube-system/kube-dns/' <<<"$(in_netns "$1" nft list map ip kube-proxy service-ips 2>/dev/null)"
  else
    grep -q 'kube-system/kube-dns:dns cluster IP' <<<"$(in_netns "$1" iptables -t nat -S KUBE-SERVICES 2>/dev/null)"
  fi
}

# Run a command in a machine's network namespace only (root's mount/pid namespaces).
in_netns() {
  local m=$1; shift
  ip netns exec "$(netns_of "$m")" "$@"
}

# kubectl: the machine's, or the one we built if it has none.
kctl() {
  local k=kubectl
  command -v kubectl >/dev/null 2>&1 || k="$K8S_BIN/kubectl"
  "$k" --kubeconfig "$KUBECONFIG_OUT" "$@"
}

# Root-netns PIDs of the direct children of a PID.
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }

# Wait (up to $2 seconds, default 30) for a command given as the remaining args to succeed.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "timed out after ${timeout}s waiting for $what"; return 1; }
    sleep 0.2
  done
}
