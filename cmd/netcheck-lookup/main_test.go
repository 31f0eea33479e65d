package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

// kubelet's resolv.conf for a pod in namespace default, as the lab's pods
// have it (cat /etc/resolv.conf in a probe pod).
const kubeletConf = `search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
`

func TestParseConf(t *testing.T) {
	c := parseConf(kubeletConf + "options timeout:1 attempts:9\n# nameserver 1.2.3.4\n")
	want := conf{
		servers:  []netip.AddrPort{netip.MustParseAddrPort("10.96.0.10:53")},
		search:   []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
		ndots:    5,
		timeout:  time.Second,
		attempts: 5,
	}
	if d := cmp.Diff(want, c, cmp.AllowUnexported(conf{}), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); d != "" {
		t.Fatalf("parseConf (-want +got):\n%s", d)
	}
	if got := parseConf("nameserver 10.0.0.1\n"); got.ndots != 1 || got.attempts != 2 || got.timeout != 5*time.Second || got.search != nil {
		t.Fatalf("defaults: %+v", got)
	}
}

func TestCandidates(t *testing.T) {
	c := parseConf(kubeletConf)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"www.example.net", []string{"www.example.net.default.svc.cluster.local.", "www.example.net.svc.cluster.local.", "www.example.net.cluster.local.", "www.example.net."}},
		{"www.example.net.", []string{"www.example.net."}},
		{"a.b.c.d.e.f", []string{"a.b.c.d.e.f.", "a.b.c.d.e.f.default.svc.cluster.local.", "a.b.c.d.e.f.svc.cluster.local.", "a.b.c.d.e.f.cluster.local."}},
	} {
		if d := cmp.Diff(tc.want, c.candidates(tc.name)); d != "" {
			t.Errorf("candidates(%q) (-want +got):\n%s", tc.name, d)
		}
	}
}

// server is a DNS server on loopback: addresses for the names in a, NXDOMAIN
// for the rest; it drops every query for the names in silent. It counts
// the queries it got.
type server struct {
	addr   netip.AddrPort
	a      map[string]string
	silent map[string]bool
	mu     sync.Mutex
	got    int
}

func newServer(t *testing.T, a map[string]string, silent ...string) *server {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	s := &server{addr: pc.LocalAddr().(*net.UDPAddr).AddrPort(), a: a, silent: map[string]bool{}}
	for _, n := range silent {
		s.silent[n] = true
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			s.mu.Lock()
			s.got++
			s.mu.Unlock()
			if s.silent[q.Name.String()] {
				continue
			}
			m.Response = true
			ip, ok := s.a[q.Name.String()]
			switch {
			case !ok:
				m.RCode = dnsmessage.RCodeNameError
			case q.Type == dnsmessage.TypeA:
				var a [4]byte
				copy(a[:], net.ParseIP(ip).To4())
				m.Answers = []dnsmessage.Resource{{Header: dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: q.Class, TTL: 30}, Body: &dnsmessage.AResource{A: a}}}
			}
			b, _ := m.Pack()
			_, _ = pc.WriteTo(b, from)
		}
	}()
	return s
}

func (s *server) queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

func TestLookupCountsWhatTheSearchListCosts(t *testing.T) {
	srv := newServer(t, map[string]string{"www.example.net.": "198.19.0.1"})
	c := parseConf(kubeletConf)
	c.servers = []netip.AddrPort{srv.addr}
	r := c.lookup(context.Background(), "www.example.net")
	if r.queries != 8 || r.answer != "www.example.net." || r.rcode != "NOERROR" || len(r.tried) != 4 {
		t.Fatalf("as written: %s", r)
	}
	if srv.queries() != 8 {
		t.Fatalf("the server got %d queries, the lookup counted %d", srv.queries(), r.queries)
	}
	if r := c.lookup(context.Background(), "www.example.net."); r.queries != 2 || r.answer != "www.example.net." {
		t.Fatalf("with the trailing dot: %s", r)
	}
	if r := c.lookup(context.Background(), "nowhere.example.net"); r.queries != 8 || r.answer != "" || r.rcode != "NXDOMAIN" {
		t.Fatalf("a name nobody knows: %s", r)
	}
}

