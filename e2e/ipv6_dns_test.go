//go:build e2e

package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// dnsPod6 is the lab CoreDNS pod's node and IPv6 address (status.podIPs),
// of the one pod not being deleted (a restart's old pod may linger).
func dnsPod6(t *testing.T) (node, ip6 string) {
	t.Helper()
	var pods corev1.PodList
	if err := json.Unmarshal([]byte(kubectl(t, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "json")), &pods); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, ip := range p.Status.PodIPs {
			if strings.Contains(ip.IP, ":") {
				return p.Spec.NodeName, ip.IP
			}
		}
	}
	t.Fatalf("no CoreDNS pod with an IPv6 address: %+v", pods.Items)
	return "", ""
}

// dnsClusterIP is the DNS Service's (primary, IPv4) ClusterIP.
func dnsClusterIP(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(kubectl(t, "-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"))
}

// TestIPv6DNSHealthy: on the healthy dual-stack lab `dns` finds nothing, and
// its IPv6 checks ran: every node's pod asked the CoreDNS pod at its IPv6
// address, and the AAAA lookup through the Service (of the CoreDNS pod's own
// record: kube-dns is single-stack here) answered that address. The notes
// say so.
func TestIPv6DNSHealthy(t *testing.T) {
	dualStack(t)
	_, ip6 := dnsPod6(t)
	svc := dnsClusterIP(t)
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	healthy(t, r)
	if len(r.report.Nodes) != 3 {
		t.Fatalf("%d nodes probed, want 3", len(r.report.Nodes))
	}
	for _, n := range r.report.Nodes {
		var pod6, aaaa bool
		for _, c := range n.Pod.Checks {
			pod6 = pod6 || (c.ID == diagnose.DNSPodKey(ip6) && c.Outcome == observe.OK)
			aaaa = aaaa || (c.ID == diagnose.DNSAAAAKey(svc) && c.Outcome == observe.OK && slices.Contains(c.Resolved, ip6))
		}
		if !pod6 || !aaaa {
			t.Errorf("%s: CoreDNS asked at %s: %v; AAAA through %s answered %s: %v\n%+v", n.Name, ip6, pod6, svc, ip6, aaaa, n.Pod.Checks)
		}
	}
	mustContain(t, "notes", r.report.Notes, "is single-stack (IPv4 "+svc+") on a dual-stack cluster")
	mustContain(t, "notes", r.report.Notes, "AAAA asked for "+strings.ReplaceAll(ip6, ":", "-")+".kube-system.pod.cluster.local")
	noProbePodsLeft(t)
}

// TestIPv6DNSForwardDrop: ip6tables' FORWARD policy DROP on CoreDNS's node,
// then on a client node. IPv4 lookups still work everywhere; the verdict
// names the node whose ip6tables drops, with the ip6tables fix in its pod
// range of that family. The printed fix, applied by hand on that node, makes
// the run healthy; the fault is restored after.
func TestIPv6DNSForwardDrop(t *testing.T) {
	dualStack(t)
	server, ip6 := dnsPod6(t)
	client := "nc-node1"
	if server == client {
		client = "nc-node2"
	}
	tests := []struct {
		node    string
		summary string
		fix     []string // the fix lines applied, in order
	}{
		{server, "drops IPv6 traffic to and from its pods; pods on ",
			[]string{"ip6tables -I FORWARD -s " + podCIDR6(server) + " -j ACCEPT", "ip6tables -I FORWARD -d " + podCIDR6(server) + " -j ACCEPT"}},
		{client, "drops its pods' IPv6 traffic; its pods reach the DNS pod ",
			[]string{"ip6tables -I FORWARD -s " + podCIDR6(client) + " -j ACCEPT",
				"ip6tables -I FORWARD -d " + podCIDR6(client) + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}},
	}
	for _, tt := range tests {
		t.Run("forward-drop6@"+tt.node, func(t *testing.T) {
			fault(t, tt.node, "forward-drop6")
			r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			f := finding(t, r, diagnose.CauseForwardDrop)
			if strings.Join(f.Nodes, ",") != tt.node || len(r.report.Findings) != 1 {
				t.Fatalf("want one %s on %s, got %+v", diagnose.CauseForwardDrop, tt.node, r.report.Findings)
			}
			mustContain(t, "summary", []string{f.Summary}, tt.summary)
			mustContain(t, "summary", []string{f.Summary}, "over IPv6 ("+ip6+")")
			mustContain(t, "evidence", f.Evidence, "node@"+tt.node+": filter FORWARD: policy DROP")
			mustContain(t, "evidence", f.Evidence, "dns pod "+ip6+": dns-failure")
			for i, want := range tt.fix {
				if i >= len(f.Fix) || strings.Join(command(f.Fix[i]), " ") != want {
					t.Fatalf("fix line %d: want %q, got %q", i, want, f.Fix)
				}
			}
			if t.Failed() {
				return
			}
			t.Logf("finding: %s\n  evidence:\n    %s\n  fix:\n    %s", f.Summary, strings.Join(f.Evidence, "\n    "), strings.Join(f.Fix, "\n    "))
			// The fix, by hand, on the node; what it adds is taken out after.
			for _, line := range tt.fix {
				argv := command(line)
				onNode(t, tt.node, argv...)
				t.Cleanup(func() {
					_ = runOnNode(tt.node, append([]string{"ip6tables", "-D"}, argv[2:]...)...)
				})
			}
			healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))
			noProbePodsLeft(t)
		})
	}
}

