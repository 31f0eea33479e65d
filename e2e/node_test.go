//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

func TestNodeHealthy(t *testing.T) {
	r := netcheck(t, 2*time.Minute, "node", "-o", "json")
	healthy(t, r)
	for _, n := range r.report.Nodes {
		if n.Facts.ConntrackMax == 0 || len(n.Facts.MTUs) == 0 || n.Facts.IPForward != "yes" {
			t.Errorf("%s: facts not read: %+v", n.Name, n.Facts)
		}
	}
	noProbePodsLeft(t)
}

func TestNodeFaults(t *testing.T) {
	lab(t)
	tests := []struct {
		node, fault string
		cause       diagnose.Cause
		severity    diagnose.Severity
		fix         string
	}{
		{"nc-node2", "forward-drop", diagnose.CauseForwardDrop, diagnose.Error, "iptables -I FORWARD -s 10.244.2.0/24 -j ACCEPT"},
		{"nc-node3", "ip-forward-off", diagnose.CauseIPForwardOff, diagnose.Error, "sysctl -w net.ipv4.ip_forward=1"},
		{"nc-node1", "masquerade-del", diagnose.CauseMissingNAT, diagnose.Warning, "-s 10.244.1.0/24 ! -d 10.244.1.0/24 -o eth0 -j MASQUERADE"},
		// 97% of the real nf_conntrack_max (the kernel refuses a lower max in a
		// node's netns): ~254,000 idle entries inserted into nc-node2's table.
		{"nc-node2", "conntrack-fill", diagnose.CauseConntrackFull, diagnose.Error, "sysctl -w net.netfilter.nf_conntrack_max="},
	}
	for _, tt := range tests {
		t.Run(tt.fault+"@"+tt.node, func(t *testing.T) {
			fault(t, tt.node, tt.fault)
			r := netcheck(t, 2*time.Minute, "node", "-o", "json")
			if r.code != 1 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			f := finding(t, r, tt.cause)
			if strings.Join(f.Nodes, ",") != tt.node || f.Severity != tt.severity || len(r.report.Findings) != 1 {
				t.Fatalf("findings %+v, want one %s %s on %s", r.report.Findings, tt.severity, tt.cause, tt.node)
			}
			mustContain(t, "fix", f.Fix, tt.fix)
			noProbePodsLeft(t)
		})
	}
}
