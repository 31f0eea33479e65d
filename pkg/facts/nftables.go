package facts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Nftables is the native nftables datapath: every table `nft -j list
// ruleset` printed (firewalld, CNI tables, hand-written ones, kube-proxy's
// nftables mode), less those iptables-nft owns, which the Iptables
// datapath already judges from iptables-nft-save: each rule is judged once.
type Nftables struct {
	Tables []*NftTable
	// Skipped names the tables left to the iptables datapath.
	Skipped []string
	// Via says whose nft read them: "host" (the default) or a container's
	// mount namespace.
	Via string
	// LeftOut is what the node-side filter left out of kube-proxy's
	// table ("left out N rules and M chains of Services not asked about").
	LeftOut string
}

// NftTable is one table with its chains and sets.
type NftTable struct {
	Family, Name string
	Chains       map[string]*NftChain
	Sets         map[string][]json.RawMessage // named set → its elements
}

// NftChain is one chain; a base chain has a hook.
type NftChain struct {
	Name, Type, Hook, Policy string
	Prio                     int
	Rules                    []NftRule
}

// NftRule is one rule's expressions, in order.
type NftRule struct {
	Handle  int
	Comment string
	Expr    []map[string]json.RawMessage
}

// iptablesTables are the tables iptables-nft creates in the ip and ip6 families.
var iptablesTables = map[string]bool{"filter": true, "nat": true, "mangle": true, "raw": true, "security": true}

// ParseNftJSON reads `nft -j list ruleset`, or the documents of several
// `nft -j list table` one after the other. With iptablesNft set (its dumps
// were read), the ip/ip6 tables iptables-nft owns are left out.
func ParseNftJSON(text string, iptablesNft bool) (Nftables, error) {
	var objs []map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text))
	for {
		var doc struct {
			Nftables []map[string]json.RawMessage `json:"nftables"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Nftables{}, fmt.Errorf("nft -j output: %w", err)
		}
		objs = append(objs, doc.Nftables...)
	}
	var nf Nftables
	tables := map[string]*NftTable{}
	table := func(family, name string) *NftTable {
		k := family + " " + name
		if t, ok := tables[k]; ok {
			return t
		}
		t := &NftTable{Family: family, Name: name, Chains: map[string]*NftChain{}, Sets: map[string][]json.RawMessage{}}
		tables[k] = t
		nf.Tables = append(nf.Tables, t)
		return t
	}
	skip := func(family, name string) bool {
		return iptablesNft && (family == "ip" || family == "ip6") && iptablesTables[name]
	}
	for _, obj := range objs {
		for kind, raw := range obj {
			var o struct {
				Family, Name, Table, Chain, Hook, Policy, Comment string
				Type                                              json.RawMessage // a string; a list for concatenated set types
				Prio                                              int
				Handle                                            int
				Elem                                              []json.RawMessage
				Expr                                              []map[string]json.RawMessage
			}
			if kind == "metainfo" || json.Unmarshal(raw, &o) != nil {
				continue
			}
			tname := o.Table
			if kind == "table" {
				tname = o.Name
			}
			if skip(o.Family, tname) {
				if kind == "table" {
					nf.Skipped = append(nf.Skipped, o.Family+" "+tname)
				}
				continue
			}
			t := table(o.Family, tname)
			switch kind {
			case "chain":
				c := t.chain(o.Name)
				_ = json.Unmarshal(o.Type, &c.Type)
				c.Hook, c.Policy, c.Prio = o.Hook, o.Policy, o.Prio
			case "rule":
				c := t.chain(o.Chain)
				c.Rules = append(c.Rules, NftRule{Handle: o.Handle, Comment: o.Comment, Expr: o.Expr})
			case "set", "map":
				t.Sets[o.Name] = o.Elem
			}
		}
	}
	return nf, nil
}

func (t *NftTable) chain(name string) *NftChain {
	c, ok := t.Chains[name]
	if !ok {
		c = &NftChain{Name: name}
		t.Chains[name] = c
	}
	return c
}

// Name implements Datapath.
func (Nftables) Name() string { return "nftables" }

// Tool implements Datapath.
func (nf Nftables) Tool() string {
	via := nf.Via
	if via == "" {
		via = "host"
	}
	if nf.LeftOut != "" {
		via += ", via nsenter; " + nf.LeftOut
	} else {
		via += ", via nsenter"
	}
	return "nft -j list table (" + via + ")"
}

// Empty reports whether no table is left to judge.
func (nf Nftables) Empty() bool { return len(nf.Tables) == 0 }

// baseChain is a base chain on a hook, with its table, in priority order.
type baseChain struct {
	t *NftTable
	c *NftChain
}

func (nf Nftables) hooked(hook, typ string, v6 bool) []baseChain {
	var out []baseChain
	for _, t := range nf.Tables {
		if !familySees(t.Family, v6) {
			continue
		}
		for _, c := range t.Chains {
			if c.Hook == hook && c.Type == typ {
				out = append(out, baseChain{t, c})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].c.Prio < out[j].c.Prio })
	return out
}

// familySees: an inet table sees both families, ip only IPv4, ip6 only IPv6.
func familySees(family string, v6 bool) bool {
	switch family {
	case "inet":
		return true
	case "ip":
		return !v6
	case "ip6":
		return v6
	}
	return false
}

// nftEnd is where a walk of one base chain ended.
type nftEnd struct {
	verdict string // "accept", "drop", "reject", "masquerade", "snat", "" (fell through)
	rule    string // the deciding rule, quoted
	ref     *observe.RuleRef
	policy  bool // decided by the base chain's policy
}

// NAT implements Datapath: nat chains on postrouting, the first to
// masquerade or SNAT the flow decides.
func (nf Nftables) NAT(p Packet) observe.Verdict {
	v := observe.Verdict{Result: observe.No, Action: "no masquerade/snat rule matches", Datapath: nf.Name(), Hook: "nftables postrouting hook"}
	for _, bc := range nf.hooked("postrouting", "nat", p.Dst.Is6()) {
		end, unc := nf.walk(bc, p)
		v.Uncertain = append(v.Uncertain, unc...)
		if end.verdict == "masquerade" || end.verdict == "snat" {
			return observe.Verdict{Result: observe.Yes, Action: end.verdict, Rules: []string{end.rule}, Uncertain: v.Uncertain, Datapath: nf.Name(), Hook: v.Hook, Rule: end.ref, Policy: end.policy}
		}
	}
	if len(v.Uncertain) > 0 {
		v.Result = observe.Unknown
	}
	return v
}

// Forward implements Datapath: every filter chain on the forward hook
// must accept; the first drop or reject is final.
func (nf Nftables) Forward(p Packet) observe.Verdict { return nf.filter("forward", p) }

// Input implements Datapath, on the input hook.
func (nf Nftables) Input(p Packet) observe.Verdict { return nf.filter("input", p) }

func (nf Nftables) filter(hook string, p Packet) observe.Verdict {
	v := observe.Verdict{Result: observe.Yes, Action: "no nftables " + hook + " chain drops it", Datapath: nf.Name(), Hook: "nftables " + hook + " hook"}
	for _, bc := range nf.hooked(hook, "filter", p.Dst.Is6()) {
		end, unc := nf.walk(bc, p)
		v.Uncertain = append(v.Uncertain, unc...)
		if end.verdict == "drop" || end.verdict == "reject" {
			action := end.verdict
			if end.policy {
				action = "policy " + end.verdict
			}
			return observe.Verdict{Result: observe.No, Action: action, Rules: []string{end.rule}, Uncertain: v.Uncertain, Datapath: nf.Name(), Hook: v.Hook, Rule: end.ref, Policy: end.policy}
		}
	}
	if len(v.Uncertain) > 0 {
		v.Result = observe.Unknown
	}
	return v
}

// Masquerading implements Datapath.
func (nf Nftables) Masquerading() []string {
	var out []string
	for _, t := range nf.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, e := range r.Expr {
					if _, ok := e["masquerade"]; ok {
						out = append(out, quoteRule(t, c, r)+"   (does not match this flow)")
					} else if _, ok := e["snat"]; ok {
						out = append(out, quoteRule(t, c, r)+"   (does not match this flow)")
					}
				}
			}
		}
	}
	return out
}

// walk follows p through one base chain and the chains it jumps to.
func (nf Nftables) walk(bc baseChain, p Packet) (nftEnd, []string) {
	var unc []string
	end, ok := nf.walkChain(bc.t, bc.c, p, &unc, 0)
	if ok {
		return end, unc
	}
	pol := bc.c.Policy
	if pol == "" {
		pol = "accept"
	}
	return nftEnd{verdict: pol, policy: true, rule: fmt.Sprintf("table %s %s chain %s: policy %s", bc.t.Family, bc.t.Name, bc.c.Name, pol),
		ref: &observe.RuleRef{Family: bc.t.Family, Table: bc.t.Name, Chain: bc.c.Name}}, unc
}

// walkChain returns the verdict that ended the walk; ok false when the
// chain fell through (or returned) without one.
func (nf Nftables) walkChain(t *NftTable, c *NftChain, p Packet, unc *[]string, depth int) (nftEnd, bool) {
	if depth > 16 {
		*unc = append(*unc, "chain "+c.Name+": jumps nested too deep")
		return nftEnd{}, false
	}
	for _, r := range c.Rules {
		matched, unknown := true, ""
		var verdict, target string
		// After a match it cannot judge, the walk still reads the rule to its
		// verdict: an unjudged rule that would drop must be reported.
		for _, e := range r.Expr {
			if !matched {
				break
			}
			for k, val := range e {
				switch k {
				case "match":
					if unknown != "" {
						continue
					}
					if m, why := nf.match(t, val, p); why != "" {
						unknown = why
					} else {
						matched = m
					}
				case "accept", "drop", "reject", "masquerade", "snat", "dnat", "return":
					verdict = k
				case "jump", "goto":
					var j struct{ Target string }
					_ = json.Unmarshal(val, &j)
					verdict, target = k, j.Target
				case "counter", "log", "limit", "notrack", "mangle", "comment", "quota":
					// no effect on where the packet goes (mangle: a mark or field set)
				case "vmap":
					if unknown != "" {
						verdict = "vmap"
						continue
					}
					v, tgt, found, why := nf.lookupVmap(t, val, p)
					switch {
					case why != "":
						verdict, unknown = "vmap", "verdict map: "+why
					case !found:
						matched = false // no element for this packet: the rule does nothing
					default:
						verdict, target = v, tgt
					}
				default:
					if verdict == "" && unknown == "" {
						unknown = "expression " + k
					}
				}
			}
		}
		if unknown != "" {
			if verdict != "" && verdict != "return" {
				*unc = append(*unc, fmt.Sprintf("%s (%s not judged)", quoteRule(t, c, r), unknown))
			}
			continue
		}
		if !matched || verdict == "" {
			continue
		}
		ref := &observe.RuleRef{Family: t.Family, Table: t.Name, Chain: c.Name, Handle: r.Handle}
		switch verdict {
		case "return":
			return nftEnd{}, false
		case "jump", "goto":
			sub, ok := t.Chains[target]
			if !ok {
				continue
			}
			if end, ok := nf.walkChain(t, sub, p, unc, depth+1); ok {
				return end, true
			}
			if verdict == "goto" {
				return nftEnd{}, false
			}
			continue
		}
		return nftEnd{verdict: verdict, rule: quoteRule(t, c, r), ref: ref}, true
	}
	return nftEnd{}, false
}

// quoteRule is a rule as evidence: where it lives and what it says.
func quoteRule(t *NftTable, c *NftChain, r NftRule) string {
	s := fmt.Sprintf("table %s %s chain %s handle %d: %s", t.Family, t.Name, c.Name, r.Handle, renderRule(r))
	if r.Comment != "" {
		s += fmt.Sprintf(" comment %q", r.Comment)
	}
	return s
}
