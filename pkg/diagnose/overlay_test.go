package diagnose

import (
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func flannelNode(name string, edit func(o *observe.Overlay)) observe.Node {
	o := &observe.Overlay{Name: "flannel VXLAN", Link: "flannel.1", CNI: observe.CNIFlannel, Encap: observe.EncapVXLAN, Port: "VXLAN UDP 8472", Overhead: 50, DstPort: 8472, Local: "198.18.0.12",
		LeaseRead: true, Lease: map[string]string{"FLANNEL_SUBNET": "10.42.2.1/24"}, AgentsRead: true, Agents: []string{"flanneld"},
		Inbound: []observe.OverlayInbound{{From: "198.18.0.11", Verdict: observe.Verdict{Result: observe.Yes, Action: "policy ACCEPT", Datapath: "iptables"}}}}
	if edit != nil {
		edit(o)
	}
	return observe.Node{Name: name, Facts: observe.NodeFacts{Overlay: o}}
}

func TestOverlayFindings(t *testing.T) {
	drop := observe.Verdict{Result: observe.No, Action: "DROP", Datapath: "iptables", Rules: []string{"-A INPUT -p udp -m udp --dport 8472 -j DROP"}}
	nftDrop := observe.Verdict{Result: observe.No, Action: "drop", Datapath: "nftables", Hook: "nftables input hook",
		Rules: []string{"table inet fw chain input handle 2: udp dport 8472 drop"}, Rule: &observe.RuleRef{Family: "inet", Table: "fw", Chain: "input", Handle: 2}}
	for _, tc := range []struct {
		name     string
		n        observe.Node
		lost     bool
		cause    Cause
		severity Severity
		text     string // in the evidence or the fix
	}{
		{name: "healthy", n: flannelNode("n2", nil)},
		{name: "VXLAN dropped by an iptables rule", n: flannelNode("n2", func(o *observe.Overlay) { o.Inbound[0].Verdict = drop }),
			cause: CauseOverlayBlocked, severity: Error, text: "iptables -D INPUT -p udp -m udp --dport 8472 -j DROP"},
		{name: "VXLAN dropped in nftables", n: flannelNode("n2", func(o *observe.Overlay) { o.Inbound[0].Verdict = nftDrop }),
			cause: CauseOverlayBlocked, severity: Error, text: "nft delete rule inet fw input handle 2"},
		{name: "flanneld gone, pods still work", n: flannelNode("n2", func(o *observe.Overlay) { o.Agents = nil }),
			cause: CauseFlannelDown, severity: Warning, text: "FLANNEL_SUBNET=10.42.2.1/24"},
		{name: "flanneld gone and pods lost", n: flannelNode("n2", func(o *observe.Overlay) { o.Agents = nil }), lost: true,
			cause: CauseFlannelDown, severity: Error, text: "systemctl restart flanneld"},
		{name: "flanneld gone, lease too", n: flannelNode("n2", func(o *observe.Overlay) { o.Agents, o.LeaseRead, o.Lease = nil, false, nil }),
			cause: CauseFlannelDown, severity: Error, text: "subnet.env is missing"},
		{name: "k3s embeds flannel: no claim", n: flannelNode("n2", func(o *observe.Overlay) { o.Agents = []string{"k3s-agent"} })},
		{name: "agents not read: no claim", n: flannelNode("n2", func(o *observe.Overlay) { o.Agents, o.AgentsRead = nil, false })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := overlayFindings(tc.n, tc.lost)
			if tc.cause == "" {
				if len(fs) != 0 {
					t.Fatalf("want nothing, got %+v", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].Cause != tc.cause || fs[0].Severity != tc.severity || fs[0].Nodes[0] != "n2" {
				t.Fatalf("want %s %s on n2, got %+v", tc.severity, tc.cause, fs)
			}
			all := strings.Join(append(fs[0].Evidence, fs[0].Fix...), "\n")
			if !strings.Contains(all, tc.text) {
				t.Errorf("%q not in\n%s", tc.text, all)
			}
		})
	}
}

// In `pods`, a node whose overlay is blocked explains its lost pairs: no
// node-isolated or cross-node finding beside it.
func TestPodsOverlayBlocked(t *testing.T) {
	in := podsInput()
	for _, o := range []string{"n1", "n3"} {
		lose(&in, "n2", o)
		lose(&in, o, "n2")
	}
	in.Nodes[1].Facts.Overlay = flannelNode("n2", func(o *observe.Overlay) {
		o.Inbound[0].Verdict = observe.Verdict{Result: observe.No, Action: "DROP", Datapath: "iptables", Rules: []string{"-A INPUT -p udp -m udp --dport 8472 -j DROP"}}
	}).Facts.Overlay
	fs := Pods(in)
	if len(fs) != 1 || fs[0].Cause != CauseOverlayBlocked || strings.Join(fs[0].Nodes, ",") != "n2" {
		t.Fatalf("%+v", fs)
	}
}

func TestVTEPAddresses(t *testing.T) {
	mk := func(name, mac, local string, fdb map[string]string) observe.Node {
		return flannelNode(name, func(o *observe.Overlay) { o.MAC, o.Local, o.Dev, o.FDB = mac, local, "eth0", fdb })
	}
	healthy := []observe.Node{
		mk("n1", "aa:00:00:00:00:01", "198.18.0.11", map[string]string{"aa:00:00:00:00:02": "198.18.0.12", "aa:00:00:00:00:03": "198.18.0.13"}),
		mk("n2", "aa:00:00:00:00:02", "198.18.0.12", map[string]string{"aa:00:00:00:00:01": "198.18.0.11", "aa:00:00:00:00:03": "198.18.0.13"}),
		mk("n3", "aa:00:00:00:00:03", "198.18.0.13", map[string]string{"aa:00:00:00:00:01": "198.18.0.11", "aa:00:00:00:00:02": "198.18.0.12"}),
	}
	if fs := vtepAddresses(healthy); len(fs) != 0 {
		t.Fatalf("healthy: %+v", fs)
	}
	// n2 advertises 198.18.0.99 (flanneld --public-ip, or the wrong interface).
	healthy[0].Facts.Overlay.FDB["aa:00:00:00:00:02"] = "198.18.0.99"
	healthy[2].Facts.Overlay.FDB["aa:00:00:00:00:02"] = "198.18.0.99"
	fs := vtepAddresses(healthy)
	if len(fs) != 1 || fs[0].Cause != CauseVTEPAddress || fs[0].Nodes[0] != "n2" || !strings.Contains(fs[0].Summary, "to 198.18.0.99") {
		t.Fatalf("%+v", fs)
	}
	all := strings.Join(append(fs[0].Evidence, fs[0].Fix...), "\n")
	for _, want := range []string{"node@n1: bridge fdb: aa:00:00:00:00:02 dst 198.18.0.99", `flannel\.alpha\.coreos\.com/public-ip`, "--iface=eth0"} {
		if !strings.Contains(all, want) {
			t.Errorf("%q not in\n%s", want, all)
		}
	}
}

// flannel --public-ip with an address the node lacks: its VXLAN sends from
// it too, so only the node's own addresses tell (ip addr).
func TestVTEPAddressNotOnNode(t *testing.T) {
	no := false
	x := flannelNode("n2", func(o *observe.Overlay) {
		o.MAC, o.Local, o.Dev, o.LocalOwned = "aa:00:00:00:00:02", "198.18.0.99", "eth0", &no
	})
	x.IP = "198.18.0.12"
	y := flannelNode("n1", func(o *observe.Overlay) { o.FDB = map[string]string{"aa:00:00:00:00:02": "198.18.0.99"} })
	fs := vtepAddresses([]observe.Node{y, x})
	if len(fs) != 1 || fs[0].Nodes[0] != "n2" || !strings.Contains(fs[0].Summary, "flannel advertises 198.18.0.99") ||
		!strings.Contains(strings.Join(fs[0].Fix, "\n"), "--public-ip=198.18.0.12") {
		t.Fatalf("%+v", fs)
	}
	mustEv := strings.Join(fs[0].Evidence, "\n")
	if !strings.Contains(mustEv, "not an address of this node") || !strings.Contains(mustEv, "node@n1: bridge fdb: aa:00:00:00:00:02 dst 198.18.0.99") {
		t.Errorf("evidence:\n%s", mustEv)
	}
}
