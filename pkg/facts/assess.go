package facts

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

// IptablesDatapaths are the iptables backends in use, as datapaths.
func IptablesDatapaths(sets []Ruleset, tools []string) []Datapath {
	var out []Datapath
	for i, rs := range sets {
		out = append(out, Iptables{Rules: rs, Saved: tools[i]})
	}
	return out
}
