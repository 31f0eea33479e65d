#!/usr/bin/env bash
# Runs the e2e suite on the lab cluster: start it (building what is missing),
# run every scenario against the real plugin binary, tear the cluster down
# and check nothing is left behind. Exit status: the suite's.
#   NETCHECK_E2E_KEEP=1   leave the cluster up afterwards
#   E2E_RUN=<regexp>      run only matching tests
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID == 0 ]] || { echo "e2e needs root (network namespaces, containerd)" >&2; exit 2; }

start=$(date +%s)
down() {
  if [[ ${NETCHECK_E2E_KEEP:-0} != 1 ]]; then
    bash e2e/cluster/down.sh
    bash e2e/cluster/check-clean.sh
  fi
}
trap down EXIT

bash e2e/cluster/up.sh
export KUBECONFIG=${NETCHECK_E2E_STATE:-/run/netcheck-e2e}/kubeconfig NETCHECK_E2E_LAB=1
[[ -x bin/kubectl-netcheck ]] || make build
echo "cluster ready after $(( $(date +%s) - start ))s; running the suite"
go test -tags e2e -count=1 -v -timeout 45m ${E2E_RUN:+-run "$E2E_RUN"} ./e2e/ 2>&1 | tee /tmp/netcheck-e2e.log
rc=${PIPESTATUS[0]}
passed=$(grep -c '^\s*--- PASS' /tmp/netcheck-e2e.log || true)
failed=$(grep -c '^\s*--- FAIL' /tmp/netcheck-e2e.log || true)
skipped=$(grep -c '^\s*--- SKIP' /tmp/netcheck-e2e.log || true)
echo "e2e finished in $(( $(date +%s) - start ))s (exit $rc)"
echo "e2e: $passed passed, $failed failed, $skipped skipped"
exit "$rc"
