package scenario

import (
	"net/netip"
	"sort"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	corev1 "k8s.io/api/core/v1"
)

// KindPods is the report of `pods`.
const KindPods = "PodsCheck"

// Pods is `kubectl netcheck pods`: once every pod probe is up, each pings
// and TCP-connects the others (a ring of at most Peers) and measures the
// path MTU to each (one DF probe when it is whole); on dual-stack pods it
// pings and connects them over their other family's address too; node
// facts for every podCIDR.
//
// Requires: the nodes (read by the command); both probes on every node at
// once (the peer checks wait for all of them).
type Pods struct {
	Nets    []diagnose.NodeNet
	Peers   int // per node; 0 = all
	Timeout time.Duration
	// Policies and the identities the pod sides run as; As, with --from,
	// the workload pod each node's checks run in (and are sent to).
	Policies diagnose.Policies
	As       map[string]fanout.Workload
}

// Kind implements Scenario.
func (Pods) Kind() string { return KindPods }

// Plan implements Scenario.
func (s Pods) Plan() (fanout.Plan, string) {
	t := s.Timeout
	peers := func(self fanout.Peer, ps []fanout.Peer) []probe.Spec {
		var out []probe.Spec
		for _, p := range fanout.RingPeers(self.Node, ps, s.Peers) {
			key := diagnose.PeerKey(p.Node)
			out = append(out,
				probe.Spec{Kind: observe.Ping, ID: key, Argv: probe.PingArgv(p.PodIP, t), Classify: probe.ClassifyPing},
				probe.Spec{Kind: observe.TCP, ID: key, Argv: probe.TCPArgv(p.PodIP, diagnose.PeerPort, t), Classify: probe.ClassifyTCP},
				probe.Spec{Kind: observe.MTUProbe, ID: diagnose.PeerMTUKey(p.Node), Argv: probe.PathMTUArgv(p.PodIP, "eth0", 1), Classify: probe.ClassifyPathMTU})
			// Dual-stack: the other family is a path of its own (its own
			// routes, ip6tables or ip tables, forwarding sysctl).
			if a, err := netip.ParseAddr(p.PodIP); err == nil {
				other := !a.Is6()
				if addr := p.IPOf(other); addr != "" && self.IPOf(other) != "" {
					fk := diagnose.PeerFamilyKey(p.Node, addr)
					out = append(out,
						probe.Spec{Kind: observe.Ping, ID: fk, Argv: probe.PingArgv(addr, t), Classify: probe.ClassifyPing},
						probe.Spec{Kind: observe.TCP, ID: fk, Argv: probe.TCPArgv(addr, diagnose.PeerPort, t), Classify: probe.ClassifyTCP})
				}
			}
		}
		return out
	}
	// The nodes' own path MTU to the same ring of nodes: the network under
	// the pod network, against which the pod paths are read.
	var all []fanout.Peer
	for _, n := range s.Nets {
		if a, err := netip.ParseAddr(n.IP); err == nil {
			all = append(all, fanout.Peer{Node: n.Name, PodIP: a.String()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Node < all[j].Node }) // once: RingPeers reads it in place
	nodes := func(n corev1.Node) []probe.Spec {
		var out []probe.Spec
		for _, p := range fanout.RingPeers(n.Name, all, s.Peers) {
			out = append(out, probe.Spec{Kind: observe.MTUProbe, ID: diagnose.PeerMTUKey(p.Node), Argv: probe.PathMTUArgv(p.PodIP, "", 1), Classify: probe.ClassifyPathMTU})
		}
		return out
	}
	return fanout.Plan{Consider: PodCIDRTargets(s.Nets), PeerSpecs: peers, NodeSpecs: nodes, As: s.As, Settle: s.Policies.ProbeSettle()}, ""
}

// Diagnose implements Scenario.
func (s Pods) Diagnose(nodes []observe.Node) []diagnose.Finding {
	return diagnose.Pods(diagnose.PodsInput{NodeNets: s.Nets, Nodes: nodes, Policies: s.Policies})
}
