//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestDNSSearchCost: a workload with the kubelet's ndots:5 pays eight
// queries for www.example.net (its own namespace's search list, read from
// its resolv.conf through --from); the note's fix, dnsConfig ndots: 2 in its
// template, applied by hand: the name is asked as written first, two
// queries, and the note is gone.
func TestDNSSearchCost(t *testing.T) {
	shop(t)
	applyYAML(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: lookups, namespace: nc-shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: lookups}}
  template:
    metadata: {labels: {app: lookups}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {name: c, image: busybox:1.36, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
`)
	defer kubectl(t, "-n", "nc-shop", "delete", "deployment", "lookups", "--wait=false")
	kubectl(t, "-n", "nc-shop", "rollout", "status", "deployment/lookups", "--timeout=120s")
	args := []string{"dns", "--outside", "www.example.net", "-n", "nc-shop", "--from", "deploy/lookups", "-o", "json"}
	r := netcheck(t, 2*time.Minute, args...)
	healthy(t, r)
	if len(r.report.Nodes) != 1 {
		t.Fatalf("nodes %d\n%s", len(r.report.Nodes), r.stderr)
	}
	lookupCost(t, r.report.Nodes[0], "www.example.net", 8, "www.example.net.nc-shop.svc.cluster.local.")
	mustContain(t, "notes", r.report.Notes, "set the pod's dnsConfig.options ndots: 2")
	mustContain(t, "notes", r.report.Notes, "Timed from the pods on "+r.report.Nodes[0].Name+" (A and AAAA per name; the median of 3 lookups where it answered): as written 8 queries, ")

	kubectl(t, "-n", "nc-shop", "patch", "deployment", "lookups", "--type=json", "-p",
		`[{"op":"add","path":"/spec/template/spec/dnsConfig","value":{"options":[{"name":"ndots","value":"2"}]}}]`)
	rolledOver(t, "nc-shop", "lookups")
	r = netcheck(t, 2*time.Minute, args...)
	healthy(t, r)
	lookupCost(t, r.report.Nodes[0], "www.example.net", 2, "www.example.net.")
	for _, n := range r.report.Notes {
		if strings.Contains(n, "fewer than ndots") {
			t.Errorf("with ndots:2 the note stays: %s", n)
		}
	}
	noProbePodsLeft(t)
}
