package netpol

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterPolicy is a cluster-scoped policy of sigs.k8s.io/network-policy-api,
// read into one shape: a ClusterNetworkPolicy (tier Admin or Baseline), or
// the older AdminNetworkPolicy (tier Admin) and BaselineAdminNetworkPolicy
// (tier Baseline). Admin rules come before NetworkPolicies, Baseline rules
// after them: that order is the whole point of these APIs.
type ClusterPolicy struct {
	Kind     string // "ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"
	Name     string
	Tier     Tier
	Priority int32 // lower first; Baseline ANPs have none
	Subject  ClusterPeer
	Ingress  []ClusterRule
	Egress   []ClusterRule
}

// Ref names the policy as kubectl does: kind/name.
func (c ClusterPolicy) Ref() string { return c.Kind + "/" + c.Name }

// Tier orders cluster policies around NetworkPolicies.
type Tier string

// The two tiers.
const (
	TierAdmin    Tier = "Admin"
	TierBaseline Tier = "Baseline"
)

// Action is what a matching rule does. AdminNetworkPolicy's "Allow" reads
// as Accept.
type Action string

// The actions.
const (
	ActionAccept Action = "Accept"
	ActionDeny   Action = "Deny"
	// ActionPass skips the rest of the Admin tier: NetworkPolicies decide.
	ActionPass Action = "Pass"
)

// ClusterRule is one ingress or egress rule.
type ClusterRule struct {
	Name   string
	Action Action
	Peers  []ClusterPeer
	// Ports nil admits every port and protocol (ICMP included).
	Ports []ClusterPort
}

// ClusterPeer selects pods by namespace, pods by namespace and labels, nodes
// by labels, or addresses; a subject uses only the first two.
type ClusterPeer struct {
	Namespaces *metav1.LabelSelector
	Pods       *NamespacedPod
	Nodes      *metav1.LabelSelector
	Networks   []netip.Prefix
	// DomainNames are matched by the enforcer's DNS snooping: an address
	// cannot be judged against them.
	DomainNames []string
}

// NamespacedPod is a pod selector within the namespaces a selector picks.
type NamespacedPod struct {
	NamespaceSelector, PodSelector metav1.LabelSelector
}

// ClusterPort is a protocol with a port range (Start 0: every port of it),
// or a named port of the destination pod.
type ClusterPort struct {
	Protocol   corev1.Protocol
	Start, End int32
	Named      string
}

// Decision is the cluster policy rule that settled a direction.
type Decision struct {
	Policy   ClusterPolicy
	Rule     int // index in its ingress or egress list
	RuleName string
	Action   Action
}

// String is "AdminNetworkPolicy/x egress[1] "name": Deny".
func (d Decision) String() string {
	name := ""
	if d.RuleName != "" {
		name = fmt.Sprintf(" %q", d.RuleName)
	}
	return fmt.Sprintf("%s (tier %s, priority %d) rule %d%s: %s", d.Policy.Ref(), d.Policy.Tier, d.Policy.Priority, d.Rule, name, d.Action)
}

// Set is every policy that can apply to a flow.
type Set struct {
	Network []networkingv1.NetworkPolicy
	Cluster []ClusterPolicy
}

// tiered evaluates one direction in the APIs' order: the Admin tier's first
// matching rule (Pass hands on), then the NetworkPolicies that isolate the
// pod, then the Baseline tier, then allow.
func (s Set) tiered(pod Pod, dir networkingv1.PolicyType, f Flow) Direction {
	var passed []string
	if d, pass := decide(s.Cluster, TierAdmin, pod, dir, f); d != nil {
		if !pass {
			return settled(*d)
		}
		passed = append(passed, d.String())
	}
	np := direction(s.Network, pod, dir, f)
	np.Passed = passed
	if len(np.Isolating) > 0 {
		return np
	}
	if d, _ := decide(s.Cluster, TierBaseline, pod, dir, f); d != nil {
		out := settled(*d)
		out.Passed = passed
		return out
	}
	np.Unjudged = append(np.Unjudged, unjudged(s.Cluster, pod, dir)...)
	return np
}

