package fanout

import (
	"context"
	"testing"
	"time"
)

func TestRosterWaitsForEveryNode(t *testing.T) {
	r := newRoster(3)
	got := make(chan []Peer)
	go func() { got <- r.wait(context.Background()) }()
	r.report(Peer{Node: "a", PodIP: "10.0.0.1"})
	r.report(Peer{Node: "b"}) // its pod probe failed: reported, not a peer
	select {
	case p := <-got:
		t.Fatalf("returned before every node reported: %v", p)
	case <-time.After(50 * time.Millisecond):
	}
	r.report(Peer{Node: "c", PodIP: "10.0.0.3"})
	if p := <-got; len(p) != 2 || p[0].Node != "a" || p[1].Node != "c" {
		t.Fatalf("peers %v", p)
	}
}

func TestRosterGivesUpWithContext(t *testing.T) {
	r := newRoster(2)
	r.report(Peer{Node: "a", PodIP: "10.0.0.1"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if p := r.wait(ctx); len(p) != 1 {
		t.Fatalf("peers %v", p)
	}
}
