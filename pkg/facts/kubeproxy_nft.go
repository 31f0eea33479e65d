package facts

// kube-proxy's nftables mode, read from its table's structure: the
// service-ips and service-nodeports maps name each Service port's chain,
// the chain's numgen vmap lists its endpoints, and no-endpoint-services
// holds the rejects of Services without any.

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// kubeProxyTable is kube-proxy's own table in the family of addr.
func (nf Nftables) kubeProxyTable(v6 bool) *NftTable {
	fam := "ip"
	if v6 {
		fam = "ip6"
	}
	for _, t := range nf.Tables {
		if t.Family == fam && t.Name == "kube-proxy" {
			return t
		}
	}
	return nil
}

// HasKubeProxy says whether kube-proxy's nftables table is there.
func (nf Nftables) HasKubeProxy() bool {
	return nf.kubeProxyTable(false) != nil || nf.kubeProxyTable(true) != nil
}

// nftMapElem is one map element: the key's parts and where it goes.
type nftMapElem struct {
	key    []string
	target string // the chain of goto/jump; "" for drop/accept/…
	raw    string
}

func mapElems(t *NftTable, name string) []nftMapElem {
	var out []nftMapElem
	for _, raw := range t.Sets[name] {
		var pair []json.RawMessage
		if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 {
			continue
		}
		e := nftMapElem{key: keyParts(pair[0]), raw: string(raw)}
		var verdict map[string]struct {
			Target string `json:"target"`
		}
		if json.Unmarshal(pair[1], &verdict) == nil {
			for k, v := range verdict {
				e.target = v.Target
				if v.Target == "" {
					e.target = k
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// keyParts reads a map key: a concatenation, or one value, maybe wrapped
// in an element object (with a comment or counter).
func keyParts(raw json.RawMessage) []string {
	var wrapped struct {
		Elem *struct {
			Val json.RawMessage `json:"val"`
		} `json:"elem"`
		Concat []json.RawMessage `json:"concat"`
	}
	if json.Unmarshal(raw, &wrapped) == nil {
		if wrapped.Elem != nil {
			return keyParts(wrapped.Elem.Val)
		}
		if wrapped.Concat != nil {
			var out []string
			for _, c := range wrapped.Concat {
				out = append(out, scalarText(c))
			}
			return out
		}
	}
	return []string{scalarText(raw)}
}

func scalarText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return string(raw)
}

// nftRules finds the VIP in kube-proxy's maps and counts the endpoints its
// chain balances over; a VIP in no-endpoint-services rejects.
func nftRules(nf Nftables, v VIP) observe.ServiceRules {
	sr := observe.ServiceRules{Programmed: observe.No, Endpoints: -1}
	t := nf.kubeProxyTable(v.Addr.Is6())
	if t == nil {
		return sr
	}
	want := []string{v.Proto, strconv.Itoa(v.Port)}
	maps := []string{"service-nodeports", "no-endpoint-nodeports"}
	if v.Addr.IsValid() {
		want = append([]string{v.Addr.String()}, want...)
		maps = []string{"service-ips", "no-endpoint-services"}
	}
	for i, m := range maps {
		for _, e := range mapElems(t, m) {
			if !sameKey(e.key, want) {
				continue
			}
			sr.Programmed = observe.Yes
			sr.Rules = append(sr.Rules, "map "+m+": "+nftElemText(e))
			if i == 1 { // the no-endpoints map: reject or drop
				sr.Rejects, sr.Endpoints = true, 0
				continue
			}
			if n := countNftEndpoints(t, e.target, 0); n >= 0 {
				sr.Endpoints = max(sr.Endpoints, 0) + n
			}
		}
	}
	return sr
}

func sameKey(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] == want[i] {
			continue
		}
		a, errA := netip.ParseAddr(got[i])
		b, errB := netip.ParseAddr(want[i])
		if errA != nil || errB != nil || a != b {
			return false
		}
	}
	return true
}

func nftElemText(e nftMapElem) string {
	s := ""
	for i, k := range e.key {
		if i > 0 {
			s += " . "
		}
		s += k
	}
	if e.target != "" {
		s += " : goto " + e.target
	}
	return s
}

// countNftEndpoints follows a Service port's chain (through the external-
// and firewall chains) to the numgen vmap that picks an endpoint chain.
// -1: the chain is not there.
func countNftEndpoints(t *NftTable, chain string, depth int) int {
	c := t.Chains[chain]
	if c == nil || depth > 4 {
		return -1
	}
	for _, r := range c.Rules {
		for _, ex := range r.Expr {
			// kube-proxy v1.36+: the service chain DNATs itself, to one
			// address or through a numgen map of them.
			if raw, ok := ex["dnat"]; ok {
				if n := nftDNATEndpoints(raw); n > 0 {
					return n
				}
			}
			if raw, ok := ex["vmap"]; ok {
				var vm struct {
					Data struct {
						Set []json.RawMessage `json:"set"`
					} `json:"data"`
				}
				if json.Unmarshal(raw, &vm) == nil && len(vm.Data.Set) > 0 {
					return len(vm.Data.Set)
				}
			}
			for _, kind := range []string{"goto", "jump"} {
				if raw, ok := ex[kind]; ok {
					var j struct {
						Target string `json:"target"`
					}
					// kube-proxy's per-port chains: service-…, and external-… in front of it.
					if json.Unmarshal(raw, &j) == nil && (strings.HasPrefix(j.Target, "service-") || strings.HasPrefix(j.Target, "external-")) {
						if n := countNftEndpoints(t, j.Target, depth+1); n >= 0 {
							return n
						}
					}
				}
			}
		}
	}
	return 0
}

// nftDNATEndpoints counts the endpoints of a dnat expression: "addr" is an
// address (one endpoint) or a map keyed by numgen (one per element).
func nftDNATEndpoints(raw json.RawMessage) int {
	var d struct {
		Addr json.RawMessage `json:"addr"`
	}
	if json.Unmarshal(raw, &d) != nil || len(d.Addr) == 0 {
		return 0
	}
	var one string
	if json.Unmarshal(d.Addr, &one) == nil && one != "" {
		return 1
	}
	var m struct {
		Map struct {
			Key  map[string]json.RawMessage `json:"key"`
			Data struct {
				Set []json.RawMessage `json:"set"`
			} `json:"data"`
		} `json:"map"`
	}
	if json.Unmarshal(d.Addr, &m) == nil {
		if _, ok := m.Map.Key["numgen"]; ok {
			return len(m.Map.Data.Set)
		}
	}
	return 0
}
