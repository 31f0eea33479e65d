#!/usr/bin/env bash
# Exits non-zero, listing what is left, if anything of the e2e cluster survives
# (processes, mounts, network namespaces, links, cgroups, state). Run after down.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

left=()
add() { left+=("$*"); }

# processes (bash builtins only: this walks every process)
nsfiles=(); for f in /run/netns/"$NS_PREFIX"*; do [[ -e $f ]] && nsfiles+=("$f"); done
# (not every user of $BIN: other tests run $BIN/busybox and $BIN/pause in their own namespaces)
bins=(); for f in "$BIN"/kube* "$BIN"/coredns; do [[ -f $f && -x $f ]] && bins+=("$f"); done
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  [[ $p == "$$" || $p == "$BASHPID" ]] && continue
  { read -r comm <"/proc/$p/comm"; } 2>/dev/null || continue
  { mapfile -d '' args <"/proc/$p/cmdline"; } 2>/dev/null || continue
  cmd="${args[*]}"; cmd=${cmd:0:160}
  hit=""
  for f in "${nsfiles[@]}"; do [[ /proc/$p/ns/net -ef $f ]] && hit="in netns ${f##*/}"; done
  for f in "${bins[@]}"; do [[ /proc/$p/exe -ef $f ]] && hit="runs $f"; done
  case $comm in
    containerd | containerd-shim | etcd | runc | kubelet | kube-proxy | kube-apiserve | kube-controll | kube-schedule | coredns)
      hit=${hit:-"is $comm"} ;;
  esac
  case $comm in
    nsenter | unshare | env | setsid | busybox | pause)
      [[ -z $hit && $cmd == *"$STATE/"* ]] && hit="names our state" ;;
    bash)
      [[ -z $hit && $cmd == *"$CLUSTER_DIR/machine-init.sh"* ]] && hit="is a machine init" ;;
  esac
  [[ -n $hit ]] && add "process $p ($hit): $cmd"
done

# mounts (in this mount namespace)
while read -r mp; do add "mount $mp"; done < <(
  awk -v s="$STATE" '$5 == s || index($5, s "/") == 1 || $5 ~ "^/run/netns/(cni-|'"$NS_PREFIX"')" ||
    $5 ~ "^/(var/lib/kubelet|var/lib/containerd|run/containerd|var/lib/cni|etc/cni|etc/kubernetes)(/|$)" {print $5}' /proc/self/mountinfo)

# network namespaces and links
for f in /run/netns/"$NS_PREFIX"* /run/netns/cni-*; do
  [[ -e $f ]] && add "netns $(basename "$f")"
done
ip link show "$ROOT_VETH" >/dev/null 2>&1 && add "link $ROOT_VETH in the root netns"

# cgroups
for n in "${NODES[@]}"; do
  for h in "$CGROUP_ROOT"/*/; do
    [[ -d ${h%/}/$n ]] && add "cgroup ${h%/}/$n"
  done
done

# state
[[ -e $STATE ]] && add "state dir $STATE"

if ((${#left[@]})); then
  echo "netcheck-e2e: NOT clean, ${#left[@]} leftover(s):" >&2
  printf '  %s\n' "${left[@]}" >&2
  exit 1
fi
echo "netcheck-e2e: clean"
