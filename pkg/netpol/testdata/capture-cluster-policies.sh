#!/usr/bin/env bash
# Re-captures the cluster policy lists the netpol tests decode, as the e2e
# lab's kube-apiserver returns them: installs network-policy-api's CRDs,
# creates cluster-policies.yaml, reads each list, removes both again.
set -euo pipefail
cd "$(dirname "$0")"
crds=../../../e2e/cluster/policy-crds.sh
: "${KUBECONFIG:=${NETCHECK_E2E_STATE:-/run/netcheck-e2e}/kubeconfig}"
export KUBECONFIG
trap 'kubectl delete --ignore-not-found -f cluster-policies.yaml >/dev/null 2>&1 || true; bash "$crds" delete' EXIT
bash "$crds"
kubectl apply -f cluster-policies.yaml >/dev/null
kubectl get --raw /apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies >clusternetworkpolicies.v1beta1.json
kubectl get --raw /apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies >clusternetworkpolicies.v1alpha2.json
kubectl get --raw /apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies >adminnetworkpolicies.v1alpha1.json
kubectl get --raw /apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies >baselineadminnetworkpolicies.v1alpha1.json