// TestIPv6DNSAAAAFiltered: the well-known snippet that answers every AAAA
// query of the cluster zone with NOERROR and nothing (`template IN AAAA
// cluster.local { rcode NOERROR }`, the lab's CoreDNS has the template
// plugin), added to the Corefile: A lookups work, AAAA ones come back empty
// on every node. The verdict names it, with the Corefile line; the printed
// fix (the block removed, CoreDNS restarted) makes the run healthy.
func TestIPv6DNSAAAAFiltered(t *testing.T) {
	dualStack(t)
	orig := keepCorefile(t)
	const block = "    template IN AAAA cluster.local {\n        rcode NOERROR\n    }\n"
	filtered := strings.Replace(orig, "    ready\n", "    ready\n"+block, 1)
	if filtered == orig {
		t.Fatalf("no ready line in the lab's Corefile:\n%s", orig)
	}
	setCorefile(t, filtered)
	kubectl(t, "-n", "kube-system", "rollout", "restart", "deployment/coredns")
	dnsBack(t)
	_, ip6 := dnsPod6(t)
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := finding(t, r, diagnose.CauseDNSNoAAAA)
	if len(r.report.Findings) != 1 || len(f.Nodes) != len(r.report.Nodes) || f.Severity != diagnose.Warning {
		t.Fatalf("want one warning %s on every node: %+v", diagnose.CauseDNSNoAAAA, r.report.Findings)
	}
	mustContain(t, "summary", []string{f.Summary}, "not the AAAA lookup of "+strings.ReplaceAll(ip6, ":", "-")+".kube-system.pod.cluster.local")
	mustContain(t, "summary", []string{f.Summary}, "no address in the answer")
	mustContain(t, "evidence", f.Evidence, "ConfigMap kube-system/coredns: template IN AAAA cluster.local {")
	mustContain(t, "fix", f.Fix, "kubectl -n kube-system edit configmap coredns   # remove the block that answers AAAA itself: template IN AAAA cluster.local {")
	t.Logf("finding: %s\n  evidence:\n    %s\n  fix:\n    %s", f.Summary, strings.Join(f.Evidence, "\n    "), strings.Join(f.Fix, "\n    "))
	// The fix, by hand: the block out of the Corefile (what the edit
	// does), then the printed restart.
	setCorefile(t, strings.Replace(filtered, block, "", 1))
	restart := command(f.Fix[1])
	if strings.Join(restart, " ") != "kubectl -n kube-system rollout restart deployment coredns" {
		t.Fatalf("fix line %q", f.Fix[1])
	}
	kubectl(t, restart[1:]...)
	dnsBack(t)
	healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))
	noProbePodsLeft(t)
}

// TestIPv6DNSDualStackService: kube-dns made dual-stack (PreferDualStack, as
// an operator does on a dual-stack cluster): `dns` asks the Service at its
// IPv6 ClusterIP too, and AAAA of the Service's own name, which answers that
// address; healthy, with no single-stack note. kube-dns is put back
// single-stack after.
func TestIPv6DNSDualStackService(t *testing.T) {
	dualStack(t)
	svc := dnsClusterIP(t)
	kubectl(t, "-n", "kube-system", "patch", "service", "kube-dns", "--type=merge", "-p", `{"spec":{"ipFamilyPolicy":"PreferDualStack"}}`)
	t.Cleanup(func() {
		kubectl(t, "-n", "kube-system", "patch", "service", "kube-dns", "--type=merge", "-p",
			`{"spec":{"ipFamilyPolicy":"SingleStack","ipFamilies":["IPv4"],"clusterIPs":["`+svc+`"]}}`)
	})
	var ip6 string
	deadline := time.Now().Add(30 * time.Second)
	for ip6 == "" {
		for _, ip := range strings.Fields(kubectl(t, "-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIPs[*]}")) {
			if strings.Contains(ip, ":") {
				ip6 = ip
			}
		}
		if ip6 == "" && time.Now().After(deadline) {
			t.Fatal("kube-dns got no IPv6 ClusterIP")
		}
		time.Sleep(time.Second)
	}
	// kube-proxy programs the new address on every node within a sync.
	var r result
	for try := 0; try < 5; try++ {
		r = netcheck(t, 2*time.Minute, "dns", "-o", "json")
		if r.code == 0 {
			break
		}
		time.Sleep(3 * time.Second)
	}
	healthy(t, r)
	for _, n := range r.report.Nodes {
		var svc6, aaaa bool
		for _, c := range n.Pod.Checks {
			svc6 = svc6 || (c.ID == diagnose.DNSServiceKey(ip6) && c.Outcome == observe.OK)
			aaaa = aaaa || (c.ID == diagnose.DNSAAAAKey(svc) && c.Outcome == observe.OK && slices.Contains(c.Resolved, ip6))
		}
		if !svc6 || !aaaa {
			t.Errorf("%s: the Service asked at %s: %v; AAAA of its name answered %s: %v\n%+v", n.Name, ip6, svc6, ip6, aaaa, n.Pod.Checks)
		}
	}
	mustContain(t, "notes", r.report.Notes, "AAAA asked for kube-dns.kube-system.svc.cluster.local (Service kube-system/kube-dns), which must answer "+ip6)
	for _, n := range r.report.Notes {
		if strings.Contains(n, "single-stack") {
			t.Errorf("note %q on a dual-stack DNS Service", n)
		}
	}
	noProbePodsLeft(t)
}
