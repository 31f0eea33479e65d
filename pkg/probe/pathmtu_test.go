package probe

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// The transcripts are pathmtu.sh's, captured by testdata/capture-pmtu.sh.
func TestClassifyPathMTUCaptured(t *testing.T) {
	tests := []struct {
		file    string
		outcome observe.Outcome
		want    observe.PathMTU
	}{
		{"pmtu-ok", observe.OK, observe.PathMTU{Dev: "eth0", Local: 1500, Largest: 1500, Probes: 1}},
		// The router's far side is at 1400: it says so, and 1400 passes.
		{"pmtu-router", observe.Timeout, observe.PathMTU{Dev: "eth0", Local: 1500, Largest: 1400, Failed: 1500,
			Told: 1400, ToldBy: "198.18.7.254", NoDF: "ok", Probes: 2}},
		// The server's link is at 1400 (a veth takes 4 bytes more): nobody says a word.
		{"pmtu-silent", observe.Timeout, observe.PathMTU{Dev: "eth0", Local: 1500, Largest: 1404, Failed: 1405,
			NoDF: "lost", Probes: 13}},
		{"pmtu-unanswered", observe.Error, observe.PathMTU{Dev: "eth0", Local: 1500, Failed: 576, Probes: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := ClassifyPathMTU(captured(t, tt.file))
			if c.Outcome != tt.outcome {
				t.Fatalf("outcome %s (%s), want %s", c.Outcome, c.Detail, tt.outcome)
			}
			tt.want.Tool = PathMTUTool
			if diff := cmp.Diff(&tt.want, c.PathMTU); diff != "" {
				t.Fatalf("measurement (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassifyPathMTUUnfinished(t *testing.T) {
	r := captured(t, "pmtu-silent")
	r.Stdout = strings.TrimSuffix(strings.TrimSpace(r.Stdout), "done")
	if c := ClassifyPathMTU(r); c.Outcome != observe.Error || !strings.Contains(c.Detail, "did not finish") {
		t.Fatalf("a transcript cut short is no verdict: %s %s", c.Outcome, c.Detail)
	}
	if c := ClassifyPathMTU(podexec.Result{Stdout: "local eth0 1500 10.0.0.1\ntrace 1500 32  10.0.0.1  0.1 ms\ndone\n", Truncated: true}); c.Outcome != observe.Error {
		t.Fatalf("truncated output judged: %s", c.Outcome)
	}
}

// A reply from another address than the host's (a router) is not the host's.
func TestPathMTUAnsweredByHostOnly(t *testing.T) {
	for _, tt := range []struct {
		hop  string
		want bool
	}{
		{"32  10.0.0.1  0.100 ms", true},
		{"32  10.0.0.254  0.100 ms", false},
		{"32  10.0.0.1  0.100 ms !H", false},
		{"32  *", false},
		{"32  10.0.0.1  0.100 ms !F-1400", false},
	} {
		if got := answered(tt.hop, "10.0.0.1"); got != tt.want {
			t.Errorf("answered(%q) = %v", tt.hop, got)
		}
	}
	if toldMTU("32  10.0.0.254  0.1 ms !F-1400") != 1400 || toldMTU("32  *") != 0 {
		t.Fatal("toldMTU")
	}
}

func TestPathMTUArgvKeepsParametersOutOfTheScript(t *testing.T) {
	argv := PathMTUArgv("10.0.0.1; reboot", "", 0)
	if argv[2] != pathMTUScript || !slices.Equal(argv[3:], []string{"netcheck-pmtu", "1", "10.0.0.1; reboot", ""}) {
		t.Fatalf("argv %q", argv[3:])
	}
}
