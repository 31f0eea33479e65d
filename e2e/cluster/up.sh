#!/usr/bin/env bash
# Brings the 3-node e2e cluster up (see README.md for the topology) and writes
# an admin kubeconfig to $STATE/kubeconfig. Exits 0 at once if it is already up
# and healthy; tears down leftovers of a broken one first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
PROXY_MODE="${NETCHECK_E2E_PROXY_MODE:-iptables}"   # what is asked for, not what runs now
PROFILE="${NETCHECK_E2E_PROFILE:-bridge}"
POLICY="${NETCHECK_E2E_POLICY:-none}"
STACK="${NETCHECK_E2E_STACK:-$(default_stack)}"
profile_vars
t0=$SECONDS

bash "$CLUSTER_DIR/build.sh"
t_build=$((SECONDS - t0))

COREDNS_NODE="${NETCHECK_E2E_COREDNS_NODE-nc-node3}"   # empty: let the scheduler choose
COREDNS_REPLICAS="${NETCHECK_E2E_COREDNS_REPLICAS:-1}"

# ------------------------------------------------------------------------------------
components_alive() {
  local f
  for f in "$STATE"/pids/*.pid; do
    [[ -e $f ]] || continue
    [[ -d /proc/$(<"$f") ]] || { log "process $(basename "$f" .pid) is gone"; return 1; }
  done
}
nodes_ready() {
  local ready
  ready=$(kctl get nodes --request-timeout=3s \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null |
    grep -c '^True$') || return 1
  ((ready == ${#NODES[@]}))
}
coredns_ready() {
  local r
  r=$(kctl -n kube-system get deploy coredns --request-timeout=3s -o jsonpath='{.status.readyReplicas}' 2>/dev/null) || return 1
  [[ -n $r ]] && ((r >= 1))
}
healthy() {
  local m
  [[ -f $STATE/up.done && -s $KUBECONFIG_OUT ]] || return 1
  [[ $(cat "$STATE/proxy-mode" 2>/dev/null) == "$PROXY_MODE" ]] || { log "the cluster's kube-proxy is not in $PROXY_MODE mode"; return 1; }
  [[ $(cat "$STATE/profile" 2>/dev/null || echo bridge) == "$PROFILE" ]] || { log "the cluster does not run the $PROFILE profile"; return 1; }
  [[ $(cat "$STATE/policy" 2>/dev/null || echo none) == "$POLICY" ]] || { log "the cluster's NetworkPolicy enforcer is not $POLICY"; return 1; }
  [[ $(cat "$STATE/stack" 2>/dev/null || echo ipv4) == "$STACK" ]] || { log "the cluster is not $STACK-stack"; return 1; }
  for m in "${MACHINES[@]}"; do init_pid "$m" >/dev/null || { log "machine $m is not running"; return 1; }; done
  components_alive || return 1
  nodes_ready || { log "not all nodes are Ready"; return 1; }
  coredns_ready || { log "CoreDNS is not ready"; return 1; }
}

if [[ -d $STATE/faults ]] && compgen -G "$STATE/faults/*" >/dev/null; then
  log "restoring injected faults before the health check"
  for f in "$STATE"/faults/*; do
    b=$(basename "$f"); bash "$CLUSTER_DIR/fault.sh" "${b%%@*}" "$(tr '%' ':' <<<"${b#*@}")" restore || true
  done
fi
if healthy; then
  log "cluster already up and healthy (KUBECONFIG=$KUBECONFIG_OUT)"
  exit 0
fi
if [[ -e $STATE ]] || grep -q "^$NS_PREFIX" <<<"$(ip netns list 2>/dev/null)"; then
  log "found leftovers of an earlier cluster: tearing them down first"
  bash "$CLUSTER_DIR/down.sh"
fi

t_start=$SECONDS
mkdir -p "$STATE"/{pids,logs,faults}
# tell the world how to find us (pid files and logs) even if we fail half-way
echo "$$" >"$STATE/up.pid"

# --- PKI -----------------------------------------------------------------------------
# Made once and kept in the cache (a throwaway test CA): saves seconds on every up.
PKI=$CACHE/pki
PKI_VERSION="v3 ${IP[$CP]} ${NODES[*]}"
gen_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
gen_cert() { # NAME SUBJECT EKU [SAN]
  local n=$1 subj=$2 eku=$3 san=${4:-} ext
  gen_key "$PKI/$n.key"
  ext=$'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage='"$eku"
  [[ -n $san ]] && ext+=$'\nsubjectAltName='"$san"
  openssl req -new -key "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -out "$PKI/$n.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm -f "$PKI/$n.csr"
}
if [[ ! -f $PKI/done || $(<"$PKI/done") != "$PKI_VERSION" ]]; then
log "generating certificates in $PKI"
rm -rf "$PKI"; mkdir -p "$PKI"
gen_key "$PKI/ca.key"
openssl req -x509 -new -key "$PKI/ca.key" -subj /CN=netcheck-e2e-ca -days 3650 -out "$PKI/ca.crt" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null
gen_cert apiserver /CN=kube-apiserver serverAuth \
  "IP:${IP[$CP]},IP:10.96.0.1,IP:10.43.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$CP"
gen_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
gen_cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth
gen_cert controller-manager /CN=system:kube-controller-manager clientAuth
gen_cert scheduler /CN=system:kube-scheduler clientAuth
gen_cert kube-proxy /CN=system:kube-proxy clientAuth
gen_cert flannel /CN=flannel clientAuth
gen_cert kube-router /CN=kube-router clientAuth
for n in "${NODES[@]}"; do gen_cert "node-$n" "/O=system:nodes/CN=system:node:$n" clientAuth; done
gen_key "$PKI/sa.key"
openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
echo "$PKI_VERSION" >"$PKI/done"
fi

kubeconfig() { # OUT USER CERTNAME SERVER
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: netcheck-e2e
  cluster:
    server: $4
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$3.crt")
    client-key-data: $(base64 -w0 "$PKI/$3.key")
contexts:
- name: netcheck-e2e
  context:
    cluster: netcheck-e2e
    user: $2
current-context: netcheck-e2e
EOF
  chmod 600 "$1"
}
CPDIR=$STATE/machines/$CP
mkdir -p "$CPDIR/etcd" "$STATE/machines/$EXT/www"
kubeconfig "$KUBECONFIG_OUT" kubernetes-admin admin "$APISERVER"
kubeconfig "$CPDIR/controller-manager.conf" system:kube-controller-manager controller-manager https://127.0.0.1:6443
kubeconfig "$CPDIR/scheduler.conf" system:kube-scheduler scheduler https://127.0.0.1:6443

# --- per-node files --------------------------------------------------------------------
NODE_SUBDIRS=(var-lib-kubelet var-lib-containerd run-containerd var-log var-lib-cni etc-cni-net.d etc-kubernetes/pki run-netns run-flannel sysctl)
MOUNTPOINTS=(/var/lib/kubelet /var/lib/containerd /run/containerd /var/lib/cni /etc/cni/net.d /etc/kubernetes /run/netns /run/flannel)
: >"$STATE/created-dirs"
for d in "${MOUNTPOINTS[@]}"; do
  # record every directory level we create, so down.sh can remove exactly those
  p=$d; new=()
  while [[ ! -e $p ]]; do new=("$p" "${new[@]}"); p=$(dirname "$p"); done
  for p in "${new[@]}"; do mkdir "$p"; echo "$p" >>"$STATE/created-dirs"; done
done

write_node_files() {
  local n=$1 d=$STATE/machines/$1
  local s; for s in "${NODE_SUBDIRS[@]}"; do mkdir -p "$d/$s"; done
  cp "$PKI/ca.crt" "$d/etc-kubernetes/pki/ca.crt"
  kubeconfig "$d/etc-kubernetes/kubelet.conf" "system:node:$n" "node-$n" "$APISERVER"
  kubeconfig "$d/etc-kubernetes/kube-proxy.conf" system:kube-proxy kube-proxy "$APISERVER"
  kubeconfig "$d/etc-kubernetes/flannel.conf" flannel flannel "$APISERVER"
  kubeconfig "$d/etc-kubernetes/kube-router.conf" kube-router kube-router "$APISERVER"
  printf '{"Network": "%s", "Backend": {"Type": "vxlan"}}\n' "$CLUSTER_CIDR" >"$d/etc-kubernetes/flannel-net-conf.json"
  # The node's own resolver, as on a real node (and what dnsPolicy: Default
  # pods, CoreDNS among them, are given): not cluster DNS.
  printf 'nameserver %s\n' "$CORP_DNS_IP" >"$d/resolv.conf"
  # values the kubelet insists on, in private copies (see machine-init.sh)
  echo 1 >"$d/sysctl/vm.overcommit_memory"
  echo 0 >"$d/sysctl/vm.panic_on_oom"
  echo 10 >"$d/sysctl/kernel.panic"
  echo 1 >"$d/sysctl/kernel.panic_on_oops"
  echo "${PODCIDR[$n]}" >"$d/podcidr"
  cat >"$d/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "/etc/cni/net.d"
$([[ $PROFILE == bridge ]] && echo '    conf_template = "/etc/kubernetes/cni-template.json"')
EOF
  if [[ $PROFILE == flannel ]]; then
    # the flannel meta plugin reads /run/flannel/subnet.env and delegates to bridge
    cat >"$d/etc-cni-net.d/10-flannel.conflist" <<'EOF'
{
  "cniVersion": "0.3.1",
  "name": "cbr0",
  "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  fi
  cat >"$d/etc-kubernetes/cni-template.json" <<'EOF'
{
  "cniVersion": "1.0.0",
  "name": "netcheck-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [{{range $i, $r := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$r}}"}]{{end}}],
        "routes": [{{range $i, $r := .Routes}}{{if $i}}, {{end}}{"dst": "{{$r}}"}{{end}}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$d/var-lib-kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${IP[$n]}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: /$n
clusterDNS: [$DNS_SVC_IP]
clusterDomain: cluster.local
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
resolvConf: /etc/resolv.conf
rotateCertificates: false
serializeImagePulls: false
protectKernelDefaults: false
# The lab's machines share the host's cgroup v1 hierarchies; from v1.35 the
# kubelet refuses v1 unless told.
failCgroupV1: false
EOF
  cat >"$d/etc-kubernetes/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: $PROXY_MODE
clusterCIDR: "$CLUSTER_CIDRS"
hostnameOverride: $n
bindAddress: ${IP[$n]}
healthzBindAddress: ${IP[$n]}:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection:
  kubeconfig: /etc/kubernetes/kube-proxy.conf
conntrack:
  maxPerCore: 0
  min: 0
iptables:
  minSyncPeriod: 1s
nftables:
  minSyncPeriod: 1s
EOF
}
for n in "${NODES[@]}"; do write_node_files "$n"; done
echo '<html><body>netcheck-e2e external host 198.19.0.1</body></html>' >"$STATE/machines/$EXT/www/index.html"

# --- cgroups: one root per node in every v1 hierarchy ----------------------------------
for n in "${NODES[@]}"; do
  for h in "$CGROUP_ROOT"/*/; do
    h=${h%/}
    [[ $(stat -fc %T "$h") == cgroupfs ]] || continue   # v1 hierarchies only
    mkdir -p "$h/$n"
    if [[ -f $h/cpuset.cpus ]]; then
      cat "$h/cpuset.cpus" >"$h/$n/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/$n/cpuset.mems"
    fi
  done
done

# --- network ---------------------------------------------------------------------------
log "building the network"
ipn() { local m=$1; shift; ip -n "$(netns_of "$m")" "$@"; }
ip netns add "$UNDERLAY_NS"
ipn ul link set lo up
ipn ul link add br0 type bridge
ipn ul link set br0 up
in_netns ul sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 2>/dev/null || true
attach() { # MACHINE PEER_NAME
  local m=$1 peer=$2 ns; ns=$(netns_of "$m")
  ip netns add "$ns"
  ip link add eth0 netns "$ns" type veth peer name "$peer" netns "$UNDERLAY_NS"
  ipn ul link set "$peer" master br0 up
  ipn "$m" link set lo up
  ipn "$m" addr add "${IP[$m]}/24" dev eth0
  # nodad: the address is usable at once, not tentative for a second
  [[ $STACK == dual ]] && ipn "$m" addr add "${IP6[$m]}/64" dev eth0 nodad
  ipn "$m" link set eth0 up
}
attach "$CP" u-cp
attach "$EXT" u-ext
attach "$GW" u-gw
for n in "${NODES[@]}"; do attach "$n" "u-${n#nc-}"; done
# the root netns' single leg, for kubectl -> apiserver (root routes/forwarding untouched otherwise)
ip link add "$ROOT_VETH" type veth peer name u-root netns "$UNDERLAY_NS"
sysctl -qw "net.ipv6.conf.$ROOT_VETH.disable_ipv6=1" 2>/dev/null || true
ip addr add "$ROOT_IP/24" dev "$ROOT_VETH"
ip link set "$ROOT_VETH" up
ipn ul link set u-root master br0 up

# external host: owns the "external" subnet (on a veth pair: this kernel has no dummy
# links), and has no route back to the pod network
ipn "$EXT" link add ext0 type veth peer name ext0-peer
ipn "$EXT" addr add "$EXT_IP/24" dev ext0
ipn "$EXT" addr add "$CORP_DNS_IP/24" dev ext0
[[ $STACK == dual ]] && ipn "$EXT" addr add "$EXT_IP6/64" dev ext0 nodad
ipn "$EXT" link set ext0-peer up
ipn "$EXT" link set ext0 up
# control plane: default to the dead end, direct routes to every node's pods
ipn "$CP" route add default via "${IP[$GW]}"
for n in "${NODES[@]}"; do
  ipn "$CP" route add "${PODCIDR[$n]}" via "${IP[$n]}"
  ipn "$n" route add default via "${IP[$GW]}"
  ipn "$n" route add "$EXT_CIDR" via "${IP[$EXT]}"
  in_netns "$n" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  [[ $PROFILE == bridge ]] || continue   # flannel routes over its VXLAN and masquerades itself
  for o in "${NODES[@]}"; do
    [[ $o == "$n" ]] || ipn "$n" route add "${PODCIDR[$o]}" via "${IP[$o]}"
  done
  in_netns "$n" iptables -t nat -A POSTROUTING -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -j MASQUERADE
done
# IPv6, the same layout: the external subnet via nc-ext (which has no route
# back to the pods' ULA range: their traffic must be masqueraded), the other
# nodes' pod ranges via those nodes, the rest to the dead end.
if [[ $STACK == dual ]]; then
  ipn "$CP" -6 route add default via "${IP6[$GW]}"
  for n in "${NODES[@]}"; do
    ipn "$CP" -6 route add "${PODCIDR6[$n]}" via "${IP6[$n]}"
    ipn "$n" -6 route add default via "${IP6[$GW]}"
    ipn "$n" -6 route add "$EXT_CIDR6" via "${IP6[$EXT]}"
    in_netns "$n" sysctl -qw net.ipv6.conf.all.forwarding=1
    for o in "${NODES[@]}"; do
      [[ $o == "$n" ]] || ipn "$n" -6 route add "${PODCIDR6[$o]}" via "${IP6[$o]}"
    done
    in_netns "$n" ip6tables -t nat -A POSTROUTING -s "$CLUSTER_CIDR6" ! -d "$CLUSTER_CIDR6" -j MASQUERADE
  done
fi

# --- machines: an init per machine in its own PID/mount/UTS namespace ------------------
start_machine() { # NAME KIND
  local m=$1 kind=$2 d=$STATE/machines/$1
  mkdir -p "$d"; rm -f "$d/init.ready"
  setsid "${SAFE_ENV[@]}" nsenter --net="/run/netns/$(netns_of "$m")" -- \
    unshare --pid --fork --mount-proc --kill-child --uts -- \
    bash "$CLUSTER_DIR/machine-init.sh" "$m" "$kind" "$d" "$BIN/pause" \
    >"$STATE/logs/$m.init.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$m.unshare"
}
wait_machine() {
  local m=$1 d=$STATE/machines/$1 u pid
  u=$(<"$STATE/pids/$m.unshare")
  wait_for "init of $m" 30 test -e "$d/init.ready" || { cat "$STATE/logs/$m.init.log" >&2; die "machine $m did not start"; }
  pid=$(children_of "$u"); pid=${pid%%$'\n'*}
  [[ -n $pid ]] || die "no init process under unshare $u for $m"
  echo "$pid" >"$STATE/pids/$m.init"
}
log "starting machines"
start_machine "$CP" plain
start_machine "$EXT" plain
for n in "${NODES[@]}"; do start_machine "$n" node; done
for m in "${MACHINES[@]}"; do wait_machine "$m"; done

# --- control plane ---------------------------------------------------------------------
log "starting etcd and kube-apiserver"
start_in "$CP" etcd etcd --name cp --data-dir "$CPDIR/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster cp=http://127.0.0.1:2380 --logger zap --log-level warn
start_in "$CP" kube-apiserver "$K8S_BIN/kube-apiserver" \
  --advertise-address="${IP[$CP]}" --bind-address=0.0.0.0 --secure-port=6443 \
  --etcd-servers=http://127.0.0.1:2379 \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction,PodSecurity \
  --allow-privileged=true --service-cluster-ip-range="$SERVICE_CIDRS" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --profiling=false --v=1
start_in "$EXT" httpd "$BIN/busybox" httpd -f -p 80 -h "$STATE/machines/$EXT/www"
# The lab's upstream resolver, where the cluster's CoreDNS forwards: the
# zone example.net (www → this host), NXDOMAIN for every other name. Beside it
# the nodes' own resolver ($CORP_DNS_IP), as a company's: its private zone
# corp.example, the rest asked of the upstream. CoreDNS does not know
# corp.example until its Corefile gets a stub domain for it.
mkdir -p "$STATE/machines/$EXT/dns"
# zone_db ZONE NS_IP NAME=IP...: a zone file with its SOA and NS (ns → NS_IP)
zone_db() {
  local zone=$1 ns=$2 r; shift 2
  printf '$ORIGIN %s.\n@ 3600 IN SOA ns.%s. admin.%s. 1 7200 3600 1209600 3600\n@ 3600 IN NS ns.%s.\nns 3600 IN A %s\n' \
    "$zone" "$zone" "$zone" "$zone" "$ns"
  for r in "$@"; do
    if [[ ${r#*=} == *:* ]]; then printf '%s 3600 IN AAAA %s\n' "${r%%=*}" "${r#*=}"; else printf '%s 3600 IN A %s\n' "${r%%=*}" "${r#*=}"; fi
  done
}
# Dual-stack: www has an AAAA too; dual's A names an address nobody holds
# (198.19.0.2) while its AAAA is the host's: one family answers, one not.
www6=(); [[ $STACK == dual ]] && www6=("www=$EXT_IP6" "dual=198.19.0.2" "dual=$EXT_IP6")
zone_db example.net "$EXT_IP" "www=$EXT_IP" "${www6[@]}" >"$STATE/machines/$EXT/dns/example.net.db"
upstream_corefile >"$STATE/machines/$EXT/dns/Corefile"
zone_db corp.example "$CORP_DNS_IP" "db=$EXT_IP" >"$STATE/machines/$EXT/dns/corp.example.db"
cat >"$STATE/machines/$EXT/dns/Corefile.corp" <<EOF
corp.example:53 {
    bind $CORP_DNS_IP
    file $STATE/machines/$EXT/dns/corp.example.db
}
.:53 {
    bind $CORP_DNS_IP
    forward . $EXT_IP
}
EOF
start_in "$EXT" corpdns "$BIN/coredns" -conf "$STATE/machines/$EXT/dns/Corefile.corp"
start_in "$EXT" dns "$BIN/coredns" -conf "$STATE/machines/$EXT/dns/Corefile"

log "starting containerd on the nodes"
for n in "${NODES[@]}"; do
  start_in "$n" containerd containerd --config "$STATE/machines/$n/containerd.toml"
done
import_images() { # NODE: every image into that node's containerd (as a registry-less "pull")
  local sock=$STATE/machines/$1/run-containerd/containerd.sock img
  wait_for "containerd on $1" 30 ctr --address "$sock" version || return 1
  for img in pause coredns busybox echo; do
    ctr --address "$sock" -n k8s.io images import "$IMAGES/$img.tar" >/dev/null || return 1
  done
}
import_jobs=()
for n in "${NODES[@]}"; do
  import_images "$n" >"$STATE/logs/$n.image-import.log" 2>&1 &
  import_jobs+=($!)
done

wait_for "kube-apiserver /readyz" 120 kctl get --raw /readyz --request-timeout=2s ||
  { tail -n 20 "$STATE/logs/$CP.kube-apiserver.log" >&2; die "kube-apiserver did not become ready"; }
log "kube-apiserver ready after $((SECONDS - t_start))s"
# kube-controller-manager takes the per-family mask flags only with a dual
# cluster CIDR, and refuses them (exits) on a single-stack one.
mask_flags=(--node-cidr-mask-size=24)
[[ $STACK == dual ]] && mask_flags=(--node-cidr-mask-size-ipv4=24 --node-cidr-mask-size-ipv6=64)
start_in "$CP" kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$CPDIR/controller-manager.conf" --authentication-kubeconfig="$CPDIR/controller-manager.conf" \
  --authorization-kubeconfig="$CPDIR/controller-manager.conf" --bind-address=127.0.0.1 --leader-elect=false \
  --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDRS" "${mask_flags[@]}" \
  --service-cluster-ip-range="$SERVICE_CIDRS" --configure-cloud-routes=false --cluster-name=netcheck-e2e \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --root-ca-file="$PKI/ca.crt" \
  --service-account-private-key-file="$PKI/sa.key" --use-service-account-credentials=true --v=1
start_in "$CP" kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$CPDIR/scheduler.conf" --authentication-kubeconfig="$CPDIR/scheduler.conf" \
  --authorization-kubeconfig="$CPDIR/scheduler.conf" --bind-address=127.0.0.1 --leader-elect=false --v=1

# Nodes are registered up front with fixed podCIDRs (node1 = 10.244.1.0/24, ...), so
# the host-gw routes above are right and tests can rely on them.
{
  for n in "${NODES[@]}"; do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $n
  annotations:
    netcheck.io/e2e: "pre-registered"   # flannel's kube subnet manager writes into this map (nil panics)
  labels:
    kubernetes.io/hostname: $n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
spec:
  podCIDR: ${PODCIDR[$n]}
  podCIDRs: [${PODCIDR[$n]}$([[ $STACK == dual ]] && echo ", ${PODCIDR6[$n]}")]
  taints:
  - key: node.kubernetes.io/not-ready
    effect: NoSchedule
EOF
  done
} >"$STATE/nodes.yaml"
kctl create -f "$STATE/nodes.yaml" >/dev/null
if [[ $PROFILE == flannel ]]; then
  # kube-flannel's RBAC, for the flannel user of the nodes' flannel.conf
  kctl apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: flannel}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get]}
- {apiGroups: [""], resources: [nodes], verbs: [get, list, watch, patch]}
- {apiGroups: [""], resources: [nodes/status], verbs: [patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: flannel}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: flannel}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: flannel}
EOF
  log "starting flanneld on the nodes"
  for n in "${NODES[@]}"; do start_flanneld "$n"; done
