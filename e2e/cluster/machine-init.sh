#!/usr/bin/env bash
# PID 1 of one simulated machine. up.sh starts it as
#   nsenter --net=<machine netns> unshare --pid --fork --mount-proc --kill-child --uts -- machine-init.sh ...
# so it runs in the machine's network namespace with a fresh PID, mount and UTS
# namespace. It sets the machine's file system view up, then execs the reaping
# pause binary. Killing it ends every process of the machine.
# Usage: machine-init.sh NAME KIND(node|plain) MACHINE_DIR PAUSE_BINARY
set -euo pipefail
name=$1 kind=$2 dir=$3 pause=$4

hostname "$name"
# a sysfs of this network namespace (so /sys/class/net shows the machine's own
# interfaces), keeping the machine's cgroup hierarchies visible under it
mkdir -p "$dir/.cgroup"
mount --rbind /sys/fs/cgroup "$dir/.cgroup"
mount -t sysfs sysfs /sys
mount --rbind "$dir/.cgroup" /sys/fs/cgroup
umount -l "$dir/.cgroup"
rmdir "$dir/.cgroup"

if [[ $kind == node ]]; then
  # node-local state, as on a real machine (the mount points were made by up.sh)
  while read -r src dst; do
    mount --bind "$dir/$src" "$dst"
  done <<EOF
var-lib-kubelet /var/lib/kubelet
var-lib-containerd /var/lib/containerd
run-containerd /run/containerd
var-log /var/log
var-lib-cni /var/lib/cni
etc-cni-net.d /etc/cni/net.d
etc-kubernetes /etc/kubernetes
run-netns /run/netns
run-flannel /run/flannel
EOF
  mount --make-rshared /var/lib/kubelet
  mount --bind "$dir/resolv.conf" /etc/resolv.conf
  # The kubelet "fixes" these machine-wide sysctls; give it private copies holding
  # the values it wants so it leaves the real machine alone.
  for f in "$dir"/sysctl/*; do
    mount --bind "$f" "/proc/sys/$(basename "$f" | tr . /)"
  done
fi

touch "$dir/init.ready"
exec "$pause"
