#!/usr/bin/env bash
# The README's test command (make test) and CI's: every stage in order, each
# timed, and a table of the times at the end. Stops at the first failing stage.
#   NETCHECK_COLD=1   a fresh machine: every cache (Go build and module caches,
#                     e2e binaries and images, tools) points at an empty
#                     directory under $NETCHECK_COLD_DIR (default
#                     /var/tmp/netcheck-cold), removed first. make ci-cold.
#   NETCHECK_STAGES="vet unit"   run only these stages
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

if [[ ${NETCHECK_COLD:-0} == 1 ]]; then
  cold=${NETCHECK_COLD_DIR:-/var/tmp/netcheck-cold}
  if [[ -e $cold ]]; then chmod -R u+w "$cold" && rm -rf "$cold"; fi
  mkdir -p "$cold"
  export GOCACHE=$cold/go-build GOMODCACHE=$cold/go-mod NETCHECK_E2E_CACHE=$cold/e2e NETCHECK_TOOLS=$cold/tools
  echo "cold run: every cache under $cold"
fi

# Debian packages the stages use beside the lab's (e2e/cluster/build.sh
# installs those): xmllint validates --junit-file output against docs/junit.xsd,
# zip packs the windows archives, jq reads JSON in the scripts.
need=()
for p in libxml2-utils zip jq; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *'install ok installed'* ]] || need+=("$p")
done
if ((${#need[@]})); then
  echo "apt-get install ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

declare -A run=(
  [vet]="make vet"
  [check-pipes]="bash scripts/check-pipes.sh"
  [lint]="bash scripts/lint.sh"
  [unit]="go test -race -count=1 ./..."
  [fuzz]="make fuzz"
  [bench-quick]="make bench-quick"
  [krew]="bash .ci/krew.sh"
  [e2e]="make e2e"
  [e2e-nft]="make e2e-nft"
  [e2e-flannel]="make e2e-flannel"
  [e2e-netpol]="make e2e-netpol"
)
order=(vet check-pipes lint unit fuzz bench-quick krew e2e e2e-nft e2e-flannel e2e-netpol)
read -r -a stages <<<"${NETCHECK_STAGES:-${order[*]}}"

declare -A took
total=$SECONDS
summary() {
  local rc=$? s
  echo
  echo "stage          seconds"
  for s in "${stages[@]}"; do
    [[ -n ${took[$s]:-} ]] && printf '%-14s %7s\n' "$s" "${took[$s]}"
  done
  printf '%-14s %7s  (exit %d)\n' total "$((SECONDS - total))" "$rc"
}
trap summary EXIT
for s in "${stages[@]}"; do
  [[ -n ${run[$s]:-} ]] || { echo "unknown stage $s (known: ${order[*]})" >&2; exit 2; }
  echo "=== $s: ${run[$s]}"
  t=$SECONDS
  if ! ${run[$s]}; then took[$s]="$((SECONDS - t)) FAIL"; exit 1; fi
  took[$s]=$((SECONDS - t))
done
