package diagnose

import (
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
		{name: "service path broken on one node", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", fail, ok, nil), dnsNode("n2", ok, ok, nil)}, want: CauseDNSServicePath, nodesOf: "n1", text: "kube-proxy"},
		{name: "FORWARD DROP on one node", servers: []DNSServer{coredns},
			nodes: []observe.Node{dnsNode("n1", fail, fail, func(n *observe.Node) { n.Facts.Targets[0].Forward = fwdDrop }), dnsNode("n2", ok, ok, nil)},
			want:  CauseForwardDrop, nodesOf: "n1", text: "iptables -I FORWARD -s 10.244.1.0/24 -j ACCEPT"},
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
