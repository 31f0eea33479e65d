//go:build e2e

package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	rolledOver(t, "nc-shop", "dnsnone")
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
			outside = outside || (c.ID.Role == observe.RoleDNSOutside && c.Outcome == observe.OK && slices.Contains(c.Resolved, "198.19.0.1")) // and its AAAA on the dual-stack lab
		}
		for _, c := range n.Host.Checks {
			upstream = upstream || (c.ID == diagnose.DNSUpstreamKey("198.19.0.1") && c.Outcome == observe.OK)
		}
		if !outside || !upstream {
			t.Errorf("%s: outside name through the Service resolved %v, upstream asked from the node %v: %+v %+v", n.Name, outside, upstream, n.Pod.Checks, n.Host.Checks)
		}
	}
	// The pods' resolv.conf (kubelet's: three search domains, ndots:5) turns
	// the name into four queries: said as a note, not a finding.
	mustContain(t, "notes", r.report.Notes, "www.example.net has 2 dot(s), fewer than ndots:5 in the pods' resolv.conf")
	mustContain(t, "notes", r.report.Notes, "www.example.net.netcheck.svc.cluster.local, www.example.net.svc.cluster.local, www.example.net.cluster.local first")
	// ... and timed, A and AAAA per name: 8 queries as written, 2 with the dot.
	for _, n := range r.report.Nodes {
		lookupCost(t, n, "www.example.net", 8, "www.example.net.netcheck.svc.cluster.local.")
	}
	mustContain(t, "notes", r.report.Notes, "(A and AAAA per name; the median of 3 lookups where it answered): as written 8 queries, ")
	mustContain(t, "notes", r.report.Notes, "; with the trailing dot 2 queries, ")
	noProbePodsLeft(t)
}

// lookupCost checks the timed lookup of name on node n: queries as written
// (first tried: first), two with the trailing dot, both answered.
func lookupCost(t *testing.T, n observe.Node, name string, queries int, first string) {
	t.Helper()
	for _, c := range n.Pod.Checks {
		if c.ID != diagnose.DNSSearchKey(name) {
			continue
		}
		l := c.Lookup
		if c.Outcome != observe.OK || l == nil || l.Search.Queries != queries || len(l.Search.Tried) == 0 || l.Search.Tried[0] != first ||
			l.Search.Answer != name+"." || l.Dotted.Queries != 2 || l.Dotted.Answer != name+"." || l.Search.Millis <= 0 || l.Dotted.Millis <= 0 {
			t.Errorf("%s: lookup of %s: %+v (%s)", n.Name, name, l, c.Detail)
		}
		return
	}
	t.Errorf("%s: no timed lookup of %s: %+v", n.Name, name, n.Pod.Checks)
}

// The upstream stops answering (port 53 dropped in nc-ext). While
// CoreDNS's cache (cache 30) still holds the answer the name resolves and
// a warning says the upstream answers no node; once it expires, cluster
// names still resolve, the outside name does not: an error on every node.
// The fix, applied by hand: remove the drop.
func TestDNSUpstreamDown(t *testing.T) {
	lab(t)
	outside := func() result { return netcheck(t, 2*time.Minute, "dns", "--outside", "www.example.net", "-o", "json") }
	// The answer is in CoreDNS's cache now — stored by this run, or by
	// TestDNSUpstreamHealthy just before: a test asking www.example.net in
	// between would leave too little of its 30 s (TestDNSSearchCost is in a
	// file of its own, run after this one).
	healthy(t, outside())
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

// TestDNSReplicaUnreachable: a second CoreDNS replica, on nc-node2, behind
// the same Service, and nc-node2's FORWARD policy DROP. Pods on nc-node1 and
// nc-node3 reach the replica on nc-node3, not the one on nc-node2 — the
// Service balances a share of their lookups onto it — and the verdict names
// that replica and nc-node2's FORWARD chain, whichever replica the Service
// check happened to reach; nc-node2's own pods get forward-drop. The printed
// fix, applied by hand on nc-node2, makes the run healthy again. On flannel
// the policy is harmless (FLANNEL-FWD accepts the pod network).
func TestDNSReplicaUnreachable(t *testing.T) {
	lab(t)
	var d appsv1.Deployment
	if err := json.Unmarshal([]byte(kubectl(t, "-n", "kube-system", "get", "deployment", "coredns", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	second := appsv1.Deployment{TypeMeta: d.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: "coredns-b", Namespace: "kube-system", Labels: d.Labels}, Spec: d.Spec}
	one := int32(1)
	second.Spec.Replicas = &one
	second.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns", "replica": "b"}}
	second.Spec.Template.Labels = map[string]string{"k8s-app": "kube-dns", "replica": "b"}
	second.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "nc-node2"}
	b, err := json.Marshal(second)
	if err != nil {
		t.Fatal(err)
	}
	applyYAML(t, string(b))
	kubectl(t, "-n", "kube-system", "rollout", "status", "deployment/coredns-b", "--timeout=120s")
	readyEndpoints(t, "kube-system", "kube-dns", 2)
	healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))

	fault(t, "nc-node2", "forward-drop")
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	if profile() == "flannel" {
		healthy(t, r)
		return
	}
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	f := finding(t, r, diagnose.CauseDNSReplicaUnreachable)
	if strings.Join(f.Nodes, ",") != "nc-node1,nc-node3" {
		t.Errorf("dns-replica-unreachable on %v, want nc-node1,nc-node3", f.Nodes)
	}
	for _, want := range []string{"reach 1 of 2 DNS pods, not coredns-b-", "on nc-node2", "nc-node2's FORWARD chain drops"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary %q lacks %q", f.Summary, want)
		}
	}
	cidr2 := podCIDR("nc-node2")
	mustContain(t, "fix", f.Fix, "iptables -I FORWARD -d "+cidr2+" -j ACCEPT   # on nc-node2")
	d2 := finding(t, r, diagnose.CauseForwardDrop)
	if strings.Join(d2.Nodes, ",") != "nc-node2" || len(r.report.Findings) != 2 {
		t.Fatalf("want forward-drop on nc-node2 beside it: %+v", r.report.Findings)
	}
	// The fix, by hand, on nc-node2: the first two lines printed (both ways).
	for _, l := range f.Fix[:2] {
		argv := command(l)
		onNode(t, "nc-node2", argv...)
		t.Cleanup(func() { // the lab as it was: the fault's restore resets the policy only
			onNode(t, "nc-node2", append([]string{"iptables", "-D"}, argv[2:]...)...)
		})
	}
	healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))
	noProbePodsLeft(t)
}

// rolledOver waits until deployment app (its pods labelled app=<app>) runs
// its newest template only: the old pods are gone, not just terminating.
func rolledOver(t *testing.T, ns, app string) {
	t.Helper()
	kubectl(t, "-n", ns, "rollout", "status", "deployment/"+app, "--timeout=120s")
	kubectl(t, "-n", ns, "wait", "--for=delete", "pod", "-l", "app="+app+",pod-template-hash!="+
		strings.TrimSpace(kubectl(t, "-n", ns, "get", "rs", "-l", "app="+app, "--sort-by=.metadata.creationTimestamp", "-o", "jsonpath={.items[-1:].metadata.labels.pod-template-hash}")), "--timeout=60s")
}