func settled(d Decision) Direction {
	out := Direction{Allowed: d.Action == ActionAccept, Cluster: &d}
	if out.Allowed {
		out.AllowedBy = d.String()
	}
	return out
}

// decide is the first rule of the tier's policies selecting pod, by
// priority, that matches the flow; pass says it was a Pass.
func decide(all []ClusterPolicy, tier Tier, pod Pod, dir networkingv1.PolicyType, f Flow) (d *Decision, pass bool) {
	var ps []ClusterPolicy
	for _, c := range all {
		if c.Tier == tier && c.Subject.selectsPod(pod) {
			ps = append(ps, c)
		}
	}
	// Equal priorities have no order in the API; by name keeps it stable.
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Priority != ps[j].Priority {
			return ps[i].Priority < ps[j].Priority
		}
		return ps[i].Name < ps[j].Name
	})
	peer := other(f, dir)
	for _, c := range ps {
		for i, r := range c.rules(dir) {
			if r.matches(peer, f) {
				return &Decision{Policy: c, Rule: i, RuleName: r.Name, Action: r.Action}, r.Action == ActionPass
			}
		}
	}
	return nil, false
}

// unjudged lists rules that select pod and that an address cannot be
// matched against (domain names): they may decide what the evaluator
// could not.
func unjudged(all []ClusterPolicy, pod Pod, dir networkingv1.PolicyType) []string {
	var out []string
	for _, c := range all {
		if !c.Subject.selectsPod(pod) {
			continue
		}
		for i, r := range c.rules(dir) {
			for _, p := range r.Peers {
				if len(p.DomainNames) > 0 {
					out = append(out, fmt.Sprintf("%s %s[%d] matches domain names %s", c.Ref(), strings.ToLower(string(dir)), i, strings.Join(p.DomainNames, ",")))
				}
			}
		}
	}
	return out
}

func (c ClusterPolicy) rules(dir networkingv1.PolicyType) []ClusterRule {
	if dir == networkingv1.PolicyTypeIngress {
		return c.Ingress
	}
	return c.Egress
}

// selectsPod: the subject (or a peer's pod part) picks this pod.
func (p ClusterPeer) selectsPod(pod Pod) bool {
	switch {
	case p.Namespaces != nil:
		return selects(p.Namespaces, pod.NamespaceLabels)
	case p.Pods != nil:
		return selects(&p.Pods.NamespaceSelector, pod.NamespaceLabels) && selects(&p.Pods.PodSelector, pod.Labels)
	}
	return false
}

func (p ClusterPeer) matches(peer Peer) bool {
	if peer.Pod != nil && (p.Namespaces != nil || p.Pods != nil) && p.selectsPod(*peer.Pod) {
		return true
	}
	if p.Nodes != nil && peer.NodeLabels != nil && selects(p.Nodes, peer.NodeLabels) {
		return true
	}
	for _, n := range p.Networks {
		if peer.IP.IsValid() && n.Contains(peer.IP) {
			return true
		}
	}
	return false
}

func (r ClusterRule) matches(peer Peer, f Flow) bool {
	peerOK := false
	for _, p := range r.Peers {
		if p.matches(peer) {
			peerOK = true
			break
		}
	}
	if !peerOK {
		return false
	}
	if r.Ports == nil {
		return true
	}
	for _, p := range r.Ports {
		if p.Named != "" {
			if f.To.Pod != nil && namedPort(f.To.Pod, p.Named, f.Protocol) == f.Port && f.Port != 0 {
				return true
			}
			continue
		}
		if p.Protocol != f.Protocol {
			continue
		}
		if port := int64(f.Port); p.Start == 0 || (port >= int64(p.Start) && port <= int64(max(p.Start, p.End))) {
			return true
		}
	}
	return false
}
