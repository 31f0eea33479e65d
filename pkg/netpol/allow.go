package netpol

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Labels a controller stamps on each pod generation: selecting on them
// would allow today's pods and not the next rollout's.
var generationLabels = map[string]bool{
	"pod-template-hash":                  true,
	"controller-revision-hash":           true,
	"statefulset.kubernetes.io/pod-name": true,
	"pod-template-generation":            true,
	"batch.kubernetes.io/controller-uid": true,
	"controller-uid":                     true,
}

// Allow is the smallest extra policy that lets exactly this flow through
// the given direction: added, policies are additive, nothing else opens.
// Nil when that side is not a pod (nothing to select).
func Allow(f Flow, dir networkingv1.PolicyType) *networkingv1.NetworkPolicy {
	if f.Protocol == "" {
		f.Protocol = corev1.ProtocolTCP
	}
	self, far := f.From, f.To
	if dir == networkingv1.PolicyTypeIngress {
		self, far = f.To, f.From
	}
	if self.Pod == nil {
		return nil
	}
	var ports []networkingv1.NetworkPolicyPort
	switch {
	case f.Protocol == "ICMP":
		// NetworkPolicy has no ICMP: only a rule without ports admits it
		// (and with it every port to that peer).
	case f.Port < 1 || f.Port > 65535:
		return nil
	default:
		proto := f.Protocol
		port := intstr.FromInt32(int32(f.Port)) //nolint:gosec // bounded just above
		ports = []networkingv1.NetworkPolicyPort{{Protocol: &proto, Port: &port}}
	}
	if dir == networkingv1.PolicyTypeEgress && far.Pod == nil && !far.IP.IsValid() {
		return nil
	}
	peer := peerFor(far)
	what := fmt.Sprint(f.Port)
	if f.Protocol == "ICMP" {
		what = "all" // the rule admits every port and ICMP
	}
	name := fmt.Sprintf("netcheck-allow-%s-%s-%s", dirWord(dir), nameOf(far), what)
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: dnsLabel(name), Namespace: self.Pod.Namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: StableLabels(self.Pod.Labels)},
			PolicyTypes: []networkingv1.PolicyType{dir},
		},
	}
	if dir == networkingv1.PolicyTypeEgress {
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{peer}, Ports: ports}}
	} else {
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{peer}, Ports: ports}}
	}
	return np
}

// ApplyCommand is the policy as a command to paste.
func ApplyCommand(np *networkingv1.NetworkPolicy) string {
	b, err := yaml.Marshal(np)
	if err != nil {
		return ""
	}
	// An object never stored has no creation time: leave out the null.
	y := strings.Replace(string(b), "  creationTimestamp: null\n", "", 1)
	return "kubectl apply -f - <<'EOF'\n" + y + "EOF"
}

// peerFor selects the far end exactly: its pod labels in its namespace, or
// its address alone.
func peerFor(p Peer) networkingv1.NetworkPolicyPeer {
	if p.Pod == nil {
		bits := 32
		if p.IP.Is6() {
			bits = 128
		}
		return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(p.IP, bits).String()}}
	}
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": p.Pod.Namespace}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: StableLabels(p.Pod.Labels)},
	}
}

// StableLabels is l without the labels a controller stamps on each pod
// generation: what selects the workload, not today's pods.
func StableLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if !generationLabels[k] {
			out[k] = v
		}
	}
	return out
}

func dirWord(dir networkingv1.PolicyType) string {
	if dir == networkingv1.PolicyTypeEgress {
		return "egress-to"
	}
	return "ingress-from"
}

// nameOf names the far end for the policy's name: its app label, its
// namespace, or its address.
func nameOf(p Peer) string {
	if p.Pod == nil {
		return p.IP.String()
	}
	for _, k := range []string{"app.kubernetes.io/name", "app", "k8s-app"} {
		if v := p.Pod.Labels[k]; v != "" {
			return p.Pod.Namespace + "-" + v
		}
	}
	return p.Pod.Namespace
}

// dnsLabel makes s a valid object name: lower case, [a-z0-9-], at most 63.
func dnsLabel(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			if len(b) > 0 && b[len(b)-1] != '-' {
				b = append(b, '-')
			}
		}
	}
	for len(b) > 63 {
		b = b[:63]
	}
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return string(b)
}
