package facts

import (
	"sort"
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

// Backends says which chains hold rules in each backend, for a node whose
// rules are split between iptables-nft and iptables-legacy.
func Backends(sets []Ruleset, tools []string) []observe.IptablesBackend {
	var out []observe.IptablesBackend
	for i, rs := range sets {
		b := observe.IptablesBackend{Tool: tools[i]}
		for _, table := range sortedKeys(rs) {
			for _, name := range sortedKeys(rs[table]) {
				if len(rs[table][name].Rules) == 0 {
					continue
				}
				b.Chains = append(b.Chains, table+"/"+name)
				b.KubeProxy = b.KubeProxy || strings.HasPrefix(name, "KUBE-")
			}
		}
		out = append(out, b)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// IptablesDatapaths are the iptables backends in use, as datapaths.
func IptablesDatapaths(sets []Ruleset, tools []string) []Datapath {
	var out []Datapath
	for i, rs := range sets {
		out = append(out, Iptables{Rules: rs, Saved: tools[i]})
	}
	return out
}
