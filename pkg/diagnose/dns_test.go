package diagnose

import (
	"os"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

const dnsIP = "10.96.0.10"

var coredns = DNSServer{Name: "coredns-1", Node: "n3", IP: "10.244.3.2", Ready: true}

func dnsNode(name string, svc, pod observe.Outcome, mod func(*observe.Node)) observe.Node {
	n := observe.Node{Name: name, Pod: observe.SideResult{Checks: []observe.Check{
		{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Resolved: []string{dnsIP}, Detail: "nameserver " + dnsIP},
		{Kind: observe.DNS, ID: DNSServiceKey(dnsIP), Outcome: svc},
		{Kind: observe.DNS, ID: DNSPodKey(coredns.IP), Outcome: pod},
	}}, Facts: observe.NodeFacts{PodCIDRs: []string{"10.244.1.0/24"}, RulesRead: true,
		Targets: []observe.TargetFacts{{Target: SampleKey, Forward: fwdOK, NAT: natOK}}}}
	if mod != nil {
		mod(&n)
	}
	return n
}

// capturedLoop is the loop plugin's line from the log of a lab CoreDNS that
// forwarded to a resolv.conf naming 127.0.0.53 (capture-dns-loop.sh).
func capturedLoop(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/coredns-loop.log")
	if err != nil {
		t.Fatal(err)
	}
	l := LoopLine(string(b))
	if l == "" {
		t.Fatal("no loop line in testdata/coredns-loop.log")
	}
	return l
}

func TestLoopLine(t *testing.T) {
	if l := capturedLoop(t); !strings.HasPrefix(l, "[FATAL] plugin/loop: Loop (") || !strings.Contains(l, "detected for zone") {
		t.Errorf("loop line %q", l)
	}
	ok, err := os.ReadFile("testdata/coredns-healthy.log")
	if err != nil {
		t.Fatal(err)
	}
	if l := LoopLine(string(ok)); l != "" {
		t.Errorf("a healthy CoreDNS's log read as a loop: %q", l)
	}
}

func TestDNS(t *testing.T) {
	ok, fail := observe.OK, observe.DNSFailure
	tests := []struct {
		name    string
		servers []DNSServer
		nodes   []observe.Node
		want    Cause
		nodesOf string
		text    string
	}{
		{name: "healthy", servers: []DNSServer{coredns}, nodes: []observe.Node{dnsNode("n1", ok, ok, nil), dnsNode("n2", ok, ok, nil)}},
		{name: "scaled to zero", servers: nil, want: CauseDNSNoEndpoints, text: "no DNS pod matches"},
		{name: "crash looping", servers: []DNSServer{{Name: "coredns-1", Node: "n3", Ready: false, Reason: "CrashLoopBackOff", Restarts: 7}},
			want: CauseDNSNoEndpoints, text: "no IP, not ready (CrashLoopBackOff), 7 restarts"},
		{name: "crash looping on a forward loop", servers: []DNSServer{{Name: "coredns-1", Node: "n3", Ready: false, Reason: "CrashLoopBackOff", Restarts: 3, Loop: capturedLoop(t)}},
			want: CauseDNSForwardLoop, nodesOf: "n3", text: "coredns-1 on n3, last run: [FATAL] plugin/loop: Loop ("},
		{name: "one replica of two loops: the other still answers", servers: []DNSServer{coredns, {Name: "coredns-2", Node: "n2", Ready: false, Reason: "CrashLoopBackOff", Restarts: 3, Loop: capturedLoop(t)}},
			nodes: []observe.Node{dnsNode("n1", ok, ok, nil)}, want: CauseDNSForwardLoop, nodesOf: "n2", text: "resolvConf: /run/systemd/resolve/resolv.conf"},
		{name: "restarted after a loop, Ready again, answering nobody: the loop, not a broken server", servers: []DNSServer{{Name: "coredns-1", Node: "n3", IP: "10.244.3.2", Ready: true, Restarts: 1, Loop: capturedLoop(t)}},
			nodes: []observe.Node{dnsNode("n1", fail, fail, nil), dnsNode("n2", fail, fail, nil)}, want: CauseDNSForwardLoop, nodesOf: "n3", text: "10.244.3.2, ready, 1 restarts"},
		{name: "crash looping, its log refused: the loop is not named, the refusal is", servers: []DNSServer{{Name: "coredns-1", Node: "n3", Ready: false, Restarts: 1, LogErr: `pods "coredns-1" is forbidden: cannot get resource "pods/log"`}},
			want: CauseDNSNoEndpoints, text: `1 restarts; its previous log not read: pods "coredns-1" is forbidden`},
		{name: "service path broken on one node", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", fail, ok, nil), dnsNode("n2", ok, ok, nil)}, want: CauseDNSServicePath, nodesOf: "n1", text: "kube-proxy"},
		{name: "FORWARD DROP on one node", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", fail, fail, func(n *observe.Node) { n.Facts.Targets[0].Forward = fwdDrop }), dnsNode("n2", ok, ok, nil)},
			want:  CauseForwardDrop, nodesOf: "n1", text: "iptables -I FORWARD -s 10.244.1.0/24 -j ACCEPT"},
		{name: "FORWARD DROP on one dual-stack node: the IPv4 range the DNS flow left from, in iptables", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", fail, fail, func(n *observe.Node) {
				n.Facts.Targets[0].Forward = fwdDrop
				n.Facts.PodCIDRs = append(n.Facts.PodCIDRs, "fd00:10:244:1::/64")
			}), dnsNode("n2", ok, ok, nil)},
			want: CauseForwardDrop, nodesOf: "n1", text: "\niptables -I FORWARD -s 10.244.1.0/24 -j ACCEPT"},
		{name: "pod path broken on one node, rules fine", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", fail, fail, nil), dnsNode("n2", ok, ok, nil)}, want: CauseDNSPodPath, nodesOf: "n1", text: "missing route"},
		{name: "server answers nobody", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", fail, fail, nil), dnsNode("n2", fail, fail, nil)}, want: CauseDNSBroken, text: "logs"},
		{name: "resolv.conf points elsewhere", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", ok, ok, func(n *observe.Node) { n.Pod.Checks[0].Resolved = []string{"8.8.8.8"} })},
			want:  CauseResolvConf, nodesOf: "n1", text: "clusterDNS"},
		{name: "as a workload (--from) whose dnsPolicy points elsewhere: its pod template, not the kubelet", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", ok, ok, func(n *observe.Node) {
				n.Pod.Checks[0].Resolved = []string{"10.96.0.99"}
				n.Pod.As = "workload pod shop/web-1"
			})},
			want: CauseResolvConf, nodesOf: "n1", text: "dnsPolicy: ClusterFirst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := DNS(DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Servers: tt.servers, Nodes: tt.nodes})
			if tt.want == "" {
				if len(fs) != 0 {
					t.Fatalf("want none:\n%s", dump(fs))
				}
				return
			}
			if len(fs) != 1 || fs[0].Cause != tt.want {
				t.Fatalf("want one %s:\n%s", tt.want, dump(fs))
			}
			if tt.nodesOf != "" && strings.Join(fs[0].Nodes, ",") != tt.nodesOf {
				t.Errorf("nodes %v, want %s", fs[0].Nodes, tt.nodesOf)
			}
			all := strings.Join(append(append(append([]string{fs[0].Summary}, fs[0].Evidence...), fs[0].Fix...), fs[0].Candidates...), "\n")
			if !strings.Contains(all, tt.text) {
				t.Errorf("finding lacks %q:\n%s", tt.text, all)
			}
		})
	}
}

