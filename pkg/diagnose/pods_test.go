package diagnose

import (
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podsInput: the three lab nodes, every pod reaching every other.
func podsInput() PodsInput {
	in := PodsInput{NodeNets: svcNets}
	for _, nn := range svcNets {
		n := observe.Node{Name: nn.Name, IP: nn.IP, Pod: observe.SideResult{IP: "10.244.x.5"}}
		n.Facts = observe.NodeFacts{PodDev: "cni0", MTUs: map[string]int{"cni0": 1500, "eth0": 1500}, IPForward: observe.Yes, PodCIDRs: nn.PodCIDRs}
		for _, other := range svcNets {
			if other.Name == nn.Name {
				continue
			}
			n.Pod.Checks = append(n.Pod.Checks,
				observe.Check{Kind: observe.Ping, ID: PeerKey(other.Name), Outcome: observe.OK},
				observe.Check{Kind: observe.TCP, ID: PeerKey(other.Name), Outcome: observe.Refused},
				observe.Check{Kind: observe.MTUProbe, ID: PeerMTUKey(other.Name), Outcome: observe.OK,
					PathMTU: &observe.PathMTU{Dev: "eth0", Local: 1500, Largest: 1500, Probes: 1, Tool: "busybox"}})
			key, _ := PodCIDRKey(other.PodCIDRs[0])
			n.Facts.Targets = append(n.Facts.Targets, observe.TargetFacts{Target: key,
				NodeRoute: observe.Route{Query: "ip route get " + key, Line: key + " via " + other.IP + " dev eth0", Via: other.IP, Dev: "eth0"},
				Forward:   observe.Verdict{Result: observe.Yes, Action: "policy ACCEPT"}})
		}
		in.Nodes = append(in.Nodes, n)
	}
	return in
}

// denyWebIngress runs every node's pod side as a web pod of shop (--from),
// under a default-deny ingress policy.
func denyWebIngress(in *PodsInput) {
	np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-ingress", Namespace: "shop"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	in.Policies = Policies{Read: true, List: []networkingv1.NetworkPolicy{np}, Clients: map[string]netpol.Pod{}, AsWorkload: true}
	for _, n := range in.Nodes {
		in.Policies.Clients[n.Name] = netpol.Pod{Name: "web-" + n.Name, Namespace: "shop", Labels: map[string]string{"app": "web"}}
	}
}

func nodeIdx(name string) int { return int(name[1] - '1') }

// lose makes the pod on from lose everything sent to the pod on to.
func lose(in *PodsInput, from, to string) {
	for i := range in.Nodes {
		if in.Nodes[i].Name != from {
			continue
		}
		for j := range in.Nodes[i].Pod.Checks {
			if in.Nodes[i].Pod.Checks[j].ID == PeerKey(to) {
				in.Nodes[i].Pod.Checks[j].Outcome = observe.Timeout
			}
		}
	}
}

func TestPodsDiagnosis(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*PodsInput)
		cause Cause
		nodes string
		text  string
	}{
		{"healthy: refusals prove the path", func(*PodsInput) {}, "", "", ""},
		{"route to n2's podCIDR deleted on n1", func(in *PodsInput) {
			lose(in, "n1", "n2")
			lose(in, "n2", "n1")
			tf := factsFor(in.Nodes[0], "10.244.2.1")
			tf.NodeRoute = observe.Route{Query: "ip route get 10.244.2.1", Line: "10.244.2.1 via 198.18.0.254 dev eth0", Via: "198.18.0.254", Default: true}
		}, CauseMissingPodRoute, "n1", "ip route add 10.244.2.0/24 via 198.18.0.12"},
		{"FORWARD DROP on n2 isolates it", func(in *PodsInput) {
			for _, o := range []string{"n1", "n3"} {
				lose(in, "n2", o)
				lose(in, o, "n2")
			}
			for j := range in.Nodes[1].Facts.Targets {
				in.Nodes[1].Facts.Targets[j].Forward = observe.Verdict{Result: observe.No, Action: "policy DROP", Policy: true}
			}
		}, CauseForwardDrop, "n2", "iptables -I FORWARD -s 10.244.2.0/24 -j ACCEPT   # on n2"},
		{"ip_forward off on n3 isolates it", func(in *PodsInput) {
			for _, o := range []string{"n1", "n2"} {
				lose(in, "n3", o)
				lose(in, o, "n3")
			}
			in.Nodes[2].Facts.IPForward = observe.No
		}, CauseIPForwardOff, "n3", "sysctl -w net.ipv4.ip_forward=1"},
		{"n3 isolated, cause unseen: candidates", func(in *PodsInput) {
			in.Nodes[2].Facts.MTUs["flannel.1"] = 1450
			in.Nodes[2].Facts.Overlay = facts.DetectOverlay(in.Nodes[2].Facts.MTUs)
			for _, o := range []string{"n1", "n2"} {
				lose(in, "n3", o)
				lose(in, o, "n3")
			}
		}, CauseNodeIsolated, "n3", "VXLAN UDP 8472 blocked to or from n3"},
		{"everything between nodes lost", func(in *PodsInput) {
			for _, a := range []string{"n1", "n2", "n3"} {
				for _, b := range []string{"n1", "n2", "n3"} {
					if a != b {
						lose(in, a, b)
					}
				}
			}
		}, CauseCrossNodeAll, "", "no overlay device"},
		{"one pair lost, no route gap", func(in *PodsInput) {
			lose(in, "n1", "n3")
		}, CauseCrossNode, "n1", "between n1 and n3"},
		{"MTU differs on one node", func(in *PodsInput) {
			in.Nodes[1].Facts.MTUs["cni0"] = 9000
		}, CauseMTUMismatch, "n2", "1500 vs 9000"},
		{"n2's uplink MTU below the others': full-size pings to and from it lost", func(in *PodsInput) {
			for i := range in.Nodes { // as on the lab: the node's own podCIDR gateway is local (dev lo)
				in.Nodes[i].Facts.MTUs["lo"] = 65536
				in.Nodes[i].Facts.Targets = append([]observe.TargetFacts{{Target: "10.244.0.1", NodeRoute: observe.Route{Dev: "lo"}}}, in.Nodes[i].Facts.Targets...)
			}
			in.Nodes[1].Facts.MTUs["eth0"] = 1400
			measured(in, "n2", observe.PathMTU{Largest: 1404, Failed: 1405, NoDF: "lost"})
		}, CauseMTUPath, "n2", "ip link set dev eth0 mtu 1500   # on n2"},
		{"a path-MTU exec cut at its deadline measured nothing: no verdict (the netpol lab's busy node)", func(in *PodsInput) {
			in.Nodes[0].Pod.Checks[2].Outcome, in.Nodes[0].Pod.Checks[2].Detail = observe.Timeout, "no answer before the deadline"
			in.Nodes[0].Pod.Checks[2].PathMTU = &observe.PathMTU{Tool: "busybox"}
		}, "", "", ""},
		{"silent loss is an error, with the measured numbers", func(in *PodsInput) {
			measured(in, "n2", observe.PathMTU{Largest: 1404, Failed: 1405, NoDF: "lost"})
		}, CauseMTUPath, "n2", "with DF set, 1404-byte packets pass and 1405-byte ones are lost (the sender's eth0 MTU is 1500); a 1501-byte ping without DF (fragmented by the sender) gets no answer either"},
		{"flannel, uplinks at 1500, but the network between n2 and the others carries 1400 (a tunnel)", func(in *PodsInput) {
			for i := range in.Nodes {
				in.Nodes[i].Facts.MTUs["flannel.1"], in.Nodes[i].Facts.MTUs["cni0"] = 1450, 1450
				in.Nodes[i].Facts.Overlay = facts.DetectOverlay(in.Nodes[i].Facts.MTUs)
				in.Nodes[i].Facts.Overlay.Dev, in.Nodes[i].Facts.Overlay.MTU = "eth0", 1450
				for _, other := range in.Nodes {
					if other.Name != in.Nodes[i].Name {
						m := observe.PathMTU{Dev: "eth0", Local: 1500, Largest: 1500, Probes: 1, Tool: "busybox"}
						o := observe.OK
						if other.Name == "n2" || in.Nodes[i].Name == "n2" {
							m.Largest, m.Failed, o = 1400, 1401, observe.Timeout
						}
						in.Nodes[i].Host.Checks = append(in.Nodes[i].Host.Checks, observe.Check{Kind: observe.MTUProbe, ID: PeerMTUKey(other.Name), Outcome: o, PathMTU: &m})
					}
				}
			}
			measured(in, "n2", observe.PathMTU{Largest: 1350, Failed: 1351, NoDF: "lost"})
			for i := range in.Nodes { // flannel's pods: 1450
				for _, c := range in.Nodes[i].Pod.Checks {
					if c.PathMTU != nil {
						c.PathMTU.Local = 1450
					}
				}
			}
		}, CauseMTUPath, "n2", "set the pod network's MTU to at most 1350 in the CNI's configuration on every node (1400 less 50 bytes of overlay headers)"},
		{"pods on n2 given 1500 above flannel.1's 1450: n2 itself says fragmentation needed", func(in *PodsInput) {
			for i := range in.Nodes {
				in.Nodes[i].Facts.MTUs["flannel.1"], in.Nodes[i].Facts.MTUs["cni0"] = 1450, 1450
				in.Nodes[i].Facts.Overlay = facts.DetectOverlay(in.Nodes[i].Facts.MTUs)
				in.Nodes[i].Facts.Overlay.Dev, in.Nodes[i].Facts.Overlay.MTU = "eth0", 1450
			}
			for j, c := range in.Nodes[1].Pod.Checks {
				if c.ID.Role == observe.RolePeerMTU {
					in.Nodes[1].Pod.Checks[j].Outcome = observe.Timeout
					in.Nodes[1].Pod.Checks[j].PathMTU = &observe.PathMTU{Dev: "eth0", Local: 1500, Largest: 1450, Failed: 1500, Told: 1450, ToldBy: "10.42.2.1", NoDF: "ok", Probes: 2, Tool: "busybox"}
				}
			}
		}, CauseMTUPath, "n2", "set the CNI's MTU to at most 1450 on n2"},
		{"flannel.1 above what n2's uplink carries: the router (n2 itself) says so", func(in *PodsInput) {
			for i := range in.Nodes {
				in.Nodes[i].Facts.MTUs["flannel.1"] = 1450
				in.Nodes[i].Facts.Overlay = facts.DetectOverlay(in.Nodes[i].Facts.MTUs)
				in.Nodes[i].Facts.Overlay.Dev, in.Nodes[i].Facts.Overlay.MTU = "eth0", 1450
			}
			in.Nodes[1].Facts.Overlay.MTU = 1500
			measured(in, "n2", observe.PathMTU{Largest: 1450, Failed: 1500, Told: 1450, ToldBy: "10.244.1.1", NoDF: "ok"})
		}, CauseMTUPath, "n2", "ip link set dev flannel.1 mtu 1450   # on n2"},

		{"a default-deny ingress on the workload (--from), REJECTed: the policy, not the network", func(in *PodsInput) {
			denyWebIngress(in)
			for _, from := range []string{"n1", "n2", "n3"} {
				for j := range in.Nodes[nodeIdx(from)].Pod.Checks {
					if c := &in.Nodes[nodeIdx(from)].Pod.Checks[j]; c.Kind == observe.Ping {
						c.Outcome = observe.Timeout // the REJECT answers TCP with a refusal
					}
				}
			}
		}, CauseNetworkPolicy, "n1,n2,n3", "NetworkPolicy shop/deny-ingress selects ingress of pods app=web of namespace shop and no rule admits TCP/9"},
		{"denied by the policies, ping passed anyway: not enforced", denyWebIngress, CausePolicyNotEnforced, "n1,n2,n3", "should block ICMP"},
		{"a node whose probe failed", func(in *PodsInput) {
			in.Nodes[2].Err = "image busybox:1.36 cannot be pulled"
		}, CauseProbeFailed, "n3", "cannot be pulled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := podsInput()
			tc.edit(&in)
			wantOne(t, Pods(in), tc.cause, tc.nodes, tc.text)
		})
	}
}

