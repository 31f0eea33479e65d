package diagnose

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes `netcheck pods` names.
const (
	CauseCrossNodeAll Cause = "cross-node-all"
	CauseNodeIsolated Cause = "node-isolated"
)

// PodsInput is what `netcheck pods` observed: a pod probe per node, each
// pinging and connecting to every other.
type PodsInput struct {
	NodeNets []NodeNet
	Nodes    []observe.Node
	// Policies are the pod sides' identities (the probe, or a workload's
	// pods with --from) and the policies that apply to them.
	Policies Policies
}

// PeerKey is the key of the checks from a pod probe to the one on node.
func PeerKey(node string) observe.CheckID {
	return observe.NewCheckID(observe.RolePeer, "", 0).Concerning(node)
}

// PeerFamilyKey is the key of the checks from a pod probe to the one on
// node over addr, its address of the other family (dual-stack).
func PeerFamilyKey(node, addr string) observe.CheckID {
	return observe.NewCheckID(observe.RolePeerFamily, addr, 0).Concerning(node)
}

// PeerMTUKey identifies the path-MTU measurement to the pod probe on node.
func PeerMTUKey(node string) observe.CheckID {
	return observe.NewCheckID(observe.RolePeerMTU, "", 0).Concerning(node)
}

// PeerPort is where the TCP check connects: nothing listens there, so a
// refusal (the peer's kernel answering RST) proves the path as well as a
// connect would.
const PeerPort = 9

// pairReach is what a pod on from saw of the pod on to.
type pairReach int

const (
	pairUnknown pairReach = iota
	pairOK
	pairLost
)

// podFamily is one address family of the pod network as `pods` judges
// it: the pods' first addresses, or (second) their other family's.
type podFamily struct {
	second bool
	v6     bool   // the family is IPv6
	label  string // "" for the first family, "over IPv6 " (or IPv4) for the second
}

// familiesOf: the pods' first family, and the second where a pod side
// checked a peer over it.
func familiesOf(nodes []observe.Node) []podFamily {
	first := podFamily{}
	for _, n := range nodes {
		if a, err := netip.ParseAddr(n.Pod.IP); err == nil {
			first.v6 = a.Is6() && !a.Is4In6()
			break
		}
	}
	out := []podFamily{first}
	for _, n := range nodes {
		for _, c := range n.Pod.Checks {
			if c.ID.Role == observe.RolePeerFamily {
				return append(out, podFamily{second: true, v6: !first.v6,
					label: "over " + familyName(!first.v6) + " (while " + familyName(first.v6) + " works) "})
			}
		}
	}
	return out
}

// is reports whether c is a check of the pair's reachability in this family.
func (f podFamily) is(id observe.CheckID, to string) bool {
	if f.second {
		return id.Role == observe.RolePeerFamily && id.Of == to
	}
	return id == PeerKey(to)
}

// ofFamily reports whether a CIDR or address is of this family.
func (f podFamily) ofFamily(s string) bool {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr().Is6() == f.v6
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() == f.v6
}

// peerReachOf reads only the checks of the given kinds.
func peerReachOf(n observe.Node, to string, kinds ...observe.CheckKind) (pairReach, []string) {
	return peerReachIn(podFamily{}, n, to, kinds...)
}

// peerReachIn reads the checks of one family and the given kinds.
func peerReachIn(fam podFamily, n observe.Node, to string, kinds ...observe.CheckKind) (pairReach, []string) {
	var ev []string
	ran, ok := false, false
	for _, c := range n.Pod.Checks {
		if !fam.is(c.ID, to) || c.Outcome == observe.NotRun || c.Outcome == observe.Error || !slices.Contains(kinds, c.Kind) {
			continue
		}
		ran = true
		ev = append(ev, describeCheck("pod@"+n.Name, c))
		if c.Outcome == observe.OK || (c.Kind == observe.TCP && c.Outcome == observe.Refused) {
			ok = true
		}
	}
	switch {
	case ok:
		return pairOK, ev
	case ran:
		return pairLost, ev
	}
	return pairUnknown, ev
}