fi

log "starting kubelet and kube-proxy on the nodes"
for n in "${NODES[@]}"; do
  start_kubelet "$n"
  start_kube_proxy "$n"
done

corefile() {
  cat <<'EOF'
.:53 {
    errors
    health {
        lameduck 2s
    }
    forward . 198.19.0.1
    cache 30
    loop
    reload
}
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        ttl 30
    }
    cache 30
    loadbalance
}
EOF
}
node_selector=""
[[ -n $COREDNS_NODE ]] && node_selector="nodeSelector: {kubernetes.io/hostname: $COREDNS_NODE}"
cat >"$STATE/coredns.yaml" <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects:
- {kind: ServiceAccount, name: coredns, namespace: kube-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
$(corefile | sed 's/^/    /')
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  replicas: $COREDNS_REPLICAS
  selector:
    matchLabels: {k8s-app: kube-dns}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 1}
  template:
    metadata:
      labels: {k8s-app: kube-dns}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      $node_selector
      tolerations:
      - {key: CriticalAddonsOnly, operator: Exists}
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:$COREDNS_VERSION
        imagePullPolicy: IfNotPresent
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        - {name: health, containerPort: 8080, protocol: TCP}
        - {name: ready, containerPort: 8181, protocol: TCP}
        readinessProbe:
          httpGet: {path: /ready, port: 8181}
          periodSeconds: 1
        livenessProbe:
          httpGet: {path: /health, port: 8080}
          initialDelaySeconds: 30
          periodSeconds: 10
          failureThreshold: 5
        resources:
          requests: {cpu: 50m, memory: 40Mi}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            add: [NET_BIND_SERVICE]
            drop: [ALL]
        volumeMounts:
        - {name: config, mountPath: /etc/coredns, readOnly: true}
      volumes:
      - name: config
        configMap:
          name: coredns
          items: [{key: Corefile, path: Corefile}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  selector: {k8s-app: kube-dns}
  clusterIP: $DNS_SVC_IP
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
for j in "${import_jobs[@]}"; do
  wait "$j" || { cat "$STATE"/logs/*.image-import.log >&2; die "importing images failed"; }
done
log "images imported; deploying CoreDNS"
# A fresh etcd on a busy machine can time a write out ("etcdserver: request
# timed out"); apply is idempotent, so try again before giving up.
for try in 1 2 3 4 5; do
  if out=$(kctl apply -f "$STATE/coredns.yaml" 2>&1); then break; fi
  ((try < 5)) || { echo "$out" >&2; die "deploying CoreDNS failed"; }
  log "deploying CoreDNS: $out; again in 2s"
  sleep 2
done


wait_for "3 Ready nodes" 120 nodes_ready || { kctl get nodes >&2 || true; die "nodes did not become Ready (logs in $STATE/logs)"; }
log "3 nodes Ready after $((SECONDS - t_start))s"
# kube-router reads its node's addresses at start: after the nodes are Ready.
if [[ $POLICY == kube-router ]]; then
  # kube-router's NetworkPolicy controller alone (no routing, no service
  # proxy): the lab's real enforcer. Test-only; never shipped or advised.
  kctl apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kube-router}
rules:
- {apiGroups: [""], resources: [namespaces, pods, services, nodes, endpoints], verbs: [get, list, watch]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kube-router}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kube-router}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-router}
EOF
  log "starting kube-router's NetworkPolicy controller on the nodes"
  for n in "${NODES[@]}"; do start_kube_router "$n"; done
  kube_router_ready() { in_netns "$1" iptables -S KUBE-ROUTER-FORWARD >/dev/null 2>&1; }
  for n in "${NODES[@]}"; do
    wait_for "kube-router's chains on $n" 30 kube_router_ready "$n" || die "kube-router did not start on $n: $(tail -n 3 "$STATE/logs/$n.kube-router.log")"
  done
fi
wait_for "CoreDNS" 120 coredns_ready || { kctl -n kube-system get pods -o wide >&2 || true; die "CoreDNS did not become Ready"; }
wait_for "default service account" 30 kctl -n default get serviceaccount default ||
  die "no default service account"
# kube-proxy has programmed the kubernetes and kube-dns Services on every node
for n in "${NODES[@]}"; do
  wait_for "kube-proxy rules on $n" 30 kube_proxy_synced "$n" || die "kube-proxy on $n did not program the Services"
done

echo "$PROXY_MODE" >"$STATE/proxy-mode"
echo "$PROFILE" >"$STATE/profile"
echo "$POLICY" >"$STATE/policy"
echo "$STACK" >"$STATE/stack"
touch "$STATE/up.done"
rm -f "$STATE/up.pid"
log "cluster up in $((SECONDS - t_start))s (+${t_build}s build check). export KUBECONFIG=$KUBECONFIG_OUT"
