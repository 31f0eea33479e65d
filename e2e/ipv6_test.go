//go:build e2e

package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// The dual-stack lab's external subnet: fd00:198:19::1 answers ping and
// HTTP on :80, as 198.19.0.1 does; nc-ext has no route back to the pods'
// fd00:10:244::/56, so their IPv6 traffic must be masqueraded.
const (
	extCIDR6 = "fd00:198:19::/64"
	ext6     = "fd00:198:19::1"
)

// dualStack skips unless the lab runs both families (NETCHECK_E2E_STACK=dual,
// the bridge profile's default).
func dualStack(t *testing.T) {
	t.Helper()
	lab(t)
	if labSetting("stack", "ipv4") != "dual" {
		t.Skip("needs the dual-stack lab (NETCHECK_E2E_STACK=dual)")
	}
}

// podCIDR6 is a lab node's IPv6 pod range (nc-node2 → fd00:10:244:2::/64).
func podCIDR6(node string) string {
	return "fd00:10:244:" + strings.TrimPrefix(node, "nc-node") + "::/64"
}

// TestIPv6ExternalHealthy: on the healthy dual-stack lab, the IPv6
// external subnet gives no finding, and the flow was judged from each
// pod's IPv6 address, not its first (IPv4) one.
func TestIPv6ExternalHealthy(t *testing.T) {
	dualStack(t)
	r := netcheck(t, 2*time.Minute, "external", extCIDR6, "--port", "80", "-o", "json")
	healthy(t, r)
	if len(r.report.Nodes) != 3 {
		t.Fatalf("%d nodes probed, want 3", len(r.report.Nodes))
	}
	for _, n := range r.report.Nodes {
		v6 := n.Pod.IPFor(netip.MustParseAddr(ext6))
		if !strings.HasPrefix(v6, "fd00:10:244:") {
			t.Errorf("%s: pod side's IPv6 address %q (ips %v)", n.Name, v6, n.Pod.IPs)
		}
		if len(n.Facts.Targets) != 1 {
			t.Fatalf("%s: facts %+v", n.Name, n.Facts.Targets)
		}
		f := n.Facts.Targets[0]
		if f.PodRoute == nil || !strings.Contains(f.PodRoute.Query, "from "+v6) {
			t.Errorf("%s: pod route not asked from the pod's IPv6 address: %+v", n.Name, f.PodRoute)
		}
		if f.NAT.Result != "yes" || f.Forward.Result != "yes" {
			t.Errorf("%s: NAT %+v, FORWARD %+v: want both yes (the lab's ip6tables masquerade)", n.Name, f.NAT, f.Forward)
		}
		if n.Facts.IP6Forward != "yes" {
			t.Errorf("%s: ip6Forward %q", n.Name, n.Facts.IP6Forward)
		}
	}
	noProbePodsLeft(t)
}

// TestIPv6NodeHealthy: `node` on the dual-stack lab judges the IPv6 pod
// range too, and finds nothing.
func TestIPv6NodeHealthy(t *testing.T) {
	dualStack(t)
	r := netcheck(t, 2*time.Minute, "node", "-o", "json")
	healthy(t, r)
	for _, n := range r.report.Nodes {
		found := false
		for _, f := range n.Facts.Targets {
			if f.Target == diagnose.SampleKey6 {
				found = true
				if f.Forward.Result != "yes" || f.NAT.Result != "yes" {
					t.Errorf("%s: IPv6 sample FORWARD %+v NAT %+v", n.Name, f.Forward, f.NAT)
				}
			}
		}
		if !found {
			t.Errorf("%s: no facts for %s", n.Name, diagnose.SampleKey6)
		}
	}
}

