// Package netpol evaluates Kubernetes NetworkPolicies for one flow, as the
// API defines them: which policies isolate the client (egress) and the
// destination pod (ingress), which rule admits the flow, and, when none
// does, the rule that comes closest and what it lacks. Pure: the caller
// reads the policies, pods and namespaces; nothing here talks to a cluster.
package netpol

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pod is a pod as policies see it.
type Pod struct {
	Name, Namespace string
	Labels          map[string]string
	// NamespaceLabels are its namespace's labels (kubernetes.io/metadata.name included).
	NamespaceLabels map[string]string
	// Ports are its containers' ports, for named ports in rules.
	Ports []corev1.ContainerPort
}

// Peer is one end of a flow: a pod, or an address outside the pod network
// (Pod nil). Node marks the address of the destination pod's own node:
// policies cannot block it (kubelet's probes come from there).
type Peer struct {
	Pod  *Pod
	IP   netip.Addr
	Node bool
	// NodeLabels are the labels of the node that owns IP, when it is a
	// node's address: cluster policies can select nodes.
	NodeLabels map[string]string
}

// Flow is one connection attempt. To a Service, To is the backend pod the
// Service translated to: policies see the flow after DNAT.
type Flow struct {
	From, To Peer
	Port     int
	Protocol corev1.Protocol // "" = TCP
}

// Direction is the answer for one side: the egress of From, the ingress of To.
type Direction struct {
	// Isolating lists the policies (namespace/name) that select the pod for
	// this direction; none, and every flow is allowed.
	Isolating []string
	Allowed   bool
	// AllowedBy names the policy and rule that admits the flow.
	AllowedBy string
	// Closest, when denied, is the rule that comes nearest and what it lacks.
	Closest *Near
	// Cluster is the cluster policy rule that settled the direction (an
	// Admin rule before any NetworkPolicy, or a Baseline rule after none).
	Cluster *Decision
	// Passed are Admin rules that handed the flow to NetworkPolicy (Pass).
	Passed []string
	// Unjudged are rules the evaluator cannot match an address against.
	Unjudged []string
}

// Deciders names what settled the direction: the cluster policy, else the
// isolating NetworkPolicies (namespace/name).
func (d Direction) Deciders() string {
	if d.Cluster != nil {
		return d.Cluster.Policy.Ref()
	}
	return strings.Join(d.Isolating, ", ")
}

// Near is a rule that does not admit the flow, and why.
type Near struct {
	Policy string // namespace/name
	Rule   int    // index in its ingress or egress list
	// Lacks says what does not match: "port", "peer" or both.
	PeerOK, PortOK bool
	Why            string
}

// Verdict is both directions; the flow passes when both allow it.
type Verdict struct {
	Egress, Ingress Direction
}

// Allowed reports whether the policies let the flow through.
func (v Verdict) Allowed() bool { return v.Egress.Allowed && v.Ingress.Allowed }

// Evaluate judges the flow against every policy in the cluster.
func Evaluate(s Set, f Flow) Verdict {
	if f.Protocol == "" {
		f.Protocol = corev1.ProtocolTCP
	}
	v := Verdict{Egress: Direction{Allowed: true}, Ingress: Direction{Allowed: true}}
	if f.From.Pod != nil {
		v.Egress = s.tiered(*f.From.Pod, networkingv1.PolicyTypeEgress, f)
	}
	if f.To.Pod != nil && !f.From.Node {
		v.Ingress = s.tiered(*f.To.Pod, networkingv1.PolicyTypeIngress, f)
	}
	return v
}

// Selects says some policy in the set selects pod, in either direction: a
// NetworkPolicy of its namespace, or a cluster policy's subject.
func (s Set) Selects(pod Pod) bool {
	for _, np := range s.Network {
		if np.Namespace == pod.Namespace && selects(&np.Spec.PodSelector, pod.Labels) {
			return true
		}
	}
	for _, c := range s.Cluster {
		if c.Subject.selectsPod(pod) {
			return true
		}
	}
	return false
}

// direction evaluates the policies that select pod for one direction.
func direction(policies []networkingv1.NetworkPolicy, pod Pod, dir networkingv1.PolicyType, f Flow) Direction {
	d := Direction{Allowed: true}
	var nears []Near
	for _, np := range policies {
		if np.Namespace != pod.Namespace || !hasType(np, dir) || !selects(&np.Spec.PodSelector, pod.Labels) {
			continue
		}
		name := np.Namespace + "/" + np.Name
		d.Isolating = append(d.Isolating, name)
		d.Allowed = false
		for i, r := range rules(np, dir) {
			peerOK, peerWhy := peersMatch(np.Namespace, r.peers, other(f, dir))
			portOK, portWhy := portsMatch(r.ports, f, dir)
			if peerOK && portOK {
				d.AllowedBy = fmt.Sprintf("%s %s rule %d", name, strings.ToLower(string(dir)), i)
				break
			}
			why := strings.TrimSpace(strings.Join(nonEmpty(peerWhy, portWhy), "; "))
			nears = append(nears, Near{Policy: name, Rule: i, PeerOK: peerOK, PortOK: portOK, Why: why})
		}
		if d.AllowedBy != "" {
			break
		}
	}
	if d.AllowedBy != "" {
		d.Allowed, d.Closest = true, nil
		return d
	}
	if len(d.Isolating) == 0 {
		return Direction{Allowed: true}
	}
	// The closest rule matches one of peer and port; among equals, the first.
	sort.SliceStable(nears, func(i, j int) bool { return score(nears[i]) > score(nears[j]) })
	if len(nears) > 0 {
		n := nears[0]
		d.Closest = &n
	}
	return d
}

