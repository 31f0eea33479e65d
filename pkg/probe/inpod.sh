# Run as: sh -c "$(cat inpod.sh)" netcheck-from POD-UID ARGV... (see inpod.go).
uid=$1; shift
u2=$(echo "$uid" | tr - _)
# One grep over every process's cgroup file, not one per process: a fork
# each made a check wait seconds on a busy node with many checks at once.
pid=
for c in $(grep -l -e "pod$uid" -e "pod$u2" /proc/[0-9]*/cgroup 2>/dev/null); do
  pid=${c#/proc/}; pid=${pid%/cgroup}; break
done
[ -n "$pid" ] || { echo "netcheck: no process of pod $uid on this node" >&2; exit 125; }
root=/proc/$pid/root
# The workload's own resolver, not the node probe's.
if [ "$1" = cat ] && [ "$2" = /etc/resolv.conf ]; then exec cat "$root/etc/resolv.conf"; fi
if [ "$1" = netcheck-lookup ]; then shift; set -- netcheck-lookup -resolv-conf "$root/etc/resolv.conf" "$@"; fi
if [ "$1" = nslookup ] && [ $# -eq 2 ]; then
  ns=$(sed -n '/^nameserver/{s/^nameserver[[:space:]]*\([^[:space:]]*\).*/\1/p;q;}' "$root/etc/resolv.conf")
  [ -n "$ns" ] && set -- "$@" "$ns"
fi
exec nsenter -t "$pid" -n -- "$@"
