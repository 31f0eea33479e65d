#!/usr/bin/env bash
# make demo: the first seed's trouble on the local lab cluster, diagnosed and
# fixed, without a cluster of your own. Starts the lab (built on first use,
# ~20 min on 2 cores; seconds afterwards), removes nc-node1's masquerade rule
# (its pods cannot reach the outside subnet 198.19.0.0/24, the node can), runs
# `kubectl netcheck external 198.19.0.0/24`, applies the fix it prints on
# that node, and runs it again: healthy. Root needed (the lab is network
# namespaces on this machine; nothing leaves it).
#
#   make demo            the cluster goes down at the end (if the demo started it)
#   make demo KEEP=1     the cluster stays up: export KUBECONFIG=/run/netcheck-e2e/kubeconfig
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=${KEEP:-0}
NODE=nc-node1 TARGET=198.19.0.0/24
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
((EUID == 0)) || { echo "make demo: the lab cluster needs root (network namespaces)" >&2; exit 2; }

source e2e/cluster/lib.sh # kctl, KUBECONFIG_OUT
export KUBECONFIG=$KUBECONFIG_OUT
started=0
if ! [[ -f $KUBECONFIG ]] || ! kctl get --raw /readyz >/dev/null 2>&1; then
  step "starting the lab cluster (3 nodes; the first time builds Kubernetes: ~20 min)"
  bash e2e/cluster/up.sh
  started=1
fi
applied=()
finish() {
  # Back as the lab was: the fix's rule taken out again, the fault's record restored.
  if ((${#applied[@]})); then
    local undo=() a
    for a in "${applied[@]}"; do [[ $a == -A || $a == -I ]] && a=-D; undo+=("$a"); done
    bash e2e/cluster/exec-node.sh "$NODE" "${undo[@]}" >/dev/null 2>&1 || true
  fi
  bash e2e/cluster/fault.sh "$NODE" masquerade-del restore >/dev/null 2>&1 || true
  if ((started && !KEEP)); then step "stopping the lab cluster"; bash e2e/cluster/down.sh >/dev/null; fi
  if ((KEEP)); then echo "the cluster stays up: export KUBECONFIG=$KUBECONFIG (make e2e-down stops it)"; fi
}
trap finish EXIT
[[ -x bin/kubectl-netcheck ]] || make --no-print-directory build >/dev/null

step "breaking $NODE the way the first seed describes: its masquerade rule deleted"
bash e2e/cluster/fault.sh "$NODE" masquerade-del inject
step "kubectl netcheck external $TARGET"
rc=0; bin/kubectl-netcheck external "$TARGET" || rc=$?
((rc == 1)) || { echo "make demo: expected exit 1 (a problem found), got $rc" >&2; exit 1; }

# The fix as printed, run on the node as an argv (no shell): the iptables
# command of the first finding.
fix=$(bin/kubectl-netcheck external "$TARGET" -o jsonpath='{.status.findings[0].fix[0]}' || true)
read -r -a argv <<<"$fix"
[[ ${argv[0]:-} == iptables ]] || { echo "make demo: the first fix is not an iptables command: $fix" >&2; exit 1; }
step "applying the printed fix on $NODE: $fix"
bash e2e/cluster/exec-node.sh "$NODE" "${argv[@]}"
applied=("${argv[@]}")
step "kubectl netcheck external $TARGET (again)"
bin/kubectl-netcheck external "$TARGET"
