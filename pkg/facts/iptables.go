// Package facts reads a node's network state from the text its tools print
// (iptables-save, ip route, /proc/net/nf_conntrack) and answers questions
// about one packet: would it be routed, forwarded, masqueraded?
package facts

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Ruleset is one iptables-save dump: table name → chains.
type Ruleset map[string]map[string]*Chain

// Chain is one chain with its policy ("-" for user chains).
type Chain struct {
	Name   string
	Policy string
	Rules  []Rule
}

// Rule is one "-A" line, tokenised.
type Rule struct {
	Raw    string
	Tokens []string
}

// ParseIptablesSave reads iptables-save / ip6tables-save output.
func ParseIptablesSave(text string) Ruleset {
	rs := Ruleset{}
	var table map[string]*Chain
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			name := line[1:]
			if rs[name] == nil {
				rs[name] = map[string]*Chain{}
			}
			table = rs[name]
		case strings.HasPrefix(line, ":") && table != nil:
			f := strings.Fields(line[1:])
			if len(f) >= 2 {
				table[f[0]] = &Chain{Name: f[0], Policy: f[1]}
			}
		case strings.HasPrefix(line, "-A ") && table != nil:
			toks := tokenize(line)
			if len(toks) < 2 {
				continue
			}
			c := table[toks[1]]
			if c == nil {
				c = &Chain{Name: toks[1], Policy: "-"}
				table[toks[1]] = c
			}
			c.Rules = append(c.Rules, Rule{Raw: line, Tokens: toks[2:]})
		}
	}
	return rs
}

// Empty reports whether the dump holds no rule and no non-ACCEPT policy:
// the backend is not in use.
func (rs Ruleset) Empty() bool {
	for _, chains := range rs {
		for _, c := range chains {
			if len(c.Rules) > 0 || (c.Policy != "ACCEPT" && c.Policy != "-") {
				return false
			}
		}
	}
	return true
}

// Policy returns a built-in chain's policy, "" if the chain is absent.
func (rs Ruleset) Policy(table, chain string) string {
	if c := rs[table][chain]; c != nil {
		return c.Policy
	}
	return ""
}

// tokenize splits an iptables-save line, honouring "quoted strings".
func tokenize(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			inQuote = !inQuote
			have = true
		case ch == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// Packet is the first packet of a flow, as netfilter would see it.
type Packet struct {
	Src, Dst netip.Addr
	Proto    string // "icmp", "tcp", "udp"
	DPort    int
	In, Out  string // interfaces; "" when not applicable (e.g. In in POSTROUTING)
	// DstLocal/SrcLocal: is the address one of the node's own (addrtype LOCAL)?
	DstLocal, SrcLocal bool
	Mark               uint32
}

// Decision is where a walk ended.
type Decision struct {
	// Target is the terminating target ("ACCEPT", "DROP", "REJECT",
	// "MASQUERADE", "SNAT", "DNAT") or "policy <P>" when the chain fell through.
	Target string
	// Rule is the deciding rule ("" for a policy).
	Rule string
	// Uncertain lists rules with matches the walk could not judge and that
	// were taken as not matching although their target would have decided.
	Uncertain []string
}

// Walk follows a packet through a built-in chain of a table.
func (rs Ruleset) Walk(table, chain string, p Packet) Decision {
	chains := rs[table]
	var d Decision
	if chains == nil || chains[chain] == nil {
		return Decision{Target: "policy ACCEPT"}
	}
	target, rule, ok := walk(chains, chain, &p, &d, 0)
	if !ok {
		pol := chains[chain].Policy
		if pol == "" || pol == "-" {
			pol = "ACCEPT"
		}
		d.Target = "policy " + pol
		return d
	}
	d.Target, d.Rule = target, rule
	return d
}

func isTerminating(t string) bool {
	switch t {
	case "ACCEPT", "DROP", "REJECT", "MASQUERADE", "SNAT", "DNAT", "REDIRECT":
		return true
	}
	return false
}

// walk returns the terminating target and its rule, or ok=false when the
// chain fell through or returned.
func walk(chains map[string]*Chain, name string, p *Packet, d *Decision, depth int) (string, string, bool) {
	c := chains[name]
	if c == nil || depth > 32 {
		return "", "", false
	}
	for _, r := range c.Rules {
		m, unknown := matchRule(r.Tokens, p)
		target, args := ruleTarget(r.Tokens)
		if !m {
			if unknown != "" && (isTerminating(target) || chains[target] != nil) {
				d.Uncertain = append(d.Uncertain, r.Raw+"   (cannot judge: "+unknown+")")
			}
			continue
		}
		switch {
		case target == "":
			// counting rule
		case target == "RETURN":
			return "", "", false
		case target == "MARK":
			p.Mark = applyMark(p.Mark, args)
		case isTerminating(target):
			return target, r.Raw, true
		case chains[target] != nil:
			if t, rule, ok := walk(chains, target, p, d, depth+1); ok {
				return t, rule, true
			}
			if isGoto(r.Tokens) {
				return "", "", false
			}
		default:
			// LOG, CONNMARK, NOTRACK, CT …: non-terminating.
		}
	}
	return "", "", false
}

func isGoto(toks []string) bool {
	for _, t := range toks {
		if t == "-g" || t == "--goto" {
			return true
		}
	}
	return false
}

func ruleTarget(toks []string) (string, []string) {
	for i := 0; i < len(toks); i++ {
		if (toks[i] == "-j" || toks[i] == "-g" || toks[i] == "--jump" || toks[i] == "--goto") && i+1 < len(toks) {
			return toks[i+1], toks[i+2:]
		}
	}
	return "", nil
}

func applyMark(mark uint32, args []string) uint32 {
	for i := 0; i+1 < len(args); i++ {
		v, m := parseMark(args[i+1])
		switch args[i] {
		case "--set-xmark":
			return (mark &^ m) ^ v
		case "--set-mark":
			return (mark &^ m) | v
		case "--or-mark":
			return mark | v
		case "--and-mark":
			return mark & v
		case "--xor-mark":
			return mark ^ v
		}
	}
	return mark
}

func parseMark(s string) (val, mask uint32) {
	mask = 0xffffffff
	vs, ms, hasMask := strings.Cut(s, "/")
	v, _ := strconv.ParseUint(vs, 0, 32)
	if hasMask {
		mm, _ := strconv.ParseUint(ms, 0, 32)
		mask = uint32(mm)
	}
	return uint32(v), mask
}

// String renders a decision for evidence.
func (d Decision) String() string {
	if d.Rule == "" {
		return d.Target
	}
	return fmt.Sprintf("%s by %q", d.Target, d.Rule)
}
