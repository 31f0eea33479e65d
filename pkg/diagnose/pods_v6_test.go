package diagnose

import (
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// dualPodNets: the dual-stack lab's three nodes (IPv4 first).
var dualPodNets = []NodeNet{
	{Name: "n1", IP: "198.18.0.11", IPs: []string{"198.18.0.11", "fd00:198:18::11"}, PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}},
	{Name: "n2", IP: "198.18.0.12", IPs: []string{"198.18.0.12", "fd00:198:18::12"}, PodCIDRs: []string{"10.244.2.0/24", "fd00:10:244:2::/64"}},
	{Name: "n3", IP: "198.18.0.13", IPs: []string{"198.18.0.13", "fd00:198:18::13"}, PodCIDRs: []string{"10.244.3.0/24", "fd00:10:244:3::/64"}},
}

// dualPodsInput: every pod reaching every other in both families, each
// node's facts for both families' podCIDRs of the others.
func dualPodsInput() PodsInput {
	in := PodsInput{NodeNets: dualPodNets}
	for _, nn := range dualPodNets {
		v4, v6 := "10.244."+nn.Name[1:]+".5", "fd00:10:244:"+nn.Name[1:]+"::5"
		n := observe.Node{Name: nn.Name, IP: nn.IP, Pod: observe.SideResult{IP: v4, IPs: []string{v4, v6}}}
		n.Facts = observe.NodeFacts{PodDev: "cni0", MTUs: map[string]int{"cni0": 1500, "eth0": 1500}, IPForward: observe.Yes, IP6Forward: observe.Yes, PodCIDRs: nn.PodCIDRs}
		for _, other := range dualPodNets {
			if other.Name == nn.Name {
				continue
			}
			n.Pod.Checks = append(n.Pod.Checks,
				observe.Check{Kind: observe.Ping, ID: PeerKey(other.Name), Outcome: observe.OK},
				observe.Check{Kind: observe.TCP, ID: PeerKey(other.Name), Outcome: observe.Refused},
				observe.Check{Kind: observe.Ping, ID: PeerFamilyKey(other.Name, "fd00:10:244:"+other.Name[1:]+"::5"), Outcome: observe.OK},
				observe.Check{Kind: observe.TCP, ID: PeerFamilyKey(other.Name, "fd00:10:244:"+other.Name[1:]+"::5"), Outcome: observe.Refused})
			for f, cidr := range other.PodCIDRs {
				key, _ := PodCIDRKey(cidr)
				via := other.IPs[f]
				dp := map[bool]string{false: "iptables", true: "ip6tables"}[f == 1]
				n.Facts.Targets = append(n.Facts.Targets, observe.TargetFacts{Target: key,
					NodeRoute: observe.Route{Query: "ip route get " + key, Line: key + " via " + via + " dev eth0", Via: via, Dev: "eth0"},
					Forward:   observe.Verdict{Result: observe.Yes, Action: "policy ACCEPT", Datapath: dp}})
			}
		}
		in.Nodes = append(in.Nodes, n)
	}
	return in
}

// loseIn makes the pod on from lose what it sends to the pod on to in
// one family (v6: the second).
func loseIn(in *PodsInput, from, to string, v6 bool) {
	for i := range in.Nodes {
		if in.Nodes[i].Name != from {
			continue
		}
		for j, c := range in.Nodes[i].Pod.Checks {
			if (v6 && c.ID.Role == observe.RolePeerFamily && c.ID.Of == to) || (!v6 && c.ID == PeerKey(to)) {
				in.Nodes[i].Pod.Checks[j].Outcome = observe.Timeout
			}
		}
	}
}

// isolateIn loses every pair of one family to and from node.
func isolateIn(in *PodsInput, node string, v6 bool) {
	for _, o := range []string{"n1", "n2", "n3"} {
		if o != node {
			loseIn(in, node, o, v6)
			loseIn(in, o, node, v6)
		}
	}
}

// v6Facts applies edit to node's facts for the other nodes' IPv6 podCIDRs.
func v6Facts(in *PodsInput, node string, edit func(*observe.TargetFacts)) {
	n := &in.Nodes[nodeIdx(node)]
	for j := range n.Facts.Targets {
		if strings.Contains(n.Facts.Targets[j].Target, ":") {
			edit(&n.Facts.Targets[j])
		}
	}
}

func TestPodsDiagnosisDualStack(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*PodsInput)
		cause Cause
		nodes string
		text  string
	}{
		{"healthy in both families", func(*PodsInput) {}, "", "", ""},
		{"ip6tables FORWARD DROP on n2: IPv6 isolates it, IPv4 works", func(in *PodsInput) {
			isolateIn(in, "n2", true)
			v6Facts(in, "n2", func(tf *observe.TargetFacts) {
				tf.Forward = observe.Verdict{Result: observe.No, Action: "policy DROP", Policy: true, Datapath: "ip6tables"}
			})
		}, CauseForwardDrop, "n2", "ip6tables -I FORWARD -s fd00:10:244:2::/64 -j ACCEPT   # on n2"},
		{"the IPv4 FORWARD verdict is not taken for an IPv6 isolation", func(in *PodsInput) {
			isolateIn(in, "n2", true)
			in.Nodes[1].Facts.IP6Forward = observe.No
			for j := range in.Nodes[1].Facts.Targets { // an IPv4 drop the IPv4 checks did not feel: not this flow's
				if !strings.Contains(in.Nodes[1].Facts.Targets[j].Target, ":") {
					in.Nodes[1].Facts.Targets[j].Forward = observe.Verdict{Result: observe.No, Action: "policy DROP", Policy: true, Datapath: "iptables"}
				}
			}
		}, CauseIPForwardOff, "n2", "sysctl -w net.ipv6.conf.all.forwarding=1"},
		{"net.ipv6.conf.all.forwarding=0 on n3", func(in *PodsInput) {
			isolateIn(in, "n3", true)
			in.Nodes[2].Facts.IP6Forward = observe.No
		}, CauseIPForwardOff, "n3", "IPv6 forwarding is off on the node: it routes no IPv6 pod traffic"},
		{"the IPv6 route to n2's pods deleted on n1", func(in *PodsInput) {
			loseIn(in, "n1", "n2", true)
			loseIn(in, "n2", "n1", true)
			tf := factsFor(in.Nodes[0], "fd00:10:244:2::1")
			tf.NodeRoute = observe.Route{Query: "ip route get fd00:10:244:2::1", Line: "fd00:10:244:2::1 via fd00:198:18::100 dev eth0", Via: "fd00:198:18::100", Default: true}
		}, CauseMissingPodRoute, "n1", "ip -6 route add fd00:10:244:2::/64 via fd00:198:18::12   # on n1"},
		{"one IPv6 pair lost, no route gap", func(in *PodsInput) {
			loseIn(in, "n1", "n3", true)
		}, CauseCrossNode, "n1", "cannot reach pods on n3 over IPv6 (while IPv4 works)"},
		{"a fault of both families is named once, by the first", func(in *PodsInput) {
			isolateIn(in, "n2", false)
			isolateIn(in, "n2", true)
			for j := range in.Nodes[1].Facts.Targets {
				in.Nodes[1].Facts.Targets[j].Forward = observe.Verdict{Result: observe.No, Action: "policy DROP", Policy: true, Datapath: "iptables"}
			}
		}, CauseForwardDrop, "n2", "iptables -I FORWARD -s 10.244.2.0/24 -j ACCEPT   # on n2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := dualPodsInput()
			tc.edit(&in)
			wantOne(t, Pods(in), tc.cause, tc.nodes, tc.text)
		})
	}
}
