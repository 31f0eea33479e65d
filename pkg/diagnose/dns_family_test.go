package diagnose

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

// The dual-stack lab's CoreDNS pod on nc-node3 and the name asked for AAAA
// (its own pod record, which the lab's Corefile serves: pods insecure).
var (
	coredns6 = DNSServer{Name: "coredns-7d9f", Node: "nc-node3", IP: "10.244.3.5", Other: "fd00:10:244:3::5", Ready: true}
	aaaaName = &DNSAAAA{Name: "fd00-10-244-3--5.kube-system.pod.cluster.local", Of: "the DNS pod kube-system/coredns-7d9f's own record", Want: []string{"fd00:10:244:3::5"}}
)

// dualDNSNode is a lab node whose facts are the fact script captured on the
// dual-stack lab (healthy, or with forward-drop6 and masquerade-del6), read
// for the two sample flows `dns` considers, as nc-node N with N's ranges.
func dualDNSNode(t *testing.T, name, file string, v4, v6, aaaa observe.Check) observe.Node {
	t.Helper()
	out, err := os.ReadFile("../probe/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	nn := strings.TrimPrefix(name, "nc-node")
	var targets []probe.FactTarget
	for _, k := range []string{SampleKey, SampleKey6} {
		targets = append(targets, probe.FactTarget{Key: k, Addr: netip.MustParseAddr(k), Proto: "icmp"})
	}
	q := probe.FactsQuery{PodIP: "10.244." + nn + ".16", PodIP6: "fd00:10:244:" + nn + "::10", Targets: targets}
	v4.Kind, v6.Kind, aaaa.Kind = observe.DNS, observe.DNS, observe.DNS
	v4.ID, v6.ID, aaaa.ID = DNSPodKey(coredns6.IP), DNSPodKey(coredns6.Other), DNSAAAAKey(dnsIP)
	checks := []observe.Check{
		{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Resolved: []string{dnsIP}, Detail: "nameserver " + dnsIP},
		{Kind: observe.DNS, ID: DNSServiceKey(dnsIP), Outcome: observe.OK, Resolved: []string{"10.96.0.1"}, Detail: "10.96.0.1"},
		v4, v6}
	if aaaa.Outcome != "" {
		checks = append(checks, aaaa)
	}
	return observe.Node{Name: name,
		Pod: observe.SideResult{Pod: "p", IP: q.PodIP, IPs: []string{q.PodIP, q.PodIP6}, Checks: checks},
		Facts: probe.AssembleFlows(probe.ParseFacts(string(out), q), probe.Flows{PodIP: q.PodIP, PodIP6: q.PodIP6,
			PodCIDRs: []string{"10.244." + nn + ".0/24", "fd00:10:244:" + nn + "::/64"}, Targets: targets})}
}

func withCheck(n observe.Node, id observe.CheckID, c observe.Check) observe.Node {
	c.Kind, c.ID = observe.DNS, id
	n.Pod.Checks = append(n.Pod.Checks, c)
	return n
}

func TestDNSFamilies(t *testing.T) {
	const healthy, v6faults = "facts-script.dual-node1.out", "facts-script.dual-node1-v6faults.out"
	ok := observe.Check{Outcome: observe.OK, Resolved: []string{"10.96.0.1"}, Detail: "10.96.0.1"}
	timeout := observe.Check{Outcome: observe.DNSFailure, Detail: "no DNS server answered"}
	aaaaOK := observe.Check{Outcome: observe.OK, Resolved: []string{"fd00:10:244:3::5"}, Detail: "fd00:10:244:3::5"}
	nodata := observe.Check{Outcome: observe.DNSFailure, Detail: "no address in the answer"}
	servfail := observe.Check{Outcome: observe.DNSFailure, Detail: "SERVFAIL"}
	none := observe.Check{}
	lab, err := os.ReadFile("testdata/corefile.lab")
	if err != nil {
		t.Fatal(err)
	}
	dropAAAA := strings.Replace(string(lab), "    ready\n", "    ready\n    template IN AAAA cluster.local {\n        rcode NOERROR\n    }\n", 1)
	type want struct {
		cause Cause
		sev   Severity
		nodes string
		text  string // in the summary
		fix   string // the first fix line ("": not checked)
		ev    string // in the evidence
	}
	tests := []struct {
		name       string
		nodes      []observe.Node
		serviceIPs []string
		corefile   string
		want       []want
	}{
		{name: "healthy dual-stack: both families and AAAA answer",
			nodes: []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, ok, aaaaOK), dualDNSNode(t, "nc-node2", healthy, ok, ok, aaaaOK), dualDNSNode(t, "nc-node3", healthy, ok, ok, aaaaOK)}},
		{name: "forward-drop6 on the DNS pod's node: every node's pods lose its IPv6 address; that node's ip6tables, both ways",
			nodes: []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, timeout, aaaaOK), dualDNSNode(t, "nc-node2", healthy, ok, timeout, aaaaOK), dualDNSNode(t, "nc-node3", v6faults, ok, timeout, aaaaOK)},
			want: []want{{CauseForwardDrop, Error, "nc-node3", "traffic to and from its pods; pods on nc-node1, nc-node2, nc-node3 reach the DNS pod coredns-7d9f on nc-node3 over IPv4 (10.244.3.5) and not over IPv6 (fd00:10:244:3::5)",
				"ip6tables -I FORWARD -s fd00:10:244:3::/64 -j ACCEPT", "node@nc-node3: filter FORWARD: policy DROP"}}},
		{name: "forward-drop6 on a client node: its own ip6tables, its pods' range out",
			nodes: []observe.Node{dualDNSNode(t, "nc-node1", v6faults, ok, timeout, aaaaOK), dualDNSNode(t, "nc-node2", healthy, ok, ok, aaaaOK), dualDNSNode(t, "nc-node3", healthy, ok, ok, aaaaOK)},
			want: []want{{CauseForwardDrop, Error, "nc-node1", "drops its pods' IPv6 traffic; its pods reach the DNS pod coredns-7d9f on nc-node3 over IPv4 (10.244.3.5) and not over IPv6",
				"ip6tables -I FORWARD -s fd00:10:244:1::/64 -j ACCEPT", "pod@nc-node1 dns pod fd00:10:244:3::5: dns-failure (no DNS server answered)"}}},
		{name: "IPv6 forwarding off on the DNS pod's node",
			nodes: func() []observe.Node {
				n3 := dualDNSNode(t, "nc-node3", healthy, ok, timeout, aaaaOK)
				n3.Facts.IP6Forward = observe.No
				return []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, timeout, aaaaOK), n3}
			}(),
			want: []want{{CauseIPForwardOff, Error, "nc-node3", "IPv6 forwarding is off", "sysctl -w net.ipv6.conf.all.forwarding=1", ""}}},
		{name: "IPv6 lost with nothing on either node to say why: the clients, a warning while the DNS Service is IPv4-only",
			nodes: []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, timeout, aaaaOK), dualDNSNode(t, "nc-node2", healthy, ok, ok, aaaaOK), dualDNSNode(t, "nc-node3", healthy, ok, ok, aaaaOK)},
			want:  []want{{CauseDNSFamilyPath, Warning, "nc-node1", "the DNS Service 10.96.0.10 has no IPv6 address, so lookups still go over IPv4", "kubectl netcheck node", ""}}},
		{name: "the same with a dual-stack DNS Service: its IPv6 lookups fail, an error",
			serviceIPs: []string{dnsIP, "fd00:10:96::a"},
			nodes:      []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, timeout, aaaaOK), dualDNSNode(t, "nc-node3", healthy, ok, ok, aaaaOK)},
			want:       []want{{CauseDNSFamilyPath, Error, "nc-node1", "lookups sent over IPv6 fail", "", ""}}},
		{name: "a dual-stack DNS Service answers at its IPv4 address and not its IPv6 one, the DNS pod answers over IPv6: the Service's IPv6 rules on that node",
			serviceIPs: []string{dnsIP, "fd00:10:96::a"},
			nodes: []observe.Node{withCheck(dualDNSNode(t, "nc-node1", healthy, ok, ok, aaaaOK), DNSServiceKey("fd00:10:96::a"), timeout),
				withCheck(dualDNSNode(t, "nc-node2", healthy, ok, ok, aaaaOK), DNSServiceKey("fd00:10:96::a"), ok)},
			want: []want{{CauseDNSServicePath, Error, "nc-node1", "answers at 10.96.0.10 and not at its IPv6 address fd00:10:96::a", "kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide",
				"pod@nc-node1 dns service fd00:10:96::a: dns-failure (no DNS server answered)"}}},
		{name: "the same with the DNS pod lost over IPv6 too: the pod path, not the Service's",
			serviceIPs: []string{dnsIP, "fd00:10:96::a"},
			nodes: []observe.Node{withCheck(dualDNSNode(t, "nc-node1", healthy, ok, timeout, aaaaOK), DNSServiceKey("fd00:10:96::a"), timeout),
				withCheck(dualDNSNode(t, "nc-node2", healthy, ok, ok, aaaaOK), DNSServiceKey("fd00:10:96::a"), ok)},
			want: []want{{CauseDNSFamilyPath, Error, "nc-node1", "lookups sent over IPv6 fail", "", ""}}},
		{name: "IPv4 lost too (the Service answered): the primary family's verdicts, no family one",
			nodes: []observe.Node{dualDNSNode(t, "nc-node1", healthy, timeout, timeout, aaaaOK), dualDNSNode(t, "nc-node3", healthy, ok, ok, aaaaOK)}},
		{name: "AAAA filtered by a template: A answers, AAAA is empty on every node",
			corefile: dropAAAA,
			nodes:    []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, ok, nodata), dualDNSNode(t, "nc-node3", healthy, ok, ok, nodata)},
			want: []want{{CauseDNSNoAAAA, Warning, "nc-node1,nc-node3", "CoreDNS answers the A lookup and not the AAAA lookup of fd00-10-244-3--5.kube-system.pod.cluster.local",
				"kubectl -n kube-system edit configmap coredns   # remove the block that answers AAAA itself: template IN AAAA cluster.local {", "ConfigMap kube-system/coredns: template IN AAAA cluster.local {"}}},
		{name: "AAAA empty, no filter in the Corefile: where to look",
			corefile: string(lab),
			nodes:    []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, ok, nodata)},
			want:     []want{{CauseDNSNoAAAA, Warning, "nc-node1", "no address in the answer", "kubectl -n kube-system get configmap coredns -o yaml", ""}}},
		{name: "AAAA SERVFAIL while A answers: an error (clients asking both wait on it)",
			nodes: []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, ok, servfail)},
			want:  []want{{CauseDNSNoAAAA, Error, "nc-node1", "SERVFAIL through the DNS Service 10.96.0.10", "", ""}}},
		{name: "no AAAA asked (no name known to have one): nothing about AAAA",
			nodes: []observe.Node{dualDNSNode(t, "nc-node1", healthy, ok, ok, none)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, ServiceIPs: tt.serviceIPs, Name: "kubernetes.default.svc.cluster.local",
				Servers: []DNSServer{coredns6}, Nodes: tt.nodes, AAAA: aaaaName,
				Corefile: Corefile{Source: "ConfigMap kube-system/coredns", ConfigMap: "kube-system/coredns", Text: tt.corefile}}
			fs := DNS(in)
			if len(fs) != len(tt.want) {
				t.Fatalf("want %d findings:\n%s", len(tt.want), dump(fs))
			}
			for i, w := range tt.want {
				f := fs[i]
				if f.Cause != w.cause || (w.sev != "" && f.Severity != w.sev) || strings.Join(f.Nodes, ",") != w.nodes {
					t.Errorf("finding %d: want %s %s on %s:\n%s", i, w.sev, w.cause, w.nodes, dump(fs))
				}
				if !strings.Contains(f.Summary, w.text) {
					t.Errorf("summary %q lacks %q", f.Summary, w.text)
				}
				if w.fix != "" && (len(f.Fix) == 0 || strings.TrimSpace(strings.SplitN(f.Fix[0], "   #", 2)[0]) != strings.TrimSpace(strings.SplitN(w.fix, "   #", 2)[0])) {
					t.Errorf("fix %q: want first %q", f.Fix, w.fix)
				}
				if w.ev != "" && !strings.Contains(strings.Join(f.Evidence, "\n"), w.ev) {
					t.Errorf("evidence lacks %q:\n%s", w.ev, strings.Join(f.Evidence, "\n"))
				}
			}
		})
	}
}