// Two CoreDNS replicas, n2's FORWARD chain dropping: pods on n1 and n3 reach
// the replica on n3, not the one on n2 — whatever the Service answered this
// time (it balances onto both) — and n2's pods reach only their local one.
func TestDNSOneOfTwoReplicasUnreachable(t *testing.T) {
	ok, fail := observe.OK, observe.DNSFailure
	second := DNSServer{Name: "coredns-2", Node: "n2", IP: "10.244.2.2", Ready: true}
	node := func(name string, svc, pod1, pod2 observe.Outcome, mod func(*observe.Node)) observe.Node {
		return dnsNode(name, svc, pod1, func(n *observe.Node) {
			n.Pod.Checks = append(n.Pod.Checks, observe.Check{Kind: observe.DNS, ID: DNSPodKey(second.IP), Outcome: pod2})
			if mod != nil {
				mod(n)
			}
		})
	}
	drop := func(n *observe.Node) {
		n.Facts.PodCIDRs = []string{"10.244.2.0/24"}
		n.Facts.Targets[0].Forward = fwdDrop
	}
	for _, svcOut := range []observe.Outcome{ok, fail} { // the Service's pick is chance
		fs := DNS(DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Servers: []DNSServer{coredns, second}, Nodes: []observe.Node{
			node("n1", svcOut, ok, fail, nil), node("n2", fail, fail, ok, drop), node("n3", ok, ok, fail, nil)}})
		if len(fs) != 2 {
			t.Fatalf("service %s: want two findings:\n%s", svcOut, dump(fs))
		}
		byCause := map[Cause]Finding{}
		for _, f := range fs {
			byCause[f.Cause] = f
		}
		r, okR := byCause[CauseDNSReplicaUnreachable]
		if !okR || strings.Join(r.Nodes, ",") != "n1,n3" {
			t.Fatalf("service %s: want dns-replica-unreachable on n1,n3:\n%s", svcOut, dump(fs))
		}
		for _, want := range []string{"reach 1 of 2 DNS pods, not coredns-2 on n2 (10.244.2.2)", "n2's FORWARD chain drops"} {
			if !strings.Contains(r.Summary, want) {
				t.Errorf("summary %q lacks %q", r.Summary, want)
			}
		}
		if fix := strings.Join(r.Fix, "\n"); !strings.Contains(fix, "iptables -I FORWARD -d 10.244.2.0/24 -j ACCEPT   # on n2") {
			t.Errorf("fix does not open n2's FORWARD chain:\n%s", fix)
		}
		d, okD := byCause[CauseForwardDrop]
		if !okD || strings.Join(d.Nodes, ",") != "n2" || !strings.Contains(d.Summary, "coredns-1 on n3") {
			t.Errorf("service %s: want forward-drop on n2 naming coredns-1 on n3:\n%s", svcOut, dump(fs))
		}
	}
	// No fact explains it: the candidates, and the pods matrix to look further.
	fs := DNS(DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Servers: []DNSServer{coredns, second}, Nodes: []observe.Node{
		node("n1", ok, ok, fail, nil), node("n3", ok, ok, ok, nil)}})
	if len(fs) != 1 || fs[0].Cause != CauseDNSReplicaUnreachable || len(fs[0].Candidates) == 0 || !strings.Contains(fs[0].Fix[0], "kubectl netcheck pods") {
		t.Fatalf("want dns-replica-unreachable with candidates:\n%s", dump(fs))
	}
}
