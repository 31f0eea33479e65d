package probe

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// ClassifyLookup on what netcheck-lookup printed in a lab pod
// (testdata/capture-netcheck-lookup.sh).
func TestClassifyLookup(t *testing.T) {
	ok := ClassifyLookup(captured(t, "netcheck-lookup-ok"))
	want := observe.LookupWay{Queries: 8, Rcode: "NOERROR", Answer: "www.example.net.", Tried: []string{
		"www.example.net.nc-shop.svc.cluster.local.", "www.example.net.svc.cluster.local.", "www.example.net.cluster.local.", "www.example.net."}}
	if ok.Outcome != observe.OK || ok.Lookup == nil {
		t.Fatalf("ok: %+v", ok)
	}
	if d := cmp.Diff(want, ok.Lookup.Search, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Millis" }, cmp.Ignore())); d != "" {
		t.Errorf("as written (-want +got):\n%s", d)
	}
	if ok.Lookup.Search.Millis <= 0 || ok.Lookup.Dotted.Queries != 2 || ok.Lookup.Dotted.Answer != "www.example.net." || ok.Latency <= 0 {
		t.Errorf("timing or the dotted way: %+v, latency %s", ok.Lookup, ok.Latency)
	}
	if !strings.HasPrefix(ok.Detail, "8 queries ") || !strings.Contains(ok.Detail, ", with a trailing dot 2 ") {
		t.Errorf("detail %q", ok.Detail)
	}

	nx := ClassifyLookup(captured(t, "netcheck-lookup-nxdomain"))
	if nx.Outcome != observe.DNSFailure || nx.Lookup == nil || nx.Lookup.Search.Answer != "" || nx.Lookup.Search.Queries != 8 || !strings.HasPrefix(nx.Detail, "NXDOMAIN after 8 queries") {
		t.Errorf("nxdomain: %+v %+v", nx, nx.Lookup)
	}
	closed := ClassifyLookup(captured(t, "netcheck-lookup-closed"))
	if closed.Outcome != observe.DNSFailure || closed.Lookup.Dotted.Rcode != "PORT-CLOSED" {
		t.Errorf("closed: %+v %+v", closed, closed.Lookup)
	}
	// kubectl printed the API's exec error on stderr; the plugin gets it as the exec's error.
	m := captured(t, "netcheck-lookup-missing")
	missing := ClassifyLookup(podexec.Result{ExitCode: -1, Err: errors.New(strings.TrimPrefix(strings.TrimSpace(m.Stderr), "error: "))})
	if missing.Outcome != observe.Error || missing.Lookup != nil || !strings.Contains(missing.Detail, "the probe image has no netcheck-lookup") {
		t.Errorf("missing: %+v", missing)
	}
	// one line only, or garbage: never a half-read cost
	for _, out := range []string{"search queries=8 rcode=NOERROR answer=a. ms=1 tried=a.\n", "dotted queries=x rcode=NOERROR ms=1\nsearch queries=8 rcode=NOERROR ms=1\n", ""} {
		if c := ClassifyLookup(podexec.Result{Stdout: out}); c.Outcome != observe.Error || c.Lookup != nil {
			t.Errorf("%q: %+v", out, c)
		}
	}
}

func TestLookupArgv(t *testing.T) {
	if d := cmp.Diff([]string{"netcheck-lookup", "db.corp.example"}, LookupArgv("db.corp.example.")); d != "" {
		t.Error(d)
	}
}