func TestAAAAFilters(t *testing.T) {
	lab, err := os.ReadFile("testdata/corefile.lab")
	if err != nil {
		t.Fatal(err)
	}
	name := "kube-dns.kube-system.svc.cluster.local."
	tests := []struct {
		name, corefile string
		want           []string
	}{
		{"the lab's Corefile filters nothing", string(lab), nil},
		{"a template of type AAAA in the cluster zone's block",
			strings.Replace(string(lab), "    ready\n", "    ready\n    template IN AAAA cluster.local {\n        rcode NOERROR\n    }\n", 1),
			[]string{"template IN AAAA cluster.local {"}},
		{"a template of type ANY without zones (the block's)",
			strings.Replace(string(lab), "    ready\n", "    ready\n    template ANY ANY {\n        rcode NXDOMAIN\n    }\n", 1),
			[]string{"template ANY ANY {"}},
		{"a template of type A: not AAAA's",
			strings.Replace(string(lab), "    ready\n", "    ready\n    template IN A cluster.local {\n    }\n", 1), nil},
		{"in the root zone's block: cluster.local names go to the more specific block",
			strings.Replace(string(lab), "    loop\n", "    loop\n    template IN AAAA {\n        rcode NOERROR\n    }\n", 1), nil},
		{"for another zone only", strings.Replace(string(lab), "    ready\n", "    ready\n    template IN AAAA in-addr.arpa {\n    }\n", 1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := aaaaFilters(tt.corefile, name)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDNSFamilyNotes(t *testing.T) {
	in := DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Servers: []DNSServer{coredns6}, AAAA: aaaaName}
	got := strings.Join(DNSFamilyNotes(in, ""), "\n")
	for _, want := range []string{
		"the DNS Service kube-system/kube-dns is single-stack (IPv4 10.96.0.10) on a dual-stack cluster: pods send every lookup over IPv4; each DNS pod was asked at its IPv6 address too",
		"AAAA asked for fd00-10-244-3--5.kube-system.pod.cluster.local (the DNS pod kube-system/coredns-7d9f's own record), which must answer fd00:10:244:3::5",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("notes lack %q:\n%s", want, got)
		}
	}
	in.ServiceIPs, in.AAAA = []string{dnsIP, "fd00:10:96::a"}, nil
	if got := DNSFamilyNotes(in, "no ready DNS pod has an IPv6 address"); len(got) != 1 || got[0] != "no AAAA lookup: no ready DNS pod has an IPv6 address" {
		t.Errorf("dual-stack DNS Service, no AAAA name: notes %q", got)
	}
	if got := DNSFamilyNotes(DNSInput{ClusterIP: dnsIP, Servers: []DNSServer{coredns}}, "x"); got != nil {
		t.Errorf("single-stack cluster: notes %q", got)
	}
}

// TestAAAALostToAnUnreachableReplica: with two DNS pods and one of them
// unreachable from nc-node1, the Service sent nc-node1's AAAA lookup to
// that one and its A lookup to the other (as the e2e replica scenario did
// on the dual-stack lab): the replica's verdict, not dns-aaaa-missing.
func TestAAAALostToAnUnreachableReplica(t *testing.T) {
	ok := observe.Check{Outcome: observe.OK, Resolved: []string{"10.96.0.1"}, Detail: "10.96.0.1"}
	lost := observe.Check{Outcome: observe.DNSFailure, Detail: "no DNS server answered"}
	b := DNSServer{Name: "coredns-b", Node: "nc-node2", IP: "10.244.2.29", Other: "fd00:10:244:2::1d", Ready: true}
	n1 := withCheck(dualDNSNode(t, "nc-node1", "facts-script.dual-node1.out", ok, ok, lost), DNSPodKey(b.IP), lost)
	n3 := withCheck(dualDNSNode(t, "nc-node3", "facts-script.dual-node1.out", ok, ok, observe.Check{Outcome: observe.OK, Resolved: []string{"fd00:10:244:3::5"}}), DNSPodKey(b.IP), ok)
	in := DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Name: "kubernetes.default.svc.cluster.local",
		Servers: []DNSServer{coredns6, b}, Nodes: []observe.Node{n1, n3}, AAAA: aaaaName}
	fs := DNS(in)
	for _, f := range fs {
		if f.Cause == CauseDNSNoAAAA {
			t.Fatalf("an AAAA lookup lost to an unreachable replica named as AAAA missing:\n%s", dump(fs))
		}
	}
	if len(fs) == 0 || fs[0].Cause != CauseDNSReplicaUnreachable {
		t.Errorf("want the replica's verdict first:\n%s", dump(fs))
	}
	// The same node reaching every DNS pod: now it is AAAA's own failure.
	n1 = withCheck(dualDNSNode(t, "nc-node1", "facts-script.dual-node1.out", ok, ok, lost), DNSPodKey(b.IP), ok)
	in.Nodes = []observe.Node{n1, n3}
	fs = DNS(in)
	if len(fs) != 1 || fs[0].Cause != CauseDNSNoAAAA {
		t.Errorf("want dns-aaaa-missing alone:\n%s", dump(fs))
	}
}
