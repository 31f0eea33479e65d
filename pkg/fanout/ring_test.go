package fanout

import (
	"strings"
	"testing"
)

func TestRingPeers(t *testing.T) {
	var ps []Peer
	for _, n := range []string{"e", "a", "c", "b", "d"} {
		ps = append(ps, Peer{Node: n, PodIP: "10.0.0.1"})
	}
	names := func(p []Peer) string {
		var s []string
		for _, x := range p {
			s = append(s, x.Node)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		self string
		k    int
		want string
	}{
		{"a", 0, "b,c,d,e"},
		{"a", 2, "b,c"},
		{"d", 2, "e,a"}, // wraps around
		{"e", 10, "a,b,c,d"},
		{"x", 1, "a"}, // self not among the started peers (its probe failed)
	}
	for _, tc := range tests {
		if got := names(RingPeers(tc.self, ps, tc.k)); got != tc.want {
			t.Errorf("RingPeers(%s, %d) = %s, want %s", tc.self, tc.k, got, tc.want)
		}
	}
	// Every node is checked by exactly k others.
	in := map[string]int{}
	for _, p := range ps {
		for _, q := range RingPeers(p.Node, ps, 2) {
			in[q.Node]++
		}
	}
	for _, p := range ps {
		if in[p.Node] != 2 {
			t.Errorf("%s checked by %d nodes, want 2", p.Node, in[p.Node])
		}
	}
}
