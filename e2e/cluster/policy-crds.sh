#!/usr/bin/env bash
# Installs (or, with "delete", removes) the CustomResourceDefinitions of
# sigs.k8s.io/network-policy-api on the lab cluster, from the experimental
# channel (the standard one lacks node peers, named ports and domain names):
# ClusterNetworkPolicy from v0.3.0 (served as v1alpha2 and v1beta1),
# AdminNetworkPolicy and BaselineAdminNetworkPolicy from v0.1.7 (v1alpha1;
# v0.1.1's peers have another shape). They come from the Go module proxy, as
# the project's other sources do. No controller enforces
# them in the lab: netcheck's verdict there is that they are not enforced.
set -euo pipefail
: "${KUBECONFIG:=${NETCHECK_E2E_STATE:-/run/netcheck-e2e}/kubeconfig}"
export KUBECONFIG
moddir() {
  local json
  json=$(cd /tmp && go mod download -json "sigs.k8s.io/network-policy-api@$1")
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json"
}
new=$(moddir v0.3.0)
old=$(moddir v0.1.7)
files=(-f "$new/config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml"
       -f "$old/config/crd/experimental/policy.networking.k8s.io_adminnetworkpolicies.yaml"
       -f "$old/config/crd/experimental/policy.networking.k8s.io_baselineadminnetworkpolicies.yaml")
if [[ ${1:-apply} == delete ]]; then
  kubectl delete --ignore-not-found --wait "${files[@]}" >/dev/null
  exit 0
fi
kubectl apply --server-side "${files[@]}" >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/clusternetworkpolicies.policy.networking.k8s.io \
  crd/adminnetworkpolicies.policy.networking.k8s.io \
  crd/baselineadminnetworkpolicies.policy.networking.k8s.io >/dev/null
