//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

func TestAPIHealthy(t *testing.T) {
	r := netcheck(t, 2*time.Minute, "api", "-o", "json")
	healthy(t, r)
	noProbePodsLeft(t)
}

// TestAPIForbidden: a service account without rights gets 403, and the
// verdict is RBAC, not the network; the printed grant then makes it pass.
func TestAPIForbidden(t *testing.T) {
	shop(t)
	args := []string{"api", "-n", "nc-shop", "--service-account", "nc-probe", "-o", "json"}
	r := netcheck(t, 2*time.Minute, args...)
	only(t, r, map[diagnose.Cause]string{diagnose.CauseRBACForbidden: ""}) // the plugin asked, not a node
	f := finding(t, r, diagnose.CauseRBACForbidden)
	if !strings.Contains(f.Summary, "the network is fine") {
		t.Errorf("summary: %s", f.Summary)
	}
	// Apply the two printed kubectl commands (role, rolebinding), as a user would.
	if len(f.Fix) < 2 {
		t.Fatalf("fix: %v", f.Fix)
	}
	for _, line := range f.Fix[:2] {
		argv := strings.Fields(line)
		if argv[0] != "kubectl" {
			t.Fatalf("fix is not a kubectl command: %q", line)
		}
		kubectl(t, argv[1:]...)
	}
	t.Cleanup(func() {
		kubectl(t, "-n", "nc-shop", "delete", "role,rolebinding", "nc-probe-list-pods", "--ignore-not-found")
	})
	r = netcheck(t, 2*time.Minute, args...)
	healthy(t, r) // after the printed grant
	noProbePodsLeft(t)
}

// TestAPIKubeProxyStopped: the kubernetes Service is a Service like any:
// without kube-proxy on nc-node3 its pods cannot reach the API server.
func TestAPIKubeProxyStopped(t *testing.T) {
	lab(t)
	fault(t, "nc-node3", "kube-proxy-stop")
	r := netcheck(t, 2*time.Minute, "api", "-o", "json")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseKubeProxyDown: "nc-node3"})
	noProbePodsLeft(t)
}

func TestAPIUnknownServiceAccount(t *testing.T) {
	r := netcheck(t, time.Minute, "api", "--service-account", "nc-nosuch")
	if r.code != 2 || !strings.Contains(r.stderr, `service account "nc-nosuch" not found`) {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}
