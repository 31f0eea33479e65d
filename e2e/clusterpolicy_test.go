//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// clusterPolicyCRDs installs network-policy-api's CRDs for the test; no
// controller in the lab enforces them (kube-router implements NetworkPolicy
// only), so what the lab proves is the reading and the tiers' judgement.
func clusterPolicyCRDs(t *testing.T) {
	t.Helper()
	script := filepath.Join(repoRoot(), "e2e", "cluster", "policy-crds.sh")
	run := func(args ...string) {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("policy-crds.sh %v: %v\n%s", args, err, out)
		}
	}
	run()
	t.Cleanup(func() { run("delete") })
}

// appliedPatch runs the "kubectl patch" line a printed fix holds, as an
// operator pastes it into a shell.
func appliedPatch(t *testing.T, fix []string) {
	t.Helper()
	for _, f := range fix {
		i := strings.Index(f, "kubectl patch ")
		if i < 0 {
			continue
		}
		cmd := exec.Command("bash", "-c", f[i:])
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", f[i:], err, out)
		}
		return
	}
	t.Fatalf("no kubectl patch in the fix: %q", fix)
}

const cnpDenyExt = `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: nc-deny-ext}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: nc-shop}}}
  egress:
  - {name: no-ext, action: Deny, to: [{networks: [198.19.0.0/24]}]}
`

const anpDenyExt = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: nc-first}
spec:
  priority: 1
  subject: {pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: nc-shop}}, podSelector: {matchLabels: {app: web}}}}
  egress:
  - {name: no-web-ext, action: Deny, to: [{networks: [198.19.0.1/32]}], ports: [{portNumber: {protocol: TCP, port: 80}}]}
`

// TestNetworkPolicyClusterScoped: an Admin ClusterNetworkPolicy denying
// nc-shop's egress to the outside subnet, read from the real API server and
// judged before NetworkPolicies. The lab does not enforce it, so every node
// says so and names the policy and its rule; the printed patch, applied,
// makes the policy say what the network does: healthy. An AdminNetworkPolicy
// of a lower priority number then decides first, across kinds.
func TestNetworkPolicyClusterScoped(t *testing.T) {
	enforced(t)
	shop(t)
	clusterPolicyCRDs(t)
	before := podSpecs(t)
	applyYAML(t, cnpDenyExt)
	args := []string{"external", "198.19.0.1", "--port", "80", "-n", "nc-shop", "--from", "deploy/web", "-o", "json"}

	r := netcheck(t, 2*time.Minute, args...)
	only(t, r, map[diagnose.Cause]string{diagnose.CausePolicyNotEnforced: "nc-node1,nc-node2,nc-node3"})
	f := finding(t, r, diagnose.CausePolicyNotEnforced)
	if !strings.Contains(f.Summary, "ClusterNetworkPolicy/nc-deny-ext should deny TCP/80 from pods app=web of namespace nc-shop to 198.19.0.1") {
		t.Fatalf("summary: %s", f.Summary)
	}
	mustContain(t, "evidence", f.Evidence, `deciding rule: ClusterNetworkPolicy/nc-deny-ext (tier Admin, priority 10) rule 0 "no-ext": Deny`)
	appliedPatch(t, f.Fix)
	healthy(t, netcheck(t, 2*time.Minute, args...))

	applyYAML(t, anpDenyExt)
	r = netcheck(t, 2*time.Minute, args...)
	f = finding(t, r, diagnose.CausePolicyNotEnforced)
	if !strings.Contains(f.Summary, "AdminNetworkPolicy/nc-first should deny TCP/80") {
		t.Fatalf("priority 1 decides before priority 10: %s", f.Summary)
	}
	if after := podSpecs(t); after != before {
		t.Fatalf("--from changed the web pods:\nbefore %s\nafter  %s", before, after)
	}
	noProbePodsLeft(t)
}
