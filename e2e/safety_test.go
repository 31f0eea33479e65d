//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/launch"
)

func labDir(env, dflt string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	return dflt
}

// TestProbeImageIsPinnedToTheLabsBuild: the default image's digest is the
// digest of the probe image build.sh made, byte for byte: the pinned
// default is what every other e2e test runs.
func TestProbeImageIsPinnedToTheLabsBuild(t *testing.T) {
	lab(t)
	b, err := os.ReadFile(filepath.Join(labDir("NETCHECK_E2E_CACHE", "/var/cache/netcheck-e2e"), "images", "busybox.tar.digest"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), launch.Digest(launch.DefaultImage); got != want {
		t.Fatalf("build.sh made the probe image %s; pkg/launch pins %s. If the sources or toolchain changed on purpose, pin the new digest in DefaultImage and deploy/admission.yaml", got, want)
	}
}

// TestDefaultRunInDedicatedNamespace: with no flags the probe pods go to
// namespace netcheck (made on first use), not the kubeconfig's current one.
func TestDefaultRunInDedicatedNamespace(t *testing.T) {
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--node", "nc-node1", "-o", "json")
	healthy(t, r)
	if r.report.Namespace != launch.DefaultNamespace {
		t.Fatalf("probe pods in %q, want %q", r.report.Namespace, launch.DefaultNamespace)
	}
	if lbl := kubectl(t, "get", "namespace", "netcheck", "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}"); lbl != "privileged" {
		t.Errorf("namespace netcheck enforce=%q", lbl)
	}
	noProbePodsLeft(t)
}

// TestPrivilegedProbeNotPlacedElsewhere: --probe-namespace of an
// application namespace runs the pod side alone and says why; the node
// probe lands there only with --allow-privileged-in-namespace.
func TestPrivilegedProbeNotPlacedElsewhere(t *testing.T) {
	shop(t)
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--node", "nc-node1", "--probe-namespace", "nc-shop", "-o", "json")
	healthy(t, r)
	if len(r.report.Nodes) != 1 || len(r.report.Nodes[0].Host.Checks) != 0 || !strings.Contains(r.report.Nodes[0].Host.Err, "not run") ||
		!strings.Contains(strings.Join(r.report.Notes, " "), "--allow-privileged-in-namespace") {
		t.Fatalf("node side ran in nc-shop, or the note is missing: %+v %q", r.report.Nodes, r.report.Notes)
	}
	r = netcheck(t, time.Minute, "external", "198.19.0.1", "--node", "nc-node1", "--probe-namespace", "nc-shop", "--allow-privileged-in-namespace", "-o", "json")
	healthy(t, r)
	if r.report.Nodes[0].Host.Err != "" || len(r.report.Nodes[0].Host.Checks) == 0 {
		t.Fatalf("with the flag the node side must run: %+v", r.report.Nodes[0].Host)
	}
	noProbePodsLeft(t)
}

// TestMovedTagDoesNotRun: another image under the pinned reference's name
// (a moved tag, a pre-seeded image) is not what runs: the node resolves the
// digest, does not hold it, and the run stops at once naming node and image.
// The name is a registry on the node's own loopback: a pull goes nowhere.
func TestMovedTagDoesNotRun(t *testing.T) {
	lab(t)
	sock := filepath.Join(labDir("NETCHECK_E2E_STATE", "/run/netcheck-e2e"), "machines", "nc-node1", "run-containerd", "containerd.sock")
	ctr := func(args ...string) {
		if out, err := exec.Command("ctr", append([]string{"--address", sock, "-n", "k8s.io"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ctr %v: %v\n%s", args, err, out)
		}
	}
	ctr("images", "tag", "--force", "registry.k8s.io/pause:3.10", "127.0.0.1:1/netcheck/moved:1")
	t.Cleanup(func() {
		_ = exec.Command("ctr", "--address", sock, "-n", "k8s.io", "images", "rm", "127.0.0.1:1/netcheck/moved:1").Run()
	})
	ref := "127.0.0.1:1/netcheck/moved:1@" + launch.Digest(launch.DefaultImage)
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--node", "nc-node1", "--image", ref)
	if r.code != 2 || !strings.Contains(r.stderr, ref) || !strings.Contains(r.stderr, "nc-node1") {
		t.Fatalf("exit %d stderr %q: want exit 2 naming the image and the node", r.code, r.stderr)
	}
	if r.took > 20*time.Second {
		t.Errorf("took %s: an image the node does not hold must stop the run within 20 s", r.took)
	}
	noProbePodsLeft(t)
}

// TestWatchForbiddenFailsFast: credentials that may create and exec into
// pods but not watch them get one message naming the missing verb, in
// seconds, with nothing created (it used to hang silently).
func TestWatchForbiddenFailsFast(t *testing.T) {
	ns := "netcheck"
	kubectl(t, "-n", ns, "create", "serviceaccount", "nowatch")
	kubectl(t, "-n", ns, "create", "role", "nowatch", "--verb=create,delete,get,list", "--resource=pods,pods/exec")
	kubectl(t, "-n", ns, "create", "rolebinding", "nowatch", "--role=nowatch", "--serviceaccount="+ns+":nowatch")
	kubectl(t, "create", "clusterrole", "netcheck-e2e-nowatch", "--verb=get,list", "--resource=nodes,namespaces")
	kubectl(t, "create", "clusterrolebinding", "netcheck-e2e-nowatch", "--clusterrole=netcheck-e2e-nowatch", "--serviceaccount="+ns+":nowatch")
	t.Cleanup(func() {
		kubectl(t, "-n", ns, "delete", "serviceaccount,role,rolebinding", "nowatch", "--ignore-not-found")
		kubectl(t, "delete", "clusterrole,clusterrolebinding", "netcheck-e2e-nowatch", "--ignore-not-found")
	})
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--kubeconfig", tokenKubeconfig(t, ns, "nowatch"))
	if r.code != 2 || !strings.Contains(r.stderr, "watch pods") {
		t.Fatalf("exit %d stderr %q: want exit 2 naming watch on pods", r.code, r.stderr)
	}
	if r.took > 15*time.Second {
		t.Errorf("took %s", r.took)
	}
	if out := kubectl(t, "-n", ns, "get", "pods", "-l", "netcheck.io/run-id", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("pods were created: %s", out)
	}
}

// TestRestrictedNamespacePodSide: a namespace that enforces PodSecurity
// "restricted" admits the pod probe in its restricted shape: no capability,
// not root, yet ping answers (netcheck-ping through an unprivileged ICMP
// socket, the pod's ping_group_range sysctl admitting its group); TCP runs;
// the path-MTU probe is reported not run; the note says so.
func TestRestrictedNamespacePodSide(t *testing.T) {
	ns := "netcheck-e2e-restricted"
	kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { kubectl(t, "delete", "namespace", ns, "--wait=false") })
	kubectl(t, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--port", "80", "--node", "nc-node1", "--probe-namespace", ns, "-o", "json")
	healthy(t, r)
	got := map[string]string{}
	for _, c := range r.report.Nodes[0].Pod.Checks {
		got[string(c.Kind)] = string(c.Outcome)
	}
	if got["tcp"] != "ok" || got["ping"] != "ok" || got["path-mtu"] != "not-run" {
		t.Fatalf("pod-side outcomes %v: want tcp and ping ok, path-mtu not-run", got)
	}
	if !strings.Contains(strings.Join(r.report.Notes, " "), "restricted shape") {
		t.Errorf("notes %q", r.report.Notes)
	}
	noProbePodsLeft(t)
}

// TestDryRunClientApplies: --dry-run=client prints the probe pods a run
// would create, creates none, and what it prints is what the API server
// admits (kubectl apply --dry-run=server).
func TestDryRunClientApplies(t *testing.T) {
	dir := t.TempDir()
	ns := filepath.Join(dir, "ns.yaml")
	if err := os.WriteFile(ns, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: netcheck\n  labels: {pod-security.kubernetes.io/enforce: privileged}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", ns) // left in place: every run uses it
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--dry-run=client")
	if r.code != 0 || !strings.Contains(r.stdout, "kind: List") || strings.Count(r.stdout, "kind: Pod") != 6 {
		t.Fatalf("exit %d, want 0 and a List of 6 pods (3 nodes × 2):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if out := kubectl(t, "get", "pods", "-A", "-l", probeSelector, "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("a dry run created pods: %s", out)
	}
	pods := filepath.Join(dir, "pods.yaml")
	if err := os.WriteFile(pods, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	out := kubectl(t, "apply", "--dry-run=server", "-f", pods)
	if strings.Count(out, "created (server dry run)") != 6 {
		t.Fatalf("the API server did not admit the printed pods:\n%s", out)
	}
}
