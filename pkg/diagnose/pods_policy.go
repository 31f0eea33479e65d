package diagnose

import (
	"fmt"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// PodsTarget is the target the pod-to-pod findings name.
const PodsTarget = "pod-to-pod"

// peerFlows are the two flows a pod side sends to another node's: ping
// (ICMP) and the TCP connect to PeerPort, as the policies see them. ok is
// false when the policies were not read or a side's identity is unknown.
func (p Policies) peerFlows(from, to observe.Node) (tcp, icmp netpol.Flow, ok bool) {
	a, okA := p.Clients[from.Name]
	b, okB := p.Clients[to.Name]
	if !p.Read || !okA || !okB {
		return tcp, icmp, false
	}
	src, _ := netip.ParseAddr(from.Pod.IP)
	dst, _ := netip.ParseAddr(to.Pod.IP)
	tcp = netpol.Flow{From: netpol.Peer{Pod: &a, IP: src}, To: netpol.Peer{Pod: &b, IP: dst}, Port: PeerPort, Protocol: corev1.ProtocolTCP}
	icmp = tcp
	icmp.Port, icmp.Protocol = 0, "ICMP"
	return tcp, icmp, true
}

// peerPolicies judges each measured pair against the policies. A pair both
// of whose flows the policies deny is theirs, not the network's: it leaves
// the matrix (so no path verdict blames a node for it), with a
// network-policy finding; when its ping passed anyway, the policies are not
// enforced. A pair with one flow denied is judged on the other check only:
// an enforcer's REJECT reads as the peer's refusal, which would prove a path.
func peerPolicies(in PodsInput, ran []observe.Node, reach map[[2]string]pairReach, evidence map[[2]string][]string) []Finding {
	byName := map[string]observe.Node{}
	for _, n := range ran {
		byName[n.Name] = n
	}
	keys := make([][2]string, 0, len(reach))
	for k := range reach {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	var out []Finding
	for _, k := range keys {
		a, b := byName[k[0]], byName[k[1]]
		tcp, icmp, ok := in.Policies.peerFlows(a, b)
		if !ok {
			continue
		}
		tv, iv := netpol.Evaluate(in.Policies.Set(), tcp), netpol.Evaluate(in.Policies.Set(), icmp)
		switch {
		case tv.Allowed() && iv.Allowed():
			continue
		case !tv.Allowed() && !iv.Allowed():
			if r, ev := peerReachOf(a, b.Name, observe.Ping); r == pairOK {
				fd := policyNotEnforced(PodsTarget, a.Name, iv, icmp)
				fd.Evidence = append(ev, fd.Evidence...)
				out = append(out, fd)
			} else {
				fd := policyDenied(Finding{Target: PodsTarget, Nodes: []string{a.Name}, Evidence: evidence[k]}, tv, tcp, in.Policies)
				fd.Evidence = append(fd.Evidence, fmt.Sprintf("TCP/%d is the port netcheck connects to (nothing listens there; a refusal proves the path): whether the pods' own ports are admitted, `kubectl netcheck service NAME --from` tells", PeerPort))
				out = append(out, fd)
			}
			reach[k] = pairUnknown
		case !tv.Allowed():
			reach[k], evidence[k] = peerReachOf(a, b.Name, observe.Ping)
		default:
			reach[k], evidence[k] = peerReachOf(a, b.Name, observe.TCP)
		}
	}
	return out
}
