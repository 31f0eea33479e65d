package fanout

import (
	"context"
	"net/netip"
	"sort"
	"sync"
)

// Peer is one node's pod probe as the others see it.
type Peer struct {
	Node  string
	PodIP string // "" when the node's pod probe did not start
	// PodIPs are all its addresses (status.podIPs), PodIP first: a
	// dual-stack pod has one per family.
	PodIPs []string
}

// IPOf is the peer's address of the family (v6 or not), "" when it has none.
func (p Peer) IPOf(v6 bool) string {
	for _, ip := range append([]string{p.PodIP}, p.PodIPs...) {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() == v6 {
			return a.String()
		}
	}
	return ""
}

// roster gathers every node's pod probe address, so checks between pods
// can start once all are known. Every node reports exactly once, started
// or not, so waiting ends even when some nodes fail.
type roster struct {
	mu    sync.Mutex
	left  int
	peers []Peer
	done  chan struct{}
	// started is the started peers in name order, made once when the last
	// node reports and shared by every waiter: a copy each would be n² at
	// thousands of nodes.
	started []Peer
}

func newRoster(n int) *roster {
	r := &roster{left: n, done: make(chan struct{})}
	if n == 0 {
		close(r.done)
	}
	return r
}

func (r *roster) report(p Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peers = append(r.peers, p)
	r.left--
	if r.left == 0 {
		r.started = startedInOrder(r.peers)
		close(r.done)
	}
}

// startedInOrder is the peers whose pod probe started, by node name.
func startedInOrder(ps []Peer) []Peer {
	var out []Peer
	for _, p := range ps {
		if p.PodIP != "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// wait returns the started peers in name order once every node has
// reported (one slice for all: read, never change it), or what is known
// when ctx ends.
func (r *roster) wait(ctx context.Context) []Peer {
	select {
	case <-r.done:
		return r.started
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return startedInOrder(r.peers)
}

// RingPeers picks the k nodes after self in name order (all when k is 0
// or covers them): with every node doing the same, each is checked by k
// others too, and the checks grow as n·k, not n².
func RingPeers(self string, ps []Peer, k int) []Peer {
	byNode := func(s []Peer) func(i, j int) bool { return func(i, j int) bool { return s[i].Node < s[j].Node } }
	// Every node asks about the same list: a sorted one is read in place
	// (a sorted copy per node was n² bytes, 1.4 GB at 5,000 nodes).
	sorted := ps
	if !sort.SliceIsSorted(ps, byNode(ps)) {
		sorted = append([]Peer(nil), ps...)
		sort.Slice(sorted, byNode(sorted))
	}
	start := sort.Search(len(sorted), func(i int) bool { return sorted[i].Node > self })
	var out []Peer
	for i := 0; i < len(sorted) && (k == 0 || len(out) < k); i++ {
		p := sorted[(start+i)%len(sorted)]
		if p.Node != self {
			out = append(out, p)
		}
	}
	return out
}