func score(n Near) int {
	s := 0
	if n.PeerOK {
		s++
	}
	if n.PortOK {
		s++
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// other is the far end of the flow for the pod's direction.
func other(f Flow, dir networkingv1.PolicyType) Peer {
	if dir == networkingv1.PolicyTypeEgress {
		return f.To
	}
	return f.From
}

// hasType: policyTypes as the API defaults them — Ingress always, Egress
// when the policy has egress rules.
func hasType(np networkingv1.NetworkPolicy, dir networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return dir == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		if t == dir {
			return true
		}
	}
	return false
}

type rule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

func rules(np networkingv1.NetworkPolicy, dir networkingv1.PolicyType) []rule {
	var out []rule
	if dir == networkingv1.PolicyTypeIngress {
		for _, r := range np.Spec.Ingress {
			out = append(out, rule{r.From, r.Ports})
		}
		return out
	}
	for _, r := range np.Spec.Egress {
		out = append(out, rule{r.To, r.Ports})
	}
	return out
}

// selects: a label selector matches the labels (an invalid one matches nothing).
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// peersMatch: an empty list admits every peer; else one entry must match.
func peersMatch(ns string, peers []networkingv1.NetworkPolicyPeer, p Peer) (bool, string) {
	if len(peers) == 0 {
		return true, ""
	}
	var why []string
	for _, peer := range peers {
		ok, w := peerMatches(ns, peer, p)
		if ok {
			return true, ""
		}
		why = append(why, w)
	}
	return false, strings.Join(why, "; ")
}

func peerMatches(ns string, peer networkingv1.NetworkPolicyPeer, p Peer) (bool, string) {
	if b := peer.IPBlock; b != nil {
		cidr, err := netip.ParsePrefix(b.CIDR)
		if err != nil || !p.IP.IsValid() || !cidr.Contains(p.IP) {
			return false, fmt.Sprintf("ipBlock %s does not contain %s", b.CIDR, addrOr(p.IP))
		}
		for _, e := range b.Except {
			if ex, err := netip.ParsePrefix(e); err == nil && ex.Contains(p.IP) {
				return false, fmt.Sprintf("ipBlock %s excepts %s (%s)", b.CIDR, e, p.IP)
			}
		}
		return true, ""
	}
	if p.Pod == nil {
		return false, fmt.Sprintf("a pod or namespace selector never matches %s, which is not a pod (only an ipBlock does)", addrOr(p.IP))
	}
	if peer.NamespaceSelector != nil {
		if !selects(peer.NamespaceSelector, p.Pod.NamespaceLabels) {
			return false, fmt.Sprintf("namespaceSelector %s does not select namespace %s", selectorString(peer.NamespaceSelector), p.Pod.Namespace)
		}
	} else if p.Pod.Namespace != ns {
		return false, fmt.Sprintf("podSelector without namespaceSelector selects pods of namespace %s only, not of %s", ns, p.Pod.Namespace)
	}
	if peer.PodSelector != nil && !selects(peer.PodSelector, p.Pod.Labels) {
		return false, fmt.Sprintf("podSelector %s does not select pod %s/%s", selectorString(peer.PodSelector), p.Pod.Namespace, p.Pod.Name)
	}
	return true, ""
}

// portsMatch: an empty list admits every port; else one entry must match
// the protocol and the port (a number, a range with endPort, or a name of
// the destination pod's container ports).
func portsMatch(ports []networkingv1.NetworkPolicyPort, f Flow, dir networkingv1.PolicyType) (bool, string) {
	if len(ports) == 0 {
		return true, ""
	}
	var why []string
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != f.Protocol {
			why = append(why, fmt.Sprintf("port rule is %s, the flow %s", proto, f.Protocol))
			continue
		}
		if p.Port == nil {
			return true, ""
		}
		want := p.Port.IntValue()
		if p.Port.Type == intstr.String { // a named port: the destination pod's
			want = namedPort(f.To.Pod, p.Port.StrVal, proto)
			if want == 0 {
				why = append(why, fmt.Sprintf("named port %q is not a %s port of the destination", p.Port.StrVal, proto))
				continue
			}
		}
		end := want
		if p.EndPort != nil && p.Port.Type == intstr.Int {
			end = int(*p.EndPort)
		}
		if f.Port >= want && f.Port <= end {
			return true, ""
		}
		if end != want {
			why = append(why, fmt.Sprintf("ports %d-%d/%s do not include %d", want, end, proto, f.Port))
		} else {
			why = append(why, fmt.Sprintf("port %d/%s is not %d", want, proto, f.Port))
		}
	}
	return false, strings.Join(why, "; ")
}

func namedPort(p *Pod, name string, proto corev1.Protocol) int {
	if p == nil {
		return 0
	}
	for _, cp := range p.Ports {
		pp := cp.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if cp.Name == name && pp == proto {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

func addrOr(a netip.Addr) string {
	if a.IsValid() {
		return a.String()
	}
	return "the peer"
}

func selectorString(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return "(invalid)"
	}
	if sel.Empty() {
		return "{} (everything)"
	}
	return "{" + sel.String() + "}"
}
