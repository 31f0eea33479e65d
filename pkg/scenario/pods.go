package scenario

import (
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

// KindPods is the report of `pods`.
const KindPods = "PodsCheck"

// Pods is `kubectl netcheck pods`: once every pod probe is up, each pings
// and TCP-connects the others (a ring of at most Peers), plus one
// full-size ping each for the path MTU; node facts for every podCIDR.
//
// Requires: the nodes (read by the command); both probes on every node at
// once (the peer checks wait for all of them).
type Pods struct {
	Nets    []diagnose.NodeNet
	Peers   int // per node; 0 = all
	Timeout time.Duration
}

// Kind implements Scenario.
func (Pods) Kind() string { return KindPods }

// Plan implements Scenario.
func (s Pods) Plan() (fanout.Plan, string) {
	t := s.Timeout
	peers := func(self string, ps []fanout.Peer) []probe.Spec {
		var out []probe.Spec
		for _, p := range fanout.RingPeers(self, ps, s.Peers) {
			key := diagnose.PeerKey(p.Node)
			out = append(out,
				probe.Spec{Kind: observe.Ping, ID: key, Argv: probe.PingArgv(p.PodIP, t), Classify: probe.ClassifyPing},
				probe.Spec{Kind: observe.TCP, ID: key, Argv: probe.TCPArgv(p.PodIP, diagnose.PeerPort, t), Classify: probe.ClassifyTCP},
				probe.Spec{Kind: observe.Ping, ID: diagnose.PeerMTUKey(p.Node), Argv: probe.FullPingArgv(p.PodIP, t), Classify: probe.ClassifyPing})
		}
		return out
	}
	return fanout.Plan{Consider: PodCIDRTargets(s.Nets), PeerSpecs: peers}, ""
}

// Diagnose implements Scenario.
func (s Pods) Diagnose(nodes []observe.Node) []diagnose.Finding {
	return diagnose.Pods(diagnose.PodsInput{NodeNets: s.Nets, Nodes: nodes})
}