// TestIPv6ExternalFaults injects each IPv6 fault on one node, asserts the
// cause, the node and the fix, applies the printed fix on the node as an
// operator would, and asserts the node is healthy again.
func TestIPv6ExternalFaults(t *testing.T) {
	dualStack(t)
	tests := []struct {
		node, fault string
		cause       diagnose.Cause
		fix         []string // the fix lines applied, in order
		evidence    string
		undo        [][]string // what the applied fix leaves behind, removed after the test
	}{
		{"nc-node1", "masquerade-del6", diagnose.CauseMissingNAT,
			[]string{"ip6tables -t nat -A POSTROUTING -s fd00:10:244:1::/64 -d fd00:198:19::/64 -o eth0 -j MASQUERADE"}, "(no SNAT)",
			[][]string{{"ip6tables", "-t", "nat", "-D", "POSTROUTING", "-s", "fd00:10:244:1::/64", "-d", "fd00:198:19::/64", "-o", "eth0", "-j", "MASQUERADE"}}},
		{"nc-node2", "ext-route-del6", diagnose.CauseMissingRoute,
			[]string{"ip -6 route add fd00:198:19::/64 via fd00:198:18::100 dev eth0"}, "the default route", nil},
		{"nc-node3", "forward-drop6", diagnose.CauseForwardDrop,
			[]string{"ip6tables -I FORWARD -s fd00:10:244:3::/64 -j ACCEPT",
				"ip6tables -I FORWARD -d fd00:10:244:3::/64 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}, "filter FORWARD: policy DROP",
			[][]string{{"ip6tables", "-D", "FORWARD", "-s", "fd00:10:244:3::/64", "-j", "ACCEPT"},
				{"ip6tables", "-D", "FORWARD", "-d", "fd00:10:244:3::/64", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}}},
		{"nc-node1", "ip-forward-off6", diagnose.CauseIPForwardOff,
			[]string{"sysctl -w net.ipv6.conf.all.forwarding=1"}, "net.ipv6.conf.all.forwarding = 0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.fault+"@"+tt.node, func(t *testing.T) {
			fault(t, tt.node, tt.fault)
			r := netcheck(t, 2*time.Minute, "external", extCIDR6, "--port", "80", "-o", "json")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1 (problems found)\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			f := finding(t, r, tt.cause)
			if strings.Join(f.Nodes, ",") != tt.node || len(r.report.Findings) != 1 {
				t.Fatalf("want one %s on %s, got %+v", tt.cause, tt.node, r.report.Findings)
			}
			mustContain(t, "evidence", f.Evidence, tt.evidence)
			applyFix(t, tt.node, tt.fault, f, tt.fix, tt.undo)
			healthy(t, netcheck(t, 2*time.Minute, "external", extCIDR6, "--port", "80", "--node", tt.node, "-o", "json"))
			noProbePodsLeft(t)
		})
	}
}

