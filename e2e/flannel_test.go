//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

var labNodes = []string{"nc-node1", "nc-node2", "nc-node3"}

// flannel skips unless the lab runs the flannel profile.
func flannel(t *testing.T) {
	t.Helper()
	lab(t)
	if profile() != "flannel" {
		t.Skip("needs the lab's flannel profile (NETCHECK_E2E_PROFILE=flannel)")
	}
}

// TestFlannelHealthy: on flannel VXLAN every command is healthy, and the
// node facts carry the overlay as the kernel and flannel have it.
func TestFlannelHealthy(t *testing.T) {
	flannel(t)
	for _, args := range [][]string{{"node"}, {"pods"}, {"external", extCIDR, "--port", "80"}, {"dns"}, {"api"}} {
		r := netcheck(t, 2*time.Minute, append(args, "-o", "json")...)
		healthy(t, r)
		if args[0] != "pods" {
			continue
		}
		for _, n := range r.report.Nodes {
			o := n.Facts.Overlay
			if o == nil || o.Name != "flannel VXLAN" || o.DstPort != 8472 || o.VNI != 1 || len(o.FDB) != 2 || !o.LeaseRead || len(o.Inbound) != 2 {
				t.Errorf("%s: overlay facts %+v", n.Name, o)
			}
		}
	}
	noProbePodsLeft(t)
}

// TestFlannelMasqueradeOff is the first seed: flannel's masquerade off on
// every node (nodes reach the outside subnet, pods do not). external names
// missing-nat on each node with flannel's own fix; the printed iptables
// rule, applied on each node, makes it healthy.
func TestFlannelMasqueradeOff(t *testing.T) {
	flannel(t)
	for _, n := range labNodes {
		fault(t, n, "flannel-masq-off")
	}
	r := netcheck(t, 2*time.Minute, "external", extCIDR, "--port", "80", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stdout)
	}
	byNode := map[string]diagnose.Finding{}
	for _, f := range r.report.Findings {
		if f.Cause != diagnose.CauseMissingNAT {
			t.Fatalf("only missing-nat expected, got %s on %v: %s", f.Cause, f.Nodes, f.Summary)
		}
		for _, n := range f.Nodes {
			byNode[n] = f
		}
	}
	for _, n := range labNodes {
		f, ok := byNode[n]
		if !ok {
			t.Fatalf("no missing-nat on %s: %+v", n, r.report.Findings)
		}
		mustContain(t, "fix", f.Fix, "this node's lease says FLANNEL_IPMASQ=false: add --ip-masq to flanneld")
		if !strings.HasPrefix(f.Fix[0], "iptables -t nat -A POSTROUTING -s 10.42.") {
			t.Fatalf("%s: first fix %q", n, f.Fix[0])
		}
		onNode(t, n, command(f.Fix[0])...)
		t.Cleanup(func() { _ = runOnNode(n, append([]string{"iptables", "-t", "nat", "-D"}, command(f.Fix[0])[4:]...)...) })
	}
	healthy(t, netcheck(t, 2*time.Minute, "external", extCIDR, "--port", "80", "-o", "json"))
	noProbePodsLeft(t)
}

// TestFlannelVXLANDropped: a host firewall rule on nc-node2 drops UDP 8472.
// pods names that node and the port; the printed fix, applied there, heals it.
func TestFlannelVXLANDropped(t *testing.T) {
	flannel(t)
	fault(t, "nc-node2", "vxlan-drop")
	r := netcheck(t, 2*time.Minute, "pods", "-o", "json")
	if r.code != 1 || len(r.report.Findings) != 1 {
		t.Fatalf("exit %d, findings %+v", r.code, r.report.Findings)
	}
	f := finding(t, r, diagnose.CauseOverlayBlocked)
	if strings.Join(f.Nodes, ",") != "nc-node2" || !strings.Contains(f.Summary, "UDP 8472") {
		t.Fatalf("%v: %s", f.Nodes, f.Summary)
	}
	if !strings.HasPrefix(f.Fix[0], "iptables -D INPUT -p udp -m udp --dport 8472 ") {
		t.Fatalf("fix %q", f.Fix)
	}
	onNode(t, "nc-node2", command(f.Fix[0])...)
	healthy(t, netcheck(t, 2*time.Minute, "pods", "-o", "json"))
	noProbePodsLeft(t)
}

// TestFlannelVXLANDroppedNftables: the same drop in a native nft table on
// nc-node3, found by `node` from the facts alone; its nft fix heals it.
func TestFlannelVXLANDroppedNftables(t *testing.T) {
	flannel(t)
	fault(t, "nc-node3", "nft-vxlan-drop")
	r := netcheck(t, 2*time.Minute, "node", "-o", "json")
	f := finding(t, r, diagnose.CauseOverlayBlocked)
	if strings.Join(f.Nodes, ",") != "nc-node3" || !strings.HasPrefix(f.Fix[0], "nft delete rule inet netcheck_in input handle ") {
		t.Fatalf("%v: fix %q", f.Nodes, f.Fix)
	}
	mustContain(t, "evidence", f.Evidence, "nftables input hook: drop: table inet netcheck_in chain input handle ")
	onNode(t, "nc-node3", command(f.Fix[0])...)
	healthy(t, netcheck(t, 2*time.Minute, "node", "-o", "json"))
	noProbePodsLeft(t)
}

