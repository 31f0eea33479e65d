package diagnose

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// capturedDual is nc-node1 of the dual-stack lab as its fact script saw it
// (pkg/probe/testdata), its pod side failing fd00:198:19::1 and its node
// side reaching it, as on the lab with the IPv6 faults injected.
func capturedDual(t *testing.T, file string, mod func(*observe.Node)) observe.Node {
	t.Helper()
	out, err := os.ReadFile("../probe/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	key := "fd00:198:19::1"
	targets := []probe.FactTarget{{Key: key, Addr: netip.MustParseAddr(key), Proto: "icmp"}}
	q := probe.FactsQuery{PodIP: "10.244.1.16", PodIP6: "fd00:10:244:1::10", Targets: targets}
	n := observe.Node{Name: "nc-node1", IP: "198.18.0.11",
		Pod:  observe.SideResult{Pod: "p", IP: q.PodIP, IPs: []string{q.PodIP, q.PodIP6}, Checks: []observe.Check{ping(key, observe.Timeout)}},
		Host: observe.SideResult{Pod: "h", IP: "198.18.0.11", Checks: []observe.Check{ping(key, observe.OK)}},
		Facts: probe.AssembleFlows(probe.ParseFacts(string(out), q), probe.Flows{PodIP: q.PodIP, PodIP6: q.PodIP6,
			PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, Targets: targets})}
	if mod != nil {
		mod(&n)
	}
	return n
}

func TestExternalIPv6Captured(t *testing.T) {
	tg := mustTarget(t, "fd00:198:19::1")
	tests := []struct {
		name  string
		node  observe.Node
		cause Cause
		fix   []string
	}{
		{"ip6tables FORWARD DROP (and no ip6 masquerade behind it): the drop comes first, in ip6tables",
			capturedDual(t, "facts-script.dual-node1-v6faults.out", nil), CauseForwardDrop,
			[]string{"ip6tables -I FORWARD -s fd00:10:244:1::/64 -j ACCEPT", "ip6tables -I FORWARD -d fd00:10:244:1::/64 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}},
		{"the FORWARD drop lifted, no ip6 masquerade",
			capturedDual(t, "facts-script.dual-node1-v6faults.out", func(n *observe.Node) { n.Facts.Targets[0].Forward = fwdOK }), CauseMissingNAT,
			[]string{"ip6tables -t nat -A POSTROUTING -s fd00:10:244:1::/64 -d fd00:198:19::1/128 -o eth0 -j MASQUERADE"}},
		{"IPv6 forwarding off (IPv4 on): the IPv6 setting",
			capturedDual(t, "facts-script.dual-node1.out", func(n *observe.Node) { n.Facts.IP6Forward = observe.No }), CauseIPForwardOff,
			[]string{"sysctl -w net.ipv6.conf.all.forwarding=1"}},
		{"IPv4 forwarding off does not explain an IPv6 flow's loss",
			capturedDual(t, "facts-script.dual-node1.out", func(n *observe.Node) { n.Facts.IPForward = observe.No }), CauseInconclusive, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := External(ExternalInput{Targets: []target.Target{tg}, Nodes: []observe.Node{tt.node, healthyDual(t)}})
			if len(fs) != 1 || fs[0].Cause != tt.cause {
				t.Fatalf("want one %s:\n%s", tt.cause, dump(fs))
			}
			for i, want := range tt.fix {
				if i >= len(fs[0].Fix) || fs[0].Fix[i] != want {
					t.Errorf("fix line %d: want %q in %q", i, want, fs[0].Fix)
				}
			}
			if tt.cause == CauseMissingNAT && !strings.Contains(strings.Join(fs[0].Evidence, "\n"), "fd00:10:244:1::10") {
				t.Errorf("the evidence names the pod's IPv6 address:\n%s", strings.Join(fs[0].Evidence, "\n"))
			}
		})
	}
}

// healthyDual is a second node that reaches the target from both sides.
func healthyDual(t *testing.T) observe.Node {
	n := capturedDual(t, "facts-script.dual-node1.out", nil)
	n.Name = "nc-node2"
	n.Pod.Checks = []observe.Check{ping("fd00:198:19::1", observe.OK)}
	return n
}

func TestNameFamilies(t *testing.T) {
	tg := mustTarget(t, "dual.example.net")
	key := Key(tg)
	fam := func(v6 bool, o observe.Outcome) observe.Check {
		return observe.Check{Kind: observe.Ping, ID: FamilyKey(tg, v6), Outcome: o}
	}
	node := func(name string, resolved []string, v4, v6 observe.Outcome) observe.Node {
		return observe.Node{Name: name,
			Pod: observe.SideResult{IP: "10.244.1.5", Checks: []observe.Check{dns(key, observe.OK, resolved...), fam(false, v4), fam(true, v6)}},
			Host: observe.SideResult{IP: "198.18.0.11", Checks: []observe.Check{dns(key, observe.OK, resolved...), ping(key, v4),
				fam(false, v4), fam(true, v6)}}}
	}
	both := []string{"198.19.0.2", "fd00:198:19::1"}
	tests := []struct {
		name  string
		nodes []observe.Node
		want  string // "" for no family finding
	}{
		{"both families answer", []observe.Node{node("n1", both, observe.OK, observe.OK), node("n2", both, observe.OK, observe.OK)}, ""},
		{"the A record's address answers nowhere, the AAAA's everywhere",
			[]observe.Node{node("n1", both, observe.Timeout, observe.OK), node("n2", both, observe.Timeout, observe.OK)},
			"over IPv6 (fd00:198:19::1) and not over IPv4 (198.19.0.2)"},
		{"an A-only name: ping -6 finds no address, which is no fault",
			[]observe.Node{node("n1", []string{"198.19.0.2"}, observe.OK, observe.DNSFailure)}, ""},
		{"IPv6 fails on one node only: a node's fault, not the record's",
			[]observe.Node{node("n1", both, observe.OK, observe.Timeout), node("n2", both, observe.OK, observe.OK)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := familyFinding(tg, tt.nodes)
			switch {
			case tt.want == "" && f != nil:
				t.Fatalf("want no family finding: %+v", *f)
			case tt.want != "" && (f == nil || !strings.Contains(f.Summary, tt.want)):
				t.Fatalf("want a finding saying %q: %+v", tt.want, f)
			}
		})
	}
}
