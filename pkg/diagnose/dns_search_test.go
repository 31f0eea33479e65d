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

// The timed lookups join the note as ranges over the nodes; a node whose
// image had no netcheck-lookup adds nothing.
func TestSearchExpansionTimed(t *testing.T) {
	kubelet := &observe.Resolver{Search: []string{"nc-shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Ndots: 5}
	node := func(name string, l *observe.LookupCost) observe.Node {
		checks := []observe.Check{{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Resolver: kubelet}}
		if l != nil {
			checks = append(checks, observe.Check{Kind: observe.Lookup, ID: DNSSearchKey("www.example.net"), Outcome: observe.OK, Lookup: l})
		} else {
			checks = append(checks, observe.Check{Kind: observe.Lookup, ID: DNSSearchKey("www.example.net"), Outcome: observe.Error})
		}
		return observe.Node{Name: name, Pod: observe.SideResult{Checks: checks}}
	}
	way := func(q int, ms float64, answer, rcode string) observe.LookupWay {
		return observe.LookupWay{Queries: q, Millis: ms, Answer: answer, Rcode: rcode}
	}
	got := SearchExpansion("www.example.net", []observe.Node{
		node("n1", &observe.LookupCost{Search: way(8, 4.21, "www.example.net.", "NOERROR"), Dotted: way(2, 0.93, "www.example.net.", "NOERROR")}),
		node("n2", &observe.LookupCost{Search: way(10, 5003.5, "www.example.net.", "NOERROR"), Dotted: way(2, 0.81, "www.example.net.", "NOERROR")}),
		node("n3", nil),
	})
	for _, w := range []string{
		"4 queries for one lookup",
		"Timed from the pods on n1, n2 (A and AAAA per name; the median of 3 lookups where it answered): as written 8–10 queries, 4.2–5003.5 ms; with the trailing dot 2 queries, 0.8–0.9 ms",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("%q lacks %q", got, w)
		}
	}
	got = SearchExpansion("www.example.net", []observe.Node{node("n1", &observe.LookupCost{Search: way(8, 2, "", "NXDOMAIN"), Dotted: way(2, 1, "", "NXDOMAIN")})})
	if !strings.Contains(got, "as written 8 queries, 2.0 ms and no address (NXDOMAIN); with the trailing dot 2 queries, 1.0 ms and no address (NXDOMAIN)") {
		t.Errorf("unanswered: %q", got)
	}
	if got := SearchExpansion("www.example.net", []observe.Node{node("n3", nil)}); strings.Contains(got, "Timed") {
		t.Errorf("no timing ran, yet: %q", got)
	}
}
