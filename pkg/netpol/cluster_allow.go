package netpol

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// ClusterAllowCommand is the kubectl patch that inserts, just before the rule
// that denied the flow, one rule admitting exactly it, in the policy's own
// dialect. "" when the API cannot name the peer (an address in an ingress
// rule: cluster policies select ingress peers by namespace and pod only).
// Inserting before the deciding rule keeps every other flow as it was.
func ClusterAllowCommand(d Decision, f Flow, dir networkingv1.PolicyType) string {
	far, key, path := f.To, "to", "egress"
	if dir == networkingv1.PolicyTypeIngress {
		far, key, path = f.From, "from", "ingress"
	}
	var peer map[string]any
	switch {
	case far.Pod != nil:
		pod := map[string]any{"matchLabels": StableLabels(far.Pod.Labels)}
		peer = map[string]any{"pods": map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]string{"kubernetes.io/metadata.name": far.Pod.Namespace}},
			"podSelector":       pod}}
	case far.IP.IsValid() && dir == networkingv1.PolicyTypeEgress:
		peer = map[string]any{"networks": []string{netip.PrefixFrom(far.IP, far.IP.BitLen()).String()}}
	default:
		return ""
	}
	accept, ports := "Accept", "protocols"
	if d.Policy.Kind != "ClusterNetworkPolicy" {
		accept, ports = "Allow", "ports"
	}
	rule := map[string]any{"name": "netcheck-allow-" + strings.ToLower(string(orTCP(f.Protocol))) + portSuffix(f), "action": accept, key: []any{peer}}
	if f.Protocol != "ICMP" {
		proto := orTCP(f.Protocol)
		if ports == "ports" {
			rule[ports] = []any{map[string]any{"portNumber": map[string]any{"protocol": proto, "port": f.Port}}}
		} else {
			rule[ports] = []any{map[string]any{strings.ToLower(string(proto)): map[string]any{"destinationPort": map[string]any{"number": f.Port}}}}
		}
	}
	patch, err := json.Marshal([]any{map[string]any{"op": "add", "path": fmt.Sprintf("/spec/%s/%d", path, d.Rule), "value": rule}})
	if err != nil {
		return ""
	}
	return fmt.Sprintf("kubectl patch %s %s --type=json -p %s", strings.ToLower(d.Policy.Kind), d.Policy.Name, shellQuote(string(patch)))
}

func portSuffix(f Flow) string {
	if f.Protocol == "ICMP" || f.Port == 0 {
		return ""
	}
	return fmt.Sprint("-", f.Port)
}

// shellQuote single-quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
