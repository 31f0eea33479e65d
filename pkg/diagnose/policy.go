package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// CausePolicyNotEnforced is a flow the NetworkPolicies deny that passed
// anyway: the CNI does not enforce them, or enforces something else.
const CausePolicyNotEnforced Cause = "network-policy-not-enforced"

// Policies is what the API says about NetworkPolicy, for the verdicts.
type Policies struct {
	// Read says the policies were listed; without it nothing is judged.
	Read bool
	List []networkingv1.NetworkPolicy
	// Clients maps each node to the identity its pod side ran as: the
	// workload's pod (--from) or the pod probe.
	Clients map[string]netpol.Pod
	// AsWorkload: the pod side ran as the user's workload (--from).
	AsWorkload bool
}

// egressTo judges the pod side's flow from node to the target's address.
func (p Policies) egressTo(node string, podIP string, t target.Target, port int) (netpol.Verdict, netpol.Flow, bool) {
	client, ok := p.Clients[node]
	if !p.Read || !ok || !t.Addr.IsValid() {
		return netpol.Verdict{}, netpol.Flow{}, false
	}
	from, _ := netip.ParseAddr(podIP)
	f := netpol.Flow{From: netpol.Peer{Pod: &client, IP: from}, To: netpol.Peer{IP: t.Addr}, Port: portOf(t, port), Protocol: corev1.ProtocolTCP}
	if f.Port == 0 {
		// A ping: ICMP, which only rules without ports admit.
		f.Protocol = "ICMP"
	}
	return netpol.Evaluate(p.List, f), f, true
}

func portOf(t target.Target, port int) int {
	if t.Port != 0 {
		return t.Port
	}
	return port
}

// policyDenied is the finding for a flow the policies deny, naming the
// policies, the direction, the closest rule and the smallest policy that
// allows exactly the flow. own says the pod side was the tool's own probe.
func policyDenied(fd Finding, v netpol.Verdict, f netpol.Flow, p Policies) Finding {
	dir, d := networkingv1.PolicyTypeEgress, v.Egress
	side := "egress of " + who(f.From)
	if !v.Ingress.Allowed && v.Egress.Allowed {
		dir, d, side = networkingv1.PolicyTypeIngress, v.Ingress, "ingress of "+who(f.To)
	}
	fd.Cause, fd.Severity = CauseNetworkPolicy, Error
	fd.Summary = fmt.Sprintf("NetworkPolicy %s selects %s and no rule admits %s: the policy blocks it", strings.Join(d.Isolating, ", "), side, flowWords(f))
	fd.Evidence = append(fd.Evidence, fmt.Sprintf("policies isolating the %s: %s", side, strings.Join(d.Isolating, ", ")))
	if c := d.Closest; c != nil {
		fd.Evidence = append(fd.Evidence, fmt.Sprintf("closest rule: %s %s[%d]: %s", c.Policy, strings.ToLower(string(dir)), c.Rule, c.Why))
	} else {
		fd.Evidence = append(fd.Evidence, "the policies have no "+strings.ToLower(string(dir))+" rule at all (default deny)")
	}
	if !p.AsWorkload {
		fd.Summary = fmt.Sprintf("NetworkPolicy %s in the probe's own namespace blocks the probe (%s): this result is about the probe, not your workloads", strings.Join(d.Isolating, ", "), flowWords(f))
		fd.Fix = []string{"run with --probe-namespace set to a namespace without such policies, or with --from <your workload> to test as it"}
		return fd
	}
	if np := netpol.Allow(f, dir); np != nil {
		fd.Fix = []string{"if the flow should be allowed, add a policy that admits exactly it (policies add up; nothing else opens):\n" + netpol.ApplyCommand(np)}
	}
	return fd
}

// policyNotEnforced: the policies deny the flow, the probe passed.
func policyNotEnforced(key, node string, v netpol.Verdict, f netpol.Flow) Finding {
	d := v.Egress
	if d.Allowed {
		d = v.Ingress
	}
	return Finding{Severity: Warning, Cause: CausePolicyNotEnforced, Target: key, Nodes: []string{node},
		Summary: fmt.Sprintf("NetworkPolicy %s should block %s, but it passed: the network plugin does not enforce NetworkPolicies (or enforces other rules)", strings.Join(d.Isolating, ", "), flowWords(f)),
		Fix:     []string{"check that the CNI enforces NetworkPolicy (bridge, flannel and host-gw alone do not; Calico, Cilium, kube-router's firewall, Antrea do)"}}
}

func who(p netpol.Peer) string {
	if p.Pod != nil {
		return "pod " + p.Pod.Namespace + "/" + p.Pod.Name
	}
	return p.IP.String()
}

func flowWords(f netpol.Flow) string {
	to := who(f.To)
	if f.Protocol == "ICMP" {
		return fmt.Sprintf("ICMP from %s to %s", who(f.From), to)
	}
	return fmt.Sprintf("%s/%d from %s to %s", f.Protocol, f.Port, who(f.From), to)
}
