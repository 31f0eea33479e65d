package netpol

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// pol reads a policy written as YAML, the way users write them.
func pol(t *testing.T, y string) networkingv1.NetworkPolicy {
	t.Helper()
	var np networkingv1.NetworkPolicy
	if err := yaml.UnmarshalStrict([]byte(y), &np); err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return np
}

func pod(ns, name string, l map[string]string, ports ...corev1.ContainerPort) *Pod {
	return &Pod{Name: name, Namespace: ns, Labels: l, Ports: ports,
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": ns, "team": map[string]string{"shop": "a", "client": "b", "other": "c"}[ns]}}
}

var (
	web    = pod("shop", "web-1", map[string]string{"app": "web", "pod-template-hash": "abc"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	client = pod("client", "c-1", map[string]string{"app": "curl"})
	peer   = pod("shop", "api-1", map[string]string{"app": "api"})
	extIP  = netip.MustParseAddr("198.19.0.1")
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		flow     Flow
		allowed  bool
		// isolated: the direction that denies ("egress" or "ingress"), and words its Closest.Why holds.
		denies, why string
	}{
		{name: "no policy: allowed", flow: Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "default-deny egress in the client's namespace",
			policies: []string{`{metadata: {name: deny-egress, namespace: client}, spec: {podSelector: {}, policyTypes: [Egress]}}`},
			flow:     Flow{From: Peer{Pod: client, IP: netip.MustParseAddr("10.244.1.5")}, To: Peer{IP: extIP}, Port: 80},
			denies:   "egress"},
		{name: "policyTypes defaulted: a policy with only ingress rules does not isolate egress",
			policies: []string{`{metadata: {name: only-ingress, namespace: client}, spec: {podSelector: {}, ingress: [{}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{IP: extIP}, Port: 80}, allowed: true},
		{name: "policyTypes defaulted: egress rules make it an egress policy too",
			policies: []string{`{metadata: {name: eg, namespace: client}, spec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{IP: extIP}, Port: 80},
			denies:   "egress", why: "ipBlock 10.0.0.0/8 does not contain 198.19.0.1"},
		{name: "empty podSelector {} selects every pod of the namespace, ingress by default",
			policies: []string{`{metadata: {name: deny-all, namespace: shop}, spec: {podSelector: {}}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress"},
		{name: "a policy on another pod's labels does not isolate this one",
			policies: []string{`{metadata: {name: api-only, namespace: shop}, spec: {podSelector: {matchLabels: {app: api}}}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "podSelector alone: same namespace only",
			policies: []string{`{metadata: {name: same-ns, namespace: shop}, spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: "selects pods of namespace shop only, not of client"},
		{name: "podSelector alone admits a pod of the same namespace",
			policies: []string{`{metadata: {name: same-ns, namespace: shop}, spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {}}]}]}}`},
			flow:     Flow{From: Peer{Pod: peer}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "namespaceSelector alone: every pod of the selected namespaces",
			policies: []string{`{metadata: {name: from-b, namespace: shop}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "namespaceSelector for another namespace: opens the port, not the client's namespace",
			policies: []string{`{metadata: {name: from-other, namespace: shop}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: c}}}], ports: [{port: 8080}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: "namespaceSelector {team=c} does not select namespace client"},
		{name: "both selectors in one peer: pods matching both",
			policies: []string{`{metadata: {name: both, namespace: shop}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: other}}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: "podSelector {app=other} does not select pod client/c-1"},
		{name: "two peers (OR): the second matches",
			policies: []string{`{metadata: {name: or, namespace: shop}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: c}}}, {podSelector: {matchLabels: {app: curl}}, namespaceSelector: {}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "matchExpressions NotIn",
			policies: []string{`{metadata: {name: expr, namespace: shop}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [b]}]}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: "does not select namespace client"},
		{name: "ipBlock with except",
			policies: []string{`{metadata: {name: ipb, namespace: client}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 198.19.0.0/24, except: [198.19.0.0/28]}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{IP: extIP}, Port: 80},
			denies:   "egress", why: "ipBlock 198.19.0.0/24 excepts 198.19.0.0/28 (198.19.0.1)"},
		{name: "ipBlock admits the address",
			policies: []string{`{metadata: {name: ipb, namespace: client}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 198.19.0.0/24}}], ports: [{port: 80}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{IP: extIP}, Port: 80}, allowed: true},
		{name: "a pod selector never matches an address outside the pod network",
			policies: []string{`{metadata: {name: pods-only, namespace: client}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {}}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{IP: extIP}, Port: 80},
			denies:   "egress", why: "only an ipBlock does"},
		{name: "port number mismatch",
			policies: []string{`{metadata: {name: p, namespace: shop}, spec: {podSelector: {}, ingress: [{ports: [{port: 9090}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: "port 9090/TCP is not 8080"},
		{name: "protocol: a UDP rule does not admit TCP",
			policies: []string{`{metadata: {name: p, namespace: shop}, spec: {podSelector: {}, ingress: [{ports: [{port: 8080, protocol: UDP}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: "port rule is UDP, the flow TCP"},
		{name: "endPort range",
			policies: []string{`{metadata: {name: p, namespace: shop}, spec: {podSelector: {}, ingress: [{ports: [{port: 8000, endPort: 8100}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "endPort range that stops short",
			policies: []string{`{metadata: {name: p, namespace: shop}, spec: {podSelector: {}, ingress: [{ports: [{port: 8000, endPort: 8050}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: "ports 8000-8050/TCP do not include 8080"},
		{name: "named port of the destination pod",
			policies: []string{`{metadata: {name: p, namespace: shop}, spec: {podSelector: {}, ingress: [{ports: [{port: http}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "named port the destination does not have",
			policies: []string{`{metadata: {name: p, namespace: shop}, spec: {podSelector: {}, ingress: [{ports: [{port: metrics}]}]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress", why: `named port "metrics" is not a TCP port of the destination`},
		{name: "policies are additive: a second policy admits what the first does not",
			policies: []string{
				`{metadata: {name: deny-all, namespace: shop}, spec: {podSelector: {}}}`,
				`{metadata: {name: allow-client, namespace: shop}, spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: client}}}]}]}}`},
			flow: Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "egress allowed, ingress denied: both directions count",
			policies: []string{
				`{metadata: {name: eg, namespace: client}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}}`,
				`{metadata: {name: deny-all, namespace: shop}, spec: {podSelector: {}, policyTypes: [Ingress]}}`},
			flow:   Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080},
			denies: "ingress"},
		{name: "the destination pod's own node always reaches it",
			policies: []string{`{metadata: {name: deny-all, namespace: shop}, spec: {podSelector: {}}}`},
			flow:     Flow{From: Peer{IP: netip.MustParseAddr("198.18.0.11"), Node: true}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
		{name: "another address (not the node) is denied by default-deny ingress",
			policies: []string{`{metadata: {name: deny-all, namespace: shop}, spec: {podSelector: {}}}`},
			flow:     Flow{From: Peer{IP: netip.MustParseAddr("198.18.0.12")}, To: Peer{Pod: web}, Port: 8080},
			denies:   "ingress"},
		{name: "a policy of another namespace never applies",
			policies: []string{`{metadata: {name: deny-all, namespace: other}, spec: {podSelector: {}, policyTypes: [Ingress, Egress]}}`},
			flow:     Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []networkingv1.NetworkPolicy
			for _, y := range tt.policies {
				ps = append(ps, pol(t, y))
			}
			v := Evaluate(Set{Network: ps}, tt.flow)
			if v.Allowed() != tt.allowed {
				t.Fatalf("allowed %v, want %v: %+v", v.Allowed(), tt.allowed, v)
			}
			if tt.allowed {
				return
			}
			d, o := v.Ingress, v.Egress
			if tt.denies == "egress" {
				d, o = v.Egress, v.Ingress
			}
			if d.Allowed || !o.Allowed || len(d.Isolating) == 0 {
				t.Fatalf("want only %s denied: %+v", tt.denies, v)
			}
			if tt.why != "" && (d.Closest == nil || !strings.Contains(d.Closest.Why, tt.why)) {
				t.Fatalf("closest %+v lacks %q", d.Closest, tt.why)
			}
		})
	}
}

// The rule that opens the port but not the namespace is the closest, ahead
// of one that matches nothing.
func TestClosestRule(t *testing.T) {
	ps := []networkingv1.NetworkPolicy{pol(t, `{metadata: {name: p, namespace: shop}, spec: {podSelector: {}, ingress: [
		{from: [{podSelector: {matchLabels: {app: nobody}}}], ports: [{port: 1}]},
		{from: [{namespaceSelector: {matchLabels: {team: c}}}], ports: [{port: 8080}]}]}}`)}
	v := Evaluate(Set{Network: ps}, Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080})
	if c := v.Ingress.Closest; c == nil || c.Policy != "shop/p" || c.Rule != 1 || !c.PortOK || c.PeerOK {
		t.Fatalf("closest %+v", c)
	}
}

// The allowing policy, added to the cluster's, lets the flow through and
// selects on stable labels only; without the original denial it changes
// nothing for another client.
func TestAllow(t *testing.T) {
	deny := pol(t, `{metadata: {name: deny-all, namespace: shop}, spec: {podSelector: {}}}`)
	f := Flow{From: Peer{Pod: client}, To: Peer{Pod: web}, Port: 8080}
	np := Allow(f, networkingv1.PolicyTypeIngress)
	if np == nil || np.Namespace != "shop" || np.Name != "netcheck-allow-ingress-from-client-curl-8080" {
		t.Fatalf("%+v", np)
	}
	if _, ok := np.Spec.PodSelector.MatchLabels["pod-template-hash"]; ok {
		t.Fatal("selects a generation label")
	}
	if !Evaluate(Set{Network: []networkingv1.NetworkPolicy{deny, *np}}, f).Allowed() {
		t.Fatal("the allowing policy does not allow the flow")
	}
	other := Flow{From: Peer{Pod: pod("other", "x", map[string]string{"app": "curl"})}, To: Peer{Pod: web}, Port: 8080}
	if Evaluate(Set{Network: []networkingv1.NetworkPolicy{deny, *np}}, other).Allowed() {
		t.Fatal("the allowing policy opens more than the flow")
	}
	eg := pol(t, `{metadata: {name: deny-egress, namespace: client}, spec: {podSelector: {}, policyTypes: [Egress]}}`)
	ef := Flow{From: Peer{Pod: client}, To: Peer{IP: extIP}, Port: 80}
	np = Allow(ef, networkingv1.PolicyTypeEgress)
	if np == nil || np.Spec.Egress[0].To[0].IPBlock.CIDR != "198.19.0.1/32" || !Evaluate(Set{Network: []networkingv1.NetworkPolicy{eg, *np}}, ef).Allowed() {
		t.Fatalf("%+v", np)
	}
	if Evaluate(Set{Network: []networkingv1.NetworkPolicy{eg, *np}}, Flow{From: ef.From, To: Peer{IP: extIP}, Port: 443}).Allowed() {
		t.Fatal("another port opened")
	}
	cmd := ApplyCommand(np)
	if !strings.HasPrefix(cmd, "kubectl apply -f - <<'EOF'\n") || !strings.Contains(cmd, "cidr: 198.19.0.1/32") || !strings.HasSuffix(cmd, "\nEOF") {
		t.Fatalf("%s", cmd)
	}
	icmp := Flow{From: ef.From, To: Peer{IP: extIP}, Protocol: "ICMP"}
	if np := Allow(icmp, networkingv1.PolicyTypeEgress); np == nil || len(np.Spec.Egress[0].Ports) != 0 || !Evaluate(Set{Network: []networkingv1.NetworkPolicy{eg, *np}}, icmp).Allowed() {
		t.Fatalf("ICMP: a rule without ports admits it: %+v", np)
	}
	if Allow(Flow{From: Peer{IP: extIP}, To: Peer{IP: extIP}, Port: 1}, networkingv1.PolicyTypeEgress) != nil {
		t.Fatal("no pod to select: no policy")
	}
}