// Pods diagnoses pod-to-pod traffic between nodes: the matrix of who
// reaches whom, read together with each node's routes, FORWARD chain and
// interface MTUs.
func Pods(in PodsInput) []Finding {
	var out []Finding
	var ran []observe.Node
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			// A pod probe that never got a network is often the overlay's
			// doing: the node probe's facts then name the cause.
			if f := overlayCause(n); n.Err == "" && f != nil {
				f.Evidence = append(f.Evidence, "pod@"+n.Name+": "+n.Pod.Err)
				out = append(out, *f)
				continue
			}
			out = append(out, probeFailed(n.Name, n.Err, n.Pod.Err))
			continue
		}
		ran = append(ran, n)
	}
	var reach map[[2]string]pairReach
	for _, fam := range familiesOf(ran) {
		r, ev := pairMatrix(fam, ran)
		if !fam.second {
			reach = r
			out = append(out, peerPolicies(in, ran, r, ev)...)
		} else {
			for k := range r {
				if reach[k] == pairLost {
					r[k] = pairUnknown // the first family's verdict says why
				}
			}
		}
		out = append(out, lostPairs(in, ran, fam, r, ev)...)
	}
	paths := mtuPaths(ran, reach)
	if f := mtuBetweenNodes(ran); f != nil && !sameNodes(f, paths) {
		out = append(out, *f)
	}
	out = append(out, paths...)
	return merge(out)
}

// pairMatrix is what every pod saw of every other in one family.
func pairMatrix(fam podFamily, ran []observe.Node) (map[[2]string]pairReach, map[[2]string][]string) {
	reach := map[[2]string]pairReach{}
	evidence := map[[2]string][]string{}
	for _, a := range ran {
		for _, b := range ran {
			if a.Name == b.Name {
				continue
			}
			r, ev := peerReachIn(fam, a, b.Name, observe.Ping, observe.TCP)
			reach[[2]string{a.Name, b.Name}], evidence[[2]string{a.Name, b.Name}] = r, ev
		}
	}
	return reach, evidence
}

// lostPairs names why pairs of one family are lost: a missing podCIDR
// route, the overlay (first family: it carries both), every pair, one
// isolated node, or a pair of nodes.
func lostPairs(in PodsInput, ran []observe.Node, fam podFamily, reach map[[2]string]pairReach, evidence map[[2]string][]string) []Finding {
	var out []Finding
	lost := func(a, b string, v6 bool) bool { return v6 == fam.v6 && reach[[2]string{a, b}] == pairLost }
	routes, gaps := missingPodRoutes(ran, in.NodeNets, lost, fam.ofFamily)
	out = append(out, routes...)

	// Pairs lost that no missing route explains.
	var pairs [][2]string
	involved, measured := map[string]int{}, map[string]int{}
	total := 0
	for k, r := range reach {
		if r == pairUnknown {
			continue
		}
		total++
		measured[k[0]]++
		measured[k[1]]++
		if r == pairLost && !gaps.between(k[0], k[1]) {
			pairs = append(pairs, k)
			involved[k[0]]++
			involved[k[1]]++
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i][0]+pairs[i][1] < pairs[j][0]+pairs[j][1] })
	// A node whose overlay is blocked, misaddressed or without its agent explains its pairs.
	for _, f := range vtepAddresses(ran) {
		out = append(out, f)
		pairs = dropPairsOf(pairs, f.Nodes[0])
	}
	for _, n := range ran {
		if fam.second {
			break // the overlay's findings are the first family's
		}
		for _, f := range overlayFindings(n, involved[n.Name] > 0) {
			out = append(out, f)
			if f.Severity == Error {
				pairs = dropPairsOf(pairs, n.Name)
			}
		}
	}
	ov, known := overlayOf(ran)
	overlay := overlayName(ov, known)
	switch {
	case len(pairs) == 0:
	case len(pairs) == total && len(ran) > 2:
		var ev []string
		for _, p := range pairs[:min(len(pairs), 4)] {
			ev = append(ev, evidence[p]...)
		}
		out = append(out, Finding{Severity: Error, Cause: CauseCrossNodeAll,
			Summary:  "no pod reaches a pod on another node " + fam.label + ": the pod network between nodes is down (" + overlay + ")",
			Evidence: ev,
			Candidates: []string{overlayPorts(ov, known) + " blocked between the nodes (security group / host firewall)",
				"the CNI agent is down on every node (kubectl -n kube-system get pods -o wide)",
				"a default-deny NetworkPolicy in the probe namespace"}})
	default:
		for _, n := range ran {
			if f := isolated(fam, n, ran, pairs, evidence, involved[n.Name] == measured[n.Name]); f != nil {
				out = append(out, *f)
				pairs = dropPairsOf(pairs, n.Name)
			}
		}
		for _, p := range pairs {
			f := crossNodeFinding(p[0], p[1], evidence[p], ran)
			if fam.second {
				f.Summary = "this node's pods cannot reach pods on " + p[1] + " " + fam.label + ", which other nodes' pods reach: the " + familyName(fam.v6) + " path between the two nodes is broken"
			}
			out = append(out, f)
		}
	}
	return out
}

