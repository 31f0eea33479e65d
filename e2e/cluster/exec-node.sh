#!/usr/bin/env bash
# exec-node.sh MACHINE [CMD ARGS...]
# Runs a command inside a machine's namespaces (network, mount, PID, UTS), as a
# process on that machine would: iptables, ip, conntrack, ps... see that machine.
# MACHINE: nc-node1 nc-node2 nc-node3 nc-cp nc-ext (nc-gw: network only).
# Without CMD, starts an interactive shell.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
(($# >= 1)) || { sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
m=$1; shift
(($#)) || set -- bash
if [[ $m == "$GW" ]]; then
  exec ip netns exec "$(netns_of "$m")" "$@"
fi
[[ -n ${IP[$m]:-} ]] || die "unknown machine '$m' (nc-node1 nc-node2 nc-node3 nc-cp nc-ext nc-gw)"
pid=$(init_pid "$m") || die "machine $m is not running (is the cluster up?)"
exec nsenter --target "$pid" --mount --net --pid --uts --wd=/ -- "$@"
