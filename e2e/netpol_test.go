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

// enforcer is the lab's NetworkPolicy enforcer (NETCHECK_E2E_POLICY of up.sh).
func enforcer() string { return labSetting("policy", "none") }

// enforced skips unless the lab enforces NetworkPolicies (kube-router).
func enforced(t *testing.T) {
	t.Helper()
	lab(t)
	if enforcer() != "kube-router" {
		t.Skip("needs the lab's NetworkPolicy enforcer (NETCHECK_E2E_POLICY=kube-router)")
	}
}

// applyYAML applies manifests and deletes them when the test ends.
func applyYAML(t *testing.T, y string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", f)
	t.Cleanup(func() {
		cmd := exec.Command("kubectl", "delete", "--ignore-not-found", "--wait", "-f", f)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("delete %s: %v\n%s", f, err, out)
		}
		time.Sleep(2 * time.Second) // kube-router rewrites its rules on the event
	})
	time.Sleep(3 * time.Second) // kube-router programs its rules on the event
}

// appliedFix applies the manifest a printed "kubectl apply -f - <<'EOF' … EOF" fix holds.
func appliedFix(t *testing.T, fix []string) {
	t.Helper()
	for _, f := range fix {
		if i := strings.Index(f, "kubectl apply -f - <<'EOF'\n"); i >= 0 {
			body := f[i+len("kubectl apply -f - <<'EOF'\n"):]
			body = strings.TrimSuffix(body, "EOF")
			applyYAML(t, body)
			return
		}
	}
	t.Fatalf("no kubectl apply in the fix: %q", fix)
}

// podSpecs is the web workload's pods as the API has them (spec, labels,
// UIDs): --from must leave them exactly so.
func podSpecs(t *testing.T) string {
	return kubectl(t, "-n", "nc-shop", "get", "pods", "-l", "app=web", "-o",
		"jsonpath={range .items[*]}{.metadata.uid} {.metadata.labels} {.metadata.annotations} {.spec}{\"\\n\"}{end}")
}

const denyEgress = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: nc-shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
`

// TestNetworkPolicyDefaultDenyEgress: a default-deny egress policy in the
// workload's namespace, enforced by kube-router. Without --from the probe
// (its own namespace) passes, and the note says the policies did not apply
// to it; with --from deploy/web every node with a web pod names the policy,
// its direction and the policy that allows the flow; applied, no problem is
// left (ping, which the new policy does not admit, is named as such). The
// web pods are exactly as before.
func TestNetworkPolicyDefaultDenyEgress(t *testing.T) {
	enforced(t)
	shop(t)
	before := podSpecs(t)
	applyYAML(t, denyEgress)
	target := "198.19.0.1"

	r := netcheck(t, 2*time.Minute, "external", target, "--port", "80", "-o", "json")
	healthy(t, r)
	if !strings.Contains(strings.Join(r.report.Notes, "\n"), "NetworkPolicies exist in namespace(s) nc-shop") {
		t.Errorf("notes %q: want the hint that the probe ran outside the policies", r.report.Notes)
	}

	r = netcheck(t, 2*time.Minute, "external", target, "--port", "80", "-n", "nc-shop", "--from", "deploy/web", "-o", "json")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseNetworkPolicy: "nc-node1,nc-node2,nc-node3"})
	f := finding(t, r, diagnose.CauseNetworkPolicy)
	if !strings.Contains(f.Summary, "NetworkPolicy nc-shop/deny-egress selects egress of pods app=web of namespace nc-shop and no rule admits TCP/80") {
		t.Fatalf("summary: %s", f.Summary)
	}
	for _, n := range r.report.Nodes {
		if !strings.HasPrefix(n.Pod.As, "workload pod nc-shop/web-") || !strings.HasPrefix(n.Pod.IP, "10.244.") {
			t.Errorf("%s: pod side ran as %q (%s)", n.Name, n.Pod.As, n.Pod.IP)
		}
	}
	appliedFix(t, f.Fix)
	// The policy admits exactly TCP/80: the run has no problem left, and ping
	// is named as what the policies still refuse.
	r = netcheck(t, 2*time.Minute, "external", target, "--port", "80", "-n", "nc-shop", "--from", "deploy/web", "-o", "json")
	if r.code != 0 || len(r.report.Findings) != 1 || r.report.Findings[0].Cause != diagnose.CauseICMPBlocked ||
		!strings.Contains(r.report.Findings[0].Summary, "NetworkPolicy nc-shop/deny-egress") {
		t.Fatalf("after the fix: exit %d, findings %+v", r.code, r.report.Findings)
	}
	if after := podSpecs(t); after != before {
		t.Fatalf("--from changed the web pods:\nbefore %s\nafter  %s", before, after)
	}
	noProbePodsLeft(t)
}

// TestNetworkPolicyOneNodeWorkload: solo's single pod lives on one node;
// the other nodes are listed as having no pod of it.
func TestNetworkPolicyOneNodeWorkload(t *testing.T) {
	enforced(t)
	shop(t)
	applyYAML(t, denyEgress)
	r := netcheck(t, 2*time.Minute, "external", "198.19.0.1", "--port", "80", "-n", "nc-shop", "--from", "deploy/solo", "-o", "json")
	if r.code != 1 || len(r.report.Nodes) != 1 || len(r.report.Skipped) != 2 {
		t.Fatalf("exit %d, nodes %d, skipped %+v\n%s", r.code, len(r.report.Nodes), r.report.Skipped, r.stderr)
	}
	for _, s := range r.report.Skipped {
		if !strings.Contains(s.Reason, "no running pod of deploy/solo") {
			t.Errorf("skipped %s: %s", s.Node, s.Reason)
		}
	}
	finding(t, r, diagnose.CauseNetworkPolicy)
	noProbePodsLeft(t)
}

// TestNetworkPolicyProbeNamespaceDenied: a default-deny egress policy in the
// probe's own namespace: the tool says its probe is blocked, not the network.
func TestNetworkPolicyProbeNamespaceDenied(t *testing.T) {
	enforced(t)
	applyYAML(t, `apiVersion: v1
