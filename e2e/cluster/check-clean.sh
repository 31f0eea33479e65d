#!/usr/bin/env bash
# Exits non-zero, listing what is left, if anything of the e2e cluster survives
# (processes, mounts, network namespaces, links, cgroups, state). Run after down.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

left=()
add() { left+=("$*"); }

# processes
root_pidns=$(readlink /proc/self/ns/pid)
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  [[ $p == "$$" || $p == "$BASHPID" ]] && continue
  exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
  cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-160) || continue
  name=${exe##*/}
  if [[ $exe == "$BIN/"* ]]; then add "process $p: $cmd"; continue; fi
  case $name in
    containerd | containerd-shim* | etcd | runc | kubelet | kube-proxy | kube-apiserver | kube-controller-manager | kube-scheduler | coredns)
      add "process $p: $cmd"; continue ;;
  esac
  [[ $cmd == *"$STATE/"* || $cmd == *"$CLUSTER_DIR/machine-init.sh"* ]] && { add "process $p: $cmd"; continue; }
  # a process of one of our machines' PID namespaces (they are the only ones in nested PID namespaces here)
  if [[ $(readlink "/proc/$p/ns/pid" 2>/dev/null) != "$root_pidns" ]] &&
    ip netns identify "$p" 2>/dev/null | grep -q "^$NS_PREFIX"; then
    add "process $p (in machine netns $(ip netns identify "$p")): $cmd"
  fi
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
