//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func TestDNSHealthy(t *testing.T) {
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	healthy(t, r)
	noProbePodsLeft(t)
}

// TestDNSForwardDrop: the seed's "DNS fails because FORWARD policy is DROP",
// on one node; CoreDNS runs on nc-node3. On flannel the policy is harmless
// (flannel's own FORWARD rules accept the pod network): healthy there.
func TestDNSForwardDrop(t *testing.T) {
	lab(t)
	fault(t, "nc-node1", "forward-drop")
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	if profile() == "flannel" {
		// flanneld accepts the pod network in FORWARD itself (FLANNEL-FWD):
		// the DROP policy does not touch pod traffic, and no verdict says it does.
		healthy(t, r)
		return
	}
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	f := finding(t, r, diagnose.CauseForwardDrop)
	if strings.Join(f.Nodes, ",") != "nc-node1" || len(r.report.Findings) != 1 {
		t.Fatalf("findings %+v", r.report.Findings)
	}
	mustContain(t, "fix", f.Fix, "iptables -I FORWARD -s "+podCIDR("nc-node1")+" -j ACCEPT")
	noProbePodsLeft(t)
}

// TestDNSScaledToZero: no DNS server: named at once, no probe pod needed.
func TestDNSScaledToZero(t *testing.T) {
	lab(t)
	noCoreDNS(t)
	r := netcheck(t, time.Minute, "dns", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	finding(t, r, diagnose.CauseDNSNoEndpoints)
	noProbePodsLeft(t)
}

// TestDNSFromWorkload: a workload whose pods resolve with a nameserver of
// their own (dnsPolicy None): dns without --from is healthy (the probe has
// the kubelet's resolv.conf); with --from it names the workload's pod spec.
// Its template set back to ClusterFirst (the printed fix), healthy.
func TestDNSFromWorkload(t *testing.T) {
	shop(t)
	applyYAML(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: dnsnone, namespace: nc-shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: dnsnone}}
  template:
    metadata: {labels: {app: dnsnone}}
    spec:
      dnsPolicy: None
      dnsConfig: {nameservers: [198.18.0.254]}
      terminationGracePeriodSeconds: 0
      containers:
      - {name: c, image: busybox:1.36, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
`)
	kubectl(t, "-n", "nc-shop", "rollout", "status", "deployment/dnsnone", "--timeout=120s")
	healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))
	r := netcheck(t, 2*time.Minute, "dns", "-n", "nc-shop", "--from", "deploy/dnsnone", "-o", "json")
	if r.code != 1 || len(r.report.Nodes) != 1 || len(r.report.Skipped) != 2 {
		t.Fatalf("exit %d, nodes %d, skipped %d\n%s", r.code, len(r.report.Nodes), len(r.report.Skipped), r.stderr)
	}
	f := finding(t, r, diagnose.CauseResolvConf)
	if !strings.Contains(f.Fix[0], "dnsPolicy: ClusterFirst") {
		t.Fatalf("fix %q", f.Fix)
	}
	kubectl(t, "-n", "nc-shop", "patch", "deployment", "dnsnone", "--type=json", "-p",
		`[{"op":"replace","path":"/spec/template/spec/dnsPolicy","value":"ClusterFirst"},{"op":"remove","path":"/spec/template/spec/dnsConfig"}]`)
	kubectl(t, "-n", "nc-shop", "rollout", "status", "deployment/dnsnone", "--timeout=120s")
	kubectl(t, "-n", "nc-shop", "wait", "--for=delete", "pod", "-l", "app=dnsnone,pod-template-hash!="+
		strings.TrimSpace(kubectl(t, "-n", "nc-shop", "get", "rs", "-l", "app=dnsnone", "--sort-by=.metadata.creationTimestamp", "-o", "jsonpath={.items[-1:].metadata.labels.pod-template-hash}")), "--timeout=60s")
	healthy(t, netcheck(t, 2*time.Minute, "dns", "-n", "nc-shop", "--from", "deploy/dnsnone", "-o", "json"))
	noProbePodsLeft(t)
}

// The way out of cluster DNS: CoreDNS forwards outside names to the
// upstream resolver in nc-ext (198.19.0.1, a CoreDNS serving example.net).
func TestDNSUpstreamHealthy(t *testing.T) {
	lab(t)
	r := netcheck(t, 2*time.Minute, "dns", "--outside", "www.example.net", "-o", "json")
	healthy(t, r)
	for _, n := range r.report.Nodes {
		var outside, upstream bool
		for _, c := range n.Pod.Checks {
			outside = outside || (c.ID.Role == observe.RoleDNSOutside && c.Outcome == observe.OK && strings.Join(c.Resolved, ",") == "198.19.0.1")
		}
		for _, c := range n.Host.Checks {
			upstream = upstream || (c.ID == diagnose.DNSUpstreamKey("198.19.0.1") && c.Outcome == observe.OK)
		}
		if !outside || !upstream {
			t.Errorf("%s: outside name through the Service resolved %v, upstream asked from the node %v: %+v %+v", n.Name, outside, upstream, n.Pod.Checks, n.Host.Checks)
		}
	}
	noProbePodsLeft(t)
}

// The upstream stops answering (port 53 dropped in nc-ext). While
// CoreDNS's cache (cache 30) still holds the answer the name resolves and
// a warning says the upstream answers no node; once it expires, cluster
// names still resolve, the outside name does not: an error on every node.
// The fix, applied by hand: remove the drop.
func TestDNSUpstreamDown(t *testing.T) {
	lab(t)
	outside := func() result { return netcheck(t, 2*time.Minute, "dns", "--outside", "www.example.net", "-o", "json") }
	healthy(t, outside()) // the answer is in CoreDNS's cache now
	fault(t, "nc-ext", "dns-upstream-down")
	upstream := func(r result, sev diagnose.Severity) {
		t.Helper()
		if r.code != 1 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		f := finding(t, r, diagnose.CauseDNSUpstream)
		if len(r.report.Findings) != 1 || len(f.Nodes) != len(r.report.Nodes) || f.Severity != sev {
			t.Fatalf("want one %s on every node: %+v", sev, r.report.Findings)
		}
		mustContain(t, "evidence", f.Evidence, "ConfigMap kube-system/coredns: forward . 198.19.0.1")
		mustContain(t, "fix", f.Fix, "make the resolver at 198.19.0.1 answer")
	}
	upstream(outside(), diagnose.Warning)
	time.Sleep(31 * time.Second) // the cached answer expires
	upstream(outside(), diagnose.Error)
	restoreFault(t, "nc-ext", "dns-upstream-down")
	healthy(t, outside())
	noProbePodsLeft(t)
}

// The upstream answers, and refuses (REFUSED to everyone: an access list
// that leaves the cluster out). ns.example.net, a name no test asked
// before, is in no cache. The fix, applied by hand: the upstream's own
// config back (it answers the cluster again).
func TestDNSUpstreamRefuses(t *testing.T) {
	lab(t)
	fault(t, "nc-ext", "dns-upstream-refuse")
	r := netcheck(t, 2*time.Minute, "dns", "--outside", "ns.example.net", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	f := finding(t, r, diagnose.CauseDNSUpstream)
	if len(r.report.Findings) != 1 || len(f.Nodes) != len(r.report.Nodes) || f.Severity != diagnose.Error {
		t.Fatalf("want one error on every node: %+v", r.report.Findings)
	}
	mustContain(t, "summary", []string{f.Summary}, "refuses them (REFUSED)")
	mustContain(t, "fix", f.Fix, "allow recursion for the nodes' addresses")
	restoreFault(t, "nc-ext", "dns-upstream-refuse")
	healthy(t, netcheck(t, 2*time.Minute, "dns", "--outside", "ns.example.net", "-o", "json"))
	noProbePodsLeft(t)
}
