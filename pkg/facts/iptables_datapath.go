package facts

import (
	"fmt"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Iptables is the iptables datapath of one backend (iptables-nft or
// iptables-legacy) and family, read from its iptables-save dump.
type Iptables struct {
	Rules Ruleset
	Saved string // the tool that printed the dump
}

// Name implements Datapath: both backends take the same commands.
func (Iptables) Name() string { return "iptables" }

// Tool implements Datapath.
func (ip Iptables) Tool() string { return ip.Saved }

// NAT walks nat POSTROUTING.
func (ip Iptables) NAT(p Packet) observe.Verdict {
	d := ip.Rules.Walk("nat", "POSTROUTING", p)
	v := observe.Verdict{Result: observe.No, Action: "no MASQUERADE/SNAT rule matches", Uncertain: d.Uncertain, Datapath: ip.Name()}
	switch {
	case d.Target == "MASQUERADE" || d.Target == "SNAT":
		v.Result, v.Action, v.Rules = observe.Yes, d.Target, []string{d.Rule}
	case d.Rule != "":
		v.Action, v.Rules = "no MASQUERADE/SNAT: "+d.Target+" first", []string{d.Rule}
	}
	return v
}

// Forward walks filter FORWARD. A DROP/REJECT rule it could not judge
// makes the answer unknown.
func (ip Iptables) Forward(p Packet) observe.Verdict { return ip.filter("FORWARD", p) }

// Input walks filter INPUT: does the node itself accept p?
func (ip Iptables) Input(p Packet) observe.Verdict { return ip.filter("INPUT", p) }

func (ip Iptables) filter(chain string, p Packet) observe.Verdict {
	d := ip.Rules.Walk("filter", chain, p)
	v := observe.Verdict{Result: observe.Yes, Action: d.Target, Uncertain: d.Uncertain, Datapath: ip.Name(), Policy: d.Rule == ""}
	if ip.Rules["filter"]["ufw-user-forward"] != nil {
		v.Owner = "ufw" // ufw rewrites FORWARD and its chains from /etc/ufw on every reload
	}
	if d.Rule != "" {
		v.Rules = []string{d.Rule}
	}
	switch d.Target {
	case "DROP", "REJECT", "policy DROP", "policy REJECT":
		v.Result = observe.No
		return v
	}
	for _, u := range d.Uncertain {
		if strings.Contains(u, "-j DROP") || strings.Contains(u, "-j REJECT") {
			v.Result = observe.Unknown
		}
	}
	return v
}

// AllowInbound implements Fixer.
func (iptablesFixer) AllowInbound(v observe.Verdict, proto string, port int, peers string) []string {
	accept := fmt.Sprintf("iptables -I INPUT -p %s --dport %d -s %s -j ACCEPT", proto, port, peers)
	if v.Owner == "ufw" {
		return []string{fmt.Sprintf("ufw allow from %s to any port %d proto %s   # ufw owns INPUT here", peers, port, proto)}
	}
	var fix []string
	for _, r := range v.Rules {
		if strings.HasPrefix(r, "-A ") {
			fix = append(fix, deleteRule("iptables", r)+"   # remove the rule that drops it")
		}
	}
	if len(fix) > 0 {
		return append(fix, "or accept it before that rule: "+accept)
	}
	return []string{accept}
}

// Masquerading lists the nat rules that masquerade or SNAT anything.
func (ip Iptables) Masquerading() []string {
	var out []string
	for _, c := range ip.Rules["nat"] {
		for _, r := range c.Rules {
			if t, _ := ruleTarget(r.Tokens); t == "MASQUERADE" || t == "SNAT" {
				out = append(out, r.Raw+"   (does not match this flow)")
			}
		}
	}
	return out
}

type iptablesFixer struct{}

func (iptablesFixer) Masquerade(m Masquerade) []string {
	tool := "iptables"
	if m.V6 {
		tool = "ip6tables"
	}
	dst := "-d " + m.Dst
	if m.NotDst {
		dst = "! -d " + m.Dst
	}
	return []string{fmt.Sprintf("%s -t nat -A POSTROUTING -s %s %s -o %s -j MASQUERADE", tool, m.Src, dst, ShellQuote(m.Out))}
}

func (iptablesFixer) AllowForward(v observe.Verdict, podCIDR string, both bool) []string {
	if v.Owner == "ufw" {
		fix := []string{"ufw route allow from " + podCIDR + "   # ufw owns FORWARD here: let the pod network through it"}
		if both {
			fix = append(fix, "ufw route allow to "+podCIDR)
		}
		return append(fix, "or, for every routed flow: set DEFAULT_FORWARD_POLICY=\"ACCEPT\" in /etc/default/ufw; ufw reload")
	}
	// An IPv6 pod range's rules live in ip6tables.
	tool := "iptables"
	if strings.Contains(podCIDR, ":") {
		tool = "ip6tables"
	}
	policyOff := "or, if nothing relies on it: " + tool + " -P FORWARD ACCEPT   (Docker sets DROP; persist via your firewall config)"
	if strings.HasPrefix(v.Action, "policy") {
		if both {
			return []string{tool + " -I FORWARD -s " + podCIDR + " -j ACCEPT",
				tool + " -I FORWARD -d " + podCIDR + " -j ACCEPT", policyOff}
		}
		return []string{
			fmt.Sprintf("%s -I FORWARD -s %s -j ACCEPT", tool, podCIDR),
			fmt.Sprintf("%s -I FORWARD -d %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", tool, podCIDR),
			policyOff,
		}
	}
	fix := []string{}
	for _, r := range v.Rules {
		if strings.HasPrefix(r, "-A ") {
			fix = append(fix, deleteRule(tool, r)+"   # remove the rule that drops pod traffic")
		}
	}
	return append(fix, fmt.Sprintf("or allow pod traffic before it: %s -I FORWARD -s %s -j ACCEPT", tool, podCIDR))
}
