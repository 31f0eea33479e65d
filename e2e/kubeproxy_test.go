//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// restartKubeProxy is the printed fix, as the lab can apply it: kube-proxy
// on the node restarted (the lab runs it as a process, not a DaemonSet pod:
// systemctl restart kube-proxy on a real node).
func restartKubeProxy(t *testing.T, node string) {
	t.Helper()
	script := filepath.Join(repoRoot(), "e2e", "cluster", "fault.sh")
	for _, action := range []string{"inject", "restore"} {
		if out, err := exec.Command("bash", script, node, "kube-proxy-kill", action).CombinedOutput(); err != nil {
			t.Fatalf("restart kube-proxy on %s (%s): %v\n%s", node, action, err, out)
		}
	}
}

// TestServiceKubeProxyKilled: kube-proxy dies on nc-node1 and its rules stay
// behind. The Service still answers there, but the rules are stale: a
// warning names the node; kube-proxy restarted, no finding is left.
func TestServiceKubeProxyKilled(t *testing.T) {
	shop(t)
	fault(t, "nc-node1", "kube-proxy-kill")
	r := svcCheck(t, "web")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseKubeProxyDown: "nc-node1"})
	f := finding(t, r, diagnose.CauseKubeProxyDown)
	if f.Severity != diagnose.Warning || !strings.Contains(f.Summary, "rules it left still serve") || !strings.Contains(f.Summary, proxyMode()) {
		t.Fatalf("want a warning that %s rules are stale, got %s: %s", proxyMode(), f.Severity, f.Summary)
	}
	mustContain(t, "fix", f.Fix, "systemctl restart kube-proxy")
	restartKubeProxy(t, "nc-node1")
	healthy(t, svcCheck(t, "web"))
	noProbePodsLeft(t)
}

// TestServiceNftablesMapElementDeleted: in nftables mode, the web Service's
// element is deleted from kube-proxy's service-ips map on nc-node2 (kube-proxy
// keeps running and rewrites its maps only at its next full sync, an hour
// away). The ClusterIP fails there only; the verdict reads the map, and a
// restarted kube-proxy brings the element back.
func TestServiceNftablesMapElementDeleted(t *testing.T) {
	if proxyMode() != "nftables" {
		t.Skip("needs the lab's kube-proxy in nftables mode (NETCHECK_E2E_PROXY_MODE=nftables)")
	}
	shop(t)
	ip := strings.TrimSpace(kubectl(t, "-n", "nc-shop", "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"))
	fault(t, "nc-node2", "proxy-map-del:"+ip)
	r := svcCheck(t, "web")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseKubeProxyRules: "nc-node2"})
	f := finding(t, r, diagnose.CauseKubeProxyRules)
	if !strings.Contains(f.Summary, "nftables rules have no entry for "+ip+":80/tcp") {
		t.Fatalf("summary: %s", f.Summary)
	}
	mustContain(t, "evidence", f.Evidence, "no rule for "+ip+":80/tcp")
	restartKubeProxy(t, "nc-node2")
	// A restarted kube-proxy rewrites its table at its first sync, a moment later.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.Command("bash", filepath.Join(repoRoot(), "e2e", "cluster", "exec-node.sh"), "nc-node2",
			"nft", "list", "map", "ip", "kube-proxy", "service-ips").CombinedOutput()
		if strings.Contains(string(out), ip+" . tcp . 80 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-proxy restarted on nc-node2 did not write %s back within 20s:\n%s", ip, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	healthy(t, svcCheck(t, "web"))
	noProbePodsLeft(t)
}
