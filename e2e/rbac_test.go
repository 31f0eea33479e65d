//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRBACManifestSuffices: a service account bound to nothing but
// deploy/rbac.yaml's roles, as its comments tell an admin to bind them,
// runs every probing command to a healthy verdict, with deploy/admission.yaml's
// policy guarding the probe namespace. The README's RBAC section is then
// not a guess. And under that policy a plain privileged pod is refused there.
func TestRBACManifestSuffices(t *testing.T) {
	shop(t)
	rbac, adm := filepath.Join(repoRoot(), "deploy", "rbac.yaml"), filepath.Join(repoRoot(), "deploy", "admission.yaml")
	kubectl(t, "apply", "-f", rbac, "-f", adm)
	t.Cleanup(func() {
		// Everything but the namespace: a terminating netcheck would refuse the next test's pods.
		kubectl(t, "delete", "--ignore-not-found", "--wait=false",
			"clusterrole/kubectl-netcheck", "clusterrole/kubectl-netcheck-read", "clusterrole/kubectl-netcheck-hairpin",
			"clusterrolebinding/netcheck-e2e-user",
			"validatingadmissionpolicy/kubectl-netcheck-probe-shape", "validatingadmissionpolicybinding/kubectl-netcheck-probe-shape")
		kubectl(t, "-n", "netcheck", "delete", "--ignore-not-found", "role/kubectl-netcheck-probe", "rolebinding/netcheck-user", "serviceaccount/netcheck-user")
		for _, ns := range []string{"netcheck", "nc-shop", "kube-system", "default"} {
			kubectl(t, "-n", ns, "delete", "rolebinding", "netcheck-user-read", "--ignore-not-found")
		}
	})
	kubectl(t, "-n", "netcheck", "create", "serviceaccount", "netcheck-user")
	kubectl(t, "create", "clusterrolebinding", "netcheck-e2e-user", "--clusterrole=kubectl-netcheck", "--serviceaccount=netcheck:netcheck-user")
	kubectl(t, "-n", "netcheck", "create", "rolebinding", "netcheck-user", "--role=kubectl-netcheck-probe", "--serviceaccount=netcheck:netcheck-user")
	for _, ns := range []string{"netcheck", "nc-shop", "kube-system", "default"} {
		kubectl(t, "-n", ns, "create", "rolebinding", "netcheck-user-read", "--clusterrole=kubectl-netcheck-read", "--serviceaccount=netcheck:netcheck-user")
	}
	waitPolicyEnforced(t)
	kc := tokenKubeconfig(t, "netcheck", "netcheck-user")
	for _, args := range [][]string{
		{"node"},
		{"external", "198.19.0.1", "--port", "80"},
		{"dns"},
		{"service", "web", "-n", "nc-shop"},
		{"external", "198.19.0.1", "--port", "80", "-n", "nc-shop", "--from", "deploy/web"},
		{"service", "web", "-n", "nc-shop", "--from", "deploy/solo"},
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

// waitPolicyEnforced returns once the admission policy refuses a plain
// privileged pod in namespace netcheck (policies take effect a moment
// after they are created), and fails the test if it never does.
func waitPolicyEnforced(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// kubectl run, as a user with create on pods there would: refused, whatever the PodSecurity level.
		out, err := exec.Command("kubectl", "--kubeconfig", kubeconfig(), "-n", "netcheck", "run", "nc-root", "--image=docker.io/library/busybox:1.36",
			"--restart=Never", "--privileged", "--dry-run=server", "--command", "--", "sleep", "60").CombinedOutput()
		if err != nil && strings.Contains(string(out), "kubectl-netcheck-probe-shape") {
			t.Logf("refused as it should be: %s", strings.TrimSpace(string(out)))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a privileged pod of another shape was admitted in namespace netcheck (err %v):\n%s", err, out)
		}
		time.Sleep(time.Second)
	}
}
