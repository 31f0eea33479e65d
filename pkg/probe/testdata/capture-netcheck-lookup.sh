#!/usr/bin/env bash
# Captures what the probe image's netcheck-lookup prints, from a pod of that
# image this script creates in namespace nc-shop of the e2e lab (made if
# missing) and deletes: a name CoreDNS forwards to the lab's upstream
# (www.example.net), one nobody knows, and a resolver configuration whose
# nameserver port is closed (the pod's own loopback); and the exec in an
# image without netcheck-lookup (the lab's echo image: what a custom --image
# without it gives — the plugin gets kubectl's stderr line as its exec error).
# Output files: netcheck-lookup-{ok,nxdomain,closed,missing}.{stdout,stderr,rc}
# Usage: KUBECONFIG=/run/netcheck-e2e/kubeconfig capture-netcheck-lookup.sh
set -euo pipefail
cd "$(dirname "$0")"
image=$(sed -n 's/^const DefaultImage = "\(.*\)" + defaultDigest$/\1/p' ../../launch/image.go)$(sed -n 's/^const defaultDigest = "\(.*\)"$/\1/p' ../../launch/image.go)
kubectl get namespace nc-shop >/dev/null 2>&1 || kubectl create namespace nc-shop >/dev/null
cleanup() { kubectl -n nc-shop delete pod nc-lookup nc-lookup-echo --ignore-not-found --grace-period=0 >/dev/null 2>&1 || true; }
trap cleanup EXIT
kubectl -n nc-shop run nc-lookup --image="$image" --restart=Never --image-pull-policy=Never --command -- sleep 300 >/dev/null
kubectl -n nc-shop run nc-lookup-echo --image=netcheck.local/echo:1 --restart=Never --image-pull-policy=Never >/dev/null
kubectl -n nc-shop wait --for=condition=Ready pod/nc-lookup pod/nc-lookup-echo --timeout=60s >/dev/null
run() { local name=$1; shift; set +e; kubectl -n nc-shop exec "${POD:-nc-lookup}" -- "$@" >"$name.stdout" 2>"$name.stderr"; echo $? >"$name.rc"; set -e; }
run netcheck-lookup-ok netcheck-lookup www.example.net
run netcheck-lookup-nxdomain netcheck-lookup nowhere.example.net
kubectl -n nc-shop exec nc-lookup -- sh -c 'echo nameserver 127.0.0.1 >/tmp/resolv.conf'
run netcheck-lookup-closed netcheck-lookup -resolv-conf /tmp/resolv.conf -rounds 1 www.example.net
POD=nc-lookup-echo run netcheck-lookup-missing netcheck-lookup www.example.net