kind: Namespace
metadata:
  name: nc-probes-denied
  labels: {pod-security.kubernetes.io/enforce: privileged}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: nc-probes-denied}
spec:
  podSelector: {}
  policyTypes: [Egress]
`)
	r := netcheck(t, 2*time.Minute, "external", "198.19.0.1", "--port", "80", "--probe-namespace", "nc-probes-denied", "--allow-privileged-in-namespace", "-o", "json")
	// kube-router programs a new pod some 0.3–0.8 s after it starts: the
	// probes the policy selects wait for it (checked at once, one node's
	// probe passed and read as not enforced).
	for _, n := range r.report.Nodes {
		settled := false
		for _, e := range n.Timeline {
			settled = settled || strings.HasPrefix(e.What, "pod probe settled")
		}
		if !settled {
			t.Errorf("%s: the pod probe did not wait for the policy agent: %+v", n.Name, n.Timeline)
		}
	}
	only(t, r, map[diagnose.Cause]string{diagnose.CauseNetworkPolicy: "nc-node1,nc-node2,nc-node3"})
	f := finding(t, r, diagnose.CauseNetworkPolicy)
	if !strings.Contains(f.Summary, "in the probe's own namespace blocks the probe") || !strings.Contains(f.Fix[0], "--probe-namespace") {
		t.Fatalf("%s\n%q", f.Summary, f.Fix)
	}
	healthy(t, netcheck(t, 2*time.Minute, "external", "198.19.0.1", "--port", "80", "-o", "json"))
	noProbePodsLeft(t)
}

// TestNetworkPolicyServiceIngress: web's pods admit TCP/8080 from namespace
// nc-other only: the rule opens the port, not the clients' namespace (the probes' netcheck).
// service web names the policy and its rule instead of endpoints-unreachable
// (kube-router REJECTs: not backend-not-listening either); the printed
// policies, applied in turn (the probe's flow, then the nodes' NodePort
// traffic), make it healthy.
func TestNetworkPolicyServiceIngress(t *testing.T) {
	enforced(t)
	shop(t)
	applyYAML(t, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-other, namespace: nc-shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: nc-other}}}]
    ports: [{port: 8080}]
`)
	r := svcCheck(t, "web")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseNetworkPolicy: "nc-node1,nc-node2,nc-node3"})
	f := finding(t, r, diagnose.CauseNetworkPolicy)
	if !strings.Contains(f.Summary, "NetworkPolicy nc-shop/web-from-other (ingress) blocks TCP/8080 from namespace netcheck") {
		t.Fatalf("summary: %s", f.Summary)
	}
	mustContain(t, "evidence", f.Evidence, "closest rule: nc-shop/web-from-other ingress[0]: namespaceSelector {kubernetes.io/metadata.name=nc-other} does not select namespace netcheck")
	appliedFix(t, f.Fix)
	// The pods now pass; the nodes' own NodePort still does not: kube-proxy
	// sends it to backends on other nodes from the node's address, which the
	// policy does not admit. Named, with the policy for the nodes' addresses.
	r = svcCheck(t, "web")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseNetworkPolicy: "nc-node1,nc-node2,nc-node3"})
	f = finding(t, r, diagnose.CauseNetworkPolicy)
	if !strings.Contains(f.Summary, "are refused by NetworkPolicy nc-shop/") || !strings.Contains(f.Summary, "web-from-other") {
		t.Fatalf("summary: %s", f.Summary)
	}
	appliedFix(t, f.Fix)
	healthy(t, svcCheck(t, "web"))
	noProbePodsLeft(t)
}

