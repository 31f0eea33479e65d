package diagnose

import (
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func TestSearchExpansion(t *testing.T) {
	kubelet := &observe.Resolver{Search: []string{"nc-shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Ndots: 5}
	node := func(r *observe.Resolver) []observe.Node {
		return []observe.Node{{Name: "n1", Pod: observe.SideResult{Checks: []observe.Check{{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Resolver: r}}}}}
	}
	tests := []struct {
		name, lookup string
		r            *observe.Resolver
		want         []string // "" for no note
	}{
		{"kubelet's ClusterFirst resolv.conf", "www.example.net", kubelet, []string{
			"www.example.net has 2 dot(s), fewer than ndots:5",
			"try www.example.net.nc-shop.svc.cluster.local, www.example.net.svc.cluster.local, www.example.net.cluster.local first",
			"4 queries for one lookup", "trailing dot (www.example.net.)", "dnsConfig.options ndots: 2"}},
		{"a trailing dot given is dropped, not counted", "www.example.net.", kubelet, []string{"has 2 dot(s)"}},
		{"enough dots: tried as written first", "a.b.c.d.example.net", kubelet, nil},
		{"ndots:1 (the default) and a dotted name", "www.example.net", &observe.Resolver{Search: kubelet.Search, Ndots: 1}, nil},
		{"no search path", "www.example.net", &observe.Resolver{Ndots: 5}, nil},
		{"resolv.conf not read", "www.example.net", nil, nil},
	}
	for _, tt := range tests {
		got := SearchExpansion(tt.lookup, node(tt.r))
		if len(tt.want) == 0 && got != "" {
			t.Errorf("%s: want no note, got %q", tt.name, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
	}
}