// TestFlanneldStopped: flanneld dies on nc-node1, its routes and lease stay:
// pods still work, a warning names the node; a restarted flanneld clears it.
func TestFlanneldStopped(t *testing.T) {
	flannel(t)
	fault(t, "nc-node1", "flanneld-stop")
	r := netcheck(t, 2*time.Minute, "pods", "-o", "json")
	f := finding(t, r, diagnose.CauseFlannelDown)
	if strings.Join(f.Nodes, ",") != "nc-node1" || f.Severity != diagnose.Warning || len(r.report.Findings) != 1 {
		t.Fatalf("%+v", r.report.Findings)
	}
	mustContain(t, "fix", f.Fix, "systemctl restart flanneld")
	restoreFault(t, "nc-node1", "flanneld-stop") // the lab's flanneld restart
	healthy(t, netcheck(t, 2*time.Minute, "pods", "-o", "json"))
	noProbePodsLeft(t)
}

// TestFlanneldStoppedLeaseGone: flanneld dead and its lease gone on nc-node1:
// the node's pods get no network, and the verdict names flannel, not a
// pod that would not start.
func TestFlanneldStoppedLeaseGone(t *testing.T) {
	flannel(t)
	fault(t, "nc-node1", "flanneld-stop:lease")
	r := netcheck(t, 2*time.Minute, "pods", "--start-timeout", "15s", "-o", "json")
	f := finding(t, r, diagnose.CauseFlannelDown)
	if strings.Join(f.Nodes, ",") != "nc-node1" || f.Severity != diagnose.Error {
		t.Fatalf("%+v", r.report.Findings)
	}
	mustContain(t, "evidence", f.Evidence, "/run/flannel/subnet.env is missing")
	restoreFault(t, "nc-node1", "flanneld-stop:lease")
	healthy(t, netcheck(t, 2*time.Minute, "pods", "-o", "json"))
	noProbePodsLeft(t)
}

// TestFlannelWrongPublicIP: flanneld on nc-node2 advertises 198.18.0.99, an
// address nothing has; the other nodes send its VXLAN there. pods names the
// node, the FDB entries and flannel's --iface/--public-ip; flanneld started
// with the right address heals it.
func TestFlannelWrongPublicIP(t *testing.T) {
	flannel(t)
	fault(t, "nc-node2", "flannel-public-ip:198.18.0.99")
	time.Sleep(2 * time.Second) // the other flanneld's watch rewrites their FDBs
	r := netcheck(t, 2*time.Minute, "pods", "-o", "json")
	f := finding(t, r, diagnose.CauseVTEPAddress)
	if strings.Join(f.Nodes, ",") != "nc-node2" || len(r.report.Findings) != 1 || !strings.Contains(f.Summary, "198.18.0.99") {
		t.Fatalf("%+v", r.report.Findings)
	}
	mustContain(t, "evidence", f.Evidence, "node@nc-node1: bridge fdb: ")
	mustContain(t, "fix", f.Fix, "--iface=eth0 (or --public-ip=198.18.0.12)")
	restoreFault(t, "nc-node2", "flannel-public-ip:198.18.0.99") // flanneld started with the node's own address
	time.Sleep(2 * time.Second)
	healthy(t, netcheck(t, 2*time.Minute, "pods", "-o", "json"))
	noProbePodsLeft(t)
}

// TestFlannelOverlayMTURaised: nc-node2's flannel.1 at MTU 1500 (raised
// while its uplink was larger; the uplink is back at 1500): more than the
// uplink carries once VXLAN's 50 bytes are added. node names the device
// from the facts; its printed fix, applied, makes it healthy. (The pods
// still get flanneld's 1450, so their own paths are whole: pods stays quiet.)
func TestFlannelOverlayMTURaised(t *testing.T) {
	flannel(t)
	fault(t, "nc-node2", "flannel-mtu-high")
	r := netcheck(t, 2*time.Minute, "node", "-o", "json")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseMTUMismatch: "nc-node2"})
	f := finding(t, r, diagnose.CauseMTUMismatch)
	mustContain(t, "evidence", f.Evidence, "node@nc-node2: flannel.1 MTU 1500; uplink eth0 MTU 1500 less flannel VXLAN's 50 bytes of headers")
	if len(f.Fix) == 0 || f.Fix[0] != "ip link set dev flannel.1 mtu 1450   # on nc-node2" {
		t.Fatalf("fix %q", f.Fix)
	}
	onNode(t, "nc-node2", command(f.Fix[0])...)
	healthy(t, netcheck(t, 2*time.Minute, "node", "-o", "json"))
	noProbePodsLeft(t)
}

// TestFlannelPodMTUAboveOverlay: nc-node2's flannel CNI config gives new pods
// MTU 1500, above flannel.1's 1450. pods measures the path from its pod
// probe there (nc-node2 itself answers "fragmentation needed", MTU 1450) and
// names nc-node2 and the CNI's MTU; the config put back (the printed fix:
// drop the "mtu"), the next probes get 1450 and the run is healthy.
func TestFlannelPodMTUAboveOverlay(t *testing.T) {
	flannel(t)
	fault(t, "nc-node2", "flannel-cni-mtu")
	r := podsCheck(t)
	only(t, r, map[diagnose.Cause]string{diagnose.CauseMTUPath: "nc-node2"})
	f := finding(t, r, diagnose.CauseMTUPath)
	mustContain(t, "evidence", f.Evidence, "with DF set, 1450-byte packets pass and 1500-byte ones are lost (the sender's eth0 MTU is 1500)")
	if f.Severity != diagnose.Warning || len(f.Fix) == 0 || !strings.Contains(f.Fix[0], `drop the "mtu" from the delegate`) {
		t.Fatalf("%s, fix %q", f.Severity, f.Fix)
	}
	restoreFault(t, "nc-node2", "flannel-cni-mtu")
	healthy(t, podsCheck(t))
	noProbePodsLeft(t)
}
