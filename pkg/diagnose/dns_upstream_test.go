package diagnose

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func TestParseCorefileForward(t *testing.T) {
	lab, err := os.ReadFile("testdata/corefile.lab")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, corefile string
		want           Forward
	}{
		{name: "the lab's ConfigMap", corefile: string(lab),
			want: Forward{Zone: ".", Line: "forward . 198.19.0.1", Targets: []string{"198.19.0.1"}}},
		{name: "kubeadm's default, with options", corefile: ".:53 {\n    errors\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n}\n",
			want: Forward{Zone: ".", Line: "forward . /etc/resolv.conf {", ResolvConf: true}},
		{name: "ports, schemes and IPv6", corefile: "dns://.:53 {\n  forward . dns://10.0.0.2:5353 [2001:db8::53]:53 192.0.2.53 tls://9.9.9.9\n}\n",
			want: Forward{Zone: ".", Line: "forward . dns://10.0.0.2:5353 [2001:db8::53]:53 192.0.2.53 tls://9.9.9.9", Targets: []string{"10.0.0.2:5353", "2001:db8::53", "192.0.2.53"}}},
		{name: "an IPv6 target on another port", corefile: ".:53 {\n  forward . [2001:db8::53]:5353\n}\n",
			want: Forward{Zone: ".", Line: "forward . [2001:db8::53]:5353", Targets: []string{"[2001:db8::53]:5353"}}},
		{name: "a stub domain's forward is not the root's", corefile: "corp.example:53 {\n  forward . 10.1.1.1\n}\n. {\n  forward . 10.2.2.2 # the ISP\n}\n",
			want: Forward{Zone: ".", Line: "forward . 10.2.2.2", Targets: []string{"10.2.2.2"}}},
		{name: "a forward inside a nested block is not the server's", corefile: ".:53 {\n  health {\n    forward . 10.9.9.9\n  }\n}\n",
			want: Forward{Zone: ".", Err: "no forward line in the root zone's server block"}},
		{name: "no forward at all", corefile: ".:53 {\n  errors\n  kubernetes cluster.local\n}\n",
			want: Forward{Zone: ".", Err: "no forward line in the root zone's server block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, ParseCorefileForward(tt.corefile)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// A name is forwarded by the server block whose zone is its longest
// suffix: a stub domain for its zone, else the root's.
func TestCorefileForwardFor(t *testing.T) {
	lab, err := os.ReadFile("testdata/corefile.lab")
	if err != nil {
		t.Fatal(err)
	}
	stub := string(lab) + "corp.example:53 {\n    errors\n    cache 30\n    forward . 198.19.0.53\n}\nlab.corp.example {\n    forward . 198.19.0.54:5353\n}\n"
	c := Corefile{Source: "ConfigMap kube-system/coredns", ConfigMap: "kube-system/coredns", Text: stub}
	tests := []struct {
		name string
		want Forward
	}{
		{"www.example.net", Forward{Zone: ".", Line: "forward . 198.19.0.1", Targets: []string{"198.19.0.1"}}},
		{"db.corp.example", Forward{Zone: "corp.example", Line: "forward . 198.19.0.53", Targets: []string{"198.19.0.53"}}},
		{"corp.example.", Forward{Zone: "corp.example", Line: "forward . 198.19.0.53", Targets: []string{"198.19.0.53"}}},
		{"DB.Lab.Corp.Example", Forward{Zone: "lab.corp.example", Line: "forward . 198.19.0.54:5353", Targets: []string{"198.19.0.54:5353"}}},
		{"xcorp.example", Forward{Zone: ".", Line: "forward . 198.19.0.1", Targets: []string{"198.19.0.1"}}},
		{"web.default.svc.cluster.local", Forward{Zone: "cluster.local", Err: "no forward line in the server block for cluster.local"}},
	}
	for _, tt := range tests {
		tt.want.Source, tt.want.ConfigMap = c.Source, c.ConfigMap
		if d := cmp.Diff(tt.want, c.ForwardFor(tt.name)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
	if got := (Corefile{Source: "ConfigMap kube-system/coredns", Err: "not read: forbidden"}).ForwardFor("x.example"); got.Err != "not read: forbidden" || len(got.Targets) != 0 {
		t.Errorf("unread Corefile: %+v", got)
	}
	if got := ParseCorefileForward("corp.example {\n  forward . 10.1.1.1\n}\n"); got.Err != "no server block serves the root zone" {
		t.Errorf("no root block: %+v", got)
	}
}

// upNode is a dnsNode that also asked the outside name through the
// Service and of the forward target from the node.
func upNode(name string, outside, upstream observe.Outcome) observe.Node {
	return dnsNode(name, observe.OK, observe.OK, func(n *observe.Node) {
		n.Pod.Checks = append(n.Pod.Checks, observe.Check{Kind: observe.DNS, ID: DNSOutsideKey(dnsIP), Target: "www.example.net", Outcome: outside})
		n.Host.Checks = append(n.Host.Checks, observe.Check{Kind: observe.DNS, ID: DNSUpstreamKey("198.19.0.1"), Target: "www.example.net", Outcome: upstream})
	})
}

// upDetail is an upNode whose outside name fails, the upstream answering
// the node with detail (an rcode, or no answer).
func upDetail(name, detail string) observe.Node {
	n := upNode(name, observe.DNSFailure, observe.DNSFailure)
	n.Host.Checks[len(n.Host.Checks)-1].Detail = detail
	return n
}

// ownResolver adds what the node's own resolvers said: its resolv.conf
// nameserver and the outside name looked up through it.
func ownResolver(n observe.Node, nameserver string, lookup observe.Outcome, detail string) observe.Node {
	n.Host.Checks = append(n.Host.Checks,
		observe.Check{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Resolved: []string{nameserver}, Detail: "nameserver " + nameserver},
		observe.Check{Kind: observe.DNS, ID: DNSNodeKey("www.example.net"), Target: "www.example.net", Outcome: lookup, Detail: detail})
	return n
}

func TestDNSUpstream(t *testing.T) {
	ok, fail := observe.OK, observe.DNSFailure
	fwd := Forward{Source: "ConfigMap kube-system/coredns", Line: "forward . 198.19.0.1", Targets: []string{"198.19.0.1"}}
	tests := []struct {
		name     string
		forward  Forward
		nodes    []observe.Node
		want     Cause
		severity Severity
		nodesOf  string
		text     []string
	}{
		{name: "healthy", forward: fwd, nodes: []observe.Node{upNode("n1", ok, ok), upNode("n2", ok, ok)}},
		{name: "the upstream answers nobody", forward: fwd, nodes: []observe.Node{upNode("n1", fail, fail), upNode("n2", fail, fail)},
			want: CauseDNSUpstream, nodesOf: "n1,n2", text: []string{"forward . 198.19.0.1", "198.19.0.1", "port 53", "edit configmap coredns"}},
		{name: "the upstream refuses", forward: fwd, nodes: []observe.Node{upDetail("n1", "REFUSED"), upDetail("n2", "REFUSED")},
			want: CauseDNSUpstream, nodesOf: "n1,n2", text: []string{"refuses them (REFUSED)", "allow recursion"}},
		{name: "the upstream fails the name", forward: fwd, nodes: []observe.Node{upDetail("n1", "SERVFAIL")},
			want: CauseDNSUpstream, nodesOf: "n1", text: []string{"fails to resolve it (SERVFAIL)", "DNSSEC"}},
		{name: "the upstream refuses one node and times out on the other: no single story", forward: fwd, nodes: []observe.Node{upDetail("n1", "REFUSED"), upDetail("n2", "no DNS server answered")},
			want: CauseDNSUpstream, nodesOf: "n1,n2", text: []string{"answers none of these nodes either"}},
		{name: "the upstream answers the nodes, not through CoreDNS", forward: fwd, nodes: []observe.Node{upNode("n1", fail, ok)},
			want: CauseDNSForward, nodesOf: "n1", text: []string{"CoreDNS does not pass", "logs -l k8s-app=kube-dns"}},
		{name: "resolved from the cache while the upstream answers no node", forward: fwd, nodes: []observe.Node{upNode("n1", ok, fail), upNode("n2", ok, fail)},
			want: CauseDNSUpstream, severity: Warning, nodesOf: "n1,n2", text: []string{"CoreDNS's cache", "198.19.0.1", "port 53"}},
		{name: "the upstream answers one node of two", forward: fwd, nodes: []observe.Node{upNode("n1", ok, ok), upNode("n2", ok, fail)},
			want: CauseDNSUpstream, severity: Warning, nodesOf: "n2", text: []string{"does not answer these nodes (it answers others)", "node@n2 dns upstream 198.19.0.1: dns-failure"}},
		{name: "forward target unknown", forward: Forward{Source: "ConfigMap kube-system/coredns", Err: `configmaps "coredns" is forbidden`},
			nodes: []observe.Node{upNode("n1", fail, fail)}, want: CauseDNSUpstream, nodesOf: "n1", text: []string{"forward target unknown", "is forbidden", "/etc/resolv.conf"}},
		{name: "a private zone: the nodes' resolver knows it, CoreDNS's upstream says NXDOMAIN", forward: fwd,
			nodes: []observe.Node{ownResolver(upDetail("n1", "NXDOMAIN"), "198.19.0.53", ok, "198.19.0.7"), ownResolver(upDetail("n2", "NXDOMAIN"), "198.19.0.53", ok, "198.19.0.7")},
			want:  CauseDNSStubDomain, nodesOf: "n1,n2", text: []string{"resolves on the nodes (their resolver 198.19.0.53) but not in pods", "forwards it to 198.19.0.1, which does not know it (NXDOMAIN)",
				"node@n1: /etc/resolv.conf: nameserver 198.19.0.53", "node@n2 dns node resolver: ok (198.19.0.7)", "node@n1 dns upstream 198.19.0.1: dns-failure (NXDOMAIN)",
				"kubectl -n kube-system edit configmap coredns", "example.net:53 {", "    forward . 198.19.0.53", "rollout restart deployment coredns"}},
		{name: "a private zone the nodes resolve through systemd-resolved: pods cannot reach 127.0.0.53", forward: fwd,
			nodes: []observe.Node{ownResolver(upDetail("n1", "NXDOMAIN"), "127.0.0.53", ok, "198.19.0.7")},
			want:  CauseDNSStubDomain, nodesOf: "n1", text: []string{"their resolver 127.0.0.53", "forward . <the resolver your nodes' 127.0.0.53 forwards example.net to: resolvectl status>"}},
		{name: "the upstream does not answer while the nodes' resolver does: the upstream, not a stub", forward: fwd,
			nodes: []observe.Node{ownResolver(upDetail("n1", "no DNS server answered"), "198.19.0.53", ok, "198.19.0.7")},
			want:  CauseDNSUpstream, nodesOf: "n1", text: []string{"answers none of these nodes either"}},
		{name: "CoreDNS asks the nodes' own resolvers: no stub would help", forward: Forward{Source: "ConfigMap kube-system/coredns", Line: "forward . 198.19.0.53", Targets: []string{"198.19.0.53"}},
			nodes: []observe.Node{ownResolver(upDetail("n1", "NXDOMAIN"), "198.19.0.53", ok, "198.19.0.7")},
			want:  CauseDNSUpstream, nodesOf: "n1"},
		{name: "nobody knows the name: NXDOMAIN from the upstream and the nodes' resolver", forward: fwd,
			nodes: []observe.Node{ownResolver(upDetail("n1", "NXDOMAIN"), "198.19.0.53", fail, "NXDOMAIN")},
			want:  CauseNameUnresolved, nodesOf: "n1", text: []string{"does not exist for CoreDNS's upstream 198.19.0.1 nor for the nodes' own resolvers", "node@n1 dns node resolver: dns-failure (NXDOMAIN)"}},
		{name: "cluster names fail too: the other findings speak, not this one", forward: fwd,
			nodes: []observe.Node{func() observe.Node { n := upNode("n1", fail, ok); n.Pod.Checks[1].Outcome = fail; return n }()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := dnsUpstream(DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Outside: "www.example.net", Forward: tt.forward, Servers: []DNSServer{coredns}, Nodes: tt.nodes})
			if tt.want == "" {
				if len(fs) != 0 {
					t.Fatalf("want none:\n%s", dump(fs))
				}
				return
			}
			if len(fs) != 1 || fs[0].Cause != tt.want {
				t.Fatalf("want one %s:\n%s", tt.want, dump(fs))
			}
			if want := map[bool]Severity{true: Error, false: tt.severity}[tt.severity == ""]; fs[0].Severity != want {
				t.Errorf("severity %s, want %s", fs[0].Severity, want)
			}
			if got := strings.Join(fs[0].Nodes, ","); got != tt.nodesOf {
				t.Errorf("nodes %s, want %s", got, tt.nodesOf)
			}
			all := strings.Join(append(append(append([]string{fs[0].Summary}, fs[0].Evidence...), fs[0].Fix...), fs[0].Candidates...), "\n")
			for _, s := range tt.text {
				if !strings.Contains(all, s) {
					t.Errorf("finding lacks %q:\n%s", s, all)
				}
			}
		})
	}
	// Without --outside the check is not run: nothing to say.
	if fs := dnsUpstream(DNSInput{ClusterIP: dnsIP, Forward: fwd, Nodes: []observe.Node{upNode("n1", fail, fail)}}); len(fs) != 0 {
		t.Errorf("no --outside, yet:\n%s", dump(fs))
	}
}