// A silent candidate costs every attempt's timeout, and the count says so.
func TestLookupWaitsOutSilence(t *testing.T) {
	srv := newServer(t, map[string]string{"www.example.net.": "198.19.0.1"}, "www.example.net.cluster.local.")
	c := parseConf(kubeletConf)
	c.servers, c.timeout, c.attempts = []netip.AddrPort{srv.addr}, 50*time.Millisecond, 2
	r := c.lookup(context.Background(), "www.example.net")
	if r.queries != 10 || r.answer != "www.example.net." || r.elapsed < 100*time.Millisecond {
		t.Fatalf("with one silent search domain: %s", r)
	}
}

// Nothing listens: each attempt ends at once with the port closed (the
// AAAA send itself may fail with the A's ICMP error: 2 to 4 sent).
func TestLookupSaysThePortIsClosed(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	c := parseConf("nameserver 127.0.0.1\noptions attempts:2\n")
	c.servers = []netip.AddrPort{closed}
	r := c.lookup(context.Background(), "www.example.net.")
	if r.rcode != "PORT-CLOSED" || r.answer != "" || r.queries < 2 || r.queries > 4 {
		t.Fatalf("closed port: %s", r)
	}
}

func TestRunPrintsBothWays(t *testing.T) {
	srv := newServer(t, map[string]string{"db.corp.example.": "198.19.0.20"})
	c := parseConf(kubeletConf)
	c.servers = []netip.AddrPort{srv.addr}
	var out, errOut bytes.Buffer
	if rc := run(&out, &errOut, c, "db.corp.example", 3, 5*time.Second); rc != 0 || errOut.Len() > 0 {
		t.Fatalf("rc %d, stderr %q", rc, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "search queries=8 rcode=NOERROR answer=db.corp.example. ms=") ||
		!strings.HasSuffix(lines[0], " tried=db.corp.example.default.svc.cluster.local.,db.corp.example.svc.cluster.local.,db.corp.example.cluster.local.,db.corp.example.") ||
		!strings.HasPrefix(lines[1], "dotted queries=2 rcode=NOERROR answer=db.corp.example. ms=") ||
		!strings.HasSuffix(lines[1], " tried=db.corp.example.") {
		t.Fatalf("output:\n%s", out.String())
	}
	// an untimed round of each, then three timed: (8+2)*4
	if srv.queries() != 40 {
		t.Fatalf("the server got %d queries", srv.queries())
	}
}

// A name that finds no address is looked up once each way, not per round.
func TestRunDoesNotRepeatFailures(t *testing.T) {
	srv := newServer(t, map[string]string{})
	c := parseConf(kubeletConf)
	c.servers = []netip.AddrPort{srv.addr}
	var out, errOut bytes.Buffer
	if rc := run(&out, &errOut, c, "nowhere.example.net", 3, 5*time.Second); rc != 0 {
		t.Fatalf("rc %d, stderr %q", rc, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "search queries=8 rcode=NXDOMAIN answer=- ms=") || !strings.Contains(out.String(), "\ndotted queries=2 rcode=NXDOMAIN answer=- ms=") {
		t.Fatalf("output:\n%s", out.String())
	}
	if srv.queries() != 10 {
		t.Fatalf("the server got %d queries", srv.queries())
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	none := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(none, []byte("search corp.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(none); err == nil || !strings.Contains(err.Error(), "names no nameserver") {
		t.Fatalf("no nameserver: %v", err)
	}
	if _, err := load(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "cannot read resolver configuration") {
		t.Fatalf("absent: %v", err)
	}
	for _, bad := range []string{"db;rm", "", "a..b", "-x y"} {
		if validName(bad) == nil {
			t.Errorf("validName(%q) accepted it", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	rs := []result{{elapsed: 3}, {elapsed: 1}, {elapsed: 2}}
	if got := median(rs); got.elapsed != 2 {
		t.Fatalf("median: %v", got.elapsed)
	}
	if rs[0].elapsed != 3 {
		t.Fatal("median sorted its argument")
	}
}
