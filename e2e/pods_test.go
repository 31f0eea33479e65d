//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

func podsCheck(t *testing.T) result {
	t.Helper()
	return netcheck(t, 2*time.Minute, "pods", "-o", "json")
}

func TestPodsHealthy(t *testing.T) {
	r := podsCheck(t)
	healthy(t, r)
	// Every pod checked every other node's pod: n×(n−1) pairs, ping, TCP and
	// a path-MTU measurement each; on the dual-stack lab ping and TCP over
	// IPv6 too.
	n := len(r.report.Nodes)
	per := 3
	if labSetting("stack", "ipv4") == "dual" {
		per = 5
	}
	for _, node := range r.report.Nodes {
		if got := len(node.Pod.Checks); got != per*(n-1) {
			t.Errorf("%s ran %d peer checks, want %d", node.Name, got, per*(n-1))
		}
	}
	noProbePodsLeft(t)
}

// TestPodsPodCIDRRouteDeleted: the route to nc-node3's podCIDR deleted on
// nc-node1 — both directions fail, the verdict blames nc-node1 only.
func TestPodsPodCIDRRouteDeleted(t *testing.T) {
	lab(t)
	fault(t, "nc-node1", "route-del-podcidr:nc-node3")
	r := podsCheck(t)
	only(t, r, map[diagnose.Cause]string{diagnose.CauseMissingPodRoute: "nc-node1"})
	f := finding(t, r, diagnose.CauseMissingPodRoute)
	mustContain(t, "fix", f.Fix, "ip route add 10.244.3.0/24 via 198.18.0.13")
	mustContain(t, "evidence", f.Evidence, "ip route get 10.244.3.1")
	noProbePodsLeft(t)
}

// TestPodsForwardDrop: FORWARD DROP on nc-node2 cuts it off from every
// other node; the other two still reach each other.
func TestPodsForwardDrop(t *testing.T) {
	lab(t)
	fault(t, "nc-node2", "forward-drop")
	r := podsCheck(t)
	only(t, r, map[diagnose.Cause]string{diagnose.CauseForwardDrop: "nc-node2"})
	mustContain(t, "fix", finding(t, r, diagnose.CauseForwardDrop).Fix, "iptables -I FORWARD -d 10.244.2.0/24 -j ACCEPT")
	noProbePodsLeft(t)
}

// TestPodsIPForwardOff: forwarding kept off on nc-node3 (the fault's
// enforcer re-applies it, as the CNI turns it back on at each pod start).
func TestPodsIPForwardOff(t *testing.T) {
	lab(t)
	fault(t, "nc-node3", "ip-forward-off")
	r := podsCheck(t)
	only(t, r, map[diagnose.Cause]string{diagnose.CauseIPForwardOff: "nc-node3"})
	if f := finding(t, r, diagnose.CauseIPForwardOff); !strings.Contains(strings.Join(f.Fix, "\n"), "sysctl -w net.ipv4.ip_forward=1") {
		t.Errorf("fix: %v", f.Fix)
	}
	noProbePodsLeft(t)
}

// TestPodsMTUBlackhole: nc-node2's uplink at MTU 1400, the others' at 1500.
// Small pings pass everywhere, full-size ones to and from nc-node2 die: the
// verdict names nc-node2 and its MTU, and the printed ip link command,
// applied on the node, makes the run healthy.
func TestPodsMTUBlackhole(t *testing.T) {
	lab(t)
	fault(t, "nc-node2", "uplink-mtu")
	r := podsCheck(t)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stdout)
	}
	f := finding(t, r, diagnose.CauseMTUPath)
	if strings.Join(f.Nodes, ",") != "nc-node2" || len(r.report.Findings) != 1 {
		t.Fatalf("want one mtu finding on nc-node2: %+v", r.report.Findings)
	}
	mustContain(t, "evidence", f.Evidence, "node@nc-node2: uplink eth0 MTU 1400")
	if len(f.Fix) == 0 || !strings.HasPrefix(f.Fix[0], "ip link set dev eth0 mtu 1500") {
		t.Fatalf("fix %q", f.Fix)
	}
	onNode(t, "nc-node2", command(f.Fix[0])...)
	healthy(t, podsCheck(t))
	noProbePodsLeft(t)
}
