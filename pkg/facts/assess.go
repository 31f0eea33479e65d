package facts

import (
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Dump is one backend's iptables-save output and the tool that printed it.
type Dump struct {
	Tool string
	Text string
}

// Rulesets parses the dumps, dropping empty backends (an unused
// iptables-legacy beside iptables-nft prints only empty tables).
func Rulesets(dumps []Dump) ([]Ruleset, []string) {
	var out []Ruleset
	var tools []string
	for _, d := range dumps {
		rs := ParseIptablesSave(d.Text)
		if len(rs) == 0 || rs.Empty() {
			continue
		}
		out = append(out, rs)
		tools = append(tools, d.Tool)
	}
	return out, tools
}

// NAT answers: is this packet masqueraded/SNATed in nat POSTROUTING?
// With several backends in use, the kernel runs each; the first NAT wins.
func NAT(sets []Ruleset, p Packet) observe.Verdict {
	if len(sets) == 0 {
		return observe.Verdict{Result: observe.Unknown, Action: "no iptables rules could be read"}
	}
	var v observe.Verdict
	v.Result = observe.No
	v.Action = "no MASQUERADE/SNAT rule matches"
	for _, rs := range sets {
		d := rs.Walk("nat", "POSTROUTING", p)
		v.Uncertain = append(v.Uncertain, d.Uncertain...)
		if d.Target == "MASQUERADE" || d.Target == "SNAT" {
			return observe.Verdict{Result: observe.Yes, Action: d.Target, Rules: []string{d.Rule}, Uncertain: d.Uncertain}
		}
		if d.Rule != "" {
			v.Rules = append(v.Rules, d.Rule)
			v.Action = "no MASQUERADE/SNAT: " + d.Target + " first"
		}
	}
	if len(v.Uncertain) > 0 {
		v.Result = observe.Unknown
	}
	if len(v.Rules) == 0 {
		v.Rules = natRulesSeen(sets)
		if len(v.Rules) == 0 {
			v.Action = "no MASQUERADE/SNAT rule in nat POSTROUTING at all"
		}
	}
	return v
}

// natRulesSeen lists the masquerade rules that exist but did not match,
// so the evidence shows why (e.g. a rule for another CIDR).
func natRulesSeen(sets []Ruleset) []string {
	var out []string
	for _, rs := range sets {
		for _, c := range rs["nat"] {
			for _, r := range c.Rules {
				if t, _ := ruleTarget(r.Tokens); t == "MASQUERADE" || t == "SNAT" {
					out = append(out, r.Raw+"   (does not match this flow)")
				}
			}
		}
	}
	return out
}

// Forward answers: does this packet pass the filter FORWARD chain?
func Forward(sets []Ruleset, p Packet) observe.Verdict {
	if len(sets) == 0 {
		return observe.Verdict{Result: observe.Unknown, Action: "no iptables rules could be read"}
	}
	v := observe.Verdict{Result: observe.Yes}
	for _, rs := range sets {
		d := rs.Walk("filter", "FORWARD", p)
		v.Uncertain = append(v.Uncertain, d.Uncertain...)
		switch d.Target {
		case "DROP", "REJECT", "policy DROP", "policy REJECT":
			nv := observe.Verdict{Result: observe.No, Action: d.Target, Uncertain: d.Uncertain}
			if d.Rule != "" {
				nv.Rules = []string{d.Rule}
			}
			return nv
		default:
			v.Action = d.Target
			if d.Rule != "" {
				v.Rules = []string{d.Rule}
			}
		}
	}
	for _, u := range v.Uncertain {
		if strings.Contains(u, "-j DROP") || strings.Contains(u, "-j REJECT") {
			v.Result = observe.Unknown
		}
	}
	return v
}