const denyIngress = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: nc-shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`

// TestNetworkPolicyPodsFrom: `pods --from deploy/web` checks the web pods
// between nodes, from their own network namespaces. Under a default-deny
// ingress that kube-router enforces (it REJECTs: TCP reads as refused, which
// alone would pass for a working path), every node names the policy instead
// of a path verdict; the printed policy, applied, makes the run healthy.
// Without --from the probes are outside the policy: healthy, with the note.
func TestNetworkPolicyPodsFrom(t *testing.T) {
	enforced(t)
	shop(t)
	before := podSpecs(t)
	applyYAML(t, denyIngress)

	r := netcheck(t, 2*time.Minute, "pods", "-o", "json")
	healthy(t, r)

	args := []string{"pods", "-n", "nc-shop", "--from", "deploy/web", "-o", "json"}
	r = netcheck(t, 2*time.Minute, args...)
	only(t, r, map[diagnose.Cause]string{diagnose.CauseNetworkPolicy: "nc-node1,nc-node2,nc-node3"})
	f := finding(t, r, diagnose.CauseNetworkPolicy)
	if !strings.Contains(f.Summary, "NetworkPolicy nc-shop/deny-ingress selects ingress of pods app=web of namespace nc-shop and no rule admits TCP/9") {
		t.Fatalf("summary: %s", f.Summary)
	}
	for _, n := range r.report.Nodes {
		if !strings.HasPrefix(n.Pod.As, "workload pod nc-shop/web-") {
			t.Errorf("%s: pod side ran as %q", n.Name, n.Pod.As)
		}
	}
	appliedFix(t, f.Fix)
	healthy(t, netcheck(t, 2*time.Minute, args...))
	if after := podSpecs(t); after != before {
		t.Fatalf("--from changed the web pods:\nbefore %s\nafter  %s", before, after)
	}
	noProbePodsLeft(t)
}

// TestNetworkPolicyFromEphemeral: where PodSecurity refuses the node probe,
// --from cannot enter the workload's pods and says so, naming
// --from-ephemeral; with it, an ephemeral container in each web pod runs the
// checks under the pods' own policies (the default-deny egress is named), and
// the note names the pods it changed for good.
func TestNetworkPolicyFromEphemeral(t *testing.T) {
	enforced(t)
	shop(t)
	ns := "netcheck-e2e-baseline-from"
	kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { kubectl(t, "delete", "namespace", ns, "--wait=false") })
	kubectl(t, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline")
	applyYAML(t, denyEgress)
	args := []string{"external", "198.19.0.1", "--port", "80", "-n", "nc-shop", "--from", "deploy/web", "--probe-namespace", ns, "-o", "json"}

	r := netcheck(t, 2*time.Minute, args...)
	if r.code != 2 || !strings.Contains(r.stderr, "--from-ephemeral runs the checks in an ephemeral container") {
		t.Fatalf("exit %d, want 2 with the hint:\n%s", r.code, r.stderr)
	}

	r = netcheck(t, 2*time.Minute, append(args, "--from-ephemeral")...)
	f := finding(t, r, diagnose.CauseNetworkPolicy)
	if strings.Join(f.Nodes, ",") != "nc-node1,nc-node2,nc-node3" || !strings.Contains(f.Summary, "NetworkPolicy nc-shop/deny-egress") {
		t.Fatalf("finding %+v", f)
	}
	for _, n := range r.report.Nodes {
		if !strings.Contains(n.Pod.As, "(an ephemeral container added to it)") {
			t.Errorf("%s: pod side ran as %q", n.Name, n.Pod.As)
		}
	}
	if !strings.Contains(strings.Join(r.report.Notes, "\n"), "--from-ephemeral added the ephemeral container netcheck-") {
		t.Errorf("notes %q: want the pods it changed", r.report.Notes)
	}
	if got := kubectl(t, "-n", "nc-shop", "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.ephemeralContainers[*].name}"); !strings.Contains(got, "netcheck-") {
		t.Errorf("the web pods have no ephemeral container: %q", got)
	}
	noProbePodsLeft(t)
}
