package diagnose

import (
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func settled(name string, mod func(*observe.Node)) observe.Node {
	n := observe.Node{Name: name, Facts: observe.NodeFacts{
		PodCIDRs: []string{"10.244.1.0/24"}, IPForward: observe.Yes, BridgeNF: observe.Yes, RulesRead: true, PodDev: "cni0",
		ConntrackCount: 100, ConntrackMax: 262144, MTUs: map[string]int{"cni0": 1500, "eth0": 1500},
		Targets: []observe.TargetFacts{{Target: SampleKey, NodeRoute: observe.Route{Dev: "eth0", Via: "198.18.0.254"}, NAT: natOK, Forward: fwdOK}}}}
	if mod != nil {
		mod(&n)
	}
	return n
}

// dual is settled with an IPv6 pod range and the IPv6 sample's facts.
func dual(name string, mod func(*observe.Node)) observe.Node {
	return settled(name, func(n *observe.Node) {
		n.Facts.PodCIDRs = append(n.Facts.PodCIDRs, "fd00:10:244:1::/64")
		n.Facts.IP6Forward = observe.Yes
		n.Facts.Targets = append(n.Facts.Targets, observe.TargetFacts{Target: SampleKey6,
			NodeRoute: observe.Route{Dev: "eth0", Via: "fd00:198:18::254"}, NAT: natOK, Forward: fwdOK})
		if mod != nil {
			mod(n)
		}
	})
}

func TestNode(t *testing.T) {
	tests := []struct {
		name     string
		node     observe.Node
		want     Cause
		severity Severity
		fix      string
	}{
		{name: "healthy", node: settled("n1", nil)},
		{name: "ip_forward off", node: settled("n1", func(n *observe.Node) { n.Facts.IPForward = observe.No }),
			want: CauseIPForwardOff, severity: Error, fix: "sysctl -w net.ipv4.ip_forward=1"},
		{name: "bridge-nf off", node: settled("n1", func(n *observe.Node) { n.Facts.BridgeNF = observe.No }),
			want: CauseBridgeNF, severity: Warning, fix: "bridge-nf-call-iptables=1"},
		{name: "br_netfilter not loaded", node: settled("n1", func(n *observe.Node) { n.Facts.BridgeNF = observe.Unknown }),
			want: CauseBridgeNF, severity: Warning, fix: "modprobe br_netfilter"},
		{name: "FORWARD DROP", node: settled("n1", func(n *observe.Node) { n.Facts.Targets[0].Forward = fwdDrop }),
			want: CauseForwardDrop, severity: Error, fix: "iptables -I FORWARD -s 10.244.1.0/24 -j ACCEPT"},
		{name: "no masquerade: a warning, pod IPs may be routable", node: settled("n1", func(n *observe.Node) { n.Facts.Targets[0].NAT = natMissing }),
			want: CauseMissingNAT, severity: Warning, fix: "-s 10.244.1.0/24 ! -d 10.244.1.0/24 -o eth0 -j MASQUERADE"},
		{name: "dual-stack healthy", node: dual("n1", nil)},
		{name: "IPv6 forwarding off on a dual-stack node", node: dual("n1", func(n *observe.Node) { n.Facts.IP6Forward = observe.No }),
			want: CauseIPForwardOff, severity: Error, fix: "sysctl -w net.ipv6.conf.all.forwarding=1"},
		{name: "IPv6 forwarding off without an IPv6 pod range: nothing of the pods goes out in IPv6", node: settled("n1", func(n *observe.Node) { n.Facts.IP6Forward = observe.No })},
		{name: "ip6tables FORWARD DROP: the IPv6 range, in ip6tables", node: dual("n1", func(n *observe.Node) { n.Facts.Targets[1].Forward = fwdDrop }),
			want: CauseForwardDrop, severity: Error, fix: "ip6tables -I FORWARD -s fd00:10:244:1::/64 -j ACCEPT"},
		{name: "no ip6 masquerade", node: dual("n1", func(n *observe.Node) { n.Facts.Targets[1].NAT = natMissing }),
			want: CauseMissingNAT, severity: Warning, fix: "ip6tables -t nat -A POSTROUTING -s fd00:10:244:1::/64 ! -d fd00:10:244:1::/64 -o eth0 -j MASQUERADE"},
		{name: "no ip6 masquerade for a global IPv6 pod range: routed, the usual design", node: dual("n1", func(n *observe.Node) {
			n.Facts.PodCIDRs[1] = "2001:db8:42:1::/64"
			n.Facts.Targets[1].NAT = natMissing
		})},
		{name: "conntrack 85%", node: settled("n1", func(n *observe.Node) { n.Facts.ConntrackCount = 850; n.Facts.ConntrackMax = 1000 }),
			want: CauseConntrackFull, severity: Warning, fix: "nf_conntrack_max=2000"},
		{name: "conntrack full", node: settled("n1", func(n *observe.Node) { n.Facts.ConntrackCount = 1000; n.Facts.ConntrackMax = 1000 }),
			want: CauseConntrackFull, severity: Error},
		{name: "pod MTU above the uplink's", node: settled("n1", func(n *observe.Node) { n.Facts.MTUs["eth0"] = 1450 }),
			want: CauseMTUMismatch, severity: Warning, fix: "at most 1450"},
		{name: "flannel.1's MTU above what the uplink carries with VXLAN's 50 bytes", node: settled("n1", func(n *observe.Node) {
			n.Facts.MTUs["flannel.1"], n.Facts.MTUs["cni0"] = 1500, 1450
			n.Facts.Overlay = facts.DetectOverlay(n.Facts.MTUs)
			n.Facts.Overlay.Dev, n.Facts.Overlay.MTU = "eth0", 1500
		}), want: CauseMTUMismatch, severity: Warning, fix: "ip link set dev flannel.1 mtu 1450   # on n1"},
		{name: "flannel healthy: pods 1450, flannel.1 1450, uplink 1500", node: settled("n1", func(n *observe.Node) {
			n.Facts.MTUs["flannel.1"], n.Facts.MTUs["cni0"] = 1450, 1450
			n.Facts.Overlay = facts.DetectOverlay(n.Facts.MTUs)
			n.Facts.Overlay.Dev, n.Facts.Overlay.MTU = "eth0", 1450
		})},
		{name: "pods at 1500 on flannel: above flannel.1's 1450", node: settled("n1", func(n *observe.Node) {
			n.Facts.MTUs["flannel.1"] = 1450
			n.Facts.Overlay = facts.DetectOverlay(n.Facts.MTUs)
			n.Facts.Overlay.Dev, n.Facts.Overlay.MTU = "eth0", 1450
		}), want: CauseMTUMismatch, severity: Warning, fix: "at most 1450 on n1"},
		{name: "rules unread: no NAT/FORWARD verdict claimed", node: settled("n1", func(n *observe.Node) {
			n.Facts.RulesRead = false
			n.Facts.Targets[0].NAT = observe.Verdict{Result: observe.Unknown}
		})},
		{name: "rules split between iptables-nft and iptables-legacy", node: settled("n1", func(n *observe.Node) {
			n.Facts.IptablesBackends = []observe.IptablesBackend{
				{Tool: "iptables-nft-save (host, via nsenter)", Chains: []string{"filter/FORWARD", "nat/KUBE-SERVICES"}, KubeProxy: true},
				{Tool: "iptables-legacy-save (host, via nsenter)", Chains: []string{"filter/FORWARD"}}}
		}), want: CauseMixedIptables, severity: Warning, fix: "iptables-legacy -t filter -F FORWARD"},
		{name: "node probe failed", node: observe.Node{Name: "n1", Host: observe.SideResult{Err: "not run: PodSecurity"}}, want: CauseProbeFailed, severity: Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Node([]observe.Node{tt.node})
			if tt.want == "" {
				if len(fs) != 0 {
					t.Fatalf("want no finding:\n%s", dump(fs))
				}
				return
			}
			if len(fs) != 1 || fs[0].Cause != tt.want || fs[0].Severity != tt.severity {
				t.Fatalf("want one %s %s:\n%s", tt.severity, tt.want, dump(fs))
			}
			if tt.fix != "" && !strings.Contains(strings.Join(fs[0].Fix, "\n"), tt.fix) {
				t.Errorf("fix %q lacks %q", fs[0].Fix, tt.fix)
			}
		})
	}
}

// Across nodes: the one whose uplink MTU is below the others' is named.
func TestNodeUplinkMTUs(t *testing.T) {
	low := settled("n2", func(n *observe.Node) { n.Facts.MTUs["eth0"], n.Facts.MTUs["cni0"] = 1400, 1400 })
	fs := Node([]observe.Node{settled("n1", nil), low, settled("n3", nil)})
	if len(fs) != 1 || fs[0].Cause != CauseMTUMismatch || fs[0].Severity != Warning || fs[0].Nodes[0] != "n2" ||
		fs[0].Fix[0] != "ip link set dev eth0 mtu 1500   # on n2, if its network carries 1500; else lower the other nodes' and the pod network's MTU" {
		t.Fatalf("%+v", fs)
	}
	if fs := Node([]observe.Node{settled("n1", nil), settled("n3", nil)}); len(fs) != 0 {
		t.Fatalf("equal MTUs: %+v", fs)
	}
}
