//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

func TestDNSHealthy(t *testing.T) {
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	healthy(t, r)
	noProbePodsLeft(t)
}

// TestDNSForwardDrop: the seed's "DNS fails because FORWARD policy is DROP",
// on one node; CoreDNS runs on nc-node3. On flannel the policy is harmless
// (flannel's own FORWARD rules accept the pod network): healthy there.
func TestDNSForwardDrop(t *testing.T) {
	lab(t)
	fault(t, "nc-node1", "forward-drop")
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	if profile() == "flannel" {
		// flanneld accepts the pod network in FORWARD itself (FLANNEL-FWD):
		// the DROP policy does not touch pod traffic, and no verdict says it does.
		healthy(t, r)
		return
	}
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	f := finding(t, r, diagnose.CauseForwardDrop)
	if strings.Join(f.Nodes, ",") != "nc-node1" || len(r.report.Findings) != 1 {
		t.Fatalf("findings %+v", r.report.Findings)
	}
	mustContain(t, "fix", f.Fix, "iptables -I FORWARD -s "+podCIDR("nc-node1")+" -j ACCEPT")
	noProbePodsLeft(t)
}

// TestDNSScaledToZero: no DNS server: named at once, no probe pod needed.
func TestDNSScaledToZero(t *testing.T) {
	lab(t)
	noCoreDNS(t)
	r := netcheck(t, time.Minute, "dns", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	finding(t, r, diagnose.CauseDNSNoEndpoints)
	noProbePodsLeft(t)
}
