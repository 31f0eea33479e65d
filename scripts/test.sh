#!/usr/bin/env bash
# The README's test command (make test) and CI's: every stage in order, each
# timed, and a table of the times at the end. Stops at the first failing stage.
#   NETCHECK_COLD=1   a fresh machine: every cache (Go build and module caches,
#                     e2e binaries and images, tools) points at an empty
#                     directory under $NETCHECK_COLD_DIR (default
#                     /var/tmp/netcheck-cold), removed first. make ci-cold.
#   NETCHECK_STAGES="vet unit"   run only these stages
#   NETCHECK_KREW=all  the packaging check on all six platforms (make release-check)
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

# The packaging check builds all six release platforms only when its inputs
# differ from those of the last full check that passed (.ci/release.sum).
release_inputs() { sha256sum .krew.yaml mk/dist.mk .ci/krew.sh LICENSE go.mod go.sum | sha256sum | cut -d' ' -f1; }
krew_stage() {
  if [[ ${NETCHECK_KREW:-} != all && $(release_inputs) == "$(cat .ci/release.sum 2>/dev/null)" ]]; then
    KREW_CHECK=host bash .ci/krew.sh
  else
    echo "packaging inputs differ from .ci/release.sum: checking all six platforms"
    KREW_CHECK=all bash .ci/krew.sh
    release_inputs >.ci/release.sum
    echo "all six platforms pass: commit .ci/release.sum to record it"
  fi
}

declare -A run=(
  [vet]="make vet"
  [check-pipes]="bash scripts/check-pipes.sh"
  [lint]="bash scripts/lint.sh"
  [unit]="go test -race -count=1 ./..."
  [fuzz]="make fuzz"
  [bench-quick]="make bench-quick"
  [krew]="krew_stage"
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