// applyFix checks that the finding's fix begins with the lines want, then
// applies them on node as an operator would, by hand; undo removes what
// they leave behind when the test ends. ip-forward-off6's enforcer plays a
// hardening agent that re-applies the setting: it goes with the restore,
// which runs the same sysctl.
func applyFix(t *testing.T, node, fault string, f diagnose.Finding, want []string, undo [][]string) {
	t.Helper()
	for i, w := range want {
		if i >= len(f.Fix) || strings.TrimSpace(strings.SplitN(f.Fix[i], "#", 2)[0]) != w {
			t.Fatalf("fix line %d: want %q, got %q", i, w, f.Fix)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if fault == "ip-forward-off6" {
		restoreFault(t, node, fault)
	}
	for _, line := range want {
		onNode(t, node, command(line)...)
	}
	t.Cleanup(func() {
		for _, u := range undo {
			_ = runOnNode(node, u...)
		}
	})
}

// TestIPv6NodeFaults: `node` names the IPv6 settings on the node that has
// them wrong, in ip6tables and sysctl's words.
func TestIPv6NodeFaults(t *testing.T) {
	dualStack(t)
	tests := []struct {
		node, fault string
		cause       diagnose.Cause
		fix         string
	}{
		{"nc-node2", "forward-drop6", diagnose.CauseForwardDrop, "ip6tables -I FORWARD -s " + podCIDR6("nc-node2") + " -j ACCEPT"},
		{"nc-node3", "ip-forward-off6", diagnose.CauseIPForwardOff, "sysctl -w net.ipv6.conf.all.forwarding=1"},
		{"nc-node1", "masquerade-del6", diagnose.CauseMissingNAT, "ip6tables -t nat -A POSTROUTING -s " + podCIDR6("nc-node1") + " ! -d " + podCIDR6("nc-node1")},
	}
	for _, tt := range tests {
		t.Run(tt.fault+"@"+tt.node, func(t *testing.T) {
			fault(t, tt.node, tt.fault)
			r := netcheck(t, 2*time.Minute, "node", "-o", "json")
			f := finding(t, r, tt.cause)
			if strings.Join(f.Nodes, ",") != tt.node || len(r.report.Findings) != 1 {
				t.Fatalf("want one %s on %s, got %+v", tt.cause, tt.node, r.report.Findings)
			}
			mustContain(t, "fix", f.Fix, tt.fix)
			mustContain(t, "summary", []string{f.Summary}, "IPv6")
		})
	}
}

// TestIPv6NameFamilies: a name with both records is pinged in each family
// from both sides; www.example.net answers in both (healthy), the lab's
// dual.example.net only over IPv6 (its A record names 198.19.0.2, which
// nobody holds): the failing family is named, with its address.
func TestIPv6NameFamilies(t *testing.T) {
	dualStack(t)
	r := netcheck(t, 2*time.Minute, "external", "www.example.net", "-o", "json")
	healthy(t, r)
	for _, n := range r.report.Nodes {
		for _, fam := range []string{"IPv4", "IPv6"} {
			ok := false
			for _, c := range n.Host.Checks {
				if c.ID.Role == "target-family" && c.ID.Of == fam && c.Outcome == "ok" {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: no successful %s ping of www.example.net from the node: %+v", n.Name, fam, n.Host.Checks)
			}
		}
	}
	r = netcheck(t, 2*time.Minute, "external", "dual.example.net", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	f := finding(t, r, diagnose.CauseFamilyUnreachable)
	if len(r.report.Findings) != 1 || len(f.Nodes) != 3 {
		t.Fatalf("want one %s on every node: %+v", diagnose.CauseFamilyUnreachable, r.report.Findings)
	}
	mustContain(t, "summary", []string{f.Summary}, "over IPv6 ("+ext6+") and not over IPv4 (198.19.0.2)")
	mustContain(t, "fix", f.Fix, "nslookup -type=a dual.example.net")
	noProbePodsLeft(t)
}

// TestIPv6PodsHealthy: on the healthy dual-stack lab every pod reaches
// every other over IPv6 as well (peer-family checks from each pod's IPv6
// address to the others'), and `pods` finds nothing.
func TestIPv6PodsHealthy(t *testing.T) {
	dualStack(t)
	r := podsCheck(t)
	healthy(t, r)
	for _, n := range r.report.Nodes {
		v6 := 0
		for _, c := range n.Pod.Checks {
			if c.ID.Role == "peer-family" {
				if !strings.HasPrefix(c.ID.Addr, "fd00:10:244:") || (c.Outcome != "ok" && c.Outcome != "refused") {
					t.Errorf("%s: IPv6 peer check %+v", n.Name, c)
				}
				v6++
			}
		}
		if v6 != 2*(len(r.report.Nodes)-1) {
			t.Errorf("%s: %d IPv6 peer checks, want ping and TCP to each other node", n.Name, v6)
		}
	}
}

// TestIPv6PodsFaults: each IPv6-only fault between pods is named on its
// node, in the IPv6 tools' words, while IPv4 between the same pods works;
// the printed fix applied by hand on the node makes `pods` healthy again.
func TestIPv6PodsFaults(t *testing.T) {
	dualStack(t)
	tests := []struct {
		node, fault string
		cause       diagnose.Cause
		fix         []string
		undo        [][]string
	}{
		{"nc-node2", "forward-drop6", diagnose.CauseForwardDrop,
			[]string{"ip6tables -I FORWARD -s " + podCIDR6("nc-node2") + " -j ACCEPT", "ip6tables -I FORWARD -d " + podCIDR6("nc-node2") + " -j ACCEPT"},
			[][]string{{"ip6tables", "-D", "FORWARD", "-s", podCIDR6("nc-node2"), "-j", "ACCEPT"},
				{"ip6tables", "-D", "FORWARD", "-d", podCIDR6("nc-node2"), "-j", "ACCEPT"}}},
		{"nc-node3", "ip-forward-off6", diagnose.CauseIPForwardOff,
			[]string{"sysctl -w net.ipv6.conf.all.forwarding=1"}, nil},
		{"nc-node1", "route-del-podcidr6:nc-node3", diagnose.CauseMissingPodRoute,
			[]string{"ip -6 route add " + podCIDR6("nc-node3") + " via fd00:198:18::13"},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.fault+"@"+tt.node, func(t *testing.T) {
			fault(t, tt.node, tt.fault)
			r := podsCheck(t)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1 (problems found)\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			f := finding(t, r, tt.cause)
			if strings.Join(f.Nodes, ",") != tt.node || len(r.report.Findings) != 1 {
				t.Fatalf("want one %s on %s, got %+v", tt.cause, tt.node, r.report.Findings)
			}
			// IPv4 between the same pods still works: the finding is the IPv6 path's.
			for _, n := range r.report.Nodes {
				for _, c := range n.Pod.Checks {
					if c.ID.Role == "peer" && c.Kind == "ping" && c.Outcome != "ok" {
						t.Errorf("%s: IPv4 %s lost under an IPv6 fault: %+v", n.Name, c.ID.String(), c)
					}
				}
			}
			if t.Failed() {
				return
			}
			applyFix(t, tt.node, tt.fault, f, tt.fix, tt.undo)
			healthy(t, podsCheck(t))
			noProbePodsLeft(t)
		})
	}
}
