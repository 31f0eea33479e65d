#!/usr/bin/env bash
# Tears the e2e cluster down: every process, mount, cgroup, network namespace,
# veth and file it made. Safe to run twice, and when nothing is up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

# PIDs of processes that are ours: in one of our machines' network namespaces, or
# one of our wrappers/daemons naming our state dir or machine-init.sh. Never this
# script or its callers, and never other users of the cached binaries (other tests
# run $BIN/busybox in their own namespaces). (bash builtins only: walks every process)
our_pids() {
  local p q k v comm cmd keep=" " f
  local -a nsfiles=() args
  for f in /run/netns/"$NS_PREFIX"*; do [[ -e $f ]] && nsfiles+=("$f"); done
  q=$$
  while [[ -n $q && $q != 0 ]]; do
    keep+="$q "; k=""
    { while read -r k v; do [[ $k == PPid: ]] && break; done <"/proc/$q/status"; } 2>/dev/null || true
    [[ $k == PPid: ]] && q=$v || q=""
  done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $keep == *" $p "* || $p == "$BASHPID" ]] && continue
    for f in "${nsfiles[@]}"; do [[ /proc/$p/ns/net -ef $f ]] && { echo "$p"; continue 2; }; done
    { read -r comm <"/proc/$p/comm"; } 2>/dev/null || continue
    case $comm in
      nsenter | unshare | containerd | containerd-shim | etcd | runc | env | setsid | busybox | pause | bash) ;;
      *) continue ;;
    esac
    { mapfile -d '' args <"/proc/$p/cmdline"; } 2>/dev/null || continue
    cmd="${args[*]}"
    if [[ $comm == bash ]]; then
      [[ $cmd == *"$CLUSTER_DIR/machine-init.sh"* ]] && echo "$p"
    elif [[ $cmd == *"$STATE/"* ]]; then
      echo "$p"
    fi
  done
  return 0
}

# 0. Fault enforcers (fault.sh ip-forward-off) run in the root namespace.
for f in "$STATE"/faults/*.enforcer; do
  [[ -s $f ]] && kill "$(cat "$f")" 2>/dev/null || true
done

# 1. Power the machines off: SIGKILL to each machine's init ends its whole PID namespace.
if [[ -d $STATE/pids ]]; then
  for f in "$STATE"/pids/*.init; do
    [[ -e $f ]] || continue
    if pid=$(init_pid "$(basename "$f" .init)"); then
      log "stopping machine $(basename "$f" .init) (init $pid)"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
fi

# 2. Anything of ours still alive (stray shells, a machine whose pid file was lost, ...).
for round in $(seq 60); do
  mapfile -t left < <(our_pids)
  ((${#left[@]} == 0)) && break
  # the machines' wrappers (unshare, nsenter) end by themselves once their child is gone
  if ((round > 5)); then
    ((round == 6)) && log "killing ${#left[@]} leftover process(es): $(for p in "${left[@]}"; do
      { read -r c <"/proc/$p/comm"; } 2>/dev/null && printf '%s[%s] ' "$c" "$p"; done)"
    kill -KILL "${left[@]}" 2>/dev/null || true
  fi
  sleep 0.1
done
mapfile -t left < <(our_pids)
((${#left[@]} == 0)) || log "WARNING: processes still alive: ${left[*]}"

# 3. Mounts in this mount namespace under the state dir (none in normal operation).
if [[ -d $STATE ]]; then
  awk -v s="$STATE" '$5 == s || index($5, s "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
fi

# 4. Network namespaces (ours, and the cni-* ones containerd leaves in /run/netns) and the root veth.
for f in /run/netns/"$NS_PREFIX"* /run/netns/cni-*; do
  [[ -e $f ]] || continue
  name=$(basename "$f")
  ip netns delete "$name" 2>/dev/null || { umount -l "$f" 2>/dev/null || true; rm -f "$f"; }
done
if ip link show "$ROOT_VETH" >/dev/null 2>&1; then ip link delete "$ROOT_VETH"; fi

# 5. Cgroups the kubelets and runc made under each node's cgroup root.
for n in "${NODES[@]}"; do
  for h in "$CGROUP_ROOT"/*/; do
    d="${h%/}/$n"
    [[ -d $d ]] || continue
    for _ in $(seq 50); do
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $d ]] || break
      sleep 0.1
    done
    [[ -d $d ]] && log "WARNING: could not remove cgroup $d"
  done
done

# 6. Files, and the empty mount-point directories up.sh created.
created=()
[[ -f $STATE/created-dirs ]] && mapfile -t created <"$STATE/created-dirs"
rm -rf "$STATE"
for ((i = ${#created[@]} - 1; i >= 0; i--)); do
  rmdir "${created[i]}" 2>/dev/null || true
done
log "cluster down"
