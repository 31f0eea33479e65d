# Run as: sh -c "$(cat pathmtu.sh)" netcheck-pmtu WAIT HOST [DEV] (see pathmtu.go).
w=$1 h=$2 dev=$3
# Readers that read to the end (no head, no grep -q): the writer never meets a closed pipe.
[ -n "$dev" ] || dev=$(ip route get "$h" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
# ip, not /sys: sysfs shows the netns that mounted it, not the one entered.
m=$(ip link show dev "$dev" 2>/dev/null | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
[ -n "$m" ] || m=1500
echo "local $dev $m $h"
# One DF probe at the full size first, before anything can teach the kernel
# a smaller path MTU: a router's answer (!F-N) names it.
out=$(traceroute -F -n -f 32 -m 32 -q 1 -w "$w" "$h" "$m" 2>&1 | tail -n 1)
echo "trace $m $out"
told=$(echo "$out" | sed -n 's/.*!F-\([0-9]*\).*/\1/p')
case "$out" in *"  $h  "*" ms") echo "done"; exit 0;; esac
answers() { # SIZE: one ping of that whole size is answered
  out=$(ping -c 1 -W "$w" -s $(($1 - 28)) "$h" 2>&1)
  case "$out" in *' 1 packets received'*) return 0;; esac
  return 1
}
try() {
  if answers "$1"; then echo "ping $1 ok"; return 0; fi
  echo "ping $1 lost"; return 1
}
lo=0 hi=$((m + 1))
if [ -n "$told" ] && [ "$told" -lt "$m" ] && try "$told"; then
  lo=$told hi=$((told + 1))
elif try "$m"; then
  echo "done"; exit 0
else
  hi=$m
  if try 576; then lo=576; else echo "done"; exit 0; fi
fi
n=0
while [ $((hi - lo)) -gt 1 ] && [ $n -lt 12 ]; do
  mid=$(( (lo + hi) / 2 ))
  if try "$mid"; then lo=$mid; else hi=$mid; fi
  n=$((n + 1))
done
if answers $((m + 1)); then echo "nodf $((m + 1)) ok"; else echo "nodf $((m + 1)) lost"; fi
echo "done"
