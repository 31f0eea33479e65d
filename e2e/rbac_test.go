//go:build e2e

package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRBACManifestSuffices: a service account bound to nothing but
// deploy/rbac.yaml's roles, as its comments tell an admin to bind them,
// runs every probing command to a healthy verdict. The README's RBAC
// section is then not a guess.
func TestRBACManifestSuffices(t *testing.T) {
	shop(t)
	kubectl(t, "apply", "-f", filepath.Join(repoRoot(), "deploy", "rbac.yaml"))
	t.Cleanup(func() {
		kubectl(t, "delete", "-f", filepath.Join(repoRoot(), "deploy", "rbac.yaml"), "--ignore-not-found", "--wait=false")
		kubectl(t, "delete", "clusterrolebinding", "netcheck-e2e-user", "--ignore-not-found")
	})
	kubectl(t, "-n", "netcheck", "create", "serviceaccount", "netcheck-user")
	kubectl(t, "create", "clusterrolebinding", "netcheck-e2e-user", "--clusterrole=kubectl-netcheck", "--serviceaccount=netcheck:netcheck-user")
	kubectl(t, "-n", "netcheck", "create", "rolebinding", "netcheck-user", "--role=kubectl-netcheck-probe", "--serviceaccount=netcheck:netcheck-user")
	kc := tokenKubeconfig(t, "netcheck", "netcheck-user")
	for _, args := range [][]string{
		{"node"},
		{"external", "198.19.0.1", "--port", "80"},
		{"dns"},
		{"service", "web", "-n", "nc-shop", "--probe-namespace", "netcheck"},
		{"external", "198.19.0.1", "--port", "80", "-n", "nc-shop", "--from", "deploy/web", "--probe-namespace", "netcheck"},
		{"service", "web", "-n", "nc-shop", "--from", "deploy/solo", "--probe-namespace", "netcheck"},
		{"api"},
		{"pods"},
	} {
		r := netcheck(t, 2*time.Minute, append(args, "--kubeconfig", kc, "-o", "json")...)
		if r.code != 0 {
			t.Errorf("%v as a user with deploy/rbac.yaml only: exit %d, findings %+v\n%s", args, r.code, r.report.Findings, r.stderr)
		}
	}
	noProbePodsLeft(t)
}
