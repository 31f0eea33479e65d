#!/usr/bin/env bash
# Captures the resolv.conf the kubelet writes into pods: dnsPolicy ClusterFirst
# (cluster DNS, the namespace's search path, ndots:5) and Default (the node's
# own), read with `cat /etc/resolv.conf` as the probe does, from two pods this
# script creates in namespace nc-shop of the e2e lab (made if missing) and deletes.
# Output files: resolv-conf.clusterfirst.stdout, resolv-conf.default.stdout
# Usage: KUBECONFIG=/run/netcheck-e2e/kubeconfig capture-resolv-conf.sh
set -euo pipefail
cd "$(dirname "$0")"
image=docker.io/library/busybox:1.36   # the lab's imported busybox
kubectl get namespace nc-shop >/dev/null 2>&1 || kubectl create namespace nc-shop >/dev/null
cleanup() { kubectl -n nc-shop delete pod nc-resolv-cf nc-resolv-df --ignore-not-found --grace-period=0 >/dev/null 2>&1 || true; }
trap cleanup EXIT
for p in cf:ClusterFirst df:Default; do
  kubectl -n nc-shop run "nc-resolv-${p%%:*}" --image="$image" --restart=Never --image-pull-policy=Never \
    --overrides="{\"spec\":{\"dnsPolicy\":\"${p#*:}\"}}" --command -- sleep 300 >/dev/null
done
kubectl -n nc-shop wait --for=condition=Ready pod/nc-resolv-cf pod/nc-resolv-df --timeout=60s >/dev/null
kubectl -n nc-shop exec nc-resolv-cf -- cat /etc/resolv.conf >resolv-conf.clusterfirst.stdout
kubectl -n nc-shop exec nc-resolv-df -- cat /etc/resolv.conf >resolv-conf.default.stdout