// isolated: every pair measured that involves n is lost and every pair
// that does not involve it works. The node's own facts then usually say why.
func isolated(fam podFamily, n observe.Node, ran []observe.Node, pairs [][2]string, evidence map[[2]string][]string, allLost bool) *Finding {
	if len(ran) < 3 || !allLost {
		return nil
	}
	for _, p := range pairs {
		if p[0] != n.Name && p[1] != n.Name {
			return nil
		}
	}
	var ev []string
	for _, p := range pairs {
		if p[0] == n.Name {
			ev = append(ev, evidence[p]...)
		}
	}
	f := &Finding{Severity: Error, Cause: CauseNodeIsolated, Nodes: []string{n.Name},
		Summary:  "pods on this node reach no pod on any other node " + fam.label + "and no other node's pods reach them, while the other nodes reach each other: the fault is on this node",
		Evidence: ev,
		Candidates: []string{"the CNI agent on " + n.Name + " is down or misconfigured",
			overlayPorts(overlayOf([]observe.Node{n})) + " blocked to or from " + n.Name}}
	for _, tf := range n.Facts.Targets {
		if tf.Forward.Result == observe.No && fam.ofFamily(factsAddr(tf)) {
			cidr := flowCIDR(n.Facts.PodCIDRs, tf)
			f.Cause = CauseForwardDrop
			f.Summary = "the node's " + family(fam.v6) + "FORWARD chain drops its pods' traffic to and from other nodes' pods"
			f.Evidence = append(f.Evidence, verdictEvidence(n.Name, "filter FORWARD", tf.Forward)...)
			// Between pods, new flows arrive too: accept both directions.
			f.Fix, f.Candidates = facts.FixerFor(tf.Forward.Datapath).AllowForward(tf.Forward, cidr, true), nil
			if len(f.Fix) > 0 && tf.Forward.Policy {
				f.Fix[0] += "   # on " + n.Name
			}
			return f
		}
	}
	if off, ok := forwardingOff(n, fam.v6); ok {
		f.Cause = CauseIPForwardOff
		f.Summary = map[bool]string{false: "IP", true: "IPv6"}[fam.v6] + " forwarding is off on the node: it routes no " + family(fam.v6) + "pod traffic to or from other nodes"
		f.Evidence = append(f.Evidence, off.Evidence...)
		f.Fix = []string{off.Fix[0] + "   # on " + n.Name + "; persist it in /etc/sysctl.d/ and find what turned it off"}
		f.Candidates = nil
	}
	return f
}

func dropPairsOf(pairs [][2]string, node string) [][2]string {
	var out [][2]string
	for _, p := range pairs {
		if p[0] != node && p[1] != node {
			out = append(out, p)
		}
	}
	return out
}

// overlayOf names the pod network's encapsulation as the nodes' facts
// detected it; nil with known false when the facts were not read.
func overlayOf(nodes []observe.Node) (o *observe.Overlay, known bool) {
	for _, n := range nodes {
		known = known || len(n.Facts.MTUs) > 0
		if n.Facts.Overlay != nil {
			return n.Facts.Overlay, true
		}
	}
	return nil, known
}

func overlayName(o *observe.Overlay, known bool) string {
	switch {
	case o != nil:
		return o.Name + " (" + o.Link + ")"
	case known:
		return "no overlay device: a routed pod network"
	}
	return ""
}

func overlayPorts(o *observe.Overlay, known bool) string {
	switch {
	case o != nil:
		return o.Port
	case !known:
		return "the overlay (VXLAN 8472/udp or 4789/udp, Geneve 6081/udp, WireGuard 51820/udp, IP-in-IP proto 4)"
	}
	return "traffic between the nodes' addresses"
}

// crossNodeFinding: pods on from lose pods on to, which other nodes reach.
// Shared by `pods` (pairs of probe pods) and `service` (probe → endpoint).
func crossNodeFinding(from, to string, ev []string, nodes []observe.Node, more ...string) Finding {
	return Finding{Severity: Error, Cause: CauseCrossNode, Nodes: []string{from}, Target: to,
		Summary:  "this node's pods cannot reach pods on " + to + ", which other nodes' pods reach: the path between the two nodes is broken",
		Evidence: ev,
		Candidates: append([]string{overlayPorts(overlayOf(nodes)) + " blocked between " + from + " and " + to + " by a host or cloud firewall",
			"a FORWARD rule on one of the two nodes (kubectl netcheck node --node " + from + " --node " + to + ")"}, more...)}
}

// sameNodes: a measured MTU finding already names f's nodes (the
// interface-MTU comparison would say the same thing less precisely).
func sameNodes(f *Finding, measured []Finding) bool {
	for _, m := range measured {
		if strings.Join(m.Nodes, ",") == strings.Join(f.Nodes, ",") {
			return true
		}
	}
	return false
}