// A path MTU nobody announced is a blackhole (error); one a router
// announced is a warning: TCP finds it, UDP does not.
func TestPodsMTUSeverity(t *testing.T) {
	for _, tt := range []struct {
		m    observe.PathMTU
		want Severity
	}{
		{observe.PathMTU{Largest: 1404, Failed: 1405, NoDF: "lost"}, Error},
		{observe.PathMTU{Largest: 1400, Failed: 1500, Told: 1400, ToldBy: "10.0.0.254", NoDF: "ok"}, Warning},
	} {
		in := podsInput()
		measured(&in, "n2", tt.m)
		fs := Pods(in)
		if len(fs) != 1 || fs[0].Cause != CauseMTUPath || fs[0].Severity != tt.want {
			t.Errorf("%+v: want one %s %s:\n%s", tt.m, tt.want, CauseMTUPath, dump(fs))
		}
	}
}

// measured gives every path-MTU check to or from node the measurement m
// (a 1500-byte pod interface on eth0 sending).
func measured(in *PodsInput, node string, m observe.PathMTU) {
	m.Dev, m.Local, m.Probes, m.Tool = "eth0", 1500, 5, "busybox"
	for i := range in.Nodes {
		for j, c := range in.Nodes[i].Pod.Checks {
			if c.ID.Role == observe.RolePeerMTU && (in.Nodes[i].Name == node || c.ID.Of == node) {
				m := m
				in.Nodes[i].Pod.Checks[j].Outcome, in.Nodes[i].Pod.Checks[j].PathMTU = observe.Timeout, &m
			}
		}
	}
}

// wantOne asserts got is exactly one finding of cause on nodes whose text
// (summary, evidence, fix, candidates) contains text; cause "" wants none.
func wantOne(t *testing.T, got []Finding, cause Cause, nodes, text string) {
	t.Helper()
	if cause == "" {
		if len(got) != 0 {
			t.Fatalf("want none:\n%s", dump(got))
		}
		return
	}
	if len(got) != 1 || got[0].Cause != cause || strings.Join(got[0].Nodes, ",") != nodes {
		t.Fatalf("want one %s on %q:\n%s", cause, nodes, dump(got))
	}
	all := got[0].Summary + "\n" + strings.Join(got[0].Evidence, "\n") + "\n" + strings.Join(got[0].Fix, "\n") + "\n" + strings.Join(got[0].Candidates, "\n")
	if !strings.Contains(all, text) {
		t.Fatalf("finding lacks %q:\n%s", text, all)
	}
}
